/* SPDX-License-Identifier: ISC */
/*
 * mtasts_fetch.h - the HTTPS fetch of an MTA-STS policy (RFC 8461 §3.3):
 * https://mta-sts.DOMAIN/.well-known/mta-sts.txt, with libcurl's multi
 * interface on the delivery process's event loop.
 *
 * mtasts_http_new() once per process; mtasts_fetch() resolves
 * mta-sts.DOMAIN through moat's resolver (never the system's), refuses a
 * private address unless relay_to_private, and fetches from that address;
 * its callback runs later from the loop, never inside mtasts_fetch(), with
 * the body, or NULL and why not. mtasts_fetch_cancel() and
 * mtasts_http_free() end fetches without their callbacks. At most
 * limits.mta_sts_fetches_max run at once; the others wait for a slot, in
 * order, and their callbacks come as late as that makes them.
 */
#ifndef MOAT_MTASTS_FETCH_H
#define MOAT_MTASTS_FETCH_H

#include <stddef.h>

struct event_base;
struct resolver;
struct moat_conf;
struct mtasts_http;
struct mtasts_fetch;

#define MTASTS_FETCH_TIMEOUT 20 /* seconds for the whole fetch, connect included */

/* body: the policy file (NULL on failure); why: a short printable reason */
typedef void mtasts_fetch_cb(void *arg, const char *body, size_t len, const char *why);

struct mtasts_http *mtasts_http_new(struct event_base *base, struct resolver *res,
                                    const struct moat_conf *conf);
void mtasts_http_free(struct mtasts_http *h);
struct mtasts_fetch *mtasts_fetch(struct mtasts_http *h, const char *domain,
                                  mtasts_fetch_cb *cb, void *arg);
void mtasts_fetch_cancel(struct mtasts_fetch *f);
/* mtasts_http_load - the fetches running now, and those waiting for a slot */
void mtasts_http_load(const struct mtasts_http *h, size_t *running, size_t *waiting);

#endif
