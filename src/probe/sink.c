/* SPDX-License-Identifier: ISC */
/*
 * sink.c - receipt sink: accept everything, keep nothing but tokens.
 *
 * Messages are never stored: each DATA line is scanned for tokens as it
 * arrives and then dropped, so a session costs its buffers and at most
 * SINK_TOKENS_MAX tokens.
 * SECURITY: untrusted data read directly from the network (whoever relays
 * to us, or anyone who finds the port). A command line is measured in the
 * input buffer against SINK_LINE_MAX before it is copied; a message line is
 * scanned in pieces of at most SINK_TEXT_MAX; a message is cut off at
 * SINK_MESSAGE_MAX (552), a session after SINK_MESSAGES_MAX messages,
 * SINK_ERRORS_MAX errors or SINK_TIMEOUT seconds of silence, and at most
 * SINK_SESSIONS_MAX sessions exist at once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "common/log.h"
#include "common/netaddr.h"
#include "common/xmalloc.h"
#include "probe/probe.h"
#include "probe/sink.h"
#include "probe/token.h"

struct sink_session;

struct sink {
	struct event_base *base;
	struct evconnlistener *lev;
	char hostname[PROBE_NAME_MAX];
	sink_token_cb cb;
	void *arg;
	unsigned nsessions;
	unsigned long nmessages;
	LIST_HEAD(, sink_session) sessions;
};

struct sink_session {
	struct sink *sink;
	struct bufferevent *bev;
	char peer[PROBE_KEY_MAX];
	int in_data;
	int mid_line; /* the last DATA piece ended without CRLF */
	int closing;
	int errors;
	unsigned nmsgs;
	size_t msgsize;
	char rcpt[PROBE_ADDR_MAX];
	char tokens[SINK_TOKENS_MAX][TOKEN_MAX];
	size_t ntokens;
	LIST_ENTRY(sink_session) entry;
};

static void
session_free(struct sink_session *ss)
{
	log_debug("sink disconnect peer=%s messages=%u", ss->peer, ss->nmsgs);
	LIST_REMOVE(ss, entry);
	ss->sink->nsessions--;
	bufferevent_free(ss->bev);
	free(ss);
}

static void
reply(struct sink_session *ss, const char *text)
{
	evbuffer_add_printf(bufferevent_get_output(ss->bev), "%s\r\n", text);
}

/* close_after - send the last reply, then close once it is written */
static void
close_after(struct sink_session *ss, const char *text)
{
	reply(ss, text);
	ss->closing = 1;
	bufferevent_disable(ss->bev, EV_READ);
}

static void
scan(struct sink_session *ss, const char *p, size_t len)
{
	char tok[TOKEN_MAX];
	size_t pos = 0;

	while (token_scan(p, len, &pos, tok, sizeof(tok)) > 0) {
		size_t i;
		for (i = 0; i < ss->ntokens; i++)
			if (strcmp(ss->tokens[i], tok) == 0)
				break;
		if (i == ss->ntokens && ss->ntokens < SINK_TOKENS_MAX)
			strlcpy(ss->tokens[ss->ntokens++], tok, sizeof(ss->tokens[0]));
	}
}

static void
end_of_message(struct sink_session *ss)
{
	struct sink *s = ss->sink;

	ss->in_data = 0;
	ss->nmsgs++;
	s->nmessages++;
	log_debug("sink message peer=%s size=%zu tokens=%zu", ss->peer, ss->msgsize,
	          ss->ntokens);
	for (size_t i = 0; i < ss->ntokens; i++)
		s->cb(s->arg, ss->tokens[i], ss->peer, ss->rcpt);
	ss->ntokens = 0;
	if (ss->msgsize > SINK_MESSAGE_MAX)
		reply(ss, "552 5.3.4 message too big for the moat-probe sink");
	else
		reply(ss, "250 2.0.0 received by the moat-probe sink");
}

/* data_input - message lines: scan, count, drop */
static void
data_input(struct sink_session *ss, struct evbuffer *in)
{
	char piece[SINK_TEXT_MAX + 1];

	while (ss->in_data) {
		size_t eol_len = 0, n;
		struct evbuffer_ptr p =
		    evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_CRLF_STRICT);
		int whole = p.pos >= 0 && (size_t)p.pos <= SINK_TEXT_MAX;

		if (!whole && evbuffer_get_length(in) < SINK_TEXT_MAX)
			return; /* wait for the rest of the line */
		n = whole ? (size_t)p.pos : SINK_TEXT_MAX;
		evbuffer_remove(in, piece, n);
		piece[n] = '\0';
		if (whole)
			evbuffer_drain(in, eol_len);
		if (whole && !ss->mid_line && n == 1 && piece[0] == '.') {
			end_of_message(ss); /* RFC 5321 §4.1.1.4 */
			return;
		}
		ss->msgsize += n + (whole ? 2 : 0);
		if (ss->msgsize <= SINK_MESSAGE_MAX)
			scan(ss, piece, n);
		ss->mid_line = !whole;
	}
}

/* command - one SMTP command line */
static void
command(struct sink_session *ss, char *line, size_t len)
{
	char greet[PROBE_NAME_MAX + 64];

	if (strncasecmp(line, "EHLO", 4) == 0) {
		snprintf(greet, sizeof(greet), "250-%s\r\n250-SIZE %d\r\n250 8BITMIME",
		         ss->sink->hostname, SINK_MESSAGE_MAX);
		reply(ss, greet);
	} else if (strncasecmp(line, "HELO", 4) == 0) {
		snprintf(greet, sizeof(greet), "250 %s", ss->sink->hostname);
		reply(ss, greet);
	} else if (strncasecmp(line, "MAIL FROM:", 10) == 0) {
		ss->rcpt[0] = '\0';
		reply(ss, "250 2.1.0 ok");
	} else if (strncasecmp(line, "RCPT TO:", 8) == 0) {
		if (ss->rcpt[0] == '\0') {
			const char *a = line + 8;
			size_t alen = strcspn(a, " ");
			if (alen < sizeof(ss->rcpt)) {
				memcpy(ss->rcpt, a, alen);
				ss->rcpt[alen] = '\0';
			}
		}
		reply(ss, "250 2.1.5 ok");
	} else if (strcasecmp(line, "DATA") == 0) {
		if (ss->nmsgs >= SINK_MESSAGES_MAX) {
			close_after(ss, "421 4.7.0 enough messages for one session");
			return;
		}
		ss->in_data = 1;
		ss->mid_line = 0;
		ss->msgsize = 0;
		ss->ntokens = 0;
		reply(ss, "354 go ahead");
	} else if (strcasecmp(line, "RSET") == 0 || strncasecmp(line, "NOOP", 4) == 0) {
		reply(ss, "250 2.0.0 ok");
	} else if (strcasecmp(line, "QUIT") == 0) {
		close_after(ss, "221 2.0.0 bye");
	} else if (++ss->errors >= SINK_ERRORS_MAX) {
		close_after(ss, "421 4.7.0 too many errors");
	} else {
		reply(ss, "502 5.5.1 not implemented");
	}
}

static void
read_cb(struct bufferevent *bev, void *arg)
{
	struct sink_session *ss = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char line[SINK_LINE_MAX + 1];

	while (!ss->closing) {
		if (ss->in_data) {
			data_input(ss, in);
			if (ss->in_data)
				return;
			continue;
		}
		size_t eol_len = 0;
		struct evbuffer_ptr p =
		    evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_CRLF_STRICT);
		if (p.pos < 0) {
			if (evbuffer_get_length(in) > SINK_LINE_MAX)
				close_after(ss, "500 5.5.2 line too long");
			return;
		}
		if ((size_t)p.pos + eol_len > SINK_LINE_MAX) {
			close_after(ss, "500 5.5.2 line too long");
			return;
		}
		evbuffer_remove(in, line, (size_t)p.pos);
		evbuffer_drain(in, eol_len);
		line[p.pos] = '\0';
		if (strlen(line) != (size_t)p.pos) {
			close_after(ss, "500 5.5.2 NUL in command");
			return;
		}
		command(ss, line, (size_t)p.pos);
	}
}

static void
write_cb(struct bufferevent *bev, void *arg)
{
	struct sink_session *ss = arg;

	if (ss->closing && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		session_free(ss);
}

static void
event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct sink_session *ss = arg;

	if ((what & BEV_EVENT_TIMEOUT) && !ss->closing) {
		bufferevent_setcb(bev, NULL, write_cb, event_cb, ss);
		bufferevent_enable(bev, EV_WRITE);
		close_after(ss, "421 4.4.2 timeout");
		return;
	}
	session_free(ss);
}

static void
accept_cb(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa, int salen,
          void *arg)
{
	struct sink *s = arg;
	struct sink_session *ss = xcalloc(1, sizeof(*ss));
	struct timeval tv = {SINK_TIMEOUT, 0};
	struct netaddr na;
	char ip[NETADDR_STRLEN], greet[PROBE_NAME_MAX + 64];

	ss->sink = s;
	ss->bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (ss->bev == NULL) {
		evutil_closesocket(fd);
		free(ss);
		return;
	}
	if (netaddr_from_sockaddr(&na, sa) == 0)
		snprintf(ss->peer, sizeof(ss->peer), "%s:%d",
		         netaddr_str(&na, ip, sizeof(ip)), netaddr_port(sa));
	LIST_INSERT_HEAD(&s->sessions, ss, entry);
	s->nsessions++;
	log_debug("sink connect peer=%s", ss->peer);
	bufferevent_setcb(ss->bev, read_cb, write_cb, event_cb, ss);
	bufferevent_set_timeouts(ss->bev, &tv, &tv);
	bufferevent_enable(ss->bev, EV_READ | EV_WRITE);
	if (s->nsessions > SINK_SESSIONS_MAX) {
		close_after(ss, "421 4.7.0 too many sessions");
		return;
	}
	snprintf(greet, sizeof(greet), "220 %s ESMTP moat-probe sink", s->hostname);
	reply(ss, greet);
}

struct sink *
sink_new(struct event_base *base, const struct sockaddr *sa, socklen_t len,
         const char *hostname, sink_token_cb cb, void *arg, char *err, size_t errsz)
{
	struct sink *s = xcalloc(1, sizeof(*s));

	s->base = base;
	s->cb = cb;
	s->arg = arg;
	strlcpy(s->hostname, hostname, sizeof(s->hostname));
	LIST_INIT(&s->sessions);
	s->lev = evconnlistener_new_bind(base, accept_cb, s,
	                                 LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
	                                     LEV_OPT_CLOSE_ON_EXEC,
	                                 -1, sa, (int)len);
	if (s->lev == NULL) {
		snprintf(err, errsz, "cannot listen: %s",
		         strerror(EVUTIL_SOCKET_ERROR()));
		free(s);
		return NULL;
	}
	return s;
}

void
sink_free(struct sink *s)
{
	struct sink_session *ss;

	if (s == NULL)
		return;
	while ((ss = LIST_FIRST(&s->sessions)) != NULL)
		session_free(ss);
	evconnlistener_free(s->lev);
	free(s);
}

unsigned long
sink_messages(const struct sink *s)
{
	return s->nmessages;
}
