/* SPDX-License-Identifier: ISC */
/*
 * session_screen.c - where a session meets the screening pipeline, and how
 * its answers go out.
 *
 * Connect: reverse DNS, then the connect stages; a refused client hears why
 * and is gone, a passed one is greeted, after greet_delay_ms if configured
 * (with an optional "220-" teaser first). A client that talks before the
 * greeting is an early talker: 554, remembered in the store, disconnected.
 * Replies collect in the session's own buffer; session_flush() hands them to
 * the socket, later when the client earned a tarpit delay, and one byte at a
 * time when it earned a stutter. All waiting is done by timers on the event
 * loop: a slow client costs a timer, never a worker.
 * SECURITY: no parsing of client bytes here; verdict texts are our own or
 * the administrator's (checked printable).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "dns/resolver.h"
#include "smtp/session_int.h"
#include "smtp/smtpd.h"

/* ---- output ---- */

static void
flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	struct evbuffer *out = bufferevent_get_output(s->bev);

	if (s->stutter && evbuffer_get_length(s->out) > 1) {
		/* spamd's stutter: one byte now, the next one later */
		struct timeval tv = {0, 0};
		evbuffer_remove_buffer(s->out, out, 1);
		tv.tv_sec = s->sd->conf->limits.stutter_ms / 1000;
		tv.tv_usec = (s->sd->conf->limits.stutter_ms % 1000) * 1000;
		evtimer_add(s->flush_ev, &tv);
		return;
	}
	evbuffer_add_buffer(out, s->out);
	s->flush_pending = 0;
	if (s->wait == W_TARPIT)
		session_resume(s);
}

void
session_flush(struct session *s)
{
	long delay;

	if (s->flush_pending || evbuffer_get_length(s->out) == 0 ||
	    s->state == S_CLOSING || (s->flags & F_HELD))
		return;
	delay = s->tarpit_ms;
	s->tarpit_ms = 0;
	if (delay == 0 && !s->stutter) {
		struct evbuffer *o = bufferevent_get_output(s->bev);
		bufferevent_data_cb writecb;

		/* Plain TCP with nothing queued: write now. Through the
		 * bufferevent a reply costs two epoll_ctl calls (write event on,
		 * then off), and a message has several replies. What the socket
		 * does not take goes the usual way. Not when a write callback
		 * waits to hear the output is out (STARTTLS's switch to TLS):
		 * a direct write would never tell it. */
		bufferevent_getcb(s->bev, NULL, &writecb, NULL, NULL);
		if (evbuffer_get_length(o) == 0 && writecb == NULL &&
		    bufferevent_openssl_get_ssl(s->bev) == NULL)
			(void)evbuffer_write(s->out, bufferevent_getfd(s->bev));
		evbuffer_add_buffer(o, s->out);
		return;
	}
	if (delay == 0)
		delay = s->sd->conf->limits.stutter_ms;
	/* Nothing more is read until these replies are out (RFC 2920 order). */
	s->flush_pending = 1;
	if (s->wait == W_NONE) {
		s->wait = W_TARPIT;
		bufferevent_disable(s->bev, EV_READ);
	}
	if (s->flush_ev == NULL)
		s->flush_ev = evtimer_new(s->sd->base, flush_cb, s);
	struct timeval tv = {delay / 1000, (delay % 1000) * 1000};
	evtimer_add(s->flush_ev, &tv);
}

/* ---- verdicts ---- */

void
session_refuse(struct session *s, const char *stage, const struct verdict *v,
               const char *addr)
{
	char vis[LOG_VIS_BUFSZ];

	reply(s, v->code, v->enh, "%s", v->text);
	log_info(
	    "smtp refuse sid=%s client=%s:%d stage=%s rule=%s reply=\"%d %s\"%s%s%s%s%s",
	    s->sid, s->peer_str, s->peer_port, stage, v->rule ? v->rule : "-", v->code,
	    v->enh ? v->enh : "", addr ? " addr=<" : "",
	    addr ? log_vis(vis, sizeof(vis), addr, strlen(addr)) : "", addr ? ">" : "",
	    v->detail[0] ? " " : "", v->detail);
}

static void
screened(void *arg, const struct verdict *v, const struct policy_client *cl)
{
	struct session *s = arg;
	void (*next)(struct session *, const struct verdict *) = s->screen_next;

	s->chk = NULL;
	/* What the stages learned (score, allowlisting, counts) is kept. */
	s->pc.flags = cl->flags;
	s->pc.score = cl->score;
	s->pc.counted |= cl->counted;
	s->wait = W_NONE;
	if (v->delay_ms > s->tarpit_ms)
		s->tarpit_ms = v->delay_ms;
	if (v->stutter)
		s->stutter = 1;
	next(s, v);
}

void
session_screen(struct session *s, enum policy_hook hook, const char *sender,
               const char *rcpt, int rcpt_unknown, int rcpt_local, screen_cb cb)
{
	struct policy_req req;
	struct policy_check *chk;

	memset(&req, 0, sizeof(req));
	req.hook = hook;
	req.client = s->pc;
	if (sender != NULL)
		strlcpy(req.sender, sender, sizeof(req.sender));
	if (rcpt != NULL)
		strlcpy(req.rcpt, rcpt, sizeof(req.rcpt));
	req.rcpt_unknown = rcpt_unknown;
	req.rcpt_local = rcpt_local;
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
	session_refuse(s, "connect", &v, NULL);
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
	s->state = S_HELO;
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
	/* Our own and trusted clients get no test. */
	if (s->pc.flags & (PC_TRUSTED | PC_ALLOWLISTED)) {
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
	s->state = S_GREETING;
	if (c->screen.greet_teaser != NULL) {
		/* A multi-line greeting's first line: a bot that answers it
		 * instead of waiting for the last line talks out of turn. */
		evbuffer_add_printf(bufferevent_get_output(s->bev), "220-%s %s\r\n",
		                    c->hostname, c->screen.greet_teaser);
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
	char vis[LOG_VIS_BUFSZ];

	log_info(
	    "smtp screen sid=%s client=%s:%d verdict=%s rule=%s score=%d name=%s%s%s",
	    s->sid, s->peer_str, s->peer_port,
	    v->kind == VERDICT_OK         ? "pass"
	    : v->kind == VERDICT_TEMPFAIL ? "tempfail"
	                                  : "reject",
	    v->rule ? v->rule : "all-stages", s->pc.score,
	    log_vis(vis, sizeof(vis), s->rdns, strlen(s->rdns)), v->detail[0] ? " " : "",
	    v->detail);
	if (v->kind != VERDICT_OK) {
		session_refuse(s, "connect", v, NULL);
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
	session_screen(s, HOOK_CONNECT, NULL, NULL, 0, 0, connect_screened);
}

void
session_connect_checks(struct session *s)
{
	s->flags |= F_RDNS_PENDING;
	s->rdns_req = dns_rdns(s->sd->res, &s->peer, rdns_done, s);
}
