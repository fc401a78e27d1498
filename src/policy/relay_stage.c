/* SPDX-License-Identifier: ISC */
/*
 * relay_stage.c - the relay decision (relay.c) as the first RCPT stage.
 *
 * It judges the address the client gave and puts the final destination
 * into the request for the stages after it. A recipient that may not be
 * accepted stops the check, except an unknown user at one of our domains:
 * harvest detection (and the trap stage) must see that one first, so its
 * refusal is kept aside (policy_defer) and becomes the verdict unless a
 * later stage decides otherwise.
 * SECURITY: the address was parsed and bounded by mailaddr.c; only the
 * client's network or its authentication lets it relay (RFC 2505 §2.1).
 */
#include <string.h>

#include "policy/relay.h"
#include "policy/stages.h"

static void
relay_run(struct policy_check *chk)
{
	struct policy_req *req = &chk->req;
	int may_relay = (req->client.flags & (PC_TRUSTED | PC_AUTHED)) != 0;
	struct rcpt_dest dest;
	struct verdict v;

	relay_check_rcpt(policy_conf(chk->p), &req->to, may_relay, &dest, &v);
	if (v.kind == VERDICT_OK) {
		strlcpy(req->rcpt, dest.addr, sizeof(req->rcpt));
		req->rcpt_local = dest.local != NULL;
		policy_next(chk);
		return;
	}
	mailaddr_format(&req->to, req->rcpt, sizeof(req->rcpt));
	if (dest.unknown) {
		/* counted here, for harvest detection in this session */
		req->rcpt_unknown = 1;
		req->rcpt_local = 1;
		req->client.unknown_rcpts++;
		policy_defer(chk, &v);
		policy_next(chk);
		return;
	}
	policy_stop(chk, v.kind, v.code, v.enh, v.rule, "%s", v.text);
}

const struct stage stage_relay = {"relay", 1u << HOOK_RCPT, relay_run};
