/* SPDX-License-Identifier: ISC */
/*
 * resolver.c - c-ares driven by libevent.
 *
 * c-ares tells us which sockets to watch (ARES_OPT_SOCK_STATE_CB); we keep a
 * libevent event per socket and one timer for c-ares' own timeouts.
 * SECURITY: DNS answers are untrusted; only c-ares parses them, and names we
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

#include "common/log.h"
#include "common/mailaddr.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "dns/resolver.h"

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
	int ok;
};

struct dns_req {
	struct resolver *r;
	int cancelled;
	int pending; /* c-ares queries still outstanding for this request */
	dns_query_cb qcb;
	dns_rdns_cb rcb;
	void *arg;
	/* reverse DNS state */
	struct netaddr addr;
	char name[MAILADDR_DOMAIN_MAX + 1];
	int confirmed;
	enum dns_status fwd_status;
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
	mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES |
	       ARES_OPT_FLAGS | ARES_OPT_LOOKUPS | ARES_OPT_EDNSPSZ;
	if ((rc = ares_init_options(&r->chan, &opts, mask)) != ARES_SUCCESS)
		fatalx("dns: ares_init_options: %s", ares_strerror(rc));
	if (conf->ndns_servers > 0) {
		char csv[1024] = "";
		for (size_t i = 0; i < conf->ndns_servers; i++) {
			if (i > 0)
				strlcat(csv, ",", sizeof(csv));
			strlcat(csv, conf->dns_servers[i], sizeof(csv));
		}
		if ((rc = ares_set_servers_ports_csv(r->chan, csv)) != ARES_SUCCESS)
			fatalx("dns: servers \"%s\": %s", csv, ares_strerror(rc));
	}
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

/*
 * req_release - drop one reference. A request holds one per c-ares query in
 * flight plus one for its submitter while ares_query() runs, because c-ares
 * may call back before ares_query() returns.
 */
static int
req_release(struct dns_req *req)
{
	if (--req->pending == 0) {
		free(req);
		return 1;
	}
	return 0;
}

static void
query_done(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct dns_req *req = arg;
	dns_query_cb cb = req->qcb;

	req->qcb = NULL;
	if (!req->cancelled && cb != NULL)
		cb(req->arg, map_status(status), abuf, alen);
	req_release(req);
}

struct dns_req *
dns_query(struct resolver *r, const char *name, int type, dns_query_cb cb, void *arg)
{
	struct dns_req *req = xcalloc(1, sizeof(*req));

	req->r = r;
	req->qcb = cb;
	req->arg = arg;
	req->pending = 2;
	ares_query(r->chan, name, ns_c_in, type, query_done, req);
	resolver_rearm(r);
	/* Freed here if c-ares answered at once (bad name, no servers). */
	return req_release(req) ? NULL : req;
}

void
dns_cancel(struct dns_req *req)
{
	if (req == NULL)
		return;
	/* The callback will not run; c-ares' reference frees the request. */
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

static void
rdns_finish(struct dns_req *req, enum dns_status st, const char *name)
{
	dns_rdns_cb cb = req->rcb;
	req->rcb = NULL;
	if (!req->cancelled && cb != NULL)
		cb(req->arg, st, name);
}

/* fwd_done - does the PTR name resolve back to the client address? */
static void
fwd_done(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct dns_req *req = arg;

	if (status == ARES_SUCCESS && !req->cancelled) {
		if (req->addr.family == AF_INET) {
			struct ares_addrttl ttls[32];
			int n = 32;
			if (ares_parse_a_reply(abuf, alen, NULL, ttls, &n) ==
			    ARES_SUCCESS)
				for (int i = 0; i < n; i++)
					if (memcmp(&ttls[i].ipaddr, req->addr.addr, 4) ==
					    0)
						req->confirmed = 1;
		} else {
			struct ares_addr6ttl ttls[32];
			int n = 32;
			if (ares_parse_aaaa_reply(abuf, alen, NULL, ttls, &n) ==
			    ARES_SUCCESS)
				for (int i = 0; i < n; i++)
					if (memcmp(&ttls[i].ip6addr, req->addr.addr,
					           16) == 0)
						req->confirmed = 1;
		}
	}
	if (req->confirmed)
		rdns_finish(req, DNS_OK, req->name);
	else if (map_status(status) == DNS_TEMPFAIL)
		rdns_finish(req, DNS_TEMPFAIL, NULL);
	else
		rdns_finish(req, DNS_NODATA, NULL);
	req_release(req);
}

static void
ptr_done(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct dns_req *req = arg;
	struct hostent *he = NULL;

	if (req->cancelled) {
		req_release(req);
		return;
	}
	if (status != ARES_SUCCESS) {
		rdns_finish(req, map_status(status), NULL);
		req_release(req);
		return;
	}
	if (ares_parse_ptr_reply(abuf, alen, req->addr.addr,
	                         req->addr.family == AF_INET ? 4 : 16, req->addr.family,
	                         &he) != ARES_SUCCESS ||
	    he == NULL || he->h_name == NULL ||
	    !domain_valid(he->h_name, strlen(he->h_name))) {
		if (he != NULL)
			ares_free_hostent(he);
		rdns_finish(req, DNS_NODATA, NULL);
		req_release(req);
		return;
	}
	strlcpy(req->name, he->h_name, sizeof(req->name));
	ares_free_hostent(he);
	/* The PTR query's reference passes to the forward query. */
	ares_query(req->r->chan, req->name, ns_c_in,
	           req->addr.family == AF_INET ? ns_t_a : ns_t_aaaa, fwd_done, req);
}

struct dns_req *
dns_rdns(struct resolver *r, const struct netaddr *na, dns_rdns_cb cb, void *arg)
{
	char rev[128];
	struct dns_req *req;

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
	req = xcalloc(1, sizeof(*req));
	req->r = r;
	req->rcb = cb;
	req->arg = arg;
	req->addr = *na;
	req->pending = 2;
	ares_query(r->chan, rev, ns_c_in, ns_t_ptr, ptr_done, req);
	resolver_rearm(r);
	return req_release(req) ? NULL : req;
}
