/* SPDX-License-Identifier: ISC */
/*
 * httpd.c - the bait web server, in a process of its own (moatd/bait): it
 * holds the listener, the trap secret and the store, nothing else, and with
 * chroot = true it lives in run_dir/empty.
 *
 * Responses are held for bait_pace_ms on a timer (not a worker), and at
 * most BAIT_PENDING_MAX at a time: beyond that a crawler gets 503 at once,
 * so a flood cannot make us hold unbounded memory. At most bait_conns_max
 * connections are open, each for at most bait_request_timeout plus the
 * pace, with a head of at most bait_request_max octets; when accept fails
 * for want of descriptors the listener pauses (common/httpbound.c, shared
 * with the metrics endpoint). On reload the old process stops accepting
 * and leaves once its held pages are out.
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
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "bait/forwarded.h"
#include "bait/httpd.h"
#include "bait/page.h"
#include "bait/trapstore.h"
#include "common/httpbound.h"
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
	struct httpbound *hb; /* the connection cap and deadline */
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
	/* the whole request and its paced answer */
	b->hb = httpbound_new(base, b->http, fd, (int)conf->limits.bait_conns_max,
	                      conf->limits.bait_request_timeout +
	                          (conf->limits.bait_pace_ms + 999) / 1000,
	                      "bait");
	if (b->hb == NULL)
		fatalx("bait: cannot serve on %s", log_escape_str(conf->bait.listen));
	return b;
}

void
baitd_drain(struct baitd *b)
{
	b->draining = 1;
	httpbound_stop(b->hb);
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
	evhttp_free(b->http);
	httpbound_free(b->hb);
	free(b);
}
