/* SPDX-License-Identifier: ISC */
/*
 * runner.h - run the battery against one host, one connection per test.
 *
 * runner_start() first makes one discovery connection (greeting, EHLO,
 * QUIT) to learn the target's name, builds the battery, then runs each test
 * on its own connection: greeting, EHLO, RSET, MAIL, RCPT and, only when a
 * sink can receive it, one DATA with a signed token. New connections to a
 * host are spaced by the per-host rate. A 421/554 greeting stops the host's
 * battery. done(h, arg) is called once when the host is finished.
 */
#ifndef MOAT_PROBE_RUNNER_H
#define MOAT_PROBE_RUNNER_H

#include <sys/socket.h>

#include "probe/probe.h"
#include "probe/token.h"

struct event_base;
typedef struct ssl_ctx_st SSL_CTX;

struct runner_env {
	struct event_base *base;
	const struct probe_opts *opts;
	const struct token_key *key;
	SSL_CTX *ssl_ctx; /* for --starttls, else NULL */
	int have_sink;    /* send DATA on an accepted RCPT */
	const struct sockaddr *bind_addr;
	socklen_t bind_len;
};

typedef void (*runner_done_cb)(struct probe_host *h, void *arg);

void runner_start(const struct runner_env *env, struct probe_host *h, runner_done_cb done,
                  void *arg);
/* runner_free - release the host's run state (after done) */
void runner_free(struct probe_host *h);

#endif
