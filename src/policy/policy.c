/* SPDX-License-Identifier: ISC */
/*
 * policy.c - run the screening stages of a hook, in order.
 *
 * The order of the stages is the order of the table below: cheap and
 * decisive checks first (bans, access lists, limits), the DNS-based ones
 * after them, the record of a passed connection last.
 * SECURITY: the request is client data already parsed and bounded by the
 * SMTP layer; stages read it, never the raw input.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "policy/policy.h"
#include "policy/stages.h"

struct policy {
	struct event_base *base;
	const struct moat_conf *conf;
	struct resolver *res;
	struct store *st;
	const struct trap_secret *trap_secret;
};

/* The pipeline: every stage, in the order it runs at each of its hooks. */
static const struct stage *const pipeline[] = {
    &stage_bans,           /* connect: moatctl bans and allows, remembered talkers */
    &stage_access,         /* connect/helo/mail: the access list files */
    &stage_limits,         /* connect/mail/rcpt: concurrency and rates */
    &stage_verdict_cache,  /* connect: a client that passed lately skips DNS */
    &stage_fcrdns,         /* connect: forward-confirmed reverse DNS */
    &stage_dnsbl,          /* connect: DNS block- and allowlists, scored */
    &stage_verdict_record, /* connect: remember the pass */
    &stage_sender_domain,  /* mail: the sender's domain must exist */
    &stage_trap,           /* rcpt: spamtrap and bait-page trap addresses */
    &stage_harvest,        /* rcpt: unknown recipients: slow, cut, ban */
    &stage_greylist,       /* rcpt: the triplet must come back */
};
#define NSTAGES (sizeof(pipeline) / sizeof(pipeline[0]))

struct policy *
policy_new(struct event_base *base, const struct moat_conf *conf, struct resolver *res,
           struct store *st)
{
	struct policy *p = xcalloc(1, sizeof(*p));

	p->base = base;
	p->conf = conf;
	p->res = res;
	p->st = st;
	return p;
}

void
policy_free(struct policy *p)
{
	free(p);
}

const struct moat_conf *
policy_conf(const struct policy *p)
{
	return p->conf;
}

struct store *
policy_store(const struct policy *p)
{
	return p->st;
}

void
policy_set_trap_secret(struct policy *p, const struct trap_secret *s)
{
	p->trap_secret = s;
}

const struct trap_secret *
policy_trap_secret(const struct policy *p)
{
	return p->trap_secret;
}

struct resolver *
policy_resolver(const struct policy *p)
{
	return p->res;
}

void
policy_client_key(const struct netaddr *na, char *buf, size_t bufsz)
{
	struct netaddr k = *na;
	char s[NETADDR_STRLEN];

	/* One IPv6 host holds a whole /64: count the /64 (RFC 2505 §2.8). */
	if (k.family == AF_INET6) {
		netaddr_mask(&k, 64);
		snprintf(buf, bufsz, "%s/64", netaddr_str(&k, s, sizeof(s)));
	} else
		snprintf(buf, bufsz, "%s", netaddr_str(&k, s, sizeof(s)));
}

static void
release(struct policy_check *chk)
{
	if (--chk->refs == 0)
		free(chk);
}

static void
finish(struct policy_check *chk)
{
	chk->done = 1;
	if (!chk->cancelled)
		chk->cb(chk->arg, &chk->v, &chk->req.client);
	else if (chk->req.client.counted & ~chk->counted_before) {
		/* The session went away while its checks ran: what they counted
		 * never reached it, so its disconnect could not take it back. */
		struct policy_client cl = chk->req.client;
		cl.counted &= ~chk->counted_before;
		limits_release(chk->p, &cl);
	}
	release(chk);
}

void
policy_next(struct policy_check *chk)
{
	/* Stages run one after another; a cancelled check stops here. */
	while (!chk->cancelled && chk->next < NSTAGES) {
		const struct stage *st = pipeline[chk->next++];
		if (st->hooks & (1u << chk->req.hook)) {
			st->run(chk);
			return;
		}
	}
	finish(chk);
}

void
policy_allow(struct policy_check *chk, const char *rule)
{
	chk->v.kind = VERDICT_OK;
	chk->v.rule = rule;
	finish(chk);
}

void
policy_stop(struct policy_check *chk, enum verdict_kind kind, int code, const char *enh,
            const char *rule, const char *fmt, ...)
{
	va_list ap;

	chk->v.kind = kind;
	chk->v.code = code;
	chk->v.enh = enh;
	chk->v.rule = rule;
	va_start(ap, fmt);
	vsnprintf(chk->v.text, sizeof(chk->v.text), fmt, ap);
	va_end(ap);
	finish(chk);
}

void
policy_detail(struct policy_check *chk, const char *fmt, ...)
{
	va_list ap;
	size_t len = strlen(chk->v.detail);

	if (len + 2 >= sizeof(chk->v.detail))
		return;
	if (len > 0)
		chk->v.detail[len++] = ' ';
	va_start(ap, fmt);
	vsnprintf(chk->v.detail + len, sizeof(chk->v.detail) - len, fmt, ap);
	va_end(ap);
}

void
policy_tempfail(struct policy_check *chk, const char *rule, const char *why)
{
	policy_detail(chk, "trouble=%s", log_escape_str(why));
	if (chk->req.hook == HOOK_CONNECT)
		policy_stop(chk, VERDICT_TEMPFAIL, 421, "4.3.0", rule,
		            "Service temporarily unavailable; try again later");
	else
		policy_stop(chk, VERDICT_TEMPFAIL, 451, "4.3.0", rule,
		            "Temporary local problem; try again later");
}

struct policy_check *
policy_run(struct policy *p, const struct policy_req *req, policy_done_cb cb, void *arg)
{
	struct policy_check *chk = xcalloc(1, sizeof(*chk));

	chk->p = p;
	chk->req = *req;
	chk->counted_before = req->client.counted;
	chk->cb = cb;
	chk->arg = arg;
	chk->v.kind = VERDICT_OK;
	chk->refs = 2;
	policy_next(chk);
	/* The callback may have run already (no stage waited): then there is
	 * nothing left to cancel, and the caller gets NULL. */
	if (chk->done) {
		release(chk);
		return NULL;
	}
	chk->refs--;
	return chk;
}

void
policy_disconnect(struct policy *p, const struct policy_client *client)
{
	if (client->counted)
		limits_release(p, client);
}

void
policy_cancel(struct policy_check *chk)
{
	if (chk != NULL)
		chk->cancelled = 1;
}
