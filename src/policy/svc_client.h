/* SPDX-License-Identifier: ISC */
/*
 * svc_client.h - the connections of a worker to one request/reply service
 * (a policy service, a Dovecot userdb, a socketmap server).
 *
 * A request goes out on an idle connection, or a new one (at most
 * SVC_CONNS_MAX), or waits for one; each connection carries one request
 * at a time, and is used again (connection reuse) until it has been idle
 * max_idle seconds or open max_ttl. Every request is answered once, from
 * the event loop, within timeout_connect_ms + timeout_ms of svc_ask():
 * with the reply, or with the reason it could not be had (connect
 * failure, timeout, a reply that is no reply, too many waiting). After a
 * failed connect the service counts as down for a second, and requests
 * fail at once meanwhile instead of each waiting for its own failure.
 */
#ifndef MOAT_SVC_CLIENT_H
#define MOAT_SVC_CLIENT_H

#include <stddef.h>
#include <sys/types.h>

struct event_base;
struct evbuffer;
struct ext_service_conf;
struct svc;

#define SVC_CONNS_MAX   16   /* connections per service and worker */
#define SVC_WAITING_MAX 4096 /* requests waiting for a connection */
#define SVC_REPLY_MAX   8192 /* the longest reply read; longer is garbage */

/* the framing of one protocol */
struct svc_proto {
	const char *kind; /* for log lines: "policy_service", ... */
	/* reply_len - the length of the first whole reply in buf, 0 if it is
	 * not all here yet, -1 if it cannot be one */
	ssize_t (*reply_len)(const char *buf, size_t len);
	/* noise - the length of what opens buf and is no reply (a greeting
	 * the service sends unasked), or NULL if it sends none */
	size_t (*noise)(const char *buf, size_t len);
	/* hello - sent first on every new connection, or NULL */
	const char *hello;
};

/* reply: the whole reply, NUL-terminated (len without the NUL), or NULL
 * with why */
typedef void (*svc_cb)(void *arg, const char *reply, size_t len, const char *why);

struct svc *svc_new(struct event_base *base, const struct ext_service_conf *conf,
                    const struct svc_proto *proto);
/* svc_stop - answer every request still open with a failure (the worker
 * ends); then svc_free */
void svc_stop(struct svc *sv);
void svc_free(struct svc *sv);

/* svc_ask - send request (taken over and freed); cb runs later, never
 * before svc_ask returns */
void svc_ask(struct svc *sv, struct evbuffer *request, svc_cb cb, void *arg);

/* what it did: requests, answered, failed; open connections */
void svc_counts(const struct svc *sv, unsigned long *asked, unsigned long *failed,
                int *conns);

#endif
