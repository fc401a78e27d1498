/* SPDX-License-Identifier: ISC */
/*
 * httpd.c - the bait web server, in a process of its own (moatd/bait): it
 * holds the listener, the trap secret and the store, nothing else, and with
 * chroot = true it lives in run_dir/empty.
 *
 * Responses are held for bait_pace_ms on a timer (not a worker), and at
 * most BAIT_PENDING_MAX at a time: beyond that a crawler gets 503 at once,
 * so a flood cannot make us hold unbounded memory. At most bait_conns_max
 * connections are open (past that the listener waits), each for at most
 * bait_request_timeout plus the pace (evhttp's own timeout restarts with
 * every octet), with a head of at most bait_request_max octets; when
 * accept fails for want of descriptors the listener pauses. On reload the
 * old process stops accepting and leaves once its held pages are out.
 * SECURITY: HTTP requests are untrusted; evhttp parses them (with its
 * header and body size limits set here), we only look at the path, the
 * peer address and, from a proxy in bait.proxy_from only, the last address
 * of X-Forwarded-For (forwarded.c), and never echo request text into a
 * page.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <time.h>

#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "bait/forwarded.h"
#include "bait/httpd.h"
#include "bait/page.h"
#include "bait/trapstore.h"
#include "common/log.h"
#include "common/netaddr.h"
#include "common/xmalloc.h"
#include "conf/conf.h"

#define BAIT_PENDING_MAX 1000

struct paced {
	struct baitd *b;
	struct evhttp_request *req;
	struct event *ev;
	char *page;
	TAILQ_ENTRY(paced) entry;
};

struct baitd {
	struct event_base *base;
	const struct moat_conf *conf;
	const struct trap_secret *secret;
	struct store *st;
	struct evhttp *http;
	struct evhttp_bound_socket *bound;
	TAILQ_HEAD(, bconn) conns; /* open connections (conn_made/conn_sweep) */
	int nconns;
	struct event *sweep_ev;
	int paused;              /* the listener waits: full, or EMFILE */
	struct event *resume_ev; /* accepting again after EMFILE */
	long accept_pause_ms;
	time_t accept_logged;
	TAILQ_HEAD(, paced) pending;
	int npending;
	int draining; /* leave the loop once nothing is pending */
};

static void
paced_free(struct paced *p)
{
	struct baitd *b = p->b;

	TAILQ_REMOVE(&b->pending, p, entry);
	b->npending--;
	event_free(p->ev);
	free(p->page);
	free(p);
	if (b->draining && b->npending == 0)
		event_base_loopexit(b->base, NULL);
}

static void
paced_send(evutil_socket_t fd, short what, void *arg)
{
	struct paced *p = arg;
	struct evbuffer *body = evbuffer_new();

	evbuffer_add(body, p->page, strlen(p->page));
	evhttp_add_header(evhttp_request_get_output_headers(p->req), "Content-Type",
	                  "text/html; charset=utf-8");
	evhttp_add_header(evhttp_request_get_output_headers(p->req), "X-Robots-Tag",
	                  "noindex, nofollow");
	evhttp_send_reply(p->req, 200, "OK", body);
	evbuffer_free(body);
	paced_free(p);
}

static int
peer_of(struct evhttp_request *req, struct netaddr *na)
{
	struct evhttp_connection *conn = evhttp_request_get_connection(req);
	const struct sockaddr *sa = conn ? evhttp_connection_get_addr(conn) : NULL;

	return sa != NULL ? netaddr_from_sockaddr(na, sa) : -1;
}

/*
 * forwarded_for - behind a reverse proxy of bait.proxy_from, the visitor is
 * the last address of X-Forwarded-For (the one that proxy added; the last
 * such header line, as if the lines were one list); from anywhere else the
 * header is the visitor's own word, and ignored. On success *na is the
 * visitor and via gets the proxy's address.
 */
static void
forwarded_for(const struct baitd *b, struct evhttp_request *req, struct netaddr *na,
              char *via, size_t viasz)
{
	const struct bait_conf *bc = &b->conf->bait;
	struct evkeyvalq *hdrs = evhttp_request_get_input_headers(req);
	const struct evkeyval *kv;
	const char *last = NULL;
	struct netaddr client;

	if (!conf_cidr_listed(bc->proxy_from, bc->nproxy_from, na))
		return;
	for (kv = TAILQ_FIRST(hdrs); kv != NULL; kv = TAILQ_NEXT(kv, next))
		if (strcasecmp(kv->key, "X-Forwarded-For") == 0)
			last = kv->value;
	if (last == NULL || forwarded_last(last, &client) == -1)
		return;
	netaddr_str(na, via, viasz);
	*na = client;
}

static void
handle(struct evhttp_request *req, void *arg)
{
	struct baitd *b = arg;
	const char *uri = evhttp_request_get_uri(req);
	struct netaddr na;
	char ip[NETADDR_STRLEN], via[NETADDR_STRLEN] = "";
	long pace = b->conf->limits.bait_pace_ms;

	if (peer_of(req, &na) == -1) {
		evhttp_send_error(req, 500, "Internal Server Error");
		return;
	}
	forwarded_for(b, req, &na, via, sizeof(via));
	netaddr_str(&na, ip, sizeof(ip));
	if (uri != NULL && strcmp(uri, "/robots.txt") == 0) {
		struct evbuffer *body = evbuffer_new();
		evbuffer_add(body, bait_robots_txt, strlen(bait_robots_txt));
		evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
		                  "text/plain");
		evhttp_send_reply(req, 200, "OK", body);
		evbuffer_free(body);
		return;
	}
	if (b->npending >= BAIT_PENDING_MAX) {
		evhttp_send_error(req, 503, "Service Unavailable");
		return;
	}
	time_t now = time(NULL);
	struct paced *p = xcalloc(1, sizeof(*p));
	p->b = b;
	p->req = req;
	p->page = bait_page(b->secret, &na, now, b->conf->bait.domain,
	                    (int)b->conf->limits.bait_addresses);
	if (p->page == NULL) {
		free(p);
		evhttp_send_error(req, 500, "Internal Server Error");
		return;
	}
	trapstore_seen(b->st, &na, now, trapstore_ttl(b->conf->limits.bait_max_age));
	log_info("bait page client=%s addresses=%ld%s%s", ip,
	         b->conf->limits.bait_addresses, via[0] != '\0' ? " proxy=" : "", via);
	p->ev = evtimer_new(b->base, paced_send, p);
	TAILQ_INSERT_TAIL(&b->pending, p, entry);
	b->npending++;
	struct timeval tv = {pace / 1000, (pace % 1000) * 1000};
	/* from now, not from when this loop pass began (libevent's cached
	 * time): the page must not come a few milliseconds early */
	event_base_update_cache_time(b->base);
	evtimer_add(p->ev, &tv);
}

/* ---- connections: a cap, a deadline ---- */

/* The listener's error callback gets evhttp's argument, not ours: a bait
 * process has one server, and this is it. */
static struct baitd *the_baitd;

/* One connection, known from its bufferevent's making to its end: evhttp
 * gives no hook for either in libevent 2.1. We hold a reference of our
 * own on each bufferevent evhttp uses; when evhttp frees one, its
 * callbacks are gone and ours is the last reference (conn_sweep). */
struct bconn {
	struct bufferevent *bev;
	struct event *deadline;
	TAILQ_ENTRY(bconn) entry;
};

static void
listener_update(struct baitd *b)
{
	struct evconnlistener *l;
	int full = b->nconns >= b->conf->limits.bait_conns_max;

	if (b->bound == NULL || (l = evhttp_bound_socket_get_listener(b->bound)) == NULL)
		return;
	if (full && !b->paused) {
		evconnlistener_disable(l);
		b->paused = 1;
	} else if (!full && b->paused && !evtimer_pending(b->resume_ev, NULL)) {
		evconnlistener_enable(l);
		b->paused = 0;
	}
}

/* conn_late - the whole request (and its paced answer) took too long: the
 * socket is shut, evhttp sees the end and lets the connection go */
static void
conn_late(evutil_socket_t fd, short what, void *arg)
{
	struct bconn *bc = arg;
	evutil_socket_t s = bufferevent_getfd(bc->bev);

	if (s != -1)
		shutdown(s, SHUT_RDWR);
}

static void
conn_drop(struct baitd *b, struct bconn *bc)
{
	TAILQ_REMOVE(&b->conns, bc, entry);
	event_free(bc->deadline);
	bufferevent_decref(bc->bev); /* the last reference: closes the socket */
	free(bc);
	b->nconns--;
}

/* conn_sweep - the connections evhttp is done with (their callbacks are
 * gone) end now; a few times a second, so a client hears the end of its
 * page a little later, which a bait site does not mind */
static void
conn_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct baitd *b = arg;
	struct bconn *bc, *next;
	bufferevent_event_cb ecb;

	for (bc = TAILQ_FIRST(&b->conns); bc != NULL; bc = next) {
		next = TAILQ_NEXT(bc, entry);
		bufferevent_getcb(bc->bev, NULL, NULL, &ecb, NULL);
		if (ecb == NULL)
			conn_drop(b, bc);
	}
	listener_update(b);
}

/* conn_made - evhttp accepted a connection and asks for its bufferevent */
static struct bufferevent *
conn_made(struct event_base *base, void *arg)
{
	struct baitd *b = arg;
	struct bconn *bc = xcalloc(1, sizeof(*bc));
	struct timeval tv = {b->conf->limits.bait_request_timeout +
	                         (b->conf->limits.bait_pace_ms + 999) / 1000,
	                     0};

	if ((bc->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE)) == NULL)
		fatalx("bait: bufferevent");
	bufferevent_incref(bc->bev);
	bc->deadline = evtimer_new(base, conn_late, bc);
	evtimer_add(bc->deadline, &tv);
	TAILQ_INSERT_TAIL(&b->conns, bc, entry);
	b->nconns++;
	listener_update(b);
	return bc->bev;
}

static void
accept_resume(evutil_socket_t fd, short what, void *arg)
{
	struct baitd *b = arg;

	if (b->bound == NULL)
		return;
	b->paused = 1; /* listener_update() decides with the count */
	evconnlistener_enable(evhttp_bound_socket_get_listener(b->bound));
	b->paused = 0;
	listener_update(b);
}

/* accept_error - EMFILE and the like: pause (100 ms, doubling to 3.2 s)
 * instead of spinning on the connection that stays in the backlog; log at
 * most once a second */
static void
accept_error(struct evconnlistener *l, void *arg)
{
	struct baitd *b = the_baitd; /* arg is evhttp's own */
	int err = EVUTIL_SOCKET_ERROR();
	time_t now = time(NULL);

	b->accept_pause_ms = b->accept_pause_ms == 0 ? 100 : b->accept_pause_ms * 2;
	if (b->accept_pause_ms > 3200)
		b->accept_pause_ms = 3200;
	if (now != b->accept_logged) {
		b->accept_logged = now;
		log_warnx("bait: accept: %s; pausing %ld ms", strerror(err),
		          b->accept_pause_ms);
	}
	evconnlistener_disable(l);
	b->paused = 1;
	struct timeval tv = {b->accept_pause_ms / 1000,
	                     (b->accept_pause_ms % 1000) * 1000};
	evtimer_add(b->resume_ev, &tv);
}

struct baitd *
baitd_new(struct event_base *base, const struct moat_conf *conf,
          const struct trap_secret *secret, struct store *st, int fd)
{
	struct baitd *b = xcalloc(1, sizeof(*b));

	b->base = base;
	b->conf = conf;
	b->secret = secret;
	b->st = st;
	TAILQ_INIT(&b->pending);
	b->http = evhttp_new(base);
	if (b->http == NULL)
		fatalx("bait: evhttp_new");
	/* small limits: a bait site has nothing big to receive */
	evhttp_set_max_headers_size(b->http, (size_t)conf->limits.bait_request_max);
	evhttp_set_max_body_size(b->http, 1024);
	evhttp_set_timeout(b->http, (int)conf->limits.bait_request_timeout);
	evhttp_set_allowed_methods(b->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_gencb(b->http, handle, b);
	evhttp_set_bevcb(b->http, conn_made, b);
	b->resume_ev = evtimer_new(base, accept_resume, b);
	TAILQ_INIT(&b->conns);
	b->sweep_ev = event_new(base, -1, EV_PERSIST, conn_sweep, b);
	struct timeval stv = {0, 250000};
	event_add(b->sweep_ev, &stv);
	the_baitd = b;
	if ((b->bound = evhttp_accept_socket_with_handle(b->http, fd)) == NULL)
		fatalx("bait: cannot serve on %s", log_escape_str(conf->bait.listen));
	evconnlistener_set_error_cb(evhttp_bound_socket_get_listener(b->bound),
	                            accept_error);
	return b;
}

void
baitd_drain(struct baitd *b)
{
	b->draining = 1;
	if (b->bound != NULL)
		evhttp_del_accept_socket(b->http, b->bound);
	b->bound = NULL;
	if (b->npending == 0)
		event_base_loopexit(b->base, NULL);
}

void
baitd_free(struct baitd *b)
{
	struct paced *p;

	if (b == NULL)
		return;
	b->draining = 0;
	while ((p = TAILQ_FIRST(&b->pending)) != NULL) {
		evhttp_send_error(p->req, 503, "Service Unavailable");
		paced_free(p);
	}
	b->bound = NULL;
	evhttp_free(b->http);
	while (!TAILQ_EMPTY(&b->conns))
		conn_drop(b, TAILQ_FIRST(&b->conns));
	event_free(b->sweep_ev);
	event_free(b->resume_ev);
	the_baitd = NULL;
	free(b);
}
