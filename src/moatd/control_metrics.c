/* SPDX-License-Identifier: ISC */
/*
 * control_metrics.c - GET /metrics on metrics_listen, in the control
 * process: the Prometheus text exposition (version 0.0.4) of the counters
 * the workers and the queue runner flush to the store every second
 * ("stat:" and "metric:" keys), and of the gauges read at each scrape:
 * open sessions ("sessions:" shares), bans, stress, the queue's size and
 * the age of its oldest message (from the queue ids, which begin with the
 * arrival time).
 *
 * The master binds the socket as root; this process serves it with evhttp
 * and common/httpbound.c's bounds: at most metrics_conns_max connections,
 * metrics_request_timeout seconds each, a head of at most
 * metrics_request_max octets, no body, GET and HEAD only; at most
 * METRICS_PENDING_MAX scrapes read the store at once (more get 503). Any
 * other path gets 404, logged once with the client and the (escaped) URI.
 * SECURITY: HTTP requests are untrusted: evhttp parses them within those
 * limits; we look at the path only and never echo request text. Stored
 * keys are printed only in the shapes metrics_render.c checks.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "common/httpbound.h"
#include "common/log.h"
#include "common/netaddr.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "metrics/metrics.h"
#include "metrics/promtext.h"
#include "moatd/control_int.h"
#include "queue/envelope.h"
#include "store/store.h"

#define METRICS_PENDING_MAX 4 /* scrapes reading the store at once */

struct scrape {
	struct ctl_metrics *cm;
	struct evhttp_request *req;
	struct metrics_snapshot snap;
	int holds;  /* store scans still running */
	int failed; /* one of them failed */
	TAILQ_ENTRY(scrape) entry;
};

struct ctl_metrics {
	struct control *ctl;
	struct evhttp *http;
	struct httpbound *hb;
	TAILQ_HEAD(, scrape) pending;
	int npending;
};

/* ---- the gauges that are not in the store ---- */

/* queue_gauges - the messages in spool_dir/queue and the oldest one's age */
static void
queue_gauges(struct control *ctl, struct metrics_snapshot *s)
{
	char oldest[QID_LEN + 1] = "";
	struct dirent *de;
	DIR *dir;
	int fd;
	long n = 0;

	if (ctl->queue_dirfd == -1 || (fd = dup(ctl->queue_dirfd)) == -1)
		return;
	if ((dir = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	rewinddir(dir);
	while ((de = readdir(dir)) != NULL) {
		if (!qid_valid(de->d_name, strlen(de->d_name)))
			continue;
		n++;
		if (oldest[0] == '\0' || strcmp(de->d_name, oldest) < 0)
			strlcpy(oldest, de->d_name, sizeof(oldest));
	}
	closedir(dir);
	s->gauges[M_QUEUE_MESSAGES] = n;
	if (n > 0) {
		/* the id's first 8 hex digits: the arrival, in Unix seconds */
		char hex[9];
		memcpy(hex, oldest, 8);
		hex[8] = '\0';
		long long arrival = strtoll(hex, NULL, 16);
		long long age = (long long)time(NULL) - arrival;
		s->gauges[M_QUEUE_OLDEST] = age > 0 ? age : 0;
	}
}

/* ---- one scrape ---- */

static void
scrape_free(struct scrape *sc)
{
	TAILQ_REMOVE(&sc->cm->pending, sc, entry);
	sc->cm->npending--;
	metrics_snapshot_free(&sc->snap);
	free(sc);
}

/* scrape_answer - every scan is in: the exposition, or 503 */
static void
scrape_answer(struct scrape *sc)
{
	struct evbuffer *body;
	struct promtext pt;

	if (sc->failed) {
		log_warnx("control: metrics: the state store failed; answered 503");
		evhttp_send_error(sc->req, 503, "Service Unavailable");
		scrape_free(sc);
		return;
	}
	queue_gauges(sc->cm->ctl, &sc->snap);
	promtext_init(&pt);
	metrics_render(&sc->snap, &pt);
	body = evbuffer_new();
	if (body == NULL)
		fatalx("control: out of memory");
	evbuffer_add(body, pt.buf, pt.len);
	promtext_free(&pt);
	evhttp_add_header(evhttp_request_get_output_headers(sc->req), "Content-Type",
	                  "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(sc->req, 200, "OK", body);
	evbuffer_free(body);
	scrape_free(sc);
}

static void
scan_done(enum store_status st, void *arg)
{
	struct scrape *sc = arg;

	if (st != STORE_OK)
		sc->failed = 1;
	if (--sc->holds == 0)
		scrape_answer(sc);
}

/* counter_each - a "stat:" or "metric:" counter */
static int
counter_each(const char *key, const void *val, size_t len, time_t expires, void *arg)
{
	struct scrape *sc = arg;

	metrics_snapshot_add(&sc->snap, key, ctl_count(val, len));
	return 0;
}

/* sessions_each - one worker's open sessions */
static int
sessions_each(const char *key, const void *val, size_t len, time_t expires, void *arg)
{
	struct scrape *sc = arg;

	sc->snap.gauges[M_SESSIONS_OPEN] += ctl_count(val, len);
	return 0;
}

static int
ban_each(const char *key, const void *val, size_t len, time_t expires, void *arg)
{
	struct scrape *sc = arg;

	sc->snap.gauges[M_BANS]++;
	return 0;
}

/* stress_each - a worker under stress: the gauge is 1 */
static int
stress_each(const char *key, const void *val, size_t len, time_t expires, void *arg)
{
	struct scrape *sc = arg;

	sc->snap.gauges[M_STRESS] = 1;
	return 0;
}

/* peer - the client's address, for the log */
static const char *
peer(struct evhttp_request *req, char *buf, size_t bufsz)
{
	struct evhttp_connection *conn = evhttp_request_get_connection(req);
	const struct sockaddr *sa =
	    conn != NULL ? evhttp_connection_get_addr(conn) : NULL;
	struct netaddr na;

	if (sa == NULL || netaddr_from_sockaddr(&na, sa) == -1)
		return "-";
	return netaddr_str(&na, buf, bufsz);
}

/* is_metrics - the request's path is /metrics (a query string is ignored) */
static int
is_metrics(struct evhttp_request *req)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;

	return path != NULL && strcmp(path, "/metrics") == 0;
}

static void
handle(struct evhttp_request *req, void *arg)
{
	struct ctl_metrics *cm = arg;
	struct store *st = cm->ctl->store;
	struct scrape *sc;
	char ip[NETADDR_STRLEN];
	static const struct {
		const char *prefix;
		store_scan_each *each;
	} scans[] = {
	    {"stat:", counter_each},      {"metric:", counter_each},
	    {"sessions:", sessions_each}, {"ban:", ban_each},
	    {"stress:", stress_each},
	};

	/* one line per request that is not a scrape: scrapes come every few
	 * seconds and would drown the log */
	if (!is_metrics(req)) {
		log_info("control metrics client=%s status=404 uri=%s",
		         peer(req, ip, sizeof(ip)),
		         log_escape_str(evhttp_request_get_uri(req)));
		evhttp_send_error(req, 404, "Not Found");
		return;
	}
	if (st == NULL || cm->npending >= METRICS_PENDING_MAX) {
		log_warnx("control metrics client=%s status=503 reason=%s",
		          peer(req, ip, sizeof(ip)), st == NULL ? "no-store" : "busy");
		evhttp_send_error(req, 503, "Service Unavailable");
		return;
	}
	sc = xcalloc(1, sizeof(*sc));
	sc->cm = cm;
	sc->req = req;
	TAILQ_INSERT_TAIL(&cm->pending, sc, entry);
	cm->npending++;
	/* the store answers from the loop, never inside store_scan() */
	for (size_t i = 0; i < sizeof(scans) / sizeof(scans[0]); i++) {
		sc->holds++;
		store_scan(st, scans[i].prefix, scans[i].each, scan_done, sc);
	}
}

/* ---- the server ---- */

void
control_metrics(struct control *ctl, int fd)
{
	struct ctl_metrics *cm = xcalloc(1, sizeof(*cm));

	cm->ctl = ctl;
	TAILQ_INIT(&cm->pending);
	if ((cm->http = evhttp_new(ctl->base)) == NULL)
		fatalx("control: evhttp_new");
	const struct moat_limits *lim = &ctl->conf->limits;
	evhttp_set_max_headers_size(cm->http, (size_t)lim->metrics_request_max);
	evhttp_set_max_body_size(cm->http, 0);
	evhttp_set_timeout(cm->http, (int)lim->metrics_request_timeout);
	evhttp_set_allowed_methods(cm->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_gencb(cm->http, handle, cm);
	cm->hb = httpbound_new(ctl->base, cm->http, fd, (int)lim->metrics_conns_max,
	                       lim->metrics_request_timeout, "metrics");
	if (cm->hb == NULL)
		fatalx("control: cannot serve metrics on %s",
		       log_escape_str(ctl->conf->metrics_listen));
	ctl->metrics = cm;
}

void
ctl_metrics_stop(struct ctl_metrics *cm)
{
	if (cm != NULL)
		httpbound_stop(cm->hb);
}

void
ctl_metrics_free(struct ctl_metrics *cm)
{
	struct scrape *sc;

	if (cm == NULL)
		return;
	while ((sc = TAILQ_FIRST(&cm->pending)) != NULL) {
		evhttp_send_error(sc->req, 503, "Service Unavailable");
		scrape_free(sc);
	}
	evhttp_free(cm->http);
	httpbound_free(cm->hb);
	free(cm);
}
