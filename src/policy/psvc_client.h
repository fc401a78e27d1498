/* SPDX-License-Identifier: ISC */
/*
 * psvc_client.h - the connections of a worker to one policy service.
 *
 * A request goes out on an idle connection, or a new one (at most
 * PSVC_CONNS_MAX), or waits for one; each connection carries one request
 * at a time, and is used again (connection reuse) until it has been idle
 * max_idle seconds or open max_ttl. Every request is answered once, from
 * the event loop, within timeout_connect_ms + timeout_ms of psvc_ask():
 * with the action, or with the reason it could not be had (connect
 * failure, timeout, a reply that is no reply, too many waiting). After a
 * failed connect the service counts as down for a second, and requests
 * fail at once meanwhile instead of each waiting for its own failure.
 */
#ifndef MOAT_PSVC_CLIENT_H
#define MOAT_PSVC_CLIENT_H

#include "policy/psvc_proto.h"

struct event_base;
struct evbuffer;
struct ext_service_conf;
struct psvc;

#define PSVC_CONNS_MAX   16   /* connections per service and worker */
#define PSVC_WAITING_MAX 4096 /* requests waiting for a connection */

/* a: the action (ok), or NULL with why */
typedef void (*psvc_cb)(void *arg, const struct psvc_action *a, const char *why);

struct psvc *psvc_new(struct event_base *base, const struct ext_service_conf *conf);
/* psvc_stop - answer every request still open with a failure (the worker
 * ends); then psvc_free */
void psvc_stop(struct psvc *sv);
void psvc_free(struct psvc *sv);

/* psvc_ask - send request (its attributes, without the empty line; taken
 * over and freed); cb runs later, never before psvc_ask returns */
void psvc_ask(struct psvc *sv, struct evbuffer *request, psvc_cb cb, void *arg);

/* what it did: requests, answered, failed; open connections */
void psvc_counts(const struct psvc *sv, unsigned long *asked, unsigned long *failed,
                 int *conns);

#endif
