/* SPDX-License-Identifier: ISC */
/*
 * qmgr_int.h - the queue runner's parts: messages, jobs, destinations and
 * delivery connections, shared by qmgr.c (scheduling, retries, completion),
 * dest.c (per-destination queues and concurrency), route.c (where a
 * recipient goes), mx.c (MX and address resolution), conn.c (SMTP/LMTP
 * delivery connections) and dsn.c (delivery status notifications).
 *
 * A message in the queue becomes one job per destination when it is due.
 * A destination holds a FIFO of jobs and at most dest_concurrency delivery
 * connections; a connection takes jobs from its destination one after
 * another (connection reuse), so one slow or dead next hop never holds up
 * another's jobs.
 */
#ifndef MOAT_QMGR_INT_H
#define MOAT_QMGR_INT_H

#include <stddef.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>

#include "deliver/deliver.h"
#include "deliver/tlspolicy.h"
#include "queue/envelope.h"

struct event_base;
struct event;
struct resolver;
struct moat_conf;
struct nexthop_conf;
struct qmgr;
struct dest;
struct conn;
struct mtasts;
struct dane_tlsa;
typedef struct ssl_ctx_st SSL_CTX;

/* A recipient's outcome in this pass, for the log line and the DSN. */
struct rcpt_result {
	size_t index; /* into env.rcpts */
	struct dresult res;
};

struct qmsg {
	char id[QID_LEN + 1];
	struct qmgr *q;
	int fd;
	struct envelope env;
	int loaded;      /* env and fd are valid */
	int active_jobs; /* jobs of this pass not finished */
	int deferred;    /* recipients deferred in this pass */
	int changed;     /* statuses written in this pass */
	time_t next_try;
	struct rcpt_result *bounces; /* permanent failures of this pass */
	size_t nbounces;
	/* deliveries of this pass whose sender asked NOTIFY=SUCCESS (and a
	 * next hop that did not take the request on) */
	struct rcpt_result *successes;
	size_t nsuccesses;
	size_t heap_idx; /* in the waiting heap, when in_wait */
	int in_wait;
	int held; /* its file says hold: waits for a release nudge */
	/* why it was last deferred (this pass), for moatctl queue list: kept
	 * in the store as "why:ID" while it waits (qmgr.c settle()) */
	char *why;
	int why_stored;
	struct qmsg *hnext; /* hash chain */
};

struct job {
	struct qmsg *msg;
	struct dest *dest;
	size_t *rcpts; /* indices into msg->env.rcpts */
	size_t nrcpts;
	TAILQ_ENTRY(job) entry;
};
TAILQ_HEAD(jobq, job);

enum dest_kind {
	DEST_MAILDIR = 0,
	DEST_MX,      /* the domain's MX hosts (RFC 5321 §5.1) */
	DEST_HOST,    /* a fixed next hop: host/IP and port, or a unix socket */
	DEST_LITERAL, /* a recipient's address literal (RFC 5321 §4.1.3): its IP */
};

/* One address to try, in order. */
struct dest_addr {
	struct sockaddr_storage ss;
	socklen_t len;
	char host[256]; /* the name it came from, for logs */
	/* the MTA-STS mode its host is under (enum mtasts_mode, mx.c): enforce
	 * makes verified TLS (name: host) a condition of delivery, testing
	 * logs what would fail (conn_tls.c) */
	int sts;
	/* what TLS a connection to it must reach (mx_tls; for dane, decided
	 * per MX host by its TLSA records), and those records (a counted
	 * reference, mx.c), or NULL */
	enum tls_level tls;
	struct dane_tlsa *tlsa;
};

struct dest {
	char key[300];
	enum dest_kind kind;
	int lmtp;
	char name[256]; /* MX domain, or the next hop's host */
	int port;
	/* a configured next hop's TLS and AUTH (relayhost, a domain's smtp:);
	 * NULL: opportunistic TLS, no AUTH */
	const struct nexthop_conf *nh;
	struct qmgr *q;
	struct jobq jobs;
	size_t njobs;
	int active;        /* connections open or opening */
	time_t dead_until; /* after a total failure: defer without trying */
	char dead_reason[300];
	int dead_code;
	/* resolved addresses, cached */
	struct dest_addr *addrs;
	size_t naddrs;
	time_t addrs_expire;
	int resolving;
	struct dresult resolve_fail; /* why resolution failed, when it did */
	/* DANE (RFC 7672) applies to this destination: MTA-STS is not looked
	 * up (RFC 8461 §2: DANE takes precedence); set by the DANE lookup */
	int dane;
	TAILQ_HEAD(, conn) idle;
	TAILQ_ENTRY(dest) entry;
};

struct qmgr {
	struct event_base *base;
	const struct moat_conf *conf;
	struct resolver *res;
	SSL_CTX *tls_ctx;
	struct mtasts *sts; /* MTA-STS policies (mta_sts = true), or NULL */
	int queue_dirfd;
	int corrupt_dirfd;
	struct freelist *freelist; /* finished queue files go there for reuse */
	struct event *notify_ev;
	struct event *scan_ev;
	struct event *wake_ev; /* the next due retry */
	struct qmsg **table;   /* every known message, hashed by id */
	size_t table_size;
	size_t nmsgs;
	TAILQ_HEAD(, dest) dests;
	int conns; /* delivery connections, all destinations */
};

/* qmgr.c */
void qmgr_add(struct qmgr *q, const char *id, int now);
void qmgr_job_done(struct job *job, struct rcpt_result *results, size_t n);
void qmgr_log_result(struct qmgr *q, struct qmsg *m, size_t index,
                     const struct dresult *res);

/* dest.c */
struct dest *dest_get(struct qmgr *q, enum dest_kind kind, int lmtp, const char *name,
                      int port);
/* dest_get_nexthop - a configured next hop, one destination per tag (the
 * relayhost, or the domain whose delivery it is) with its TLS and AUTH */
struct dest *dest_get_nexthop(struct qmgr *q, const char *name, int port,
                              const struct nexthop_conf *nh, const char *tag);
void dest_add_job(struct dest *d, struct job *job);
struct job *dest_take_job(struct dest *d);
void dest_kick(struct dest *d);
/* dest_revive - forget that d was unreachable, and its addresses (they are
 * looked up again); 1 if it was marked unreachable */
int dest_revive(struct dest *d);
void dest_conn_closed(struct dest *d, int delivered_any, const struct dresult *fail);
void dest_fail_all(struct dest *d, const struct dresult *res);
void dest_free_all(struct qmgr *q);
void job_finish_all(struct job *job, const struct dresult *res);

/* route.c */
struct dest *route_rcpt(struct qmgr *q, const char *rcpt);

/* mx.c */
typedef void (*mx_cb)(struct dest *d, int ok);
/*
 * mx_resolve - d's addresses (d->addrs), then cb(d, ok). A fixed next hop
 * that needs no lookup (an IP, a unix socket) calls back before
 * mx_resolve() returns; DNS answers always come later, from the loop
 * (dns_query). Either way the caller must not touch d's resolution state
 * after the call: cb has taken over.
 */
void mx_resolve(struct dest *d, mx_cb cb);
/* mx_addrs_free - d's addresses, and their references to TLSA records */
void mx_addrs_free(struct dest *d);

/* conn.c */
void conn_start(struct dest *d);
int conn_reuse(struct dest *d);
void conn_close_idle(struct dest *d);
/* conn_shutdown_all - close every connection; jobs in flight are deferred */
void conn_shutdown_all(void);

/* dsn.c */
/* dsn_send - the report of this pass: its bounces (why: expired, or NULL)
 * or, with success, its deliveries the sender asked to hear of */
int dsn_send(struct qmgr *q, struct qmsg *m, const char *why, int success);

#endif
