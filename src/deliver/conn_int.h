/* SPDX-License-Identifier: ISC */
/*
 * conn_int.h - a delivery connection, shared by conn.c (the connection),
 * conn_txn.c (a message's transaction on it) and conn_tls.c (the TLS
 * level it must reach, and a next hop's login).
 */
#ifndef MOAT_CONN_INT_H
#define MOAT_CONN_INT_H

#include <sys/queue.h>

#include "deliver/deliver.h"
#include "deliver/outtls.h"

struct dane_tlsa;
struct dest;
struct job;
struct smtp_client;
struct smtp_client_opts;
struct txn;

struct conn {
	struct dest *d;
	struct smtp_client *c;
	size_t ai; /* the address being used */
	char relay[300];
	int msgs;
	int delivered_any;
	int need_rset;
	struct dresult fail; /* the last connection-level failure */
	int failed;
	struct event *idle_ev;
	int idle;
	enum tls_level tls;       /* what the address in use must reach (MX) */
	struct dane_tlsa *tlsa;   /* its TLSA records (our reference), or NULL */
	enum tls_reached reached; /* what this address's session reached */
	int authed;               /* logged in (RFC 4954) */
	int auth_step;            /* AUTH LOGIN: the 334 expected next */
	TAILQ_ENTRY(conn) entry;  /* in d->idle */
	TAILQ_ENTRY(conn) all;
	/* The transactions in progress: one, and a second that went out behind
	 * the first one's final dot (chain()). */
	TAILQ_HEAD(, txn) txns;
	int ntxns;
};

/* conn.c */
/* conn_fail - this address failed for the reason given: try the next one,
 * or close the connection (its jobs are deferred with the reason) */
void conn_fail(struct conn *cn, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* conn_ready - TLS and login done: log the connection, deliver */
void conn_ready(struct conn *cn);
void conn_next_job(struct conn *cn);
/* conn_close - QUIT (the client lingers until the reply) and free cn */
void conn_close(struct conn *cn);

/* conn_txn.c */
/* conn_send_job - the job's MAIL, RCPTs and DATA on cn */
void conn_send_job(struct conn *cn, struct job *job);
/* conn_txn_drop_all - every transaction in flight ends: its jobs are
 * deferred with why */
void conn_txn_drop_all(struct conn *cn, const char *why);

/* conn_tls.c */
/* conn_tls_opts - the client options of cn's next hop: implicit TLS, the
 * reference name, the CA store set up before each handshake */
void conn_tls_opts(struct conn *cn, struct smtp_client_opts *o);
/* conn_tls_name - the name sent as SNI and checked in the certificate */
const char *conn_tls_name(const struct conn *cn);
int conn_tls_wanted(const struct conn *cn);   /* STARTTLS when offered */
int conn_tls_required(const struct conn *cn); /* encrypt or verify */
const char *conn_tls_level_word(const struct conn *cn);
/* conn_tls_judge - after a handshake: -1 (conn_fail() called) if the level
 * is not met, else 0 and cn->reached set */
int conn_tls_judge(struct conn *cn);
/* conn_tls_no_starttls - the server offers no STARTTLS: -1 (conn_fail()
 * called) if cn's level or MTA-STS policy requires TLS, else 0 */
int conn_tls_no_starttls(struct conn *cn);
/* conn_tls_sts_mode - the MTA-STS mode cn's MX host is under, or NULL */
const char *conn_tls_sts_mode(const struct conn *cn);
int conn_auth_wanted(const struct conn *cn);
/* conn_auth_start - AUTH PLAIN, else LOGIN; conn_ready() when it passes,
 * conn_fail() when it cannot be done or is refused */
void conn_auth_start(struct conn *cn);

#endif
