/* SPDX-License-Identifier: ISC */
/*
 * mtasts.h - MTA-STS (RFC 8461) for MX delivery: which policy a recipient
 * domain has, from its "_mta-sts" TXT record, the state store's cache and
 * an HTTPS fetch; and the TLS check an MX host under a policy must pass.
 *
 * mtasts_lookup() calls back later, from the loop, with the policy in
 * force (NULL: none) for the domain. mtasts_free() ends every lookup: each
 * callback then runs with stopping set, and must only free its own.
 * mtasts_tls_setup() prepares an SSL for an MX host (CA store, reference
 * name, §4.2); mtasts_tls_check() judges it after the handshake.
 * mtasts_count() counts what MTA-STS did (enum mtasts_event), for moatctl
 * stats ("stat:mta_sts_*", added by mtasts_stats_flush()) and the metrics.
 */
#ifndef MOAT_MTASTS_H
#define MOAT_MTASTS_H

#include <stddef.h>

#include "deliver/mtasts_policy.h"

struct event_base;
struct resolver;
struct moat_conf;
struct store;
struct mtasts;
struct mtasts_req;
typedef struct ssl_st SSL;

typedef void mtasts_cb(void *arg, const struct mtasts_policy *p, int stopping);

/* What is counted: each lookup of a domain with a policy published ends as
 * fetched, cached or failed; each MX host (or connection to one) that does
 * not meet its policy is an enforce or a testing failure (RFC 8461 §5). */
enum mtasts_event {
	MTASTS_EV_FETCHED = 0,    /* a policy fetched, and now in force */
	MTASTS_EV_CACHED,         /* the cached policy still current: no fetch */
	MTASTS_EV_FAILED,         /* a fetch failed (a cached policy may hold) */
	MTASTS_EV_ENFORCE_FAILED, /* an MX host refused under enforce */
	MTASTS_EV_TESTING_FAILED, /* an MX host that would fail: testing */
	MTASTS_NEVENTS
};

/* mtasts_new - NULL (logged) if the HTTPS client or CA store cannot start;
 * st may be NULL: no cache, every lookup fetches */
struct mtasts *mtasts_new(struct event_base *base, struct resolver *res,
                          const struct moat_conf *conf, struct store *st);
void mtasts_free(struct mtasts *m);
struct mtasts_req *mtasts_lookup(struct mtasts *m, const char *domain, mtasts_cb *cb,
                                 void *arg);

/* mtasts_count - one event, counted in this process */
void mtasts_count(enum mtasts_event ev);
/* mtasts_stats_flush - add what each counter gained to "stat:mta_sts_*" */
void mtasts_stats_flush(struct store *st);

/* mtasts_tls_setup - verify against the system store and outbound_ca_file,
 * for the name mxhost (RFC 8461 §4.2); 0, or -1 */
int mtasts_tls_setup(struct mtasts *m, SSL *ssl, const char *mxhost);
/* mtasts_tls_check - 0 if ssl's peer was verified, else -1 and why */
int mtasts_tls_check(SSL *ssl, char *why, size_t whysz);

#endif
