/* SPDX-License-Identifier: ISC */
/*
 * svc_client.c - a worker's connections to one request/reply service:
 * a policy service, a Dovecot userdb, a socketmap server (svc_client.h
 * tells the rules; the protocol's framing comes in a struct svc_proto).
 *
 * Life of a request: svc_ask() queues it and starts its deadline; dispatch()
 * gives it a connection; on_read() takes the reply when the framing says it
 * is whole, and the connection goes back to idle. A timeout while the
 * request is on a connection closes that connection: its late reply would
 * otherwise answer the next request.
 * SECURITY: reads bytes from the service: only through the protocol's
 * noise() and reply_len(), bounded by SVC_REPLY_MAX; bytes that arrive
 * when no request is out close the connection. The reply is handed on as
 * a NUL-terminated copy.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "policy/svc_client.h"

struct svc_conn;

struct svc_req {
	struct svc *sv;
	struct svc_conn *conn; /* the connection it is out on, or NULL */
	struct evbuffer *body;
	struct event *timer; /* its deadline; or (failed) the answer's turn */
	char why[160];       /* set: the answer is this failure */
	svc_cb cb;
	void *arg;
	TAILQ_ENTRY(svc_req) entry; /* sv->waiting, or sv->failing */
};
TAILQ_HEAD(reqq, svc_req);

struct svc_conn {
	struct svc *sv;
	struct bufferevent *bev;
	struct svc_req *req; /* out on it; NULL: idle */
	int connected;
	time_t born;
	struct event *idle_ev; /* max_idle */
	LIST_ENTRY(svc_conn) entry;
};

struct svc {
	struct event_base *base;
	const struct ext_service_conf *conf;
	const struct svc_proto *proto;
	LIST_HEAD(, svc_conn) conns;
	int nconns;
	struct reqq waiting;
	int nwaiting;
	struct reqq failing;        /* failed before going out: answered from the loop */
	struct timespec down_until; /* a connect failed: fail at once till then */
	char down_why[128];
	unsigned long asked, failed;
};

static void dispatch(struct svc *sv);

/* reply_deadline - the request is out on a connected connection: from now
 * on it waits timeout_ms for its reply (before: the connect's limit, or
 * svc_ask()'s bound on waiting for a connection) */
static void
reply_deadline(struct svc_req *r)
{
	long ms = r->sv->conf->timeout_ms;
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	evtimer_add(r->timer, &tv);
}

/* fail_later - r fails with why; the answer goes out from the loop */
static void
fail_later(struct svc_req *r, const char *why)
{
	struct timeval zero = {0, 0};

	strlcpy(r->why, why, sizeof(r->why));
	TAILQ_INSERT_TAIL(&r->sv->failing, r, entry);
	evtimer_add(r->timer, &zero);
}

static int
now_before(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec < t->tv_sec ||
	       (now.tv_sec == t->tv_sec && now.tv_nsec < t->tv_nsec);
}

static void
req_free(struct svc_req *r)
{
	if (r->timer != NULL)
		event_free(r->timer);
	if (r->body != NULL)
		evbuffer_free(r->body);
	free(r);
}

/* answer - the one callback of a request (a reply, or NULL and why); r
 * is gone after it */
static void
answer(struct svc_req *r, const char *reply, size_t len, const char *why)
{
	svc_cb cb = r->cb;
	void *arg = r->arg;

	if (reply == NULL)
		r->sv->failed++;
	req_free(r);
	cb(arg, reply, len, why);
}

static void
conn_free(struct svc_conn *c)
{
	struct svc *sv = c->sv;

	LIST_REMOVE(c, entry);
	sv->nconns--;
	if (c->idle_ev != NULL)
		event_free(c->idle_ev);
	bufferevent_free(c->bev);
	free(c);
}

/* conn_fail - the connection is unusable: close it; its request fails */
static void
conn_fail(struct svc_conn *c, const char *why)
{
	struct svc_req *r = c->req;
	struct svc *sv = c->sv;

	c->req = NULL;
	conn_free(c);
	if (r != NULL) {
		r->conn = NULL;
		answer(r, NULL, 0, why);
	}
	dispatch(sv);
}

static void
idle_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct svc_conn *c = arg;

	(void)fd;
	(void)what;
	conn_free(c);
}

/* conn_idle - the request is answered: keep the connection for the next
 * one, unless it has served long enough (max_ttl) */
static void
conn_idle(struct svc_conn *c)
{
	struct svc *sv = c->sv;
	struct timeval tv = {sv->conf->max_idle, 0};

	c->req = NULL;
	if (time(NULL) - c->born >= sv->conf->max_ttl) {
		conn_free(c);
		return;
	}
	evtimer_add(c->idle_ev, &tv);
}

static void
on_read(struct bufferevent *bev, void *arg)
{
	struct svc_conn *c = arg;
	struct svc *sv = c->sv;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len = evbuffer_get_length(in), skip;
	struct svc_req *r;
	char *reply;
	ssize_t n;

	/* what the service says unasked (a greeting) is passed over */
	if (sv->proto->noise != NULL && len > 0) {
		const char *buf = (const char *)evbuffer_pullup(in, -1);
		if ((skip = sv->proto->noise(buf, len)) > 0) {
			evbuffer_drain(in, skip);
			len -= skip;
		}
		if (len > SVC_REPLY_MAX) {
			conn_fail(c, "a greeting that does not end");
			return;
		}
	}
	if (len == 0)
		return;
	if (c->req == NULL) {
		/* nothing was asked: the service talks out of turn */
		log_warnx("%s %s: %zu octets nobody asked for; connection closed",
		          sv->proto->kind, sv->conf->name, len);
		conn_fail(c, "unsolicited data");
		return;
	}
	/* the reply is small: look at it whole (SVC_REPLY_MAX bounds it) */
	n = sv->proto->reply_len((const char *)evbuffer_pullup(in, -1), len);
	if (n == 0 && len <= SVC_REPLY_MAX)
		return;
	if (n <= 0) {
		conn_fail(c, "a reply that is no reply (too long, or malformed)");
		return;
	}
	if ((size_t)n < len) {
		conn_fail(c, "more than one reply to one request");
		return;
	}
	reply = xmalloc((size_t)n + 1);
	evbuffer_remove(in, reply, (size_t)n);
	reply[n] = '\0';
	r = c->req;
	r->conn = NULL;
	conn_idle(c);
	answer(r, reply, (size_t)n, NULL);
	free(reply);
	dispatch(sv);
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	struct svc_conn *c = arg;
	struct svc *sv = c->sv;
	char why[160];

	if (what & BEV_EVENT_CONNECTED) {
		c->connected = 1;
		/* the connect's limit is over; the reply's begins */
		bufferevent_set_timeouts(bev, NULL, NULL);
		if (c->req != NULL)
			reply_deadline(c->req);
		return;
	}
	if (!c->connected) {
		struct timespec now;
		int err = EVUTIL_SOCKET_ERROR();
		snprintf(why, sizeof(why), "cannot connect to %s: %s", sv->conf->address,
		         (what & BEV_EVENT_TIMEOUT) ? "timed out"
		                                    : evutil_socket_error_to_string(err));
		/* down for a second: what waits for a new connection fails at
		 * once meanwhile (dispatch) */
		clock_gettime(CLOCK_MONOTONIC, &now);
		sv->down_until = now;
		sv->down_until.tv_sec += 1;
		strlcpy(sv->down_why, why, sizeof(sv->down_why));
	} else if (what & BEV_EVENT_EOF)
		snprintf(why, sizeof(why), "the service closed the connection");
	else
		snprintf(why, sizeof(why), "connection error: %s",
		         evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	conn_fail(c, why);
}

static struct svc_conn *
conn_new(struct svc *sv)
{
	struct svc_conn *c = xcalloc(1, sizeof(*c));
	struct timeval tv = {sv->conf->timeout_connect_ms / 1000,
	                     (sv->conf->timeout_connect_ms % 1000) * 1000};

	c->sv = sv;
	c->born = time(NULL);
	/* deferred callbacks: none runs inside bufferevent_socket_connect()
	 * or a write, so dispatch() never meets a connection freed under it */
	c->bev = bufferevent_socket_new(sv->base, -1,
	                                BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	c->idle_ev = evtimer_new(sv->base, idle_timeout, c);
	if (c->bev == NULL || c->idle_ev == NULL)
		fatalx("%s: out of memory", sv->proto->kind);
	bufferevent_setcb(c->bev, on_read, NULL, on_event, c);
	/* the connect's own limit; the request's deadline covers the rest */
	bufferevent_set_timeouts(c->bev, NULL, &tv);
	LIST_INSERT_HEAD(&sv->conns, c, entry);
	sv->nconns++;
	/* a failure to even start is answered by the request's deadline */
	if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&sv->conf->ss,
	                               (int)sv->conf->sslen) == 0) {
		bufferevent_enable(c->bev, EV_READ);
		/* sent when the connect completes, before any request */
		if (sv->proto->hello != NULL)
			bufferevent_write(c->bev, sv->proto->hello,
			                  strlen(sv->proto->hello));
	}
	return c;
}

/* dispatch - waiting requests onto idle connections, or new ones */
static void
dispatch(struct svc *sv)
{
	while (!TAILQ_EMPTY(&sv->waiting)) {
		struct svc_req *r = TAILQ_FIRST(&sv->waiting);
		struct svc_conn *c, *idle = NULL;

		LIST_FOREACH(c, &sv->conns, entry)
		if (c->req == NULL) {
			idle = c;
			break;
		}
		if (idle == NULL && sv->nconns >= SVC_CONNS_MAX)
			return;
		TAILQ_REMOVE(&sv->waiting, r, entry);
		sv->nwaiting--;
		if (idle == NULL && now_before(&sv->down_until)) {
			fail_later(r, sv->down_why);
			continue;
		}
		if (idle == NULL)
			idle = conn_new(sv);
		evtimer_del(idle->idle_ev);
		idle->req = r;
		r->conn = idle;
		bufferevent_write_buffer(idle->bev, r->body);
		if (idle->connected)
			reply_deadline(r);
	}
}

static void
req_timer(evutil_socket_t fd, short what, void *arg)
{
	struct svc_req *r = arg;
	struct svc *sv = r->sv;
	char why[160];

	(void)fd;
	(void)what;
	if (r->why[0] != '\0') {
		/* failed before it went anywhere (fail_later) */
		TAILQ_REMOVE(&sv->failing, r, entry);
		strlcpy(why, r->why, sizeof(why));
		answer(r, NULL, 0, why);
		return;
	}
	snprintf(why, sizeof(why), "no reply within %ld ms", sv->conf->timeout_ms);
	if (r->conn != NULL) {
		/* its reply may still come: the connection cannot be used */
		struct svc_conn *c = r->conn;
		c->req = NULL;
		conn_free(c);
		r->conn = NULL;
		answer(r, NULL, 0, why);
		dispatch(sv);
		return;
	}
	TAILQ_REMOVE(&sv->waiting, r, entry);
	sv->nwaiting--;
	answer(r, NULL, 0, why);
}

void
svc_ask(struct svc *sv, struct evbuffer *request, svc_cb cb, void *arg)
{
	struct svc_req *r = xcalloc(1, sizeof(*r));
	long ms = sv->conf->timeout_connect_ms + sv->conf->timeout_ms;
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	r->sv = sv;
	r->body = request;
	r->cb = cb;
	r->arg = arg;
	if ((r->timer = evtimer_new(sv->base, req_timer, r)) == NULL)
		fatalx("%s: out of memory", sv->proto->kind);
	sv->asked++;
	if (sv->nwaiting >= SVC_WAITING_MAX) {
		char why[64];
		snprintf(why, sizeof(why), "%d requests wait already", sv->nwaiting);
		fail_later(r, why);
		return;
	}
	evtimer_add(r->timer, &tv);
	TAILQ_INSERT_TAIL(&sv->waiting, r, entry);
	sv->nwaiting++;
	dispatch(sv);
}

struct svc *
svc_new(struct event_base *base, const struct ext_service_conf *conf,
        const struct svc_proto *proto)
{
	struct svc *sv = xcalloc(1, sizeof(*sv));

	sv->base = base;
	sv->conf = conf;
	sv->proto = proto;
	LIST_INIT(&sv->conns);
	TAILQ_INIT(&sv->waiting);
	TAILQ_INIT(&sv->failing);
	return sv;
}

void
svc_stop(struct svc *sv)
{
	struct svc_conn *c;

	if (sv == NULL)
		return;
	while (!TAILQ_EMPTY(&sv->waiting)) {
		struct svc_req *r = TAILQ_FIRST(&sv->waiting);
		TAILQ_REMOVE(&sv->waiting, r, entry);
		sv->nwaiting--;
		answer(r, NULL, 0, "moatd is stopping");
	}
	while (!TAILQ_EMPTY(&sv->failing)) {
		struct svc_req *r = TAILQ_FIRST(&sv->failing);
		TAILQ_REMOVE(&sv->failing, r, entry);
		answer(r, NULL, 0, "moatd is stopping");
	}
	while ((c = LIST_FIRST(&sv->conns)) != NULL) {
		struct svc_req *r = c->req;
		c->req = NULL;
		conn_free(c);
		if (r != NULL)
			answer(r, NULL, 0, "moatd is stopping");
	}
}

void
svc_free(struct svc *sv)
{
	if (sv == NULL)
		return;
	svc_stop(sv);
	free(sv);
}

void
svc_counts(const struct svc *sv, unsigned long *asked, unsigned long *failed, int *conns)
{
	*asked = sv->asked;
	*failed = sv->failed;
	*conns = sv->nconns;
}
