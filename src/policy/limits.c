/* SPDX-License-Identifier: ISC */
/*
 * limits.c - per-client limits (RFC 2505 §2.8), counted in the store so
 * that every worker process (and later every host) agrees:
 *   connect: concurrent sessions of the client (conn_per_ip) and of all
 *            (sessions_max), connections per minute (conn_rate);
 *   mail:    messages per minute (msg_rate);
 *   rcpt:    recipients per minute (rcpt_rate).
 * Rates are token buckets (store_take). Concurrency counters carry a TTL
 * so a crashed worker's counts fade instead of blocking a client forever.
 * IPv6 clients count per /64 (policy_client_key).
 * SECURITY: counts kernel-provided addresses; no client text.
 */
#include <stdio.h>
#include <string.h>

#include "conf/conf.h"
#include "policy/stages.h"
#include "store/store.h"

#define CONC_TTL 3600 /* seconds a concurrency count outlives its last change */

/* policy_client.counted: which concurrency counts this session holds */
#define COUNTED_CLIENT 0x1 /* "conc:KEY" */
#define COUNTED_ALL    0x2 /* "conc:*" */

static void
bucket_for(long per_minute, struct store_bucket *b)
{
	b->capacity = (uint32_t)per_minute;
	b->refill_ms = (uint32_t)(60000 / per_minute);
	if (b->refill_ms == 0)
		b->refill_ms = 1;
}

static void
key_of(struct policy_check *chk, const char *prefix, char *key, size_t keysz)
{
	size_t n = strlen(prefix);
	memcpy(key, prefix, n);
	policy_client_key(&chk->req.client.addr, key + n, keysz - n);
}

static void
rate_done(enum store_status st, const struct store_take_result *res, void *arg)
{
	struct policy_check *chk = arg;
	enum policy_hook h = chk->req.hook;

	if (st != STORE_OK) {
		policy_tempfail(chk, "store", "rate limit lookup failed");
		return;
	}
	if (res->allowed) {
		policy_next(chk);
		return;
	}
	policy_detail(chk, "retry-after-ms=%u", res->wait_ms);
	if (h == HOOK_CONNECT)
		policy_stop(chk, VERDICT_TEMPFAIL, 421, "4.7.0", "conn-rate",
		            "Too many connections from your host; try again later");
	else if (h == HOOK_MAIL)
		policy_stop(chk, VERDICT_TEMPFAIL, 451, "4.7.1", "msg-rate",
		            "Too many messages from your host; try again later");
	else
		policy_stop(chk, VERDICT_TEMPFAIL, 452, "4.5.3", "rcpt-rate",
		            "Too many recipients from your host; try again later");
}

static void
take(struct policy_check *chk, const char *prefix, long per_minute)
{
	struct store_bucket b;
	char key[96];

	if (per_minute == 0) {
		policy_next(chk);
		return;
	}
	bucket_for(per_minute, &b);
	key_of(chk, prefix, key, sizeof(key));
	store_take(policy_store(chk->p), key, &b, 1, rate_done, chk);
}

static void
all_done(enum store_status st, int64_t value, void *arg)
{
	struct policy_check *chk = arg;
	const struct moat_conf *c = policy_conf(chk->p);

	if (st != STORE_OK) {
		policy_tempfail(chk, "store", "session count failed");
		return;
	}
	chk->req.client.counted |= COUNTED_ALL;
	if (value > c->limits.sessions_max) {
		policy_detail(chk, "sessions=%lld", (long long)value);
		policy_stop(chk, VERDICT_TEMPFAIL, 421, "4.7.0", "sessions-max",
		            "Too many connections; try again later");
		return;
	}
	take(chk, "rate:conn:", c->limits.conn_rate);
}

static void
conc_done(enum store_status st, int64_t value, void *arg)
{
	struct policy_check *chk = arg;
	const struct moat_conf *c = policy_conf(chk->p);

	if (st != STORE_OK) {
		policy_tempfail(chk, "store", "session count failed");
		return;
	}
	chk->req.client.counted |= COUNTED_CLIENT;
	if (value > c->limits.conn_per_ip) {
		/* Counted all the same: the disconnect takes it back. */
		policy_detail(chk, "sessions-from-client=%lld", (long long)value);
		policy_stop(chk, VERDICT_TEMPFAIL, 421, "4.7.0", "conn-per-ip",
		            "Too many connections from your host; try again later");
		return;
	}
	store_incr(policy_store(chk->p), "conc:*", 1, CONC_TTL, STORE_TTL_REFRESH,
	           all_done, chk);
}

static void
limits_run(struct policy_check *chk)
{
	const struct moat_conf *c = policy_conf(chk->p);
	const struct policy_client *cl = &chk->req.client;
	char key[96];

	if (cl->flags & (PC_TRUSTED | PC_ALLOWLISTED)) {
		policy_next(chk);
		return;
	}
	switch (chk->req.hook) {
	case HOOK_CONNECT:
		key_of(chk, "conc:", key, sizeof(key));
		store_incr(policy_store(chk->p), key, 1, CONC_TTL, STORE_TTL_REFRESH,
		           conc_done, chk);
		return;
	case HOOK_MAIL:
		take(chk, "rate:msg:", c->limits.msg_rate);
		return;
	case HOOK_RCPT:
		take(chk, "rate:rcpt:", c->limits.rcpt_rate);
		return;
	default:
		policy_next(chk);
	}
}

const struct stage stage_limits = {
    "limits", (1u << HOOK_CONNECT) | (1u << HOOK_MAIL) | (1u << HOOK_RCPT), limits_run};

static void
released(enum store_status st, int64_t value, void *arg)
{
	/* A count below zero means a TTL ran out under us: nothing to do. */
}

void
limits_release(struct policy *p, const struct policy_client *client)
{
	char key[96];

	/* Only what was added is taken back: a client refused for its own
	 * count never added to the global one. */
	if (client->counted & COUNTED_CLIENT) {
		memcpy(key, "conc:", 5);
		policy_client_key(&client->addr, key + 5, sizeof(key) - 5);
		store_incr(policy_store(p), key, -1, CONC_TTL, STORE_TTL_KEEP, released,
		           NULL);
	}
	if (client->counted & COUNTED_ALL)
		store_incr(policy_store(p), "conc:*", -1, CONC_TTL, STORE_TTL_KEEP,
		           released, NULL);
}
