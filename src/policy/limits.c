/* SPDX-License-Identifier: ISC */
/*
 * limits.c - per-client limits (RFC 2505 §2.8), counted in the store so
 * that every worker process (and later every host) agrees:
 *   connect: concurrent sessions of the client (conn_per_ip), connections
 *            per minute (conn_rate); sessions_max is the workers' own;
 *   mail:    messages per minute (msg_rate);
 *   rcpt:    recipients per minute (rcpt_rate).
 * Rates are token buckets (store_take). A session count is the sum of the
 * shares of the processes that hold sessions (store_count): a process
 * that dies takes its share along, nothing is persisted past it. The
 * store's trouble lets clients through (policy_store_trouble).
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
#define COUNTED_CLIENT 0x1 /* "conc:KEY#wPID" */

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
		policy_store_trouble(chk->p, "rate limit");
		policy_next(chk);
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
 * The connect counts: the client's session count (its share in this
 * process) and a token from its connection rate are asked for together,
 * so that the store commits them in one transaction (a flood makes them
 * for every bot). The answers come back in order; the last one decides.
 * Every connection attempt takes a rate token, as Postfix's anvil counts
 * connection attempts. A session is counted only if it fits: a refused
 * attempt changes no count (nor its lifetime), and every counted session
 * is taken back at its disconnect. The count is summed over the processes
 * that hold shares of it ("conc:KEY#wPID"); the master has the shares of
 * a process that died deleted, and all of them at start (store_del_match).
 */
static void
connect_decide(struct policy_check *chk, const struct store_take_result *rate)
{
	const struct moat_conf *c = policy_conf(chk->p);

	if (chk->conc.failed)
		policy_store_trouble(chk->p, "session count");
	else if (chk->conc.client > c->limits.conn_per_ip) {
		policy_detail(chk, "sessions-from-client=%lld",
		              (long long)chk->conc.client);
		policy_stop(chk, VERDICT_TEMPFAIL, 421, "4.7.0", "conn-per-ip",
		            "Too many connections from your host; try again later");
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
	const struct moat_conf *c = policy_conf(chk->p);

	if (st != STORE_OK)
		chk->conc.failed = 1;
	else {
		chk->conc.client = value;
		if (value <= c->limits.conn_per_ip)
			chk->req.client.counted |= COUNTED_CLIENT;
	}
	if (!chk->conc.rate)
		connect_decide(chk, NULL);
}

static void
conn_rate_done(enum store_status st, const struct store_take_result *res, void *arg)
{
	struct policy_check *chk = arg;

	if (st != STORE_OK) {
		policy_store_trouble(chk->p, "connection rate");
		connect_decide(chk, NULL);
		return;
	}
	connect_decide(chk, res);
}

/* conc_key - "conc:KEY#wPID": this process's share of the client's count */
static size_t
conc_key(struct policy *p, const struct netaddr *addr, char *key, size_t keysz)
{
	size_t n;

	memcpy(key, "conc:", 5);
	netaddr_client_key(addr, key + 5, keysz - 5);
	n = strlen(key);
	snprintf(key + n, keysz - n, "#%s", policy_holder(p));
	return n + 1; /* the counter's name ends at the '#' */
}

/* limits_connect - the connect counts, in one go */
static void
limits_connect(struct policy_check *chk)
{
	const struct moat_conf *c = policy_conf(chk->p);
	struct store *st = policy_store(chk->p);
	struct store_bucket b;
	char key[96];
	size_t plen = conc_key(chk->p, &chk->req.client.addr, key, sizeof(key));

	/* Whether a token was asked for, not the config (a reload may change
	 * it before the answers are in), tells which answer is the last. */
	chk->conc.rate = c->limits.conn_rate > 0;
	store_count(st, key, plen, 1, c->limits.conn_per_ip, CONC_TTL, conc_client_done,
	            chk);
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
	/* Nothing to do: a share cannot go below zero, and a process that
	 * dies has its shares deleted by the master. */
}

void
limits_release(struct policy *p, const struct policy_client *client)
{
	char key[96];
	size_t plen;

	/* Only what was added is taken back: a count whose store request
	 * failed, or that did not fit, was never added. */
	if (client->counted & COUNTED_CLIENT) {
		plen = conc_key(p, &client->addr, key, sizeof(key));
		store_count(policy_store(p), key, plen, -1, 0, CONC_TTL, released, NULL);
	}
}
