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
 * IPv6 clients count per /64 (netaddr_client_key).
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
	netaddr_client_key(&chk->req.client.addr, key + n, keysz - n);
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

/*
 * The connect counts: the client's sessions, everyone's, and a token from
 * the client's connection rate are asked for together, so that the store
 * commits them in one transaction (a flood makes them for every bot). The
 * answers come back in order; the last one decides. Every connection
 * attempt takes a rate token, as Postfix's anvil counts connection
 * attempts, and every counted session is taken back at its disconnect.
 */
static void
connect_decide(struct policy_check *chk, const struct store_take_result *rate)
{
	const struct moat_conf *c = policy_conf(chk->p);

	if (chk->conc.failed) {
		policy_tempfail(chk, "store", "session count failed");
		return;
	}
	if (chk->conc.client > c->limits.conn_per_ip) {
		policy_detail(chk, "sessions-from-client=%lld",
		              (long long)chk->conc.client);
		policy_stop(chk, VERDICT_TEMPFAIL, 421, "4.7.0", "conn-per-ip",
		            "Too many connections from your host; try again later");
		return;
	}
	if (chk->conc.all > c->limits.sessions_max) {
		policy_detail(chk, "sessions=%lld", (long long)chk->conc.all);
		policy_stop(chk, VERDICT_TEMPFAIL, 421, "4.7.0", "sessions-max",
		            "Too many connections; try again later");
		return;
	}
	if (rate == NULL)
		policy_next(chk);
	else
		rate_done(STORE_OK, rate, chk);
}

static void
conc_client_done(enum store_status st, int64_t value, void *arg)
{
	struct policy_check *chk = arg;

	if (st != STORE_OK) {
		chk->conc.failed = 1;
		return;
	}
	chk->req.client.counted |= COUNTED_CLIENT;
	chk->conc.client = value;
}

static void
conc_all_done(enum store_status st, int64_t value, void *arg)
{
	struct policy_check *chk = arg;

	if (st != STORE_OK)
		chk->conc.failed = 1;
	else {
		chk->req.client.counted |= COUNTED_ALL;
		chk->conc.all = value;
	}
	if (!chk->conc.rate)
		connect_decide(chk, NULL);
}

static void
conn_rate_done(enum store_status st, const struct store_take_result *res, void *arg)
{
	struct policy_check *chk = arg;

	if (st != STORE_OK && !chk->conc.failed) {
		policy_tempfail(chk, "store", "rate limit lookup failed");
		return;
	}
	connect_decide(chk, res);
}

/* limits_connect - the three connect counts, in one go */
static void
limits_connect(struct policy_check *chk)
{
	const struct moat_conf *c = policy_conf(chk->p);
	struct store *st = policy_store(chk->p);
	struct store_bucket b;
	char key[96];

	key_of(chk, "conc:", key, sizeof(key));
	store_incr(st, key, 1, CONC_TTL, STORE_TTL_REFRESH, conc_client_done, chk);
	/* Whether a token was asked for, not the config (a reload may change
	 * it before the answers are in), tells which answer is the last. */
	chk->conc.rate = c->limits.conn_rate > 0;
	store_incr(st, "conc:*", 1, CONC_TTL, STORE_TTL_REFRESH, conc_all_done, chk);
	if (!chk->conc.rate)
		return;
	bucket_for(c->limits.conn_rate, &b);
	key_of(chk, "rate:conn:", key, sizeof(key));
	store_take(st, key, &b, 1, conn_rate_done, chk);
}

static void
limits_run(struct policy_check *chk)
{
	const struct moat_conf *c = policy_conf(chk->p);
	const struct policy_client *cl = &chk->req.client;

	if (cl->flags & (PC_TRUSTED | PC_ALLOWLISTED)) {
		policy_next(chk);
		return;
	}
	switch (chk->req.hook) {
	case HOOK_CONNECT:
		limits_connect(chk);
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

	/* Only what was added is taken back: a count whose store request
	 * failed was never added. */
	if (client->counted & COUNTED_CLIENT) {
		memcpy(key, "conc:", 5);
		netaddr_client_key(&client->addr, key + 5, sizeof(key) - 5);
		store_incr(policy_store(p), key, -1, CONC_TTL, STORE_TTL_KEEP, released,
		           NULL);
	}
	if (client->counted & COUNTED_ALL)
		store_incr(policy_store(p), "conc:*", -1, CONC_TTL, STORE_TTL_KEEP,
		           released, NULL);
}
