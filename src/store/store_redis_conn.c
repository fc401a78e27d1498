/* SPDX-License-Identifier: ISC */
/*
 * store_redis_conn.c - the Redis backend's connection (store_redis.c has
 * the requests): hiredis's asynchronous context on the process's libevent
 * loop through an adapter of our own, the set-up commands (AUTH, SELECT,
 * SCRIPT LOAD), the deadline of the oldest command, and the reconnection
 * after a pause that doubles from 100 ms up to 5 s while Redis stays away.
 *
 * SECURITY: Redis's replies to the set-up commands are checked for their
 * type before use; an error reply is logged escaped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "store/store_redis_int.h"

/*
 * The connection on the loop: our own adapter for hiredis instead of its
 * libevent one, which adds and deletes a one-shot event for every read
 * and every batch written (an epoll_ctl() each time, several a message on
 * the mail path). Here the read event stays; the commands a run of the
 * store queue makes are written at its end, at once, and a write event
 * is only asked for when the socket would block (or while connecting).
 */
struct redis_ev {
	struct redis_be *r;
	redisAsyncContext *ac;
	struct event *rev, *wev;
	int want_write; /* hiredis asked to write while a run was batching */
};

static void
ev_read(evutil_socket_t fd, short what, void *arg)
{
	struct redis_ev *e = arg;

	redisAsyncHandleRead(e->ac);
}

static void
ev_write(evutil_socket_t fd, short what, void *arg)
{
	struct redis_ev *e = arg;

	redisAsyncHandleWrite(e->ac);
}

static void
ev_add_read(void *data)
{
	struct redis_ev *e = data;

	if (!event_pending(e->rev, EV_READ, NULL))
		event_add(e->rev, NULL);
}

static void
ev_del_read(void *data)
{
	struct redis_ev *e = data;

	event_del(e->rev);
}

static void
ev_add_write(void *data)
{
	struct redis_ev *e = data;

	if (e->r->batching)
		e->want_write = 1;
	else if (!event_pending(e->wev, EV_WRITE, NULL))
		event_add(e->wev, NULL);
}

static void
ev_del_write(void *data)
{
	struct redis_ev *e = data;

	e->want_write = 0;
	event_del(e->wev);
}

static void
ev_cleanup(void *data)
{
	struct redis_ev *e = data;

	if (e->r->ev == e)
		e->r->ev = NULL;
	event_free(e->rev);
	event_free(e->wev);
	free(e);
}

static void
ev_attach(struct redis_be *r, redisAsyncContext *ac)
{
	struct redis_ev *e = xcalloc(1, sizeof(*e));

	e->r = r;
	e->ac = ac;
	e->rev = event_new(r->base, ac->c.fd, EV_READ | EV_PERSIST, ev_read, e);
	e->wev = event_new(r->base, ac->c.fd, EV_WRITE, ev_write, e);
	ac->ev.addRead = ev_add_read;
	ac->ev.delRead = ev_del_read;
	ac->ev.addWrite = ev_add_write;
	ac->ev.delWrite = ev_del_write;
	ac->ev.cleanup = ev_cleanup;
	ac->ev.data = e;
	r->ev = e;
	event_add(e->rev, NULL);
	event_add(e->wev, NULL); /* the connection's completion */
}

/* redis_flush - the end of a run: write what it queued, now */
void
redis_flush(struct redis_be *r)
{
	struct redis_ev *e = r->ev;

	if (r->ac == NULL || e == NULL || !e->want_write)
		return;
	e->want_write = 0;
	if (!r->up) {
		/* still connecting: hiredis writes once the connection is made */
		if (!event_pending(e->wev, EV_WRITE, NULL))
			event_add(e->wev, NULL);
		return;
	}
	/* may fail and drop the connection: nothing of r->ac after this */
	redisAsyncHandleWrite(r->ac);
}

static void
down_alarm(struct redis_be *r, const char *why)
{
	time_t now = time(NULL);

	if (now - r->down_logged < 60)
		return;
	r->down_logged = now;
	log_warnx("store: redis %s: %s; the checks that need the store let clients "
	          "through until it is back",
	          r->conf.redis_address, why);
}

void
redis_arm_timeout(struct redis_be *r)
{
	struct slot *s = TAILQ_FIRST(&r->pending);
	int64_t left;
	struct timeval tv;

	if (s == NULL) {
		evtimer_del(r->timeout_ev);
		return;
	}
	left = s->deadline_ms - clock_mono_ms();
	if (left < 0)
		left = 0;
	tv.tv_sec = left / 1000;
	tv.tv_usec = (left % 1000) * 1000;
	evtimer_add(r->timeout_ev, &tv);
}
/* ---- the connection ---- */

/* drop - the connection is gone or hopeless: fail what waits, try again */
static void
drop(struct redis_be *r, const char *why)
{
	redisAsyncContext *ac = r->ac;
	struct slot *s;

	down_alarm(r, why);
	r->up = 0;
	r->ac = NULL;
	/* answered now, in order; their replies, if any come, are dropped */
	TAILQ_FOREACH(s, &r->pending, entry)
	if (s->req != NULL) {
		struct store_req *req = s->req;
		s->req = NULL;
		redis_answer(r, req, NULL, NULL);
		store_req_free(req);
	}
	if (ac != NULL)
		redisAsyncFree(ac); /* calls replied() with NULL for each slot */
	evtimer_del(r->timeout_ev);
	if (!r->closing && !evtimer_pending(r->retry_ev, NULL)) {
		struct timeval tv = {r->retry_ms / 1000, (r->retry_ms % 1000) * 1000};
		evtimer_add(r->retry_ev, &tv);
		r->retry_ms =
		    r->retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : r->retry_ms * 2;
	}
}

static void
timed_out(evutil_socket_t fd, short what, void *arg)
{
	struct redis_be *r = arg;
	struct slot *s = TAILQ_FIRST(&r->pending);

	if (s == NULL)
		return;
	if (s->deadline_ms > clock_mono_ms()) {
		redis_arm_timeout(r);
		return;
	}
	drop(r, "no answer within timeout_ms");
}

static void
retry_cb(evutil_socket_t fd, short what, void *arg)
{
	redis_connect(arg);
}

static void
connected(const redisAsyncContext *ac, int status)
{
	struct redis_be *r = ac->data;

	if (r == NULL || r->ac != ac)
		return;
	if (status != REDIS_OK) {
		/* hiredis frees the context after this callback */
		r->ac = NULL;
		drop(r, ac->errstr[0] ? ac->errstr : "cannot connect");
		return;
	}
}

static void
disconnected(const redisAsyncContext *ac, int status)
{
	struct redis_be *r = ac->data;

	if (r == NULL || r->ac != ac)
		return;
	/* hiredis frees the context after this callback */
	r->ac = NULL;
	drop(r, ac->errstr[0] ? ac->errstr : "connection closed");
}

/* setup_done - the last of AUTH, SELECT and SCRIPT LOAD answered */
static void
setup_done(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct redis_be *r = privdata;
	const redisReply *x = reply;

	if (x == NULL || r->ac != ac)
		return;
	if (x->type == REDIS_REPLY_ERROR) {
		char vis[LOG_ESCAPE_BUFSZ];
		log_warnx("store: redis %s: %s", r->conf.redis_address,
		          log_escape(vis, sizeof(vis), x->str, x->len));
		drop(r, "setting up the connection failed");
		return;
	}
	if (!r->up) {
		log_info("store: redis %s connected", r->conf.redis_address);
		r->down_logged = 0;
	}
	r->up = 1;
	r->retry_ms = RETRY_MIN_MS;
}

/* setup_step - AUTH/SELECT/SCRIPT LOAD before the last: only errors matter */
static void
setup_step(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct redis_be *r = privdata;
	const redisReply *x = reply;

	if (x != NULL && x->type == REDIS_REPLY_ERROR && r->ac == ac) {
		char vis[LOG_ESCAPE_BUFSZ];
		log_warnx("store: redis %s: %s", r->conf.redis_address,
		          log_escape(vis, sizeof(vis), x->str, x->len));
	}
}

void
redis_connect(struct redis_be *r)
{
	const char *a = r->conf.redis_address;
	redisAsyncContext *ac;

	if (r->ac != NULL || r->closing)
		return;
	if (a[0] == '/')
		ac = redisAsyncConnectUnix(a);
	else {
		char host[256];
		const char *colon = strrchr(a, ':');
		size_t hl = colon ? (size_t)(colon - a) : 0;
		const char *bad = NULL;
		int port = colon ? (int)strtonum(colon + 1, 1, 65535, &bad) : 0;
		if (hl > 1 && a[0] == '[' && a[hl - 1] == ']') {
			a++;
			hl -= 2;
		}
		if (colon == NULL || hl == 0 || hl >= sizeof(host) || port <= 0 ||
		    port > 65535) {
			down_alarm(r, "bad address");
			return;
		}
		memcpy(host, a, hl);
		host[hl] = '\0';
		ac = redisAsyncConnect(host, port);
	}
	if (ac == NULL) {
		drop(r, "out of memory");
		return;
	}
	if (ac->err) {
		char why[160];
		snprintf(why, sizeof(why), "%s", ac->errstr);
		redisAsyncFree(ac);
		drop(r, why);
		return;
	}
	ac->data = r;
	r->ac = ac;
	ev_attach(r, ac);
	redisAsyncSetConnectCallback(ac, connected);
	redisAsyncSetDisconnectCallback(ac, disconnected);
	/* commands wait in hiredis's buffer until the connection is made;
	 * Redis runs them in order, so the scripts are there before use */
	if (r->conf.redis_password[0] != '\0')
		redisAsyncCommand(ac, setup_step, r, "AUTH %s", r->conf.redis_password);
	if (r->conf.redis_db != 0)
		redisAsyncCommand(ac, setup_step, r, "SELECT %d", r->conf.redis_db);
	for (int i = 0; i < RS_N; i++)
		redisAsyncCommand(ac, i == RS_N - 1 ? setup_done : setup_step, r,
		                  "SCRIPT LOAD %s", redis_scripts[i]);
}

/* redis_conn_open - the timers, and the first connection attempt */
void
redis_conn_open(struct redis_be *r)
{
	r->retry_ms = RETRY_MIN_MS;
	r->retry_ev = evtimer_new(r->base, retry_cb, r);
	r->timeout_ev = evtimer_new(r->base, timed_out, r);
	redis_connect(r);
}

/* redis_conn_close - the connection and the timers go; nothing is
 * answered after this (r->closing) */
void
redis_conn_close(struct redis_be *r)
{
	r->closing = 1;
	if (r->ac != NULL) {
		redisAsyncContext *ac = r->ac;
		r->ac = NULL;
		ac->data = NULL;
		redisAsyncFree(ac);
	}
	evtimer_del(r->retry_ev);
	event_free(r->retry_ev);
	event_free(r->timeout_ev);
}
