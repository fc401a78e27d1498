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
#include <time.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "policy/access.h"
#include "policy/attack.h"
#include "policy/policy.h"
#include "policy/psvc_proto.h"
#include "policy/rcpt_lookup.h"
#include "policy/svc_client.h"
#include "policy/sender_login.h"
#include "policy/stages.h"
#include "store/store.h"

struct policy {
	struct event_base *base;
	const struct moat_conf *conf;
	struct resolver *res;
	struct store *st;
	const struct trap_secret *trap_secret;
	struct store *trap_store;
	struct sender_map *sender_map;
	unsigned long store_alarms;
	char holder[24]; /* "wPID" */
	time_t store_alarm_logged;
	struct access_lists access; /* the screen section's files, read here */
	struct sigset *sigs;        /* signatures_file, or NULL */
	unsigned long attack_hits, attack_bans;
	struct svc **psvc;            /* one per policy_service section */
	struct rcpt_lookups *lookups; /* the domains' recipient lookups */
};

/* The pipeline: every stage, in the order it runs at each of its hooks. */
static const struct stage *const pipeline[] = {
    &stage_relay,           /* rcpt: the relay decision, the final recipient */
    &stage_sender_login,    /* mail: an authenticated user's own addresses */
    &stage_bans,            /* connect: moatctl bans and allows, remembered talkers */
    &stage_access,          /* connect/helo/mail: the access list files */
    &stage_limits,          /* connect/mail/rcpt: concurrency and rates */
    &stage_submit_limits,   /* mail/rcpt: an authenticated login's budget */
    &stage_verdict_cache,   /* connect: a client that passed lately skips DNS */
    &stage_fcrdns,          /* connect: forward-confirmed reverse DNS */
    &stage_dnsbl,           /* connect: DNS block- and allowlists, scored */
    &stage_verdict_record,  /* connect: remember the pass */
    &stage_sender_domain,   /* mail: the sender's domain must exist */
    &stage_trap,            /* rcpt: spamtrap and bait-page trap addresses */
    &stage_harvest,         /* rcpt: unknown recipients: slow, cut, ban */
    &stage_greylist,        /* rcpt: the triplet must come back */
    &stage_policy_services, /* rcpt/data/eod: the policy_service sections */
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
	p->sender_map = sender_map_load(conf->auth_sender_map);
	/* the policy is made in the process that uses it, after fork */
	{
		/* with a shared store, pids of different hosts may meet */
		char tag[16];
		store_host_tag(conf, tag, sizeof(tag));
		snprintf(p->holder, sizeof(p->holder), "w%d%s", log_pid(), tag);
	}
	/* moatd checked the files before it started or reloaded (main.c,
	 * master.c); one that broke since is a start-up failure of this
	 * worker, which the master starts again a second later. */
	if (access_lists_load(&p->access, &conf->screen, stderr) == -1)
		fatalx("policy: an access list file cannot be used");
	if (conf->screen.signatures_file != NULL &&
	    (p->sigs = sigset_load(conf->screen.signatures_file, stderr)) == NULL)
		fatalx("policy: the signatures file cannot be used");
	p->psvc = xcalloc(conf->npolicy_services + 1, sizeof(*p->psvc));
	for (size_t i = 0; i < conf->npolicy_services; i++)
		p->psvc[i] = svc_new(base, &conf->policy_services[i], &psvc_protocol);
	p->lookups = rcpt_lookups_new(base, conf);
	return p;
}

void
policy_free(struct policy *p)
{
	if (p == NULL)
		return;
	sender_map_free(p->sender_map);
	for (size_t i = 0; i < p->conf->npolicy_services; i++)
		svc_free(p->psvc[i]);
	free(p->psvc);
	rcpt_lookups_free(p->lookups);
	access_lists_free(&p->access);
	sigset_free(p->sigs);
	free(p);
}

struct svc *
policy_service(const struct policy *p, size_t i)
{
	return p->psvc[i];
}

void
policy_services_stop(struct policy *p)
{
	for (size_t i = 0; i < p->conf->npolicy_services; i++)
		svc_stop(p->psvc[i]);
	rcpt_lookups_stop(p->lookups);
}

struct rcpt_lookups *
policy_lookups(const struct policy *p)
{
	return p->lookups;
}

const struct access_lists *
policy_access(const struct policy *p)
{
	return &p->access;
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

const char *
policy_holder(const struct policy *p)
{
	return p->holder;
}

const struct sender_map *
policy_sender_map(const struct policy *p)
{
	return p->sender_map;
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

void
policy_set_trap_store(struct policy *p, struct store *st)
{
	p->trap_store = st;
}

struct store *
policy_trap_store(const struct policy *p)
{
	return p->trap_store;
}

struct resolver *
policy_resolver(const struct policy *p)
{
	return p->res;
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
	if (chk->v.kind == VERDICT_OK && chk->deferred.kind != VERDICT_OK) {
		/* what the other stages added (a delay, a note) stays */
		const struct verdict *d = &chk->deferred;
		chk->v.kind = d->kind;
		chk->v.code = d->code;
		chk->v.enh = d->enh;
		chk->v.rule = d->rule;
		strlcpy(chk->v.text, d->text, sizeof(chk->v.text));
	}
	if (!chk->cancelled)
		chk->cb(chk->arg, &chk->v, &chk->req);
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
policy_defer(struct policy_check *chk, const struct verdict *v)
{
	chk->deferred = *v;
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
policy_store_trouble(struct policy *p, const char *what)
{
	time_t now = time(NULL);

	p->store_alarms++;
	if (now - p->store_alarm_logged < 60)
		return;
	p->store_alarm_logged = now;
	log_warnx("policy store alarm: %s failed; checks that need the store let "
	          "clients through (%lu times so far)",
	          what, p->store_alarms);
}

const struct sigset *
policy_signatures(const struct policy *p)
{
	return p->sigs;
}

void
policy_attack_count(struct policy *p, unsigned hits, unsigned bans)
{
	p->attack_hits += hits;
	p->attack_bans += bans;
}

unsigned long
policy_attack_hits(const struct policy *p)
{
	return p->attack_hits;
}

unsigned long
policy_attack_bans(const struct policy *p)
{
	return p->attack_bans;
}

/* policy_files_check - the files policy reads, with file and line */
int
policy_files_check(const struct moat_conf *conf, FILE *err)
{
	if (access_lists_check(&conf->screen, err) == -1)
		return -1;
	return attack_signatures_check(&conf->screen, err);
}

unsigned long
policy_store_alarms(const struct policy *p)
{
	return p->store_alarms;
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
