/* SPDX-License-Identifier: ISC */
/*
 * harvest.c - dictionary harvesting: a client that asks for many unknown
 * recipients is probing for addresses. Per session, past harvest_soft each
 * further "unknown user" reply comes a second later than the last (tarpit),
 * and at harvest_hard the session ends with 421. Across sessions the count
 * per client and harvest_window goes to the store; at harvest_ban the
 * client is banned for harvest_ban_time ("ban:KEY", reason "harvest").
 * SECURITY: counts only; the recipient text is not stored.
 */
#include <stdio.h>
#include <string.h>

#include "conf/conf.h"
#include "policy/stages.h"
#include "store/store.h"

static void
counted(enum store_status st, int64_t value, void *arg)
{
	struct policy_check *chk = arg;
	const struct moat_conf *c = policy_conf(chk->p);
	const struct policy_client *cl = &chk->req.client;
	char key[96];

	/* A store error only loses the cross-session view: keep going. */
	if (st == STORE_OK && value >= c->limits.harvest_ban) {
		char reason[80];
		int n = snprintf(reason, sizeof(reason),
		                 "harvest: %lld unknown recipients", (long long)value);
		memcpy(key, "ban:", 4);
		netaddr_client_key(&cl->addr, key + 4, sizeof(key) - 4);
		store_put(policy_store(chk->p), key, reason, (size_t)n,
		          (uint32_t)c->limits.harvest_ban_time, NULL, NULL);
		policy_detail(chk, "unknown-rcpts=%lld banned-for=%lds", (long long)value,
		              c->limits.harvest_ban_time);
		chk->v.disconnect = 1;
		policy_stop(chk, VERDICT_TEMPFAIL, 421, "4.7.0", "harvest-ban",
		            "Too many unknown recipients; go away");
		return;
	}
	if (cl->unknown_rcpts >= c->limits.harvest_hard) {
		policy_detail(chk, "unknown-rcpts-in-session=%d", cl->unknown_rcpts);
		chk->v.disconnect = 1;
		policy_stop(chk, VERDICT_TEMPFAIL, 421, "4.7.0", "harvest",
		            "Too many unknown recipients in one session");
		return;
	}
	if (cl->unknown_rcpts >= c->limits.harvest_soft) {
		/* one more second for each unknown recipient past the soft limit */
		long d = 1000L * (cl->unknown_rcpts - c->limits.harvest_soft + 1);
		chk->v.delay_ms = d > 10000 ? 10000 : d;
		policy_detail(chk, "harvest-delay-ms=%ld", chk->v.delay_ms);
	}
	policy_next(chk);
}

static void
harvest_run(struct policy_check *chk)
{
	const struct moat_conf *c = policy_conf(chk->p);
	const struct policy_client *cl = &chk->req.client;
	char key[96];

	if (!c->screen.harvest || !chk->req.rcpt_unknown ||
	    (cl->flags & (PC_TRUSTED | PC_AUTHED | PC_ALLOWLISTED))) {
		policy_next(chk);
		return;
	}
	memcpy(key, "harvest:", 8);
	netaddr_client_key(&cl->addr, key + 8, sizeof(key) - 8);
	store_incr(policy_store(chk->p), key, 1, (uint32_t)c->limits.harvest_window,
	           STORE_TTL_KEEP, counted, chk);
}

const struct stage stage_harvest = {"harvest", 1u << HOOK_RCPT, harvest_run};
