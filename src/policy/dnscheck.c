/* SPDX-License-Identifier: ISC */
/*
 * dnscheck.c - two DNS facts about a client, as screening stages:
 *   fcrdns (connect): does the client have a forward-confirmed reverse
 *       name? The session looked it up already; per the fcrdns setting a
 *       client without one is let through, scored, or refused (4xx or 5xx).
 *   sender_domain (mail): the MAIL FROM domain must be able to receive
 *       replies: an MX, or else an A or AAAA record (RFC 2505 §2.9); a null
 *       MX (RFC 7505 §4.2) counts as none. No such domain: refused with the
 *       configured class; DNS trouble: always 451 (our trouble, not theirs).
 * SECURITY: DNS answers are parsed by c-ares; the domain comes from a
 * parsed, bounded MAIL FROM address.
 */
#include <ares.h>
#include <arpa/nameser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "conf/conf.h"
#include "dns/resolver.h"
#include "policy/stages.h"

/* ---- forward-confirmed reverse DNS ---- */

static void
fcrdns_run(struct policy_check *chk)
{
	const struct moat_conf *c = policy_conf(chk->p);
	struct policy_client *cl = &chk->req.client;

	if (strcmp(cl->rdns, "unknown") != 0)
		cl->flags |= PC_FCRDNS;
	if ((cl->flags & (PC_TRUSTED | PC_ALLOWLISTED | PC_CACHED | PC_FCRDNS)) ||
	    c->screen.fcrdns == FCRDNS_IGNORE) {
		policy_next(chk);
		return;
	}
	policy_detail(chk, "fcrdns=none");
	if (cl->flags & PC_RDNS_TEMP) {
		/* Our resolver failed: never a 5xx for that. */
		if (c->screen.fcrdns == FCRDNS_SCORE) {
			policy_next(chk);
			return;
		}
		policy_tempfail(chk, "fcrdns", "reverse lookup failed");
		return;
	}
	switch (c->screen.fcrdns) {
	case FCRDNS_SCORE:
		cl->score += (int)c->limits.fcrdns_score;
		policy_next(chk);
		return;
	case FCRDNS_REJECT:
		policy_stop(chk, VERDICT_PERMFAIL, 554, "5.7.1", "fcrdns",
		            "Client host rejected: cannot find your hostname, [%s]",
		            cl->addr_str);
		return;
	case FCRDNS_TEMPFAIL:
		policy_stop(chk, VERDICT_TEMPFAIL, 421, "4.7.1", "fcrdns",
		            "Client host rejected: cannot find your hostname, [%s]",
		            cl->addr_str);
		return;
	case FCRDNS_IGNORE:
		break;
	}
	policy_next(chk);
}

const struct stage stage_fcrdns = {"fcrdns", 1u << HOOK_CONNECT, fcrdns_run};

/* ---- the sender's domain ---- */

struct sdom {
	struct policy_check *chk;
	const char *domain;
	int step; /* 0 MX, 1 A, 2 AAAA */
};

static void sdom_query(struct sdom *q);

static void
sdom_refuse(struct sdom *q, const char *why)
{
	struct policy_check *chk = q->chk;
	const struct moat_conf *c = policy_conf(chk->p);

	policy_detail(chk, "domain=%s why=%s", log_escape_str(q->domain),
	              log_escape_str(why));
	free(q);
	if (c->screen.sender_domain == SDOM_REJECT)
		policy_stop(chk, VERDICT_PERMFAIL, 550, "5.1.8", "sender-domain",
		            "<%s>: Sender address rejected: Domain not found",
		            chk->req.sender);
	else
		policy_stop(chk, VERDICT_TEMPFAIL, 450, "4.1.8", "sender-domain",
		            "<%s>: Sender address rejected: Domain not found",
		            chk->req.sender);
}

static void
sdom_done(void *arg, enum dns_status st, const unsigned char *abuf, int alen)
{
	struct sdom *q = arg;
	struct policy_check *chk = q->chk;

	if (st == DNS_TEMPFAIL) {
		policy_detail(chk, "domain=%s", log_escape_str(q->domain));
		free(q);
		policy_stop(chk, VERDICT_TEMPFAIL, 451, "4.4.3", "sender-domain",
		            "<%s>: Sender address rejected: temporary DNS failure; try "
		            "again later",
		            chk->req.sender);
		return;
	}
	if (st == DNS_NXDOMAIN) {
		sdom_refuse(q, "NXDOMAIN");
		return;
	}
	if (st == DNS_OK && q->step == 0) {
		struct ares_mx_reply *mx = NULL;
		if (ares_parse_mx_reply(abuf, alen, &mx) == ARES_SUCCESS && mx != NULL) {
			int null_mx = mx->next == NULL &&
			              (mx->host[0] == '\0' || strcmp(mx->host, ".") == 0);
			ares_free_data(mx);
			if (null_mx) {
				sdom_refuse(q, "null MX");
				return;
			}
			free(q);
			policy_next(chk);
			return;
		}
		if (mx != NULL)
			ares_free_data(mx);
	} else if (st == DNS_OK) {
		free(q);
		policy_next(chk);
		return;
	}
	/* no record of this type: try the next kind */
	if (++q->step > 2) {
		sdom_refuse(q, "no MX, A or AAAA record");
		return;
	}
	sdom_query(q);
}

static void
sdom_query(struct sdom *q)
{
	static const int types[] = {ns_t_mx, ns_t_a, ns_t_aaaa};
	dns_query(policy_resolver(q->chk->p), q->domain, types[q->step], sdom_done, q);
}

static void
sdom_run(struct policy_check *chk)
{
	const struct moat_conf *c = policy_conf(chk->p);
	const char *at = strrchr(chk->req.sender, '@');
	struct sdom *q;

	if (c->screen.sender_domain == SDOM_OFF || at == NULL || at[1] == '[' ||
	    (chk->req.client.flags & (PC_TRUSTED | PC_AUTHED | PC_ALLOWLISTED)) ||
	    conf_domain_find(c, at + 1) != NULL) {
		policy_next(chk);
		return;
	}
	q = calloc(1, sizeof(*q));
	if (q == NULL) {
		policy_tempfail(chk, "sender-domain", "out of memory");
		return;
	}
	q->chk = chk;
	q->domain = at + 1;
	sdom_query(q);
}

const struct stage stage_sender_domain = {"sender-domain", 1u << HOOK_MAIL, sdom_run};
