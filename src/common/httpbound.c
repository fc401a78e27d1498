/* SPDX-License-Identifier: ISC */
/*
 * httpbound.c - the bounds of an evhttp server (httpbound.h): a cap on
 * connections, a deadline for each, a pause when accept fails.
 *
 * evhttp gives no hook for a connection's beginning or end in libevent
 * 2.1. We make each connection's bufferevent ourselves (evhttp's bevcb)
 * and hold a reference of our own on it; when evhttp frees one, its
 * callbacks are gone and ours is the last reference (conn_sweep, a few
 * times a second). The deadline shuts the socket down: evhttp sees the end
 * and lets the connection go.
 * SECURITY: connections from anyone; no bytes are read here (evhttp parses
 * them, within the limits its caller set); what one client can hold is a
 * connection slot, for at most the deadline.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

#include "common/httpbound.h"
#include "common/log.h"
#include "common/xmalloc.h"

struct hconn {
	struct bufferevent *bev;
	struct event *deadline;
	TAILQ_ENTRY(hconn) entry;
};

struct httpbound {
	struct event_base *base;
	struct evhttp *http;
	struct evhttp_bound_socket *bound; /* NULL once stopped */
	const char *name;
	int conns_max;
	long deadline;
	TAILQ_HEAD(, hconn) conns;
	int nconns;
	struct event *sweep_ev;
	int paused;              /* the listener waits: full, or EMFILE */
	struct event *resume_ev; /* accepting again after EMFILE */
	long accept_pause_ms;
	time_t accept_logged;
	LIST_ENTRY(httpbound) entry;
};

/* The listener's error callback gets evhttp's argument, not ours: the
 * servers of this process, to find the one whose listener it is. */
static LIST_HEAD(, httpbound) servers = LIST_HEAD_INITIALIZER(servers);

static struct evconnlistener *
listener_of(struct httpbound *hb)
{
	return hb->bound != NULL ? evhttp_bound_socket_get_listener(hb->bound) : NULL;
}

static void
listener_update(struct httpbound *hb)
{
	struct evconnlistener *l = listener_of(hb);
	int full = hb->nconns >= hb->conns_max;

	if (l == NULL)
		return;
	if (full && !hb->paused) {
		evconnlistener_disable(l);
		hb->paused = 1;
	} else if (!full && hb->paused && !evtimer_pending(hb->resume_ev, NULL)) {
		evconnlistener_enable(l);
		hb->paused = 0;
	}
}

/* conn_late - the whole request (and its answer) took too long */
static void
conn_late(evutil_socket_t fd, short what, void *arg)
{
	struct hconn *hc = arg;
	evutil_socket_t s = bufferevent_getfd(hc->bev);

	if (s != -1)
		shutdown(s, SHUT_RDWR);
}

static void
conn_drop(struct httpbound *hb, struct hconn *hc)
{
	TAILQ_REMOVE(&hb->conns, hc, entry);
	event_free(hc->deadline);
	bufferevent_decref(hc->bev); /* the last reference: closes the socket */
	free(hc);
	hb->nconns--;
}

/* conn_sweep - the connections evhttp is done with (their callbacks are
 * gone) end now; a client hears the end of its answer a little later */
static void
conn_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct httpbound *hb = arg;
	struct hconn *hc, *next;
	bufferevent_event_cb ecb;

	for (hc = TAILQ_FIRST(&hb->conns); hc != NULL; hc = next) {
		next = TAILQ_NEXT(hc, entry);
		bufferevent_getcb(hc->bev, NULL, NULL, &ecb, NULL);
		if (ecb == NULL)
			conn_drop(hb, hc);
	}
	listener_update(hb);
}

/* conn_made - evhttp accepted a connection and asks for its bufferevent */
static struct bufferevent *
conn_made(struct event_base *base, void *arg)
{
	struct httpbound *hb = arg;
	struct hconn *hc = xcalloc(1, sizeof(*hc));
	struct timeval tv = {hb->deadline, 0};

	if ((hc->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE)) == NULL)
		fatalx("%s: bufferevent", hb->name);
	bufferevent_incref(hc->bev);
	hc->deadline = evtimer_new(base, conn_late, hc);
	evtimer_add(hc->deadline, &tv);
	TAILQ_INSERT_TAIL(&hb->conns, hc, entry);
	hb->nconns++;
	listener_update(hb);
	return hc->bev;
}

static void
accept_resume(evutil_socket_t fd, short what, void *arg)
{
	struct httpbound *hb = arg;
	struct evconnlistener *l = listener_of(hb);

	if (l == NULL)
		return;
	hb->paused = 1; /* listener_update() decides with the count */
	evconnlistener_enable(l);
	hb->paused = 0;
	listener_update(hb);
}

/* accept_error - EMFILE and the like: pause (100 ms, doubling to 3.2 s)
 * instead of spinning on the connection that stays in the backlog; log at
 * most once a second */
static void
accept_error(struct evconnlistener *l, void *arg)
{
	struct httpbound *hb;
	int err = EVUTIL_SOCKET_ERROR();
	time_t now = time(NULL);

	LIST_FOREACH(hb, &servers, entry)
	if (listener_of(hb) == l)
		break;
	if (hb == NULL)
		return;
	hb->accept_pause_ms = hb->accept_pause_ms == 0 ? 100 : hb->accept_pause_ms * 2;
	if (hb->accept_pause_ms > 3200)
		hb->accept_pause_ms = 3200;
	if (now != hb->accept_logged) {
		hb->accept_logged = now;
		log_warnx("%s: accept: %s; pausing %ld ms", hb->name, strerror(err),
		          hb->accept_pause_ms);
	}
	evconnlistener_disable(l);
	hb->paused = 1;
	struct timeval tv = {hb->accept_pause_ms / 1000,
	                     (hb->accept_pause_ms % 1000) * 1000};
	evtimer_add(hb->resume_ev, &tv);
}

struct httpbound *
httpbound_new(struct event_base *base, struct evhttp *http, int fd, int conns_max,
              long deadline, const char *name)
{
	struct httpbound *hb = xcalloc(1, sizeof(*hb));
	struct timeval stv = {0, 250000};

	hb->base = base;
	hb->http = http;
	hb->name = name;
	hb->conns_max = conns_max;
	hb->deadline = deadline;
	TAILQ_INIT(&hb->conns);
	evhttp_set_bevcb(http, conn_made, hb);
	hb->resume_ev = evtimer_new(base, accept_resume, hb);
	hb->sweep_ev = event_new(base, -1, EV_PERSIST, conn_sweep, hb);
	event_add(hb->sweep_ev, &stv);
	LIST_INSERT_HEAD(&servers, hb, entry);
	if ((hb->bound = evhttp_accept_socket_with_handle(http, fd)) == NULL) {
		httpbound_free(hb);
		return NULL;
	}
	evconnlistener_set_error_cb(listener_of(hb), accept_error);
	return hb;
}

void
httpbound_stop(struct httpbound *hb)
{
	if (hb->bound != NULL)
		evhttp_del_accept_socket(hb->http, hb->bound);
	hb->bound = NULL;
}

void
httpbound_free(struct httpbound *hb)
{
	if (hb == NULL)
		return;
	hb->bound = NULL; /* evhttp_free() freed it */
	while (!TAILQ_EMPTY(&hb->conns))
		conn_drop(hb, TAILQ_FIRST(&hb->conns));
	event_free(hb->sweep_ev);
	event_free(hb->resume_ev);
	LIST_REMOVE(hb, entry);
	free(hb);
}
