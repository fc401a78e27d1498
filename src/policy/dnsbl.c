/* SPDX-License-Identifier: ISC */
/*
 * dnsbl.c - DNS block- and allowlists, scored (RFC 5782; postscreen's
 * weights and reply filters).
 *
 * Every configured zone is asked at once; each zone whose answer passes its
 * filter adds its weight to the client's score once. At dnsbl_threshold the
 * client is refused (5xx, or 4xx with dnsbl_action = tempfail); a negative
 * total from allowlist zones marks the client DNSWL-listed, which spares it
 * greylisting. A zone that does not answer counts as not listing: a slow
 * list must not stop mail (and never causes a 5xx). Zone names never appear
 * in replies, since keyed zones carry an account key in their name.
 * SECURITY: answers are parsed by c-ares as A records and only compared.
 */
#include <ares.h>
#include <arpa/nameser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "dns/resolver.h"
#include "policy/dnsbl_spec.h"
#include "policy/stages.h"

struct dnsbl_q {
	struct dnsbl_ctx *x;
	size_t zone;
};

struct dnsbl_ctx {
	struct policy_check *chk;
	int pending;
	int score;
	int allow; /* an allowlist zone matched */
	char listed[240];
	char failed[120];
};

static void
append(char *buf, size_t sz, const char *s)
{
	if (buf[0] != '\0')
		strlcat(buf, ",", sz);
	strlcat(buf, s, sz);
}

static void
dnsbl_finish(struct dnsbl_ctx *x)
{
	struct policy_check *chk = x->chk;
	const struct moat_conf *c = policy_conf(chk->p);
	struct policy_client *cl = &chk->req.client;

	cl->score += x->score;
	if (x->allow)
		cl->flags |= PC_DNSWL;
	/* "unanswered=" comes first, so a long detail never cuts it off:
	 * the verdict cache (verdict_cache.c) looks for it. */
	if (x->listed[0] || x->failed[0])
		policy_detail(chk, "dnsbl-score=%d%s%s%s%s", x->score,
		              x->failed[0] ? " unanswered=" : "",
		              x->failed[0] ? log_escape_str(x->failed) : "",
		              x->listed[0] ? " listed=" : "",
		              x->listed[0] ? log_escape_str(x->listed) : "");
	free(x);
	if (cl->score >= c->limits.dnsbl_threshold) {
		policy_detail(chk, "score=%d threshold=%ld", cl->score,
		              c->limits.dnsbl_threshold);
		if (c->screen.dnsbl_tempfail)
			policy_stop(chk, VERDICT_TEMPFAIL, 421, "4.7.1", "dnsbl",
			            "Service unavailable; client [%s] blocked using DNS "
			            "blocklists; try again later",
			            cl->addr_str);
		else
			policy_stop(chk, VERDICT_PERMFAIL, 554, "5.7.1", "dnsbl",
			            "Service unavailable; client [%s] blocked using DNS "
			            "blocklists",
			            cl->addr_str);
		return;
	}
	policy_next(chk);
}

static void
zone_done(void *arg, enum dns_status st, const unsigned char *abuf, int alen)
{
	struct dnsbl_q *q = arg;
	struct dnsbl_ctx *x = q->x;
	const struct dnsbl_zone *z = &policy_conf(x->chk->p)->screen.dnsbl[q->zone];

	if (st == DNS_OK) {
		struct ares_addrttl t[16];
		int n = 16;
		if (ares_parse_a_reply(abuf, alen, NULL, t, &n) == ARES_SUCCESS)
			for (int i = 0; i < n; i++) {
				uint8_t ip[4];
				memcpy(ip, &t[i].ipaddr, 4);
				if (dnsbl_spec_match(z, ip)) {
					x->score += z->weight;
					if (z->weight < 0)
						x->allow = 1;
					append(x->listed, sizeof(x->listed), z->zone);
					break;
				}
			}
	} else if (st == DNS_TEMPFAIL)
		append(x->failed, sizeof(x->failed), z->zone);
	free(q);
	if (--x->pending == 0)
		dnsbl_finish(x);
}

static void
dnsbl_run(struct policy_check *chk)
{
	const struct screen_conf *s = &policy_conf(chk->p)->screen;
	const struct policy_client *cl = &chk->req.client;
	struct dnsbl_ctx *x;
	char rev[80], name[300];

	if (s->ndnsbl == 0 || (cl->flags & (PC_TRUSTED | PC_ALLOWLISTED | PC_CACHED)) ||
	    dns_reverse_name(&cl->addr, "", rev, sizeof(rev)) == -1) {
		policy_next(chk);
		return;
	}
	/* dns_reverse_name with "" ends in "." : the zone follows directly */
	x = xcalloc(1, sizeof(*x));
	x->chk = chk;
	x->pending = (int)s->ndnsbl + 1; /* +1 while queries go out */
	for (size_t i = 0; i < s->ndnsbl; i++) {
		struct dnsbl_q *q = xcalloc(1, sizeof(*q));
		q->x = x;
		q->zone = i;
		snprintf(name, sizeof(name), "%s%s", rev, s->dnsbl[i].zone);
		dns_query(policy_resolver(chk->p), name, ns_t_a, zone_done, q);
	}
	if (--x->pending == 0)
		dnsbl_finish(x);
}

const struct stage stage_dnsbl = {"dnsbl", 1u << HOOK_CONNECT, dnsbl_run};
