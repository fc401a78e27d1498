/* SPDX-License-Identifier: ISC */
/*
 * psvc_client.c - a worker's connections to one policy service
 * (psvc_client.h tells the rules).
 *
 * Life of a request: psvc_ask() queues it and starts its deadline; dispatch()
 * gives it a connection; on_read() takes the reply when its empty line is
 * in, and the connection goes back to idle. A timeout while the request is
 * on a connection closes that connection: its late reply would otherwise
 * answer the next request.
 * SECURITY: reads bytes from the policy service: only through
 * psvc_reply_len() and psvc_reply_parse(), bounded by PSVC_REPLY_MAX;
 * bytes that arrive when no request is out close the connection.
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
#include "policy/psvc_client.h"

struct psvc_conn;

struct psvc_req {
	struct psvc *sv;
	struct psvc_conn *conn; /* the connection it is out on, or NULL */
	struct evbuffer *body;
	struct event *timer; /* its deadline; or (failed) the answer's turn */
	char why[160];       /* set: the answer is this failure */
	psvc_cb cb;
	void *arg;
	TAILQ_ENTRY(psvc_req) entry; /* sv->waiting, or sv->failing */
};
TAILQ_HEAD(reqq, psvc_req);

struct psvc_conn {
	struct psvc *sv;
	struct bufferevent *bev;
	struct psvc_req *req; /* out on it; NULL: idle */
	int connected;
	time_t born;
	struct event *idle_ev; /* max_idle */
	LIST_ENTRY(psvc_conn) entry;
};

struct psvc {
	struct event_base *base;
	const struct ext_service_conf *conf;
	LIST_HEAD(, psvc_conn) conns;
	int nconns;
	struct reqq waiting;
	int nwaiting;
	struct reqq failing;        /* failed before going out: answered from the loop */
	struct timespec down_until; /* a connect failed: fail at once till then */
	char down_why[128];
	unsigned long asked, failed;
};

static void dispatch(struct psvc *sv);

/* reply_deadline - the request is out on a connected connection: from now
 * on it waits timeout_ms for its reply (before: the connect's limit, or
 * psvc_ask()'s bound on waiting for a connection) */
static void
reply_deadline(struct psvc_req *r)
{
	long ms = r->sv->conf->timeout_ms;
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	evtimer_add(r->timer, &tv);
}

/* fail_later - r fails with why; the answer goes out from the loop */
static void
fail_later(struct psvc_req *r, const char *why)
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
req_free(struct psvc_req *r)
{
	if (r->timer != NULL)
		event_free(r->timer);
	if (r->body != NULL)
		evbuffer_free(r->body);
	free(r);
}

/* answer - the one callback of a request; r is gone after it */
static void
answer(struct psvc_req *r, const struct psvc_action *a, const char *why)
{
	psvc_cb cb = r->cb;
	void *arg = r->arg;

	if (a == NULL)
		r->sv->failed++;
	req_free(r);
	cb(arg, a, why);
}

static void
conn_free(struct psvc_conn *c)
{
	struct psvc *sv = c->sv;

	LIST_REMOVE(c, entry);
	sv->nconns--;
	if (c->idle_ev != NULL)
		event_free(c->idle_ev);
	bufferevent_free(c->bev);
	free(c);
}

/* conn_fail - the connection is unusable: close it; its request fails */
static void
conn_fail(struct psvc_conn *c, const char *why)
{
	struct psvc_req *r = c->req;
	struct psvc *sv = c->sv;

	c->req = NULL;
	conn_free(c);
	if (r != NULL) {
		r->conn = NULL;
		answer(r, NULL, why);
	}
	dispatch(sv);
}

static void
idle_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct psvc_conn *c = arg;

	(void)fd;
	(void)what;
	conn_free(c);
}

/* conn_idle - the request is answered: keep the connection for the next
 * one, unless it has served long enough (max_ttl) */
static void
conn_idle(struct psvc_conn *c)
{
	struct psvc *sv = c->sv;
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
	struct psvc_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len = evbuffer_get_length(in);
	struct psvc_action a;
	struct psvc_req *r;
	char err[160];
	ssize_t n;

	if (c->req == NULL) {
		/* nothing was asked: the service talks out of turn */
		log_warnx("policy_service %s: %zu octets nobody asked for; "
		          "connection closed",
		          c->sv->conf->name, len);
		conn_fail(c, "unsolicited data");
		return;
	}
	/* the reply is small: look at it whole (PSVC_REPLY_MAX bounds it) */
	n = psvc_reply_len((const char *)evbuffer_pullup(in, -1), len);
	if (n == 0)
		return;
	if (n < 0) {
		conn_fail(c, "a reply that is no reply (too long, or a NUL)");
		return;
	}
	if (psvc_reply_parse((const char *)evbuffer_pullup(in, n), (size_t)n, &a, err,
	                     sizeof(err)) == -1) {
		/* The framing held, so the connection is still in step: only
		 * this answer is bad. */
		evbuffer_drain(in, (size_t)n);
		r = c->req;
		r->conn = NULL;
		conn_idle(c);
		answer(r, NULL, err);
		dispatch(c->sv);
		return;
	}
	evbuffer_drain(in, (size_t)n);
	if (evbuffer_get_length(in) > 0) {
		conn_fail(c, "more than one reply to one request");
		return;
	}
	r = c->req;
	r->conn = NULL;
	conn_idle(c);
	answer(r, &a, NULL);
	dispatch(c->sv);
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	struct psvc_conn *c = arg;
	struct psvc *sv = c->sv;
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

static struct psvc_conn *
conn_new(struct psvc *sv)
{
	struct psvc_conn *c = xcalloc(1, sizeof(*c));
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
		fatalx("policy_service: out of memory");
	bufferevent_setcb(c->bev, on_read, NULL, on_event, c);
	/* the connect's own limit; the request's deadline covers the rest */
	bufferevent_set_timeouts(c->bev, NULL, &tv);
	LIST_INSERT_HEAD(&sv->conns, c, entry);
	sv->nconns++;
	/* a failure to even start is answered by the request's deadline */
	if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&sv->conf->ss,
	                               (int)sv->conf->sslen) == 0)
		bufferevent_enable(c->bev, EV_READ);
	return c;
}

/* dispatch - waiting requests onto idle connections, or new ones */
static void
dispatch(struct psvc *sv)
{
	while (!TAILQ_EMPTY(&sv->waiting)) {
		struct psvc_req *r = TAILQ_FIRST(&sv->waiting);
		struct psvc_conn *c, *idle = NULL;

		LIST_FOREACH(c, &sv->conns, entry)
		if (c->req == NULL) {
			idle = c;
			break;
		}
		if (idle == NULL && sv->nconns >= PSVC_CONNS_MAX)
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
		/* the request and its empty line */
		evbuffer_add(r->body, "\n", 1);
		bufferevent_write_buffer(idle->bev, r->body);
		if (idle->connected)
			reply_deadline(r);
	}
}

static void
req_timer(evutil_socket_t fd, short what, void *arg)
{
	struct psvc_req *r = arg;
	struct psvc *sv = r->sv;
	char why[160];

	(void)fd;
	(void)what;
	if (r->why[0] != '\0') {
		/* failed before it went anywhere (fail_later) */
		TAILQ_REMOVE(&sv->failing, r, entry);
		strlcpy(why, r->why, sizeof(why));
		answer(r, NULL, why);
		return;
	}
	snprintf(why, sizeof(why), "no reply within %ld ms", sv->conf->timeout_ms);
	if (r->conn != NULL) {
		/* its reply may still come: the connection cannot be used */
		struct psvc_conn *c = r->conn;
		c->req = NULL;
		conn_free(c);
		r->conn = NULL;
		answer(r, NULL, why);
		dispatch(sv);
		return;
	}
	TAILQ_REMOVE(&sv->waiting, r, entry);
	sv->nwaiting--;
	answer(r, NULL, why);
}

void
psvc_ask(struct psvc *sv, struct evbuffer *request, psvc_cb cb, void *arg)
{
	struct psvc_req *r = xcalloc(1, sizeof(*r));
	long ms = sv->conf->timeout_connect_ms + sv->conf->timeout_ms;
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	r->sv = sv;
	r->body = request;
	r->cb = cb;
	r->arg = arg;
	if ((r->timer = evtimer_new(sv->base, req_timer, r)) == NULL)
		fatalx("policy_service: out of memory");
	sv->asked++;
	if (sv->nwaiting >= PSVC_WAITING_MAX) {
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

struct psvc *
psvc_new(struct event_base *base, const struct ext_service_conf *conf)
{
	struct psvc *sv = xcalloc(1, sizeof(*sv));

	sv->base = base;
	sv->conf = conf;
	LIST_INIT(&sv->conns);
	TAILQ_INIT(&sv->waiting);
	TAILQ_INIT(&sv->failing);
	return sv;
}

void
psvc_stop(struct psvc *sv)
{
	struct psvc_conn *c;

	if (sv == NULL)
		return;
	while (!TAILQ_EMPTY(&sv->waiting)) {
		struct psvc_req *r = TAILQ_FIRST(&sv->waiting);
		TAILQ_REMOVE(&sv->waiting, r, entry);
		sv->nwaiting--;
		answer(r, NULL, "moatd is stopping");
	}
	while (!TAILQ_EMPTY(&sv->failing)) {
		struct psvc_req *r = TAILQ_FIRST(&sv->failing);
		TAILQ_REMOVE(&sv->failing, r, entry);
		answer(r, NULL, "moatd is stopping");
	}
	while ((c = LIST_FIRST(&sv->conns)) != NULL) {
		struct psvc_req *r = c->req;
		c->req = NULL;
		conn_free(c);
		if (r != NULL)
			answer(r, NULL, "moatd is stopping");
	}
}

void
psvc_free(struct psvc *sv)
{
	if (sv == NULL)
		return;
	psvc_stop(sv);
	free(sv);
}

void
psvc_counts(const struct psvc *sv, unsigned long *asked, unsigned long *failed,
            int *conns)
{
	*asked = sv->asked;
	*failed = sv->failed;
	*conns = sv->nconns;
}
