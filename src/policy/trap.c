/* SPDX-License-Identifier: ISC */
/*
 * trap.c - spamtraps at RCPT. A recipient at one of our domains that is no
 * user is checked first against the plain spamtrap list, then as a trap
 * address minted for a bait page (its MAC proves it; bait/trapaddr.c).
 * A hit lists the sending client at once (a ban with bait_ban_time, reason
 * "trap"), records the harvester for `moatctl traps`, logs one line, and
 * answers like an unknown user (no hint that it was a trap): the session
 * then ends, or (on_hit = tarpit) trickles on slowly. Trap mail is never
 * accepted, so never delivered.
 * SECURITY: the recipient is parsed, bounded client input; trap_verify()
 * checks it in constant time against the secret.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "bait/trapaddr.h"
#include "bait/trapstore.h"
#include "common/log.h"
#include "conf/conf.h"
#include "policy/stages.h"
#include "store/store.h"

static int
plain_trap(const struct bait_conf *b, const char *rcpt)
{
	for (size_t i = 0; i < b->nspamtraps; i++)
		if (strcasecmp(b->spamtraps[i], rcpt) == 0)
			return 1;
	return 0;
}

static void
trap_run(struct policy_check *chk)
{
	const struct moat_conf *c = policy_conf(chk->p);
	const struct trap_secret *secret = policy_trap_secret(chk->p);
	const char *rcpt = chk->req.rcpt, *at = strrchr(rcpt, '@');
	struct netaddr h;
	time_t when = 0, now = time(NULL);
	int minted = 0;
	char local[MAILADDR_LOCAL_MAX + 1], hs[NETADDR_STRLEN] = "-", ts[32] = "-",
	                                    key[96];

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
		netaddr_str(&h, hs, sizeof(hs));
		struct tm tm;
		gmtime_r(&when, &tm);
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	}
	log_info("trap hit sid=%s client=%s trap=%s harvester=%s harvested=%s",
	         chk->req.client.sid, chk->req.client.addr_str, log_escape_addr(rcpt), hs,
	         ts);

	/* list the sender now: its next connection is refused */
	char reason[300];
	int n = snprintf(reason, sizeof(reason), "trap: mailed <%s>%s%s%s%s", rcpt,
	                 minted ? " harvested by " : "", minted ? hs : "",
	                 minted ? " at " : "", minted ? ts : "");
	memcpy(key, "ban:", 4);
	policy_client_key(&chk->req.client.addr, key + 4, sizeof(key) - 4);
	store_put(policy_store(chk->p), key, reason,
	          (size_t)n < sizeof(reason) ? (size_t)n : sizeof(reason) - 1,
	          (uint32_t)c->limits.bait_ban_time, NULL, NULL);
	trapstore_hit(policy_store(chk->p), &chk->req.client.addr, minted ? &h : NULL,
	              when, rcpt, now);

	policy_detail(chk, "trap=%s harvester=%s harvested=%s", log_escape_addr(rcpt), hs,
	              ts);
	if (c->bait.tarpit) {
		/* keep it busy: slow bytes, long pauses, and nothing accepted */
		chk->v.stutter = 1;
		chk->v.delay_ms = 10000;
	} else
		chk->v.disconnect = 1;
	policy_stop(chk, VERDICT_PERMFAIL, 550, "5.1.1", "trap",
	            "<%s>: Recipient address rejected: User unknown", rcpt);
}

const struct stage stage_trap = {"trap", 1u << HOOK_RCPT, trap_run};
