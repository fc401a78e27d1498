/* SPDX-License-Identifier: ISC */
/*
 * relay_stage.c - the relay decision (relay.c) as the first RCPT stage.
 *
 * It judges the address the client gave and puts the final destination
 * into the request for the stages after it. A recipient that may not be
 * accepted stops the check, except an unknown user at one of our domains:
 * harvest detection (and the trap stage) must see that one first, so its
 * refusal is kept aside (policy_defer) and becomes the verdict unless a
 * later stage decides otherwise. At a domain with a recipient lookup
 * (rcpt_lookup.h), an address it does not list is asked about first:
 * found, it is a recipient (a socketmap may name its targets); not
 * found, it goes to the catch-all or is unknown; trouble is a 451. An SRS
 * address of ours goes on to the address it was made from (relay.c).
 * SECURITY: the address was parsed and bounded by mailaddr.c; only the
 * client's network or its authentication lets it relay (RFC 2505 §2.1).
 */
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "conf/aliases.h"
#include "conf/conf.h"
#include "policy/rcpt_lookup.h"
#include "policy/relay.h"
#include "policy/stages.h"

/* unknown - a local domain without this user: counted for harvest
 * detection (and the trap stage) before the refusal is final */
static void
unknown(struct policy_check *chk, const struct verdict *v)
{
	struct policy_req *req = &chk->req;

	mailaddr_format(&req->to, req->rcpt, sizeof(req->rcpt));
	req->rcpt_unknown = 1;
	req->rcpt_local = 1;
	req->client.unknown_rcpts++;
	policy_defer(chk, v);
	policy_next(chk);
}

/* looked_up - the domain's lookup answered about req->rcpt */
static void
looked_up(void *arg, enum lookup_status st, const char *value, const char *why)
{
	struct policy_check *chk = arg;
	struct policy_req *req = &chk->req;

	if (chk->cancelled) {
		policy_next(chk); /* the session is gone: finish */
		return;
	}
	switch (st) {
	case LOOKUP_FOUND:
		req->rcpt_found = 1;
		/* a socketmap's value names the mailbox itself, or targets */
		if (value[0] != '\0' && strcasecmp(value, req->rcpt) != 0)
			strlcpy(req->rcpt_targets, value, sizeof(req->rcpt_targets));
		policy_detail(chk, "lookup=found");
		policy_next(chk);
		return;
	case LOOKUP_NOTFOUND:
		if (chk->relay.catchall) {
			policy_detail(chk, "lookup=notfound catch-all");
			policy_next(chk);
			return;
		}
		unknown(chk, &chk->relay.unknown);
		return;
	case LOOKUP_TROUBLE:
		break;
	}
	/* lookup trouble is never a 5xx: the client tries again later */
	log_warnx("recipient_lookup: sid=%s rcpt=%s: %s", chk->req.client.sid,
	          log_escape_addr(req->rcpt), log_escape_str(why));
	policy_stop(chk, VERDICT_TEMPFAIL, 451, "4.3.0", "lookup-trouble",
	            "<%s>: Recipient address rejected: Temporary lookup failure",
	            req->rcpt);
}

static void
relay_run(struct policy_check *chk)
{
	struct policy_req *req = &chk->req;
	const struct moat_conf *c = policy_conf(chk->p);
	int may_relay = (req->client.flags & (PC_TRUSTED | PC_AUTHED)) != 0;
	struct rcpt_dest dest;
	struct verdict v;

	relay_check_rcpt(c, &req->to, may_relay, &dest, &v);
	if (v.kind == VERDICT_OK) {
		strlcpy(req->rcpt, dest.addr, sizeof(req->rcpt));
		req->rcpt_local = dest.local != NULL;
		if (dest.srs[0] != '\0') {
			/* a bounce to an SRS address: the session sends it on
			 * to the sender it was made from */
			req->rcpt_found = 1;
			strlcpy(req->rcpt_targets, dest.srs, sizeof(req->rcpt_targets));
			policy_detail(chk, "srs=reversed");
		}
		policy_next(chk);
		return;
	}
	if (dest.lookup) {
		/* the user's name without its extension is what the lookup
		 * knows; the recipient keeps it */
		char local[MAILADDR_LOCAL_MAX + 1], base[MAILADDR_LOCAL_MAX + 1];
		char key[MAILADDR_FMT_MAX];
		const char *at = strrchr(dest.addr, '@');

		snprintf(local, sizeof(local), "%.*s", (int)(at - dest.addr), dest.addr);
		snprintf(key, sizeof(key), "%s@%s",
		         conf_rcpt_base(c, local, base, sizeof(base)), dest.local->name);
		strlcpy(req->rcpt, dest.addr, sizeof(req->rcpt));
		req->rcpt_local = 1;
		chk->relay.unknown = v;
		chk->relay.catchall = dest.catchall;
		rcpt_lookup(policy_lookups(chk->p), dest.local, key, looked_up, chk);
		return;
	}
	if (dest.unknown) {
		unknown(chk, &v);
		return;
	}
	mailaddr_format(&req->to, req->rcpt, sizeof(req->rcpt));
	policy_stop(chk, v.kind, v.code, v.enh, v.rule, "%s", v.text);
}

const struct stage stage_relay = {"relay", 1u << HOOK_RCPT, relay_run};
