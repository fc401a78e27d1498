/* SPDX-License-Identifier: ISC */
/*
 * attack.c - signature hits become events, scores and bans (attack.h).
 *
 * The store keeps, per client (netaddr_client_key: IPv4 address, IPv6 /64):
 *   "attack:KEY"              the score of attack_window (a counter)
 *   "event:KEY:MS.PID.SEQ"    one hit: "MS STAGE RULE REF TEXT" for moatctl
 *                             events, kept for attack_window; at most
 *                             EVENTS_PER_BAN x attack_ban_score points of
 *                             them per client and window, so a client that
 *                             may not be banned (trusted) cannot fill it
 *   "ban:KEY"                 "attack: RULE (REF), score N", attack_ban_time
 * SECURITY: the text is a client's; it is stored and logged escaped
 * (log_escape: printable ASCII only), cut at LOG_ESCAPE_MAX octets.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "policy/attack.h"
#include "policy/stages.h"
#include "store/store.h"

#define EVENTS_PER_BAN 4

struct attack_req {
	struct policy *p;
	struct netaddr addr;
	char addr_str[NETADDR_STRLEN];
	char key[96]; /* netaddr_client_key */
	int may_ban;  /* not trusted/allowlisted/authenticated, and not a header hit */
	int score;    /* of these hits */
	char first[SIG_ID_MAX + SIG_REF_MAX + 8]; /* "RULE (REF)" of the first hit */
	char *events; /* the event values, NUL-separated; nevents of them */
	size_t nevents, events_len;
	attack_cb *cb;
	void *arg;
	int cancelled;
};

static unsigned long seq;

static void
scored(enum store_status st, int64_t value, void *arg)
{
	struct attack_req *r = arg;
	const struct moat_conf *c = policy_conf(r->p);
	int banned = 0;

	if (st != STORE_OK) {
		/* no score without the store: the hit is in the log, and the
		 * client goes on as before (fail open) */
		policy_store_trouble(r->p, "attack score");
		value = r->score;
	} else {
		/* the events, while the client has not gone far past a ban */
		int64_t before = value - r->score;
		const char *ev = r->events;
		for (size_t i = 0; i < r->nevents; i++, ev += strlen(ev) + 1) {
			char key[STORE_KEY_MAX + 1];
			if (before >=
			    EVENTS_PER_BAN * (int64_t)c->limits.attack_ban_score)
				break;
			snprintf(key, sizeof(key), "event:%s:%lld.%d.%lu", r->key,
			         (long long)store_now(policy_store(r->p)), log_pid(),
			         ++seq);
			store_put(policy_store(r->p), key, ev, strlen(ev),
			          (uint32_t)c->limits.attack_window, NULL, NULL);
		}
		if (r->may_ban && value >= c->limits.attack_ban_score) {
			char key[128], reason[160];
			int n = snprintf(reason, sizeof(reason), "attack: %s, score %lld",
			                 r->first, (long long)value);
			snprintf(key, sizeof(key), "ban:%s", r->key);
			store_put(policy_store(r->p), key, reason, (size_t)n,
			          (uint32_t)c->limits.attack_ban_time, NULL, NULL);
			log_info(
			    "attack ban client=%s score=%lld rule=%s banned-for=%lds",
			    r->addr_str, (long long)value, log_escape_str(r->first),
			    c->limits.attack_ban_time);
			policy_attack_count(r->p, 0, 1);
			banned = 1;
		}
	}
	if (!r->cancelled && r->cb != NULL)
		r->cb(r->arg, banned);
	free(r->events);
	free(r);
}

struct attack_req *
attack_report(struct policy *p, const struct policy_client *cl, enum sig_stage stage,
              const struct sig_hits *hits, const char *text, size_t len, attack_cb *cb,
              void *arg)
{
	const struct moat_conf *c = policy_conf(p);
	struct attack_req *r = xcalloc(1, sizeof(*r));
	char esc[LOG_ESCAPE_BUFSZ];
	int64_t now_ms = store_now(policy_store(p));

	r->p = p;
	r->addr = cl->addr;
	strlcpy(r->addr_str, cl->addr_str, sizeof(r->addr_str));
	netaddr_client_key(&cl->addr, r->key, sizeof(r->key));
	r->cb = cb;
	r->arg = arg;
	r->may_ban = stage != SIG_HEADER &&
	             !(cl->flags & (PC_TRUSTED | PC_ALLOWLISTED | PC_AUTHED));
	log_escape(esc, sizeof(esc), text, len);
	for (size_t i = 0; i < hits->n; i++) {
		const struct sig_rule *rule = hits->rule[i];
		char ev[LOG_ESCAPE_BUFSZ + 200];
		int n;

		r->score += rule->score;
		if (i == 0)
			snprintf(r->first, sizeof(r->first), "%s (%s)", rule->id,
			         rule->ref);
		log_info(
		    "attack sid=%s client=%s stage=%s rule=%s ref=%s score=%d text=%s",
		    cl->sid[0] ? cl->sid : "-", cl->addr_str, sig_stage_name(stage),
		    rule->id, rule->ref, rule->score, esc);
		n = snprintf(ev, sizeof(ev), "%lld %s %s %s %s", (long long)now_ms,
		             sig_stage_name(stage), rule->id, rule->ref, esc);
		if (n < 0 || (size_t)n >= sizeof(ev))
			continue;
		r->events = xreallocarray(r->events, r->events_len + (size_t)n + 1, 1);
		memcpy(r->events + r->events_len, ev, (size_t)n + 1);
		r->events_len += (size_t)n + 1;
		r->nevents++;
	}
	if (hits->cut)
		log_warnx("attack sid=%s client=%s stage=%s: the signature scan hit its "
		          "match limit; hits may be missing",
		          cl->sid[0] ? cl->sid : "-", cl->addr_str,
		          sig_stage_name(stage));
	policy_attack_count(p, (unsigned)hits->n, 0);
	{
		char key[128];
		snprintf(key, sizeof(key), "attack:%s", r->key);
		store_incr(policy_store(p), key, r->score,
		           (uint32_t)c->limits.attack_window, STORE_TTL_KEEP, scored, r);
	}
	return r;
}

void
attack_cancel(struct attack_req *r)
{
	if (r != NULL)
		r->cancelled = 1;
}

int
attack_signatures_check(const struct screen_conf *s, FILE *err)
{
	struct sigset *set;

	if (s->signatures_file == NULL)
		return 0;
	if ((set = sigset_load(s->signatures_file, err)) == NULL)
		return -1;
	sigset_free(set);
	return 0;
}
