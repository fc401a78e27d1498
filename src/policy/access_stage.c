/* SPDX-License-Identifier: ISC */
/*
 * access_stage.c - the access lists as a screening stage: the client list
 * at connect, the HELO list at HELO, the sender list at MAIL. First match
 * wins; "allow" passes the remaining stages of that hook, "deny" is a 5xx,
 * "tempfail" a 4xx (RFC 2505 §2.13: the administrator picks the class).
 * SECURITY: matches bounded client data against the administrator's rules.
 */
#include <stdio.h>

#include "common/log.h"
#include "policy/access.h"
#include "policy/stages.h"

static void
access_run(struct policy_check *chk)
{
	const struct access_lists *al = policy_access(chk->p);
	const struct policy_req *r = &chk->req;
	struct access_match m;
	int found = 0, code5, code4;
	const char *enh5, *rule;

	switch (r->hook) {
	case HOOK_CONNECT:
		found = access_client(al->client, &r->client.addr, r->client.rdns, &m);
		code5 = 554;
		code4 = 421;
		enh5 = "5.7.1";
		rule = "client-access";
		break;
	case HOOK_HELO:
		found = access_helo(al->helo, r->client.helo, &m);
		code5 = 550;
		code4 = 450;
		enh5 = "5.7.1";
		rule = "helo-access";
		break;
	case HOOK_MAIL:
		found = access_sender(al->sender, r->sender, &m);
		code5 = 553;
		code4 = 450;
		enh5 = "5.7.1";
		rule = "sender-access";
		break;
	default:
		policy_next(chk);
		return;
	}
	if (!found) {
		policy_next(chk);
		return;
	}
	char where[300];
	snprintf(where, sizeof(where), "%s:%d", m.file, m.line);
	policy_detail(chk, "match=%s", log_escape_str(where));
	switch (m.action) {
	case ACCESS_ALLOW:
		if (r->hook == HOOK_CONNECT)
			chk->req.client.flags |= PC_ALLOWLISTED;
		policy_allow(chk, rule);
		return;
	case ACCESS_DENY:
		policy_stop(chk, VERDICT_PERMFAIL, code5, enh5, rule, "%s",
		            m.text ? m.text : "Access denied");
		return;
	case ACCESS_TEMPFAIL:
		policy_stop(chk, VERDICT_TEMPFAIL, code4, "4.7.1", rule, "%s",
		            m.text ? m.text
		                   : "Access temporarily denied; try again later");
		return;
	case ACCESS_NONE:
		break;
	}
	policy_next(chk);
}

const struct stage stage_access = {
    "access", (1u << HOOK_CONNECT) | (1u << HOOK_HELO) | (1u << HOOK_MAIL), access_run};
