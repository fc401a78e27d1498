/* SPDX-License-Identifier: ISC */
/*
 * authfail.c - the password-guessing budget of a client, in the store
 * (authfail.h). Per client, not per session or worker: thirty guesses in
 * parallel sessions take thirty slots, and only auth_failures_max of them
 * get a password checked.
 * SECURITY: keys are kernel-provided peer addresses; no client text.
 */
#include <stdlib.h>
#include <string.h>

#include "common/xmalloc.h"
#include "conf/conf.h"
#include "policy/authfail.h"
#include "policy/policy.h"
#include "store/store.h"

struct authfail_req {
	struct policy *p;
	struct netaddr addr;
	authfail_cb *cb;
	void *arg;
	int cancelled;
	int banned;
};

static void
key_of(const char *prefix, const struct netaddr *addr, char *key, size_t keysz)
{
	size_t n = strlen(prefix);

	memcpy(key, prefix, n);
	netaddr_client_key(addr, key + n, keysz - n);
}

static void
give_back(struct policy *p, const struct netaddr *addr)
{
	char key[96];

	key_of("authfail:", addr, key, sizeof(key));
	store_incr(policy_store(p), key, -1, 0, STORE_TTL_KEEP, NULL, NULL);
}

static void
ban_looked_up(enum store_status st, const void *val, size_t len, time_t expires,
              void *arg)
{
	struct authfail_req *r = arg;

	r->banned = st == STORE_OK;
}

static void
slot_taken(enum store_status st, int64_t value, void *arg)
{
	struct authfail_req *r = arg;
	const struct moat_conf *c = policy_conf(r->p);
	int check = 1;

	if (st != STORE_OK) {
		/* no budget without the store: the check goes on, slowed by
		 * the session's own delay; nothing to give back */
		policy_store_trouble(r->p, "login budget");
		value = -1;
	} else if (r->banned || value > c->limits.auth_failures_max) {
		/* not checked: the slot is not a failure */
		give_back(r->p, &r->addr);
		check = 0;
		value = -1;
	}
	if (r->cancelled) {
		if (value > 0)
			give_back(r->p, &r->addr);
	} else
		r->cb(r->arg, check, value);
	free(r);
}

struct authfail_req *
authfail_take(struct policy *p, const struct netaddr *addr, authfail_cb *cb, void *arg)
{
	const struct moat_conf *c = policy_conf(p);
	struct authfail_req *r = xcalloc(1, sizeof(*r));
	char key[96];

	r->p = p;
	r->addr = *addr;
	r->cb = cb;
	r->arg = arg;
	/* the store answers in order: the ban is known when the slot is */
	key_of("authban:", addr, key, sizeof(key));
	store_get(policy_store(p), key, ban_looked_up, r);
	key_of("authfail:", addr, key, sizeof(key));
	store_incr(policy_store(p), key, 1, (uint32_t)c->limits.auth_failure_window,
	           STORE_TTL_KEEP, slot_taken, r);
	return r;
}

void
authfail_cancel(struct authfail_req *r)
{
	if (r != NULL)
		r->cancelled = 1;
}

int
authfail_result(struct policy *p, const struct netaddr *addr, int64_t slot, int failed)
{
	const struct moat_conf *c = policy_conf(p);
	char key[96];

	if (slot <= 0)
		return 0; /* no slot was taken (the store failed) */
	if (!failed) {
		give_back(p, addr);
		return 0;
	}
	if (slot < c->limits.auth_failures_max)
		return 0;
	key_of("authban:", addr, key, sizeof(key));
	store_put(policy_store(p), key, "1", 1, (uint32_t)c->limits.auth_ban_time, NULL,
	          NULL);
	return 1;
}
