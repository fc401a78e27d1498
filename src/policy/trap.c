/* SPDX-License-Identifier: ISC */
/*
 * trap.c - spamtraps at RCPT. A recipient at one of our domains that is no
 * user is checked first against the plain spamtrap list, then as a trap
 * address minted for a bait page (its MAC proves it; bait/trapaddr.c).
 * A hit is recorded for `moatctl traps` (the harvester too) and answered
 * like an unknown user (no hint that it was a trap), and logged once with
 * what it did:
 *   - a trusted, allowlisted or authenticated client, or one with a good
 *     record (mail of its was accepted within verdict_cache_ttl, "good:KEY"
 *     from policy_remember_good()), is only refused that recipient: one mistake,
 *     or a forwarded list, must not cut off a site we know;
 *   - anyone else is banned here for bait_ban_time ("trapban:KEY", which
 *     ban.c refuses at connect and export.c never publishes), and its
 *     session ends or (on_hit = tarpit) trickles on; only at
 *     trap_export_hits hits within bait_ban_time ("traphits:KEY") is the
 *     ban also written to "ban:KEY", which the rbldnsd export publishes.
 * Trap mail is never accepted, so never delivered.
 * SECURITY: the recipient is parsed, bounded client input; trap_verify()
 * checks it in constant time against the secret. Values are logged through
 * log_escape(); the ban reason holds the address, which export.c cleans.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "bait/trapaddr.h"
#include "bait/trapstore.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "policy/stages.h"
#include "store/store.h"

/* One hit while its store lookups run; the check waits for it. */
struct trap_hit {
	struct policy_check *chk;
	char who[80];            /* netaddr_client_key() of the sender */
	char hs[NETADDR_STRLEN]; /* harvester, or "-" */
	char ts[32];             /* when it was harvested, or "-" */
	char reason[300];        /* the ban's reason */
	size_t reason_len;
	const char *exempt; /* why it bans nobody, or NULL */
	int64_t hits;       /* hits toward the export (0: not counted) */
	int exported;
};

static int
plain_trap(const struct bait_conf *b, const char *rcpt)
{
	for (size_t i = 0; i < b->nspamtraps; i++)
		if (strcasecmp(b->spamtraps[i], rcpt) == 0)
			return 1;
	return 0;
}

/* hit_done - log the hit with what it did, and refuse the recipient */
static void
hit_done(struct trap_hit *t)
{
	struct policy_check *chk = t->chk;
	const struct moat_conf *c = policy_conf(chk->p);
	const char *action = t->exempt != NULL ? "none"
	                     : t->exported     ? "ban-export"
	                                       : "ban";

	log_info("trap hit sid=%s client=%s trap=%s harvester=%s harvested=%s action=%s "
	         "exempt=%s hits=%lld",
	         chk->req.client.sid, chk->req.client.addr_str,
	         log_escape_addr(chk->req.rcpt), t->hs, t->ts, action,
	         t->exempt != NULL ? t->exempt : "no", (long long)t->hits);
	policy_detail(chk, "trap=%s harvester=%s harvested=%s action=%s",
	              log_escape_addr(chk->req.rcpt), t->hs, t->ts, action);
	if (t->exempt == NULL) {
		if (c->bait.tarpit) {
			/* keep it busy: slow bytes, long pauses, nothing accepted */
			chk->v.stutter = 1;
			chk->v.delay_ms = 10000;
		} else
			chk->v.disconnect = 1;
	}
	free(t);
	policy_stop(chk, VERDICT_PERMFAIL, 550, "5.1.1", "trap",
	            "<%s>: Recipient address rejected: User unknown", chk->req.rcpt);
}

/* hits_done - the hit is counted: publish the ban once there are enough */
static void
hits_done(enum store_status st, int64_t value, void *arg)
{
	struct trap_hit *t = arg;
	const struct moat_conf *c = policy_conf(t->chk->p);
	char key[96];

	/* A store error only leaves the ban unpublished: the local one holds. */
	if (st == STORE_OK) {
		t->hits = value;
		if (value >= c->limits.trap_export_hits) {
			/* The published ban replaces the local one: one entry. */
			snprintf(key, sizeof(key), "ban:%s", t->who);
			store_put(policy_store(t->chk->p), key, t->reason, t->reason_len,
			          (uint32_t)c->limits.bait_ban_time, NULL, NULL);
			snprintf(key, sizeof(key), "trapban:%s", t->who);
			store_del(policy_store(t->chk->p), key, NULL, NULL);
			t->exported = 1;
		}
	}
	hit_done(t);
}

/* ban_here - list the sender here at once; count the hit toward export */
static void
ban_here(struct trap_hit *t)
{
	const struct moat_conf *c = policy_conf(t->chk->p);
	struct store *st = policy_store(t->chk->p);
	char key[96];

	snprintf(key, sizeof(key), "trapban:%s", t->who);
	store_put(st, key, t->reason, t->reason_len, (uint32_t)c->limits.bait_ban_time,
	          NULL, NULL);
	snprintf(key, sizeof(key), "traphits:%s", t->who);
	store_incr(st, key, 1, (uint32_t)c->limits.bait_ban_time, STORE_TTL_KEEP,
	           hits_done, t);
}

/* good_done - a good record spares the client the ban */
static void
good_done(enum store_status st, const void *val, size_t len, time_t expires, void *arg)
{
	struct trap_hit *t = arg;

	/* A store error: we cannot tell, and banning a stranger is the rule. */
	if (st == STORE_OK) {
		t->exempt = "good-record";
		hit_done(t);
		return;
	}
	ban_here(t);
}

static void
trap_run(struct policy_check *chk)
{
	const struct moat_conf *c = policy_conf(chk->p);
	const struct trap_secret *secret = policy_trap_secret(chk->p);
	const struct policy_client *cl = &chk->req.client;
	const char *rcpt = chk->req.rcpt, *at = strrchr(rcpt, '@');
	struct netaddr h;
	struct trap_hit *t;
	time_t when = 0, now = time(NULL);
	int minted = 0;
	char local[MAILADDR_LOCAL_MAX + 1], key[96];

	if (!chk->req.rcpt_unknown || at == NULL ||
	    (size_t)(at - rcpt) >= sizeof(local)) {
		policy_next(chk);
		return;
	}
	memcpy(local, rcpt, (size_t)(at - rcpt));
	local[at - rcpt] = '\0';
	if (!plain_trap(&c->bait, rcpt)) {
		if (secret == NULL ||
		    !trap_verify(secret, local, c->limits.bait_max_age, now, &h, &when)) {
			policy_next(chk);
			return;
		}
		minted = 1;
	}
	t = xcalloc(1, sizeof(*t));
	t->chk = chk;
	netaddr_client_key(&cl->addr, t->who, sizeof(t->who));
	strlcpy(t->hs, "-", sizeof(t->hs));
	strlcpy(t->ts, "-", sizeof(t->ts));
	if (minted) {
		struct tm tm;
		netaddr_str(&h, t->hs, sizeof(t->hs));
		gmtime_r(&when, &tm);
		strftime(t->ts, sizeof(t->ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	}
	int n = snprintf(t->reason, sizeof(t->reason), "trap: mailed <%s>%s%s%s%s", rcpt,
	                 minted ? " harvested by " : "", minted ? t->hs : "",
	                 minted ? " at " : "", minted ? t->ts : "");
	t->reason_len = (size_t)n < sizeof(t->reason) ? (size_t)n : sizeof(t->reason) - 1;
	/* Every hit is counted for `moatctl traps`, whoever sent it. */
	trapstore_hit(policy_trap_store(chk->p), &cl->addr, minted ? &h : NULL, when,
	              rcpt, now, trapstore_ttl(c->limits.bait_max_age));

	t->exempt = (cl->flags & PC_TRUSTED)       ? "trusted"
	            : (cl->flags & PC_AUTHED)      ? "authenticated"
	            : (cl->flags & PC_ALLOWLISTED) ? "allowlisted"
	                                           : NULL;
	if (t->exempt != NULL) {
		hit_done(t);
		return;
	}
	if (c->limits.verdict_cache_ttl == 0) {
		ban_here(t);
		return;
	}
	snprintf(key, sizeof(key), "good:%s", t->who);
	store_get(policy_store(chk->p), key, good_done, t);
}

const struct stage stage_trap = {"trap", 1u << HOOK_RCPT, trap_run};
