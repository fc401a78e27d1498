/* SPDX-License-Identifier: ISC */
/*
 * mtasts_fetch.c - MTA-STS policy fetches over HTTPS (RFC 8461 §3.3) with
 * libcurl's multi interface driven by libevent: curl names the sockets to
 * watch (CURLMOPT_SOCKETFUNCTION) and its next timeout
 * (CURLMOPT_TIMERFUNCTION); we keep one event per socket and one timer, and
 * tell curl what happened with curl_multi_socket_action().
 *
 * mta-sts.DOMAIN is resolved by moat's resolver, and the address is handed
 * to curl (CURLOPT_RESOLVE): curl never asks the system resolver, and the
 * address passes the check MX addresses pass (no loopback or private
 * network unless relay_to_private, mx.c). HTTPS only, the certificate
 * verified for mta-sts.DOMAIN against the system store and
 * outbound_ca_file, no redirects, no proxy from the environment, 200 and
 * text/plain only, MTASTS_POLICY_MAX octets at most, MTASTS_FETCH_TIMEOUT.
 *
 * At most limits.mta_sts_fetches_max fetches run at once (their DNS
 * lookups included): a queue with mail for thousands of domains would
 * otherwise open thousands of connections. The others wait in order of
 * arrival and start as running ones end; their time (MTASTS_FETCH_TIMEOUT)
 * counts from their start, so waiting is never taken for a failure.
 * SECURITY: the DNS answer is parsed by c-ares; the HTTP response is parsed
 * by libcurl; the body is kept only up to MTASTS_POLICY_MAX octets (checked
 * before each copy) and handed on as bytes for mtasts_policy.c to parse.
 */
#include <ares.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <curl/curl.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include "common/log.h"
#include "common/mailaddr.h"
#include "common/netaddr.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "deliver/mtasts_fetch.h"
#include "deliver/mtasts_policy.h"
#include "dns/resolver.h"

/* the system's CA directory (Debian's ca-certificates), searched besides
 * curl's default bundle and outbound_ca_file */
#define SYSTEM_CA_PATH "/etc/ssl/certs"

struct mtasts_fetch {
	struct mtasts_http *h;
	char host[MAILADDR_DOMAIN_MAX + 16]; /* mta-sts.DOMAIN */
	mtasts_fetch_cb *cb;
	void *arg;
	struct dns_req *dq;
	int family; /* the address family being looked up */
	CURL *easy;
	struct curl_slist *resolve;
	char *body;
	size_t len;
	int too_big;
	char errbuf[CURL_ERROR_SIZE];
	struct event *later; /* a failure found as it started */
	char why[256];
	int running; /* holds one of the mta_sts_fetches_max slots */
	int waiting; /* on h->waiting for a slot */
	TAILQ_ENTRY(mtasts_fetch) entry;
	TAILQ_ENTRY(mtasts_fetch) wait_entry;
};

struct mtasts_http {
	struct event_base *base;
	struct resolver *res;
	const struct moat_conf *conf;
	CURLM *multi;
	struct event *timer;
	TAILQ_HEAD(, mtasts_fetch) fetches; /* all of them, running or waiting */
	TAILQ_HEAD(, mtasts_fetch) waiting; /* for a slot, oldest first */
	size_t running, nwaiting, max;
	int stopping; /* mtasts_http_free(): no fetch starts any more */
};

static void start_waiting(struct mtasts_http *h);

/* fetch_free - off the list, its DNS query and transfer ended, gone */
static void
fetch_free(struct mtasts_fetch *f)
{
	struct mtasts_http *h = f->h;

	TAILQ_REMOVE(&h->fetches, f, entry);
	if (f->waiting) {
		TAILQ_REMOVE(&h->waiting, f, wait_entry);
		h->nwaiting--;
	}
	if (f->dq != NULL)
		dns_cancel(f->dq);
	if (f->easy != NULL) {
		curl_multi_remove_handle(h->multi, f->easy);
		curl_easy_cleanup(f->easy);
	}
	curl_slist_free_all(f->resolve);
	if (f->later != NULL)
		event_free(f->later);
	free(f->body);
	int freed_slot = f->running;
	free(f);
	if (freed_slot) {
		h->running--;
		start_waiting(h);
	}
}

/* finish - the callback, once, then the fetch is gone */
static void
finish(struct mtasts_fetch *f, int ok)
{
	mtasts_fetch_cb *cb = f->cb;
	void *arg = f->arg;
	char *body = NULL, why[sizeof(f->why)];
	size_t len = 0;

	if (ok) {
		body = f->body;
		len = f->len;
		f->body = NULL;
	}
	strlcpy(why, f->why, sizeof(why));
	fetch_free(f);
	cb(arg, body, len, why);
	free(body);
}

/* ---- curl on the loop ---- */

static void check_done(struct mtasts_http *h);

/* sock_event - a socket curl watches is ready: tell curl */
static void
sock_event(evutil_socket_t fd, short what, void *arg)
{
	struct mtasts_http *h = arg;
	int running, flags = 0;

	if (what & EV_READ)
		flags |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(h->multi, fd, flags, &running);
	check_done(h);
}

/* sock_cb - curl says which events to watch on s (or to stop) */
static int
sock_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct mtasts_http *h = userp;
	struct event *ev = socketp;

	if (ev != NULL) {
		event_free(ev);
		curl_multi_assign(h->multi, s, NULL);
	}
	if (what == CURL_POLL_REMOVE)
		return 0;
	short kind = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) |
	             ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
	ev = event_new(h->base, s, kind, sock_event, h);
	event_add(ev, NULL);
	curl_multi_assign(h->multi, s, ev);
	return 0;
}

/* timer_event - curl's timeout came: tell curl */
static void
timer_event(evutil_socket_t fd, short what, void *arg)
{
	struct mtasts_http *h = arg;
	int running;

	curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(h);
}

/* timer_cb - curl asks to be woken in timeout_ms (-1: never) */
static int
timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct mtasts_http *h = userp;
	struct timeval tv;

	if (timeout_ms < 0) {
		evtimer_del(h->timer);
		return 0;
	}
	/* 0: at once, but from the loop, not inside curl */
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	evtimer_add(h->timer, &tv);
	return 0;
}

/* text_plain - the media type is text/plain; parameters do not matter (§3.2) */
static int
text_plain(const char *ct)
{
	if (ct == NULL || strncasecmp(ct, "text/plain", 10) != 0)
		return 0;
	return ct[10] == '\0' || ct[10] == ';' || ct[10] == ' ' || ct[10] == '\t';
}

/* transfer_done - judge a finished transfer: status, media type */
static void
transfer_done(struct mtasts_fetch *f, CURLcode rc)
{
	long status = 0;
	char *ct = NULL;

	if (rc != CURLE_OK) {
		snprintf(f->why, sizeof(f->why), "%s",
		         f->too_big             ? "policy larger than 64 KiB"
		         : f->errbuf[0] != '\0' ? f->errbuf
		                                : curl_easy_strerror(rc));
		finish(f, 0);
		return;
	}
	curl_easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(f->easy, CURLINFO_CONTENT_TYPE, &ct);
	/* §3.3: only 200 is a policy; redirects are not followed */
	if (status != 200) {
		snprintf(f->why, sizeof(f->why), "HTTP status %ld", status);
		finish(f, 0);
		return;
	}
	if (!text_plain(ct)) {
		snprintf(f->why, sizeof(f->why), "media type is not text/plain");
		finish(f, 0);
		return;
	}
	finish(f, 1);
}

/* check_done - finish the transfers curl reports done */
static void
check_done(struct mtasts_http *h)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(h->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		struct mtasts_fetch *f = NULL;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&f);
		if (f != NULL)
			transfer_done(f, msg->data.result);
	}
}

/* body_cb - keep the body, up to MTASTS_POLICY_MAX octets */
static size_t
body_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct mtasts_fetch *f = arg;
	size_t n = nmemb; /* size is always 1 */

	if (size != 1 || n > MTASTS_POLICY_MAX - f->len) {
		f->too_big = 1;
		return 0; /* curl fails the transfer: CURLE_WRITE_ERROR */
	}
	f->body = xreallocarray(f->body, f->len + n + 1, 1);
	memcpy(f->body + f->len, ptr, n);
	f->len += n;
	return n;
}

/* start_transfer - the HTTPS request, to na and nowhere else */
static void
start_transfer(struct mtasts_fetch *f, const struct netaddr *na)
{
	const struct moat_conf *c = f->h->conf;
	char ip[NETADDR_STRLEN], entry[sizeof(f->host) + NETADDR_STRLEN + 16];
	char url[sizeof(f->host) + 40];
	CURL *e;

	netaddr_str(na, ip, sizeof(ip));
	snprintf(entry, sizeof(entry),
	         na->family == AF_INET6 ? "%s:443:[%s]" : "%s:443:%s", f->host, ip);
	snprintf(url, sizeof(url), "https://%s/.well-known/mta-sts.txt", f->host);
	if ((f->resolve = curl_slist_append(NULL, entry)) == NULL ||
	    (e = curl_easy_init()) == NULL) {
		snprintf(f->why, sizeof(f->why), "local: cannot start the fetch");
		finish(f, 0);
		return;
	}
	f->easy = e;
	curl_easy_setopt(e, CURLOPT_PRIVATE, f);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_RESOLVE, f->resolve);
	/* the address above is the only one: no proxy from the environment */
	curl_easy_setopt(e, CURLOPT_PROXY, "");
	curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	/* one request a connection: nothing stays open between fetches */
	curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT, (long)MTASTS_FETCH_TIMEOUT);
	curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(e, CURLOPT_CAPATH, SYSTEM_CA_PATH);
	if (c->outbound_ca_file != NULL)
		curl_easy_setopt(e, CURLOPT_CAINFO, c->outbound_ca_file);
	curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)MTASTS_POLICY_MAX);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, body_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, f);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, f->errbuf);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "moat");
	if (curl_multi_add_handle(f->h->multi, e) != CURLM_OK) {
		snprintf(f->why, sizeof(f->why), "local: cannot start the fetch");
		finish(f, 0);
	}
}

/* ---- mta-sts.DOMAIN's address ---- */

/* addr_done - mta-sts.DOMAIN's A (then AAAA) records: the first allowed address */
static void
addr_done(void *arg, enum dns_status st, const unsigned char *abuf, int alen)
{
	struct mtasts_fetch *f = arg;
	const struct moat_conf *c = f->h->conf;
	struct netaddr cand[8];
	int n = 0;

	f->dq = NULL;
	if (st == DNS_OK && f->family == AF_INET) {
		struct ares_addrttl ttls[8];
		n = 8;
		if (ares_parse_a_reply(abuf, alen, NULL, ttls, &n) != ARES_SUCCESS)
			n = 0;
		for (int i = 0; i < n; i++) {
			cand[i].family = AF_INET;
			memcpy(cand[i].addr, &ttls[i].ipaddr, 4);
		}
	} else if (st == DNS_OK) {
		struct ares_addr6ttl ttls[8];
		n = 8;
		if (ares_parse_aaaa_reply(abuf, alen, NULL, ttls, &n) != ARES_SUCCESS)
			n = 0;
		for (int i = 0; i < n; i++) {
			cand[i].family = AF_INET6;
			memcpy(cand[i].addr, &ttls[i].ip6addr, 16);
		}
	}
	for (int i = 0; i < n; i++) {
		char ip[NETADDR_STRLEN];
		if (!c->relay_to_private && netaddr_private(&cand[i])) {
			log_info(
			    "mta-sts refused host=%s address=%s reason=private-address",
			    log_escape_str(f->host),
			    netaddr_str(&cand[i], ip, sizeof(ip)));
			snprintf(f->why, sizeof(f->why), "%s is a private address",
			         netaddr_str(&cand[i], ip, sizeof(ip)));
			continue;
		}
		start_transfer(f, &cand[i]);
		return;
	}
	if (f->family == AF_INET) {
		/* no usable IPv4 address: IPv6 */
		if (st == DNS_TEMPFAIL)
			snprintf(f->why, sizeof(f->why), "cannot resolve %s", f->host);
		f->family = AF_INET6;
		f->dq = dns_query(f->h->res, f->host, ns_t_aaaa, addr_done, f);
		return;
	}
	if (f->why[0] == '\0')
		snprintf(f->why, sizeof(f->why), "%s %s", f->host,
		         st == DNS_TEMPFAIL ? "cannot be resolved" : "has no address");
	finish(f, 0);
}

/* fail_later - a failure found in mtasts_fetch(), reported from the loop */
static void
fail_later(evutil_socket_t fd, short what, void *arg)
{
	finish(arg, 0);
}

/* begin - f takes a slot: its name checked, then mta-sts.DOMAIN looked up;
 * its callback comes later, from the loop, whatever happens */
static void
begin(struct mtasts_fetch *f)
{
	struct mtasts_http *h = f->h;
	struct timeval now = {0, 0};
	size_t n = strlen(f->host);

	f->running = 1;
	h->running++;
	if (n > MAILADDR_DOMAIN_MAX || !domain_valid(f->host, n)) {
		snprintf(f->why, sizeof(f->why), "%s is not a valid name",
		         log_escape_str(f->host));
		f->later = evtimer_new(h->base, fail_later, f);
		evtimer_add(f->later, &now);
		return;
	}
	f->family = AF_INET;
	f->dq = dns_query(h->res, f->host, ns_t_a, addr_done, f);
}

/* start_waiting - the oldest waiting fetches, into the free slots */
static void
start_waiting(struct mtasts_http *h)
{
	struct mtasts_fetch *f;

	while (!h->stopping && h->running < h->max &&
	       (f = TAILQ_FIRST(&h->waiting)) != NULL) {
		TAILQ_REMOVE(&h->waiting, f, wait_entry);
		h->nwaiting--;
		f->waiting = 0;
		begin(f);
	}
}

struct mtasts_fetch *
mtasts_fetch(struct mtasts_http *h, const char *domain, mtasts_fetch_cb *cb, void *arg)
{
	struct mtasts_fetch *f = xcalloc(1, sizeof(*f));
	int n;

	f->h = h;
	f->cb = cb;
	f->arg = arg;
	TAILQ_INSERT_TAIL(&h->fetches, f, entry);
	n = snprintf(f->host, sizeof(f->host), "mta-sts.%s", domain);
	/* a name too long for host[] is cut; begin() refuses what is left */
	if (n < 0 || (size_t)n >= sizeof(f->host))
		f->host[sizeof(f->host) - 1] = '\0';
	if (h->running < h->max) {
		begin(f);
		return f;
	}
	f->waiting = 1;
	TAILQ_INSERT_TAIL(&h->waiting, f, wait_entry);
	h->nwaiting++;
	return f;
}

void
mtasts_http_load(const struct mtasts_http *h, size_t *running, size_t *waiting)
{
	*running = h->running;
	*waiting = h->nwaiting;
}

void
mtasts_fetch_cancel(struct mtasts_fetch *f)
{
	fetch_free(f);
}

struct mtasts_http *
mtasts_http_new(struct event_base *base, struct resolver *res,
                const struct moat_conf *conf)
{
	struct mtasts_http *h;
	static int inited;

	if (!inited) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return NULL;
		inited = 1;
	}
	h = xcalloc(1, sizeof(*h));
	h->base = base;
	h->res = res;
	h->conf = conf;
	TAILQ_INIT(&h->fetches);
	TAILQ_INIT(&h->waiting);
	h->max = (size_t)conf->limits.mta_sts_fetches_max;
	if ((h->multi = curl_multi_init()) == NULL) {
		free(h);
		return NULL;
	}
	h->timer = evtimer_new(base, timer_event, h);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	return h;
}

void
mtasts_http_free(struct mtasts_http *h)
{
	struct mtasts_fetch *f;

	if (h == NULL)
		return;
	h->stopping = 1;
	while ((f = TAILQ_FIRST(&h->fetches)) != NULL)
		fetch_free(f);
	curl_multi_cleanup(h->multi);
	event_free(h->timer);
	free(h);
}
