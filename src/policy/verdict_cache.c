/* SPDX-License-Identifier: ISC */
/*
 * verdict_cache.c - a client that passed the connect checks is remembered
 * for verdict_cache_ttl ("pass:KEY", with its score), so a busy legitimate
 * peer is not looked up in DNS on every connection (postscreen's cache).
 * Bans, access lists and limits still apply to it every time. A pass made
 * by our own DNS trouble (a lookup that did not answer) is not remembered.
 * A client whose mail was accepted has a good record ("good:KEY", the same
 * TTL; policy_remember_good() in ban.c), which spares it a trap's ban
 * (trap.c).
 * SECURITY: stores our own verdict, keyed by the peer address.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "policy/stages.h"
#include "store/store.h"

static void
cache_done(enum store_status st, const void *val, size_t len, time_t expires, void *arg)
{
	struct policy_check *chk = arg;
	char buf[16];

	/* A store error here only costs a fresh check: no 4xx for that. */
	if (st == STORE_OK) {
		size_t n = len < sizeof(buf) - 1 ? len : sizeof(buf) - 1;
		memcpy(buf, val, n);
		buf[n] = '\0';
		chk->req.client.flags |= PC_CACHED;
		chk->req.client.score = (int)strtol(buf, NULL, 10);
		if (strchr(buf, 'f') != NULL)
			chk->req.client.flags |= PC_FCRDNS;
		if (strchr(buf, 'w') != NULL)
			chk->req.client.flags |= PC_DNSWL;
		policy_detail(chk, "cached");
	}
	policy_next(chk);
}

static void
cache_run(struct policy_check *chk)
{
	char key[96];

	if (policy_conf(chk->p)->limits.verdict_cache_ttl == 0) {
		policy_next(chk);
		return;
	}
	memcpy(key, "pass:", 5);
	netaddr_client_key(&chk->req.client.addr, key + 5, sizeof(key) - 5);
	store_get(policy_store(chk->p), key, cache_done, chk);
}

static void
record_run(struct policy_check *chk)
{
	const struct policy_client *cl = &chk->req.client;
	long ttl = policy_conf(chk->p)->limits.verdict_cache_ttl;
	char key[96], val[32];

	/* A pass that our own DNS trouble made (a list or the reverse lookup
	 * did not answer) is not a pass of the checks: such a client is
	 * checked again next time. dnsbl.c notes unanswered lists as
	 * "unanswered=" in the detail. */
	if (ttl > 0 && !(cl->flags & PC_CACHED) &&
	    ((cl->flags & PC_RDNS_TEMP) ||
	     strstr(chk->v.detail, "unanswered=") != NULL)) {
		policy_detail(chk, "not-cached");
		ttl = 0;
	}
	if (ttl > 0 && !(cl->flags & PC_CACHED)) {
		memcpy(key, "pass:", 5);
		netaddr_client_key(&cl->addr, key + 5, sizeof(key) - 5);
		int n = snprintf(val, sizeof(val), "%d%s%s", cl->score,
		                 (cl->flags & PC_FCRDNS) ? "f" : "",
		                 (cl->flags & PC_DNSWL) ? "w" : "");
		store_put(policy_store(chk->p), key, val, (size_t)n, (uint32_t)ttl, NULL,
		          NULL);
	}
	policy_next(chk);
}

const struct stage stage_verdict_cache = {"verdict-cache", 1u << HOOK_CONNECT, cache_run};
const struct stage stage_verdict_record = {"verdict-record", 1u << HOOK_CONNECT,
                                           record_run};
