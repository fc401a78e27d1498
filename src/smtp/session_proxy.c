/* SPDX-License-Identifier: ISC */
/*
 * session_proxy.c - sessions behind a load balancer: on a listener with
 * proxy_from, a connection from inside it begins with a PROXY header
 * (proxyproto.c), and the client it names is the session's client for
 * everything after: trust, screening, counts and bans, every log line,
 * Received:, policy services and milters. So the header is read before
 * anything else happens: session_begin() (the connect line, TLS for smtps,
 * the connect checks, the greeting and its delay) waits for it, and the
 * early-talker test never sees it.
 *
 * The header is read off the socket itself, no octet past it: peeked, then
 * taken up to its last octet. What follows (an smtps client's ClientHello,
 * an early talker's first command) stays in the socket for the session.
 * A connection from proxy_from without a whole, valid header within
 * proxy_timeout is dropped with one log line ("smtp proxy ... action=drop").
 * A client outside proxy_from that sends a PROXY header gets 554 for it
 * (cmd_proxy()) or, before the greeting, the early talker's 554.
 * SECURITY: untrusted data read directly from the network: at most
 * PROXY_HEADER_MAX octets are held, in a buffer that size; the deadline
 * counts from the accept, so a trickle does not stretch it; the reasons
 * logged are our own constants, never the peer's text.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/bufferevent.h>
#include <event2/event.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "smtp/proxyproto.h"
#include "smtp/session_int.h"
#include "smtp/smtpd.h"

struct proxy_wait {
	struct event *ev;
	size_t len; /* octets of the header taken so far */
	uint8_t buf[PROXY_HEADER_MAX];
};

/* proxy_drop - no session for this connection: one line, and it is gone */
static void
proxy_drop(struct session *s, const char *reason)
{
	log_info("smtp proxy sid=%s proxy=%s listener=%s action=drop reason=%s", s->sid,
	         s->via, log_escape_str(s->lc->name), log_escape_str(reason));
	s->sd->stats.refused_connect++;
	session_free(s);
}

/* proxy_arm - wait for more of the header, until proxy_timeout after the
 * accept; -1 if that time is up */
static int
proxy_arm(struct session *s)
{
	struct timespec now;
	long long left_ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	left_ms = s->sd->conf->limits.proxy_timeout * 1000LL -
	          ((long long)(now.tv_sec - s->start.tv_sec) * 1000LL +
	           (now.tv_nsec - s->start.tv_nsec) / 1000000);
	if (left_ms <= 0)
		return -1;
	struct timeval tv = {(time_t)(left_ms / 1000),
	                     (suseconds_t)(left_ms % 1000) * 1000};
	event_add(s->pw->ev, &tv);
	return 0;
}

/* proxy_done - the header is read: its client is the session's */
static void
proxy_done(struct session *s, const struct proxy_header *h, int fd)
{
	struct netaddr na;

	/* LOCAL (a health check), UNKNOWN: the proxy itself is the client */
	if (!h->local &&
	    netaddr_from_sockaddr(&na, (const struct sockaddr *)&h->src) == 0) {
		s->peer = na;
		s->peer_port = netaddr_port((const struct sockaddr *)&h->src);
	}
	session_proxy_free(s);
	session_begin(s, fd);
}

static void
proxy_read(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	struct proxy_wait *pw = s->pw;
	struct proxy_header h;
	const char *why;
	ssize_t n, hlen;
	size_t take;

	if (what & EV_TIMEOUT) {
		proxy_drop(s, "no PROXY header in time");
		return;
	}
	n = recv(fd, pw->buf + pw->len, sizeof(pw->buf) - pw->len, MSG_PEEK);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
		if (proxy_arm(s) == -1)
			proxy_drop(s, "no PROXY header in time");
		return;
	}
	if (n <= 0) {
		proxy_drop(s, n == 0 ? "closed before a whole PROXY header"
		                     : "connection error before a whole PROXY header");
		return;
	}
	hlen = proxyproto_parse(pw->buf, pw->len + (size_t)n, &h, &why);
	if (hlen == -1) {
		proxy_drop(s, why);
		return;
	}
	/* 0: all that was peeked is header; else what the header still needs
	 * (more than was taken before: that was not yet a whole header) */
	take = hlen == 0 ? (size_t)n : (size_t)hlen - pw->len;
	if (recv(fd, pw->buf + pw->len, take, 0) != (ssize_t)take) {
		proxy_drop(s, "connection error before a whole PROXY header");
		return;
	}
	pw->len += take;
	if (hlen > 0)
		proxy_done(s, &h, fd);
	else if (proxy_arm(s) == -1)
		proxy_drop(s, "no PROXY header in time");
}

void
session_proxy_wait(struct session *s, int fd)
{
	struct smtpd *sd = s->sd;

	snprintf(s->via, sizeof(s->via), "%s:%d", s->peer_str, s->peer_port);
	/* A bufferevent that reads nothing yet: every way out of a session
	 * (a shutdown meanwhile too) expects one; the plain ones keep it. */
	s->bev = bufferevent_socket_new(sd->base, fd, BEV_OPT_CLOSE_ON_FREE);
	s->pw = xcalloc(1, sizeof(*s->pw));
	s->pw->ev = event_new(sd->base, fd, EV_READ, proxy_read, s);
	if (proxy_arm(s) == -1)
		proxy_drop(s, "no PROXY header in time");
}

void
session_proxy_free(struct session *s)
{
	if (s->pw == NULL)
		return;
	event_free(s->pw->ev);
	free(s->pw);
	s->pw = NULL;
}

void
cmd_proxy(struct session *s, enum smtp_verb v, const char *arg, size_t len)
{
	/* A client that claims to speak for another: only a load balancer
	 * in proxy_from may, and only before its client's first octet. */
	session_refuse(s, "command", "proxy-header", NULL, 554, "5.7.0",
	               "Error: PROXY header from a client not in proxy_from");
	session_close(s, "PROXY header not allowed");
}
