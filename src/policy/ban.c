/* SPDX-License-Identifier: ISC */
/*
 * ban.c - the connect stage for what the store says about a client:
 * "allow:KEY" (moatctl allow: past every screening stage), "ban:KEY" (a
 * ban with a reason and an end: moatctl ban, harvesting, spamtraps once
 * published), "trapban:KEY" (a spamtrap's ban that is not published,
 * trap.c),
 * "early:KEY" (it talked before our greeting recently: 421), "good:KEY"
 * (mail of its was accepted within verdict_cache_ttl: a good record) and
 * "greet:KEY" (it waited for the greeting within greet_pass_ttl: no pause).
 * The five are asked for at once and decided on when the last is in; a
 * store that cannot answer lets the client through (policy_store_trouble).
 * SECURITY: keys are built from the kernel's peer address; values are our
 * own reason strings, shown only in logs.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "policy/stages.h"
#include "store/store.h"

#define REASON_MAX 200

/* The records read at connect, asked for together: one store pass. */
enum rec { R_ALLOW, R_BAN, R_TRAPBAN, R_EARLY, R_GOOD, R_GREET, R_AUTHBAN, R_N };
static const char *const rec_prefix[R_N] = {
    [R_ALLOW] = "allow:",     [R_BAN] = "ban:",   [R_TRAPBAN] = "trapban:",
    [R_EARLY] = "early:",     [R_GOOD] = "good:", [R_GREET] = "greet:",
    [R_AUTHBAN] = "authban:",
};

struct lookup {
	struct policy_check *chk;
	enum rec which;
};

/*
 * The bans this process has read, kept for when the store cannot answer:
 * a ban seen before the store failed stays in force until it ends, while
 * every other check fails open. One entry a slot of a small hash table
 * (a newer ban takes an older one's slot), so the memory is fixed.
 */
#define BANCACHE_SLOTS 2048
struct bancache_ent {
	char key[80]; /* "ban:KEY" or "trapban:KEY"; "" free */
	long long until;
	char reason[REASON_MAX];
};
static struct bancache_ent *bancache;

static struct bancache_ent *
bancache_slot(const char *key)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	if (bancache == NULL)
		bancache = xcalloc(BANCACHE_SLOTS, sizeof(*bancache));
	for (const char *p = key; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return &bancache[h % BANCACHE_SLOTS];
}

static void
bancache_put(const char *key, long long until, const char *reason)
{
	struct bancache_ent *e = bancache_slot(key);

	strlcpy(e->key, key, sizeof(e->key));
	e->until = until;
	strlcpy(e->reason, reason, sizeof(e->reason));
}

static void
bancache_forget(const char *key)
{
	struct bancache_ent *e = bancache_slot(key);

	if (strcmp(e->key, key) == 0)
		e->key[0] = '\0';
}

static const struct bancache_ent *
bancache_get(const char *key)
{
	const struct bancache_ent *e = bancache_slot(key);

	if (strcmp(e->key, key) != 0 ||
	    (e->until != 0 && e->until <= (long long)time(NULL)))
		return NULL;
	return e;
}

/* rec_key - the store key of a record of the check's client */
static void
rec_key(const struct policy_check *chk, enum rec which, char *key, size_t keysz)
{
	size_t n = strlen(rec_prefix[which]);

	memcpy(key, rec_prefix[which], n);
	netaddr_client_key(&chk->req.client.addr, key + n, keysz - n);
}

static void
copy_reason(char *dst, size_t dstsz, const void *val, size_t len)
{
	size_t n = len < dstsz - 1 ? len : dstsz - 1;
	memcpy(dst, val, n);
	dst[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)dst[i] < 32 || (unsigned char)dst[i] > 126)
			dst[i] = '?';
}

/* decide - every answer is in: allowed, banned, remembered, or on */
static void
decide(struct policy_check *chk)
{
	const struct moat_conf *c = policy_conf(chk->p);
	struct policy_client *cl = &chk->req.client;

	if (chk->rec.found & (1u << R_GOOD))
		cl->flags |= PC_GOOD;
	if (chk->rec.found & (1u << R_GREET))
		cl->flags |= PC_GREETED;
	if (chk->rec.found & (1u << R_ALLOW)) {
		cl->flags |= PC_ALLOWLISTED;
		policy_allow(chk, "allow");
		return;
	}
	if (chk->rec.found & ((1u << R_BAN) | (1u << R_TRAPBAN))) {
		policy_detail(chk, "reason=%s until=%lld",
		              log_escape_str(chk->rec.reason),
		              (long long)chk->rec.ban_until);
		if (c->screen.ban_reject)
			policy_stop(chk, VERDICT_PERMFAIL, 554, "5.7.1", "ban",
			            "Client host [%s] blocked", cl->addr_str);
		else
			policy_stop(chk, VERDICT_TEMPFAIL, 421, "4.7.1", "ban",
			            "Client host [%s] blocked; try again later",
			            cl->addr_str);
		return;
	}
	if (chk->rec.found & (1u << R_AUTHBAN)) {
		/* authfail.c: it spent its login budget; only the submission
		 * ports close, port 25 may be a shared address's MX traffic */
		policy_stop(chk, VERDICT_TEMPFAIL, 421, "4.7.0", "auth-failures",
		            "Too many failed logins; try again later");
		return;
	}
	if ((chk->rec.found & (1u << R_EARLY)) && c->screen.early_talker) {
		/* Only the session that talked early heard a 5xx: a remembered
		 * mark may be one broken device behind a NAT that others share,
		 * and their mail must come back later, not bounce. */
		policy_detail(chk, "remembered-until=%lld",
		              (long long)chk->rec.early_until);
		policy_stop(
		    chk, VERDICT_TEMPFAIL, 421, "4.7.1", "early-talker",
		    "Protocol error: talking before our greeting; try again later");
		return;
	}
	policy_next(chk);
}

static void
looked_up(enum store_status st, const void *val, size_t len, time_t expires, void *arg)
{
	struct lookup *lk = arg;
	struct policy_check *chk = lk->chk;

	int ban = lk->which == R_BAN || lk->which == R_TRAPBAN;
	char key[80];

	if (ban)
		rec_key(chk, lk->which, key, sizeof(key));
	/* The store's trouble does not stop mail (fail open): a record that
	 * cannot be read is taken as absent, and the alarm is raised; but a
	 * ban read before stays in force. */
	if (st == STORE_ERROR) {
		const struct bancache_ent *e = ban ? bancache_get(key) : NULL;
		policy_store_trouble(chk->p, "client records");
		if (e != NULL) {
			chk->rec.found |= 1u << lk->which;
			if (lk->which == R_BAN || chk->rec.reason[0] == '\0') {
				snprintf(chk->rec.reason, sizeof(chk->rec.reason),
				         "%s (remembered)", e->reason);
				chk->rec.ban_until = e->until;
			}
		}
	} else if (st == STORE_NOT_FOUND && ban)
		bancache_forget(key);
	else if (st == STORE_OK) {
		chk->rec.found |= 1u << lk->which;
		if (ban) {
			char reason[REASON_MAX];
			copy_reason(reason, sizeof(reason), val, len);
			bancache_put(key, expires, reason);
		}
		if (lk->which == R_BAN ||
		    (lk->which == R_TRAPBAN && chk->rec.reason[0] == '\0')) {
			copy_reason(chk->rec.reason, sizeof(chk->rec.reason), val, len);
			chk->rec.ban_until = expires;
		} else if (lk->which == R_EARLY)
			chk->rec.early_until = expires;
	}
	free(lk);
	if (--chk->rec.pending == 0)
		decide(chk);
}

static void
bans_run(struct policy_check *chk)
{
	char key[80];

	/* Trusted networks are ours; no store entry overrides that. */
	if (chk->req.client.flags & PC_TRUSTED) {
		policy_allow(chk, "trusted");
		return;
	}
	/* login bans matter on the submission ports only */
	int nrec = (chk->req.client.flags & PC_SUBMISSION) ? R_N : R_AUTHBAN;

	chk->rec.pending = nrec;
	for (int i = 0; i < nrec; i++) {
		struct lookup *lk = xmalloc(sizeof(*lk));

		lk->chk = chk;
		lk->which = (enum rec)i;
		rec_key(chk, lk->which, key, sizeof(key));
		store_get(policy_store(chk->p), key, looked_up, lk);
	}
}

const struct stage stage_bans = {"bans", 1u << HOOK_CONNECT, bans_run};

/* remember - a record of the client, for ttl seconds (0: not kept) */
static void
remember(struct policy *p, const struct policy_client *client, enum rec which, long ttl)
{
	char key[80];
	size_t n = strlen(rec_prefix[which]);

	if (ttl <= 0)
		return;
	memcpy(key, rec_prefix[which], n);
	netaddr_client_key(&client->addr, key + n, sizeof(key) - n);
	store_put(policy_store(p), key, "1", 1, (uint32_t)ttl, NULL, NULL);
}

void
policy_remember_early_talker(struct policy *p, const struct policy_client *client)
{
	remember(p, client, R_EARLY, policy_conf(p)->limits.early_talker_ttl);
}

void
policy_remember_greeted(struct policy *p, const struct policy_client *client)
{
	remember(p, client, R_GREET, policy_conf(p)->limits.greet_pass_ttl);
}

void
policy_remember_good(struct policy *p, const struct policy_client *client)
{
	/* Trusted, authenticated and allowlisted clients need no record, and
	 * get none: an address a user logged in from once (a carrier's NAT)
	 * must not vouch for strangers behind it later (trap.c). */
	if (client->flags & (PC_TRUSTED | PC_AUTHED | PC_ALLOWLISTED))
		return;
	remember(p, client, R_GOOD, policy_conf(p)->limits.verdict_cache_ttl);
}
