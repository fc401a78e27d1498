/* SPDX-License-Identifier: ISC */
/*
 * resolver.c - c-ares driven by libevent.
 *
 * c-ares tells us which sockets to watch (ARES_OPT_SOCK_STATE_CB); we keep a
 * libevent event per socket and one timer for c-ares' own timeouts.
 * Queries are built here (ares_create_query) and sent raw (ares_send), as
 * ares_query() does, so that with dns_validating they can carry the AD bit:
 * RFC 6840 §5.7, a validating resolver then says in its answer's AD bit
 * whether the answer is secure (DANE, RFC 7672 §2.1).
 * SECURITY: DNS answers are untrusted; c-ares parses them (here only the
 * header's RCODE and ANCOUNT are read, after a length check), and names we
 * keep are checked with domain_valid() before use.
 */
#include <ares.h>
#include <arpa/nameser.h>
#include <event2/event.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/mailaddr.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "dns/dnscache.h"
#include "dns/resolver.h"
#include "dns/tlsa.h"
#include "metrics/metrics.h"

#define MAX_SOCKS 16

struct dns_sock {
	ares_socket_t fd;
	struct event *ev;
};

struct resolver {
	struct event_base *base;
	ares_channel chan;
	struct event *timer;
	struct dns_sock socks[MAX_SOCKS];
	struct dnscache *cache;
	int ok;
	int validating; /* the servers validate DNSSEC: their AD bit counts */
	int edns_size;  /* our EDNS0 UDP payload size (ARES_FLAG_EDNS) */
};

struct dns_req {
	struct resolver *r;
	int cancelled;
	int refs;       /* c-ares (or the loop event), and the submitter */
	int submitting; /* inside ares_send(): an answer now must wait for the loop */
	dns_query_cb cb;
	void *arg;
	char name[MAILADDR_DOMAIN_MAX + 1];
	int type;
	int64_t t0_us; /* when it went to c-ares (the DNS latency metric) */
	/* an answer delivered from the event loop: cached, or given by c-ares
	 * before ares_send() returned */
	struct event *ev;
	int status;
	unsigned char *abuf;
	int alen;
};

struct dns_rdns {
	struct resolver *r;
	dns_rdns_cb cb;
	void *arg;
	struct netaddr addr;
	char name[MAILADDR_DOMAIN_MAX + 1];
	int cancelled;
};

static void resolver_rearm(struct resolver *r);

static void
sock_cb(evutil_socket_t fd, short what, void *arg)
{
	struct resolver *r = arg;
	ares_process_fd(r->chan, (what & EV_READ) ? fd : ARES_SOCKET_BAD,
	                (what & EV_WRITE) ? fd : ARES_SOCKET_BAD);
	resolver_rearm(r);
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct resolver *r = arg;
	ares_process_fd(r->chan, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	resolver_rearm(r);
}

static void
resolver_rearm(struct resolver *r)
{
	struct timeval tv, *tvp;

	tvp = ares_timeout(r->chan, NULL, &tv);
	if (tvp != NULL)
		evtimer_add(r->timer, tvp);
	else
		evtimer_del(r->timer);
}

static void
sock_state_cb(void *data, ares_socket_t fd, int readable, int writable)
{
	struct resolver *r = data;
	struct dns_sock *s = NULL, *free_slot = NULL;

	for (int i = 0; i < MAX_SOCKS; i++) {
		if (r->socks[i].ev != NULL && r->socks[i].fd == fd)
			s = &r->socks[i];
		else if (r->socks[i].ev == NULL && free_slot == NULL)
			free_slot = &r->socks[i];
	}
	if (s != NULL) {
		event_free(s->ev);
		s->ev = NULL;
	}
	if (!readable && !writable)
		return;
	if (s == NULL)
		s = free_slot;
	if (s == NULL) {
		log_warnx("dns: too many resolver sockets");
		return;
	}
	s->fd = fd;
	s->ev =
	    event_new(r->base, fd,
	              (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0) | EV_PERSIST,
	              sock_cb, r);
	event_add(s->ev, NULL);
}

struct resolver *
resolver_new(struct event_base *base, const struct moat_conf *conf)
{
	struct resolver *r = xcalloc(1, sizeof(*r));
	struct ares_options opts;
	int mask, rc;
	char lookups[] = "b"; /* DNS only: never /etc/hosts */

	r->base = base;
	r->timer = evtimer_new(base, timer_cb, r);
	memset(&opts, 0, sizeof(opts));
	opts.sock_state_cb = sock_state_cb;
	opts.sock_state_cb_data = r;
	opts.timeout = (int)conf->limits.dns_timeout_ms;
	opts.tries = (int)conf->limits.dns_attempts;
	opts.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES | ARES_FLAG_EDNS;
	opts.lookups = lookups;
	opts.ednspsz = 1232;
	r->edns_size = opts.ednspsz;
	r->validating = conf->dns_validating;
	mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES |
	       ARES_OPT_FLAGS | ARES_OPT_LOOKUPS | ARES_OPT_EDNSPSZ;
	if ((rc = ares_init_options(&r->chan, &opts, mask)) != ARES_SUCCESS)
		fatalx("dns: ares_init_options: %s", ares_strerror(rc));
	if (conf->ndns_servers > 0) {
		char csv[1024] = "";
		for (size_t i = 0; i < conf->ndns_servers; i++) {
			/* A server dropped from the list would be a silent surprise. */
			if ((i > 0 && strlcat(csv, ",", sizeof(csv)) >= sizeof(csv)) ||
			    strlcat(csv, conf->dns_servers[i], sizeof(csv)) >=
			        sizeof(csv))
				fatalx("dns: too many dns_servers (%zu octets at most)",
				       sizeof(csv));
		}
		if ((rc = ares_set_servers_ports_csv(r->chan, csv)) != ARES_SUCCESS)
			fatalx("dns: servers %s: %s", log_escape_str(csv),
			       ares_strerror(rc));
	}
	r->cache = dnscache_new((size_t)conf->limits.dns_cache_max);
	r->ok = 1;
	return r;
}

void
resolver_free(struct resolver *r)
{
	if (r == NULL)
		return;
	ares_destroy(r->chan);
	for (int i = 0; i < MAX_SOCKS; i++)
		if (r->socks[i].ev != NULL)
			event_free(r->socks[i].ev);
	event_free(r->timer);
	dnscache_free(r->cache);
	free(r);
}

static enum dns_status
map_status(int status)
{
	switch (status) {
	case ARES_SUCCESS:
		return DNS_OK;
	case ARES_ENOTFOUND:
		return DNS_NXDOMAIN;
	case ARES_ENODATA:
		return DNS_NODATA;
	default:
		return DNS_TEMPFAIL;
	}
}

static int
req_release(struct dns_req *req)
{
	if (--req->refs > 0)
		return 0;
	if (req->ev != NULL)
		event_free(req->ev);
	free(req->abuf);
	free(req);
	return 1;
}

static void loop_cb(evutil_socket_t fd, short what, void *arg);

/* answer_later - keep an answer and deliver it from the event loop */
static void
answer_later(struct dns_req *req, int status, const unsigned char *abuf, int alen)
{
	struct timeval now = {0, 0};

	req->status = status;
	req->alen = abuf != NULL && alen > 0 ? alen : 0;
	req->abuf = xmalloc(req->alen > 0 ? (size_t)req->alen : 1);
	if (req->alen > 0)
		memcpy(req->abuf, abuf, (size_t)req->alen);
	req->ev = evtimer_new(req->r->base, loop_cb, req);
	evtimer_add(req->ev, &now);
}

/*
 * rcode_status - an answer's status as ares_query() gives it: the header's
 * RCODE, and NOERROR without answers is ARES_ENODATA
 */
static int
rcode_status(int status, const unsigned char *abuf, int alen)
{
	if (status != ARES_SUCCESS || abuf == NULL || alen < HFIXEDSZ)
		return status == ARES_SUCCESS ? ARES_EBADRESP : status;
	switch (abuf[3] & 0x0f) {
	case ns_r_noerror:
		return (abuf[6] << 8 | abuf[7]) > 0 ? ARES_SUCCESS : ARES_ENODATA;
	case ns_r_formerr:
		return ARES_EFORMERR;
	case ns_r_servfail:
		return ARES_ESERVFAIL;
	case ns_r_nxdomain:
		return ARES_ENOTFOUND;
	case ns_r_notimpl:
		return ARES_ENOTIMP;
	case ns_r_refused:
		return ARES_EREFUSED;
	default:
		return ARES_EBADRESP;
	}
}

static void
query_done(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct dns_req *req = arg;
	enum dns_status st;

	status = rcode_status(status, abuf, alen);
	st = map_status(status);

	/* a query that ended, answered or not; not one cut short at exit */
	if (status != ARES_EDESTRUCTION)
		metrics_observe(M_DNS_SECONDS, clock_mono_us() - req->t0_us);
	/* Only real answers are kept; trouble must be asked again. */
	if (st != DNS_TEMPFAIL && status != ARES_EDESTRUCTION)
		dnscache_put(req->r->cache, req->name, req->type, (int)st, abuf, alen,
		             st == DNS_OK ? dnscache_ttl(abuf, alen, req->type, 300)
		                          : DNSCACHE_NEG_TTL,
		             time(NULL));
	/*
	 * c-ares answers some queries inside ares_send() (no servers), and
	 * ares_create_query() refuses some: names it must not send (".onion",
	 * RFC 7686 §2), a name it cannot encode.
	 * The caller is still in dns_query() then and has not stored the
	 * request; a callback now could free what the caller writes next (a
	 * PTR naming x.onion did, before the greeting). Such an answer waits
	 * for the loop, like a cached one; c-ares' reference moves to the event.
	 */
	if (req->submitting) {
		answer_later(req, (int)st, abuf, alen);
		return;
	}
	if (!req->cancelled)
		req->cb(req->arg, st, abuf, alen);
	req_release(req);
}

/* loop_cb - deliver a kept answer (cached, or given during ares_send) */
static void
loop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dns_req *req = arg;

	if (!req->cancelled)
		req->cb(req->arg, (enum dns_status)req->status, req->abuf, req->alen);
	req_release(req);
}

/*
 * send_query - what ares_query() does, with the AD bit set when the
 * servers validate. The ID is ours to choose with ares_send(): an
 * unpredictable one, as c-ares' own (RFC 5452 §9.2).
 */
static void
send_query(struct resolver *r, const char *name, int type, struct dns_req *req)
{
	unsigned char *qbuf = NULL;
	int qlen, rc;

	rc = ares_create_query(name, ns_c_in, type,
	                       (unsigned short)arc4random_uniform(65536), 1, &qbuf, &qlen,
	                       r->edns_size);
	if (rc != ARES_SUCCESS) {
		/* ".onion" (RFC 7686 §2) or a name it cannot encode */
		if (qbuf != NULL)
			ares_free_string(qbuf);
		query_done(req, rc, 0, NULL, 0);
		return;
	}
	if (r->validating && qlen >= HFIXEDSZ)
		qbuf[3] |= 0x20; /* AD: tell us whether you validated it */
	ares_send(r->chan, qbuf, qlen, query_done, req);
	ares_free_string(qbuf);
}

int
dns_secure(const struct resolver *r, const unsigned char *abuf, int alen)
{
	return r->validating && alen > 0 && dns_answer_ad(abuf, (size_t)alen);
}

int
resolver_validating(const struct resolver *r)
{
	return r->validating;
}

struct dns_req *
dns_query(struct resolver *r, const char *name, int type, dns_query_cb cb, void *arg)
{
	struct dns_req *req = xcalloc(1, sizeof(*req));
	struct timeval now = {0, 0};

	req->r = r;
	req->cb = cb;
	req->arg = arg;
	req->type = type;
	req->refs = 2;
	strlcpy(req->name, name, sizeof(req->name));
	if (dnscache_get(r->cache, name, type, time(NULL), &req->status, &req->abuf,
	                 &req->alen)) {
		/* A cached answer still comes from the loop, like any other. */
		req->ev = evtimer_new(r->base, loop_cb, req);
		evtimer_add(req->ev, &now);
	} else {
		req->submitting = 1;
		req->t0_us = clock_mono_us();
		send_query(r, name, type, req);
		req->submitting = 0;
		resolver_rearm(r);
	}
	/* The loop holds the other reference: never freed here. */
	req_release(req);
	return req;
}

void
dns_cancel(struct dns_req *req)
{
	/* The callback will not run; the pending reference frees it. */
	if (req != NULL)
		req->cancelled = 1;
}

int
dns_reverse_name(const struct netaddr *na, const char *suffix, char *buf, size_t bufsz)
{
	size_t n = 0;
	int ret;

	if (na->family == AF_INET) {
		ret =
		    snprintf(buf, bufsz, "%u.%u.%u.%u.%s", na->addr[3], na->addr[2],
		             na->addr[1], na->addr[0], suffix ? suffix : "in-addr.arpa");
		return ret < 0 || (size_t)ret >= bufsz ? -1 : 0;
	}
	static const char hex[] = "0123456789abcdef";
	if (bufsz < 64 + 1)
		return -1;
	for (int i = 15; i >= 0; i--) {
		buf[n++] = hex[na->addr[i] & 0xf];
		buf[n++] = '.';
		buf[n++] = hex[na->addr[i] >> 4];
		buf[n++] = '.';
	}
	ret = snprintf(buf + n, bufsz - n, "%s", suffix ? suffix : "ip6.arpa");
	return ret < 0 || (size_t)ret >= bufsz - n ? -1 : 0;
}

/* rdns_finish - report (unless cancelled) and free */
static void
rdns_finish(struct dns_rdns *q, enum dns_status st, const char *name)
{
	if (!q->cancelled)
		q->cb(q->arg, st, name);
	free(q);
}

/* fwd_done - does the PTR name resolve back to the client address? */
static void
fwd_done(void *arg, enum dns_status st, const unsigned char *abuf, int alen)
{
	struct dns_rdns *q = arg;
	int confirmed = 0;

	if (st == DNS_OK && q->addr.family == AF_INET) {
		struct ares_addrttl ttls[32];
		int n = 32;
		if (ares_parse_a_reply(abuf, alen, NULL, ttls, &n) == ARES_SUCCESS)
			for (int i = 0; i < n; i++)
				if (memcmp(&ttls[i].ipaddr, q->addr.addr, 4) == 0)
					confirmed = 1;
	} else if (st == DNS_OK) {
		struct ares_addr6ttl ttls[32];
		int n = 32;
		if (ares_parse_aaaa_reply(abuf, alen, NULL, ttls, &n) == ARES_SUCCESS)
			for (int i = 0; i < n; i++)
				if (memcmp(&ttls[i].ip6addr, q->addr.addr, 16) == 0)
					confirmed = 1;
	}
	if (confirmed)
		rdns_finish(q, DNS_OK, q->name);
	else
		rdns_finish(q, st == DNS_TEMPFAIL ? DNS_TEMPFAIL : DNS_NODATA, NULL);
}

static void
ptr_done(void *arg, enum dns_status st, const unsigned char *abuf, int alen)
{
	struct dns_rdns *q = arg;
	struct hostent *he = NULL;

	if (q->cancelled) {
		free(q);
		return;
	}
	if (st != DNS_OK) {
		rdns_finish(q, st, NULL);
		return;
	}
	if (ares_parse_ptr_reply(abuf, alen, q->addr.addr,
	                         q->addr.family == AF_INET ? 4 : 16, q->addr.family,
	                         &he) != ARES_SUCCESS ||
	    he == NULL || he->h_name == NULL ||
	    !domain_valid(he->h_name, strlen(he->h_name))) {
		if (he != NULL)
			ares_free_hostent(he);
		rdns_finish(q, DNS_NODATA, NULL);
		return;
	}
	strlcpy(q->name, he->h_name, sizeof(q->name));
	ares_free_hostent(he);
	/* q belongs to fwd_done() from here on: not touched after the call. */
	dns_query(q->r, q->name, q->addr.family == AF_INET ? ns_t_a : ns_t_aaaa, fwd_done,
	          q);
}

struct dns_rdns *
dns_rdns(struct resolver *r, const struct netaddr *na, dns_rdns_cb cb, void *arg)
{
	char rev[128];
	struct dns_rdns *q;

	switch (netaddr_special(na)) {
	case NA_LOOPBACK:
		cb(arg, DNS_OK, "localhost");
		return NULL;
	case NA_SPECIAL:
		cb(arg, DNS_NODATA, NULL);
		return NULL;
	case NA_GLOBAL:
		break;
	}
	if (dns_reverse_name(na, NULL, rev, sizeof(rev)) == -1) {
		cb(arg, DNS_NODATA, NULL);
		return NULL;
	}
	q = xcalloc(1, sizeof(*q));
	q->r = r;
	q->cb = cb;
	q->arg = arg;
	q->addr = *na;
	/* dns_query() never calls back before it returns: q is still ours. */
	dns_query(r, rev, ns_t_ptr, ptr_done, q);
	return q;
}

void
dns_rdns_cancel(struct dns_rdns *q)
{
	if (q == NULL)
		return;
	/* Its query still completes; the callback sees the flag and frees. */
	q->cancelled = 1;
}
