/* SPDX-License-Identifier: ISC */
/*
 * mtasts.c - the MTA-STS policy of a recipient domain (RFC 8461 §3, §5):
 * the "_mta-sts" TXT record says whether one is published and its id; the
 * policy itself comes from the cache or over HTTPS (mtasts_fetch.c).
 *
 * The cache is the state store ("sts:DOMAIN", the record's id and the
 * policy in its own syntax, expiring after max_age): it outlives a restart
 * (LMDB is on disk), and with Redis the hosts of a site share it, which is
 * what the store is for. A policy is fetched when none is cached or the
 * TXT id differs from the cached one (§5.1: a changed id means a new
 * policy). A fetch that fails keeps the cached policy in force until it
 * expires; so does a missing or unreadable TXT record, since removing the
 * record does not remove a policy senders hold (§8.3). With no cached
 * policy, a failure means no policy: delivery goes on as without MTA-STS
 * (§3.3), and the failure is logged.
 * SECURITY: DNS answers go to mtasts_txt_answer(), HTTPS bodies and cached
 * values to mtasts_policy_parse() (both bounded, mtasts_policy.c); a cached
 * value is read back through the same parser as a fetched one.
 */
#include <arpa/nameser.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "common/ascii.h"
#include "common/log.h"
#include "common/mailaddr.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "deliver/mtasts.h"
#include "deliver/mtasts_fetch.h"
#include "dns/resolver.h"
#include "metrics/metrics.h"
#include "store/store.h"

#define SYSTEM_CA_PATH "/etc/ssl/certs"

struct mtasts {
	struct event_base *base;
	struct resolver *res;
	const struct moat_conf *conf;
	struct store *st;
	struct mtasts_http *http;
	X509_STORE *ca; /* for MX hosts under a policy (§4.2) */
	TAILQ_HEAD(, mtasts_req) reqs;
};

struct mtasts_req {
	struct mtasts *m; /* NULL once orphaned: mtasts_free() ran meanwhile */
	char domain[MAILADDR_DOMAIN_MAX + 1];
	mtasts_cb *cb;
	void *arg;
	int store_pending;
	struct dns_req *dq;
	struct mtasts_fetch *fetch;
	int have_cached;
	char cached_id[MTASTS_ID_MAX + 1];
	struct mtasts_policy cached;
	char id[MTASTS_ID_MAX + 1]; /* the TXT record's */
	struct mtasts_policy fetched;
	TAILQ_ENTRY(mtasts_req) entry;
};

/* ---- counters, flushed with the queue runner's (qmgr.c) ---- */

static const struct {
	const char *key;    /* the "stat:" counter of moatctl stats */
	enum metric metric; /* and the labelled metric ... */
	const char *label;  /* ... with its value */
} events[] = {
    [MTASTS_EV_FETCHED] = {"stat:mta_sts_fetched", M_MTA_STS_LOOKUPS, "fetched"},
    [MTASTS_EV_CACHED] = {"stat:mta_sts_cached", M_MTA_STS_LOOKUPS, "cached"},
    [MTASTS_EV_FAILED] = {"stat:mta_sts_failed", M_MTA_STS_LOOKUPS, "failed"},
    [MTASTS_EV_ENFORCE_FAILED] = {"stat:mta_sts_enforce_failed", M_MTA_STS_FAILURES,
                                  "enforce"},
    [MTASTS_EV_TESTING_FAILED] = {"stat:mta_sts_testing_failed", M_MTA_STS_FAILURES,
                                  "testing"},
};
_Static_assert(sizeof(events) / sizeof(events[0]) == MTASTS_NEVENTS,
               "a counter for every event");
static uint64_t counts[MTASTS_NEVENTS], counts_sent[MTASTS_NEVENTS];

void
mtasts_count(enum mtasts_event ev)
{
	const char *labels[] = {events[ev].label};

	counts[ev]++;
	metrics_count(events[ev].metric, labels);
}

void
mtasts_stats_flush(struct store *st)
{
	for (int i = 0; i < MTASTS_NEVENTS; i++)
		store_counter_flush(st, events[i].key, counts[i], &counts_sent[i]);
}

/* req_done - the lookup's answer (p: the policy in force, or NULL), then it is gone */
static void
req_done(struct mtasts_req *r, const struct mtasts_policy *p)
{
	mtasts_cb *cb = r->cb;
	void *arg = r->arg;

	TAILQ_REMOVE(&r->m->reqs, r, entry);
	/* p may point into r: the callback runs before r goes */
	cb(arg, p, 0);
	free(r);
}

/* cache_key - "sts:DOMAIN", the store key of a domain's policy */
static void
cache_key(const char *domain, char *key, size_t keysz)
{
	snprintf(key, keysz, "sts:%s", domain);
}

/* cache_put - the policy of id, for max_age seconds (0: not kept) */
static void
cache_put(struct mtasts *m, const char *domain, const char *id,
          const struct mtasts_policy *p)
{
	char key[STORE_KEY_MAX + 1];
	char *val;
	int n;

	if (m->st == NULL || p->max_age <= 0)
		return;
	val = xmalloc(STORE_VALUE_MAX);
	n = snprintf(val, STORE_VALUE_MAX, "%s\n", id);
	int pl = mtasts_policy_format(p, val + n, (size_t)(STORE_VALUE_MAX - n));
	if (pl > 0) {
		cache_key(domain, key, sizeof(key));
		store_put(m->st, key, val, (size_t)(n + pl), (uint32_t)p->max_age, NULL,
		          NULL);
	}
	free(val);
}

/* log_policy - one line for a policy fetched */
static void
log_policy(const char *domain, const char *id, const struct mtasts_policy *p,
           const char *how)
{
	log_info("mta-sts domain=%s id=%s %s mode=%s max_age=%ld mx=%zu",
	         log_escape_str(domain), id, how, mtasts_mode_name(p->mode), p->max_age,
	         p->nmx);
}

/* fetched - the HTTPS body (or why there is none): parsed, cached, in force */
static void
fetched(void *arg, const char *body, size_t len, const char *why)
{
	struct mtasts_req *r = arg;
	char err[160];

	r->fetch = NULL;
	if (body != NULL &&
	    mtasts_policy_parse(body, len, &r->fetched, err, sizeof(err)) == 0) {
		log_policy(r->domain, r->id, &r->fetched, "fetch=ok");
		mtasts_count(MTASTS_EV_FETCHED);
		cache_put(r->m, r->domain, r->id, &r->fetched);
		req_done(r, &r->fetched);
		return;
	}
	if (body != NULL)
		why = err;
	/* §5.1: a failed refresh keeps the policy we have */
	mtasts_count(MTASTS_EV_FAILED);
	log_info("mta-sts domain=%s id=%s fetch=failed reason=%s policy=%s",
	         log_escape_str(r->domain), r->id, log_escape_str(why),
	         r->have_cached ? "cached" : "none");
	req_done(r, r->have_cached ? &r->cached : NULL);
}

/* txt_done - the "_mta-sts" record: the cached policy, or a fetch */
static void
txt_done(void *arg, enum dns_status st, const unsigned char *abuf, int alen)
{
	struct mtasts_req *r = arg;

	r->dq = NULL;
	if (st != DNS_OK || mtasts_txt_answer(abuf, alen, r->id) == -1) {
		/* no record (or DNS trouble): a cached policy holds until it
		 * expires (§8.3); without one, there is no policy */
		req_done(r, r->have_cached ? &r->cached : NULL);
		return;
	}
	if (r->have_cached && strcmp(r->id, r->cached_id) == 0) {
		mtasts_count(MTASTS_EV_CACHED);
		req_done(r, &r->cached);
		return;
	}
	if (r->have_cached)
		log_info("mta-sts domain=%s id=%s cached-id=%s refresh=id-changed",
		         log_escape_str(r->domain), r->id, r->cached_id);
	r->fetch = mtasts_fetch(r->m->http, r->domain, fetched, r);
}

/* ask_txt - look up "_mta-sts.DOMAIN" TXT */
static void
ask_txt(struct mtasts_req *r)
{
	char name[MAILADDR_DOMAIN_MAX + 16];

	snprintf(name, sizeof(name), "_mta-sts.%s", r->domain);
	r->dq = dns_query(r->m->res, name, ns_t_txt, txt_done, r);
}

/* cache_got - the store's copy of the policy, if any; then the TXT record */
static void
cache_got(enum store_status st, const void *val, size_t len, time_t expires, void *arg)
{
	struct mtasts_req *r = arg;
	char err[160] = "no id line";

	r->store_pending = 0;
	if (r->m == NULL) {
		free(r); /* orphaned: the callback ran at mtasts_free() */
		return;
	}
	if (st == STORE_OK) {
		const char *nl = memchr(val, '\n', len);
		size_t idlen = nl != NULL ? (size_t)(nl - (const char *)val) : 0;
		if (idlen > 0 && idlen <= MTASTS_ID_MAX &&
		    mtasts_policy_parse(nl + 1, len - idlen - 1, &r->cached, err,
		                        sizeof(err)) == 0) {
			memcpy(r->cached_id, val, idlen);
			r->cached_id[idlen] = '\0';
			r->have_cached = 1;
		} else
			log_warnx("mta-sts domain=%s: cached policy unreadable: %s",
			          log_escape_str(r->domain), log_escape_str(err));
	}
	ask_txt(r);
}

struct mtasts_req *
mtasts_lookup(struct mtasts *m, const char *domain, mtasts_cb *cb, void *arg)
{
	struct mtasts_req *r = xcalloc(1, sizeof(*r));
	char key[STORE_KEY_MAX + 1];

	r->m = m;
	r->cb = cb;
	r->arg = arg;
	ascii_lower_copy(r->domain, domain, sizeof(r->domain));
	TAILQ_INSERT_TAIL(&m->reqs, r, entry);
	if (m->st != NULL) {
		cache_key(r->domain, key, sizeof(key));
		r->store_pending = 1;
		store_get(m->st, key, cache_got, r);
	} else
		ask_txt(r);
	return r;
}

struct mtasts *
mtasts_new(struct event_base *base, struct resolver *res, const struct moat_conf *conf,
           struct store *st)
{
	struct mtasts *m = xcalloc(1, sizeof(*m));

	m->base = base;
	m->res = res;
	m->conf = conf;
	m->st = st;
	TAILQ_INIT(&m->reqs);
	if ((m->http = mtasts_http_new(base, res, conf)) == NULL) {
		log_warnx("mta-sts: cannot start the HTTPS client; MTA-STS is off");
		goto fail;
	}
	/* the system store and outbound_ca_file, as for the policy fetch */
	if ((m->ca = X509_STORE_new()) == NULL ||
	    X509_STORE_set_default_paths(m->ca) != 1 ||
	    (conf->outbound_ca_file != NULL &&
	     X509_STORE_load_file(m->ca, conf->outbound_ca_file) != 1)) {
		log_warnx("mta-sts: cannot load the CA store%s%s; MTA-STS is off",
		          conf->outbound_ca_file != NULL ? " with " : "",
		          conf->outbound_ca_file != NULL
		              ? log_escape_str(conf->outbound_ca_file)
		              : "");
		goto fail;
	}
	return m;
fail:
	mtasts_http_free(m->http);
	X509_STORE_free(m->ca);
	free(m);
	return NULL;
}

void
mtasts_free(struct mtasts *m)
{
	struct mtasts_req *r;

	if (m == NULL)
		return;
	/* every fetch at once, without callbacks: cancelled one by one, each
	 * running one would start a waiting one in its slot */
	mtasts_http_free(m->http);
	while ((r = TAILQ_FIRST(&m->reqs)) != NULL) {
		TAILQ_REMOVE(&m->reqs, r, entry);
		if (r->dq != NULL)
			dns_cancel(r->dq);
		r->fetch = NULL; /* freed above */
		r->cb(r->arg, NULL, 1);
		/* a store answer still to come frees it */
		if (r->store_pending)
			r->m = NULL;
		else
			free(r);
	}
	X509_STORE_free(m->ca);
	free(m);
}

int
mtasts_tls_setup(struct mtasts *m, SSL *ssl, const char *mxhost)
{
	/* §4.2: the chain to a trusted root, the MX host name in the
	 * certificate (RFC 6125; a wildcard covers one label) */
	if (SSL_set1_verify_cert_store(ssl, m->ca) != 1)
		return -1;
	SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (SSL_set1_host(ssl, mxhost) != 1)
		return -1;
	return 0;
}

int
mtasts_tls_check(SSL *ssl, char *why, size_t whysz)
{
	X509 *peer;
	long v;

	if (ssl == NULL) {
		snprintf(why, whysz, "no TLS");
		return -1;
	}
	if ((peer = SSL_get1_peer_certificate(ssl)) == NULL) {
		snprintf(why, whysz, "no certificate");
		return -1;
	}
	X509_free(peer);
	if ((v = SSL_get_verify_result(ssl)) != X509_V_OK) {
		snprintf(why, whysz, "certificate not verified: %s",
		         X509_verify_cert_error_string(v));
		return -1;
	}
	return 0;
}
