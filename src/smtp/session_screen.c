/* SPDX-License-Identifier: ISC */
/*
 * session_screen.c - where a session meets the screening pipeline, and how
 * its answers go out.
 *
 * Connect: reverse DNS, then the connect stages; a refused client hears why
 * and is gone, a passed one is greeted, after greet_delay_ms if configured
 * (with an optional "220-" teaser first). A client that talks before the
 * greeting is an early talker: 554, remembered in the store, disconnected.
 * All waiting is done by timers on the event loop: a slow client costs a
 * timer, never a worker.
 * SECURITY: no parsing of client bytes here; verdict texts are our own or
 * the administrator's (checked printable).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/ioctl.h>

#include <openssl/ssl.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "dns/resolver.h"
#include "metrics/metrics.h"
#include "queue/spool.h"
#include "smtp/session_int.h"
#include "smtp/smtpd.h"

/* ---- verdicts ---- */

/* the most header octets the policy services may prepend to one message
 * (one PREPEND per recipient adds up) */
#define PREPEND_MAX 8192

/* has_line - does lines (each ending CRLF) hold the line p of len octets? */
static int
has_line(const char *lines, const char *p, size_t len)
{
	for (const char *q = lines; q != NULL && *q != '\0';) {
		const char *end = strstr(q, "\r\n");
		if ((size_t)(end - q) + 2 == len && memcmp(q, p, len) == 0)
			return 1;
		q = end + 2;
	}
	return 0;
}

/* keep_out - PREPEND, HOLD and DISCARD of the policy services. A header
 * line already there is not added again (a service that answers each
 * recipient of a message alike). */
static void
keep_out(struct session *s, const struct policy_out *o)
{
	struct transaction *tx = &s->tx;

	for (const char *p = o->prepend; *p != '\0';) {
		const char *end = strstr(p, "\r\n");
		size_t len = (size_t)(end - p) + 2;
		size_t have = tx->prepend != NULL ? strlen(tx->prepend) : 0;

		if (has_line(tx->prepend, p, len)) {
			p = end + 2;
			continue;
		}
		if (have + len > PREPEND_MAX) {
			log_warnx("smtp sid=%s: more than %d octets of policy service "
			          "headers; the rest are not added",
			          s->sid, PREPEND_MAX);
			break;
		}
		tx->prepend = xreallocarray(tx->prepend, have + len + 1, 1);
		memcpy(tx->prepend + have, p, len);
		tx->prepend[have + len] = '\0';
		p = end + 2;
	}
	if (o->hold)
		tx->hold = 1;
	if (o->discard)
		tx->discard = 1;
}

void
session_smtp_info(struct session *s, struct policy_smtp *m)
{
	const struct sockaddr_storage *ss = &s->lc->ss;

	strlcpy(m->listener, s->lc->name, sizeof(m->listener));
	m->esmtp = (s->flags & F_ESMTP) != 0;
	m->client_port = s->peer_port;
	strlcpy(m->server_addr, session_local(s), sizeof(m->server_addr));
	m->server_port = ss->ss_family == AF_INET6
	                     ? ntohs(((const struct sockaddr_in6 *)ss)->sin6_port)
	                     : ntohs(((const struct sockaddr_in *)ss)->sin_port);
	if (s->flags & F_TLS) {
		SSL *ssl = bufferevent_openssl_get_ssl(s->bev);
		const SSL_CIPHER *c = ssl != NULL ? SSL_get_current_cipher(ssl) : NULL;
		if (ssl != NULL)
			strlcpy(m->tls_version, SSL_get_version(ssl),
			        sizeof(m->tls_version));
		if (c != NULL) {
			strlcpy(m->tls_cipher, SSL_CIPHER_get_name(c),
			        sizeof(m->tls_cipher));
			m->tls_bits = SSL_CIPHER_get_bits(c, NULL);
		}
	}
	if ((s->flags & F_AUTHED) && s->auth_mech != NULL)
		strlcpy(m->sasl_method, s->auth_mech, sizeof(m->sasl_method));
	snprintf(m->instance, sizeof(m->instance), "%s.%d", s->sid, s->nmsgs);
	if (s->tx.msg != NULL)
		strlcpy(m->queue_id, spool_msg_id(s->tx.msg), sizeof(m->queue_id));
	m->size = s->state == S_DATA || s->tx.dr.size > 0 ? s->tx.dr.size
	          : s->tx.params.size > 0 ? (unsigned long)s->tx.params.size
	                                  : 0;
	m->nrcpts = (unsigned)s->tx.nrcpts;
	m->stress = s->sd->stress;
}

/* The hooks' names in moat_screen_verdicts_total. */
static const char *const hook_names[] = {
    [HOOK_CONNECT] = "connect", [HOOK_HELO] = "helo", [HOOK_MAIL] = "mail",
    [HOOK_RCPT] = "rcpt",       [HOOK_DATA] = "data", [HOOK_EOD] = "eod",
};
_Static_assert(sizeof(hook_names) / sizeof(hook_names[0]) == HOOK_N,
               "a name for every hook");

/* count_verdict - one verdict of the pipeline, by hook, kind and rule (a
 * pass decided by no one rule is "all-stages", as in the log) */
static void
count_verdict(enum policy_hook hook, const struct verdict *v)
{
	const char *labels[] = {
	    hook < HOOK_N ? hook_names[hook] : "other",
	    v->kind == VERDICT_OK         ? "pass"
	    : v->kind == VERDICT_TEMPFAIL ? "tempfail"
	                                  : "reject",
	    v->rule != NULL ? v->rule : "all-stages",
	};

	metrics_count(M_SCREEN_VERDICTS, labels);
}

static void
screened(void *arg, const struct verdict *v, const struct policy_req *req)
{
	struct session *s = arg;
	void (*next)(struct session *, const struct verdict *) = s->screen_next;

	count_verdict(req->hook, v);
	s->chk = NULL;
	/* What the stages learned (score, allowlisting, counts) is kept. */
	s->pc.flags = req->client.flags;
	s->pc.score = req->client.score;
	s->pc.unknown_rcpts = req->client.unknown_rcpts;
	s->pc.counted |= req->client.counted;
	/* RCPT: the final recipient, or the address refused */
	if (req->hook == HOOK_RCPT) {
		strlcpy(s->pending_addr, req->rcpt, sizeof(s->pending_addr));
		s->pending_found = req->rcpt_found;
		free(s->pending_targets);
		s->pending_targets =
		    req->rcpt_targets[0] != '\0' ? xstrdup(req->rcpt_targets) : NULL;
	}
	/* what the policy services asked for the message, if it goes on */
	if (v->kind == VERDICT_OK)
		keep_out(s, &req->out);
	s->wait = W_NONE;
	if (v->delay_ms > s->tarpit_ms)
		s->tarpit_ms = v->delay_ms;
	if (v->stutter)
		s->stutter = 1;
	session_idle_update(s); /* a record learned may keep the slot */
	next(s, v);
}

void
session_screen(struct session *s, enum policy_hook hook, const char *sender,
               const struct mailaddr *to, screen_cb cb)
{
	struct policy_req req;
	struct policy_check *chk;

	memset(&req, 0, sizeof(req));
	req.hook = hook;
	req.client = s->pc;
	if (sender != NULL)
		strlcpy(req.sender, sender, sizeof(req.sender));
	if (to != NULL)
		req.to = *to;
	if (hook >= HOOK_RCPT && s->sd->conf->npolicy_services > 0) {
		session_smtp_info(s, &req.smtp);
		/* DATA and the end of data: the one recipient, if one */
		if (hook != HOOK_RCPT && s->tx.nrcpts == 1)
			strlcpy(req.rcpt, s->tx.rcpts[0], sizeof(req.rcpt));
	}
	s->screen_next = cb;
	s->wait = W_POLICY;
	chk = policy_run(s->sd->policy, &req, screened, s);
	/* NULL: the verdict came at once and screened() has run, and with it
	 * whatever pipelined commands followed, which may have started a check
	 * of their own: s->chk is theirs now, not ours to overwrite. */
	if (chk == NULL)
		return;
	s->chk = chk;
	/* Before the greeting we keep listening: early talkers give themselves
	 * away meanwhile. Later, input waits for the verdict. */
	if (hook != HOOK_CONNECT)
		bufferevent_disable(s->bev, EV_READ);
}

/* ---- early talkers ---- */

void
session_early_talker(struct session *s, const char *when)
{
	struct verdict v;

	memset(&v, 0, sizeof(v));
	v.code = 554;
	v.enh = "5.5.1";
	v.rule = "early-talker";
	snprintf(v.text, sizeof(v.text), "Protocol error: talking %s", when);
	snprintf(v.detail, sizeof(v.detail), "when=\"%s\"", when);
	if (s->greet_ev != NULL)
		evtimer_del(s->greet_ev);
	session_sig_first(s); /* what it said is the connect stage's */
	session_refuse_verdict(s, "connect", &v, NULL);
	s->sd->stats.refused_connect++;
	policy_remember_early_talker(s->sd->policy, &s->pc);
	session_close_refused(s, "early talker");
}

/* ---- the greeting ---- */

/* talked_first - did the client send anything before our 220? Bytes read
 * already, or (plain TCP) bytes waiting in the socket: the greeting is not
 * out yet, so whatever is there was sent without it. */
static int
talked_first(struct session *s)
{
	int n = 0;

	if (evbuffer_get_length(bufferevent_get_input(s->bev)) > 0)
		return 1;
	return bufferevent_openssl_get_ssl(s->bev) == NULL &&
	       ioctl(bufferevent_getfd(s->bev), FIONREAD, &n) == 0 && n > 0;
}

static void
greet_now(struct session *s)
{
	session_enter(s, S_HELO);
	reply(s, 220, NULL, "%s ESMTP moat", s->sd->conf->hostname);
	session_resume(s);
}

static void
greet_timer(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;

	/* bytes that arrived during the pause make an early talker */
	if (s->sd->conf->screen.early_talker && talked_first(s)) {
		session_early_talker(s, "before the greeting");
		return;
	}
	/* passed: greeted at once for greet_pass_ttl (postscreen's cache) */
	policy_remember_greeted(s->sd->policy, &s->pc);
	greet_now(s);
}

/* greet - connect checks passed (and TLS is up for smtps): say hello */
static void
greet(struct session *s)
{
	const struct moat_conf *c = s->sd->conf;
	long delay = c->limits.greet_delay_ms;

	if (s->state != S_CONNECT || !(s->flags & F_SCREENED) || (s->flags & F_HANDSHAKE))
		return;
	/* Our own and trusted clients get no test, nor those that passed it
	 * lately: the pause is paid once per greet_pass_ttl. */
	if (s->pc.flags & (PC_TRUSTED | PC_ALLOWLISTED | PC_GREETED)) {
		greet_now(s);
		return;
	}
	/* Without a pause, what came while the checks ran still counts: read
	 * events may not have fired yet when the checks answer at once. */
	if (delay == 0) {
		if (c->screen.early_talker && talked_first(s))
			session_early_talker(s, "before the greeting");
		else
			greet_now(s);
		return;
	}
	session_enter(s, S_GREETING);
	if (c->screen.greet_teaser != NULL) {
		/* A multi-line greeting's first line: a bot that answers it
		 * instead of waiting for the last line talks out of turn. It
		 * goes out now, past any stutter: reading must stay on. */
		reply_cont(s, 220, "%s %s", c->hostname, c->screen.greet_teaser);
		session_flush_now(s);
	}
	s->greet_ev = evtimer_new(s->sd->base, greet_timer, s);
	struct timeval tv = {delay / 1000, (delay % 1000) * 1000};
	evtimer_add(s->greet_ev, &tv);
	/* keep reading: that is how early talkers are caught */
	bufferevent_enable(s->bev, EV_READ);
}

void
tls_greet_ready(struct session *s)
{
	greet(s);
}

static void
connect_screened(struct session *s, const struct verdict *v)
{

	log_info(
	    "smtp screen sid=%s client=%s:%d verdict=%s rule=%s score=%d name=%s%s%s",
	    s->sid, s->peer_str, s->peer_port,
	    v->kind == VERDICT_OK         ? "pass"
	    : v->kind == VERDICT_TEMPFAIL ? "tempfail"
	                                  : "reject",
	    v->rule ? v->rule : "all-stages", s->pc.score, log_escape_str(s->rdns),
	    v->detail[0] ? " " : "", v->detail);
	if (v->kind != VERDICT_OK) {
		session_refuse_verdict(s, "connect", v, NULL);
		s->sd->stats.refused_connect++;
		session_close_refused(s, "refused at connect");
		return;
	}
	long stutter = s->sd->conf->limits.stutter_score;
	if (stutter > 0 && s->pc.score >= stutter)
		s->stutter = 1;
	s->flags |= F_SCREENED;
	greet(s);
}

static void
rdns_done(void *arg, enum dns_status st, const char *name)
{
	struct session *s = arg;

	s->rdns_req = NULL;
	s->flags &= ~F_RDNS_PENDING;
	s->rdns = xstrdup(st == DNS_OK ? name : "unknown");
	strlcpy(s->pc.rdns, s->rdns, sizeof(s->pc.rdns));
	if (st == DNS_TEMPFAIL)
		s->pc.flags |= PC_RDNS_TEMP;
	session_screen(s, HOOK_CONNECT, NULL, NULL, connect_screened);
}

void
session_connect_checks(struct session *s)
{
	/* A local user: no host to look up, no address to screen, no
	 * greeting test (session_localuser.c) */
	if (s->flags & F_LOCAL) {
		s->rdns = xstrdup("localhost");
		strlcpy(s->pc.rdns, s->rdns, sizeof(s->pc.rdns));
		s->flags |= F_SCREENED;
		greet(s);
		return;
	}
	s->flags |= F_RDNS_PENDING;
	s->rdns_req = dns_rdns(s->sd->res, &s->peer, rdns_done, s);
}
