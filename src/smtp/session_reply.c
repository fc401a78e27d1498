/* SPDX-License-Identifier: ISC */
/*
 * session_reply.c - everything a session says: replies, refusals with
 * their log line, and the flush that hands them to the socket.
 *
 * reply() and reply_cont() queue a line in the session's own buffer;
 * session_refuse() is the one writer of a refusal: it replies and logs from
 * the same values (a refusal is any 4xx or 5xx reply). session_flush()
 * hands the buffer to the socket at once, or later when the client earned
 * a tarpit delay, and one byte at a time when it earned a stutter. All
 * waiting is done by timers on the event loop: a slow client costs a
 * timer, never a worker.
 * SECURITY: reply texts may quote client data; reply_format() bounds and
 * cleans them. Log values are escaped in reply_log_refusal().
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include "common/log.h"
#include "conf/conf.h"
#include "queue/spool.h"
#include "smtp/reply.h"
#include "smtp/session_int.h"
#include "smtp/smtpd.h"

/* emit - one formatted line into the session's buffer */
static void
emit(struct session *s, int code, char sep, const char *enh, const char *text)
{
	char line[REPLY_LINE_MAX + 1];
	size_t n = reply_format(line, code, sep, enh, text);

	evbuffer_add(s->out, line, n);
}

/* vtext - the text of a reply: constant texts are not run through printf */
static const char *
vtext(char *buf, size_t sz, const char *fmt, va_list ap)
{
	if (strchr(fmt, '%') == NULL)
		return fmt;
	vsnprintf(buf, sz, fmt, ap);
	return buf;
}

void
reply(struct session *s, int code, const char *enh, const char *fmt, ...)
{
	char buf[REPLY_LINE_MAX];
	va_list ap;

	va_start(ap, fmt);
	emit(s, code, ' ', enh, vtext(buf, sizeof(buf), fmt, ap));
	va_end(ap);
	reply_counted(s, code);
}

void
reply_counted(struct session *s, int code)
{
	if (code < 300 && s->last_verb != V_UNKNOWN)
		s->ok[s->last_verb]++;
}

void
reply_cont(struct session *s, int code, const char *fmt, ...)
{
	char buf[REPLY_LINE_MAX];
	va_list ap;

	va_start(ap, fmt);
	emit(s, code, '-', NULL, vtext(buf, sizeof(buf), fmt, ap));
	va_end(ap);
}

/* refuse - reply and log one refusal from the same values */
static void
refuse(struct session *s, const char *stage, const char *rule, const char *addr, int code,
       const char *enh, const char *text, const char *detail)
{
	struct reply_who who = {s->sid, s->peer_str, s->peer_port};

	emit(s, code, ' ', enh, text);
	reply_log_refusal(&who, stage, rule, code, enh, addr, detail);
}

void
session_refuse(struct session *s, const char *stage, const char *rule, const char *addr,
               int code, const char *enh, const char *fmt, ...)
{
	char buf[REPLY_LINE_MAX];
	va_list ap;

	va_start(ap, fmt);
	refuse(s, stage, rule, addr, code, enh, vtext(buf, sizeof(buf), fmt, ap), NULL);
	va_end(ap);
}

void
session_refuse_verdict(struct session *s, const char *stage, const struct verdict *v,
                       const char *addr)
{
	const char *t = v->text, *nl;

	/* a text of several lines (a milter's reply): NNN- lines, then the
	 * last one, which is logged */
	while ((nl = strchr(t, '\n')) != NULL) {
		char line[REPLY_LINE_MAX];
		size_t n = (size_t)(nl - t) < sizeof(line) - 1 ? (size_t)(nl - t)
		                                               : sizeof(line) - 1;
		memcpy(line, t, n);
		line[n] = '\0';
		emit(s, v->code, '-', v->enh, line);
		t = nl + 1;
	}
	refuse(s, stage, v->rule, addr, v->code, v->enh, t, v->detail);
}

/* ---- output ---- */

/*
 * commit_reply_cancel - before anything goes to the client while its
 * message is committed: the commit must not send the 250 after it (or
 * beside it) from its own thread (session_cmds.c's early_reply())
 */
static void
commit_reply_cancel(struct session *s)
{
	if (s->wait == W_COMMIT && s->tx.msg != NULL)
		(void)spool_reply_cancel(s->tx.msg);
}

static void
flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	struct evbuffer *out = bufferevent_get_output(s->bev);

	commit_reply_cancel(s);
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
session_flush_now(struct session *s)
{
	commit_reply_cancel(s);
	evbuffer_add_buffer(bufferevent_get_output(s->bev), s->out);
}

void
session_flush(struct session *s)
{
	long delay;

	if (s->flush_pending || evbuffer_get_length(s->out) == 0 ||
	    s->state == S_CLOSING || (s->flags & F_HELD))
		return;
	commit_reply_cancel(s);
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
