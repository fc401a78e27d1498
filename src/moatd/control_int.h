/* SPDX-License-Identifier: ISC */
/*
 * control_int.h - the control process's parts: control.c (socket, peer
 * check, request framing, replies, reload), control_store.c (bans and
 * allows, and the helpers of every store command), control_show.c (show,
 * greylist, stats) and control_queue.c (queue list, show, retry, delete:
 * the spool); control_split.c splits a request line into its words.
 *
 * A command handler gets the parsed request, appends body lines with
 * ctl_line() and either answers at once (ctl_error(), or nothing: "ok") or
 * starts store operations: each one is counted with ctl_hold() and its
 * callback calls ctl_release(); the reply goes out when the count is back
 * at zero (after the optional complete() hook has added its lines). A
 * client that leaves early only makes the callbacks write into nothing.
 */
#ifndef MOAT_CONTROL_INT_H
#define MOAT_CONTROL_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>
#include <time.h>

#include "common/netaddr.h"
#include "moatd/control.h"
#include "store/store.h"

struct bufferevent;
struct event;
struct event_base;
struct evbuffer;
struct evconnlistener;
struct moat_conf;

#define CTL_ARGS_MAX  16     /* words in a request */
#define CTL_LINES_MAX 100000 /* body lines in one reply; more are cut */

struct ctl_req {
	int argc;
	char *argv[CTL_ARGS_MAX];
	const char *rest[CTL_ARGS_MAX]; /* the request line from word i on */
};

struct ctl_conn;
TAILQ_HEAD(ctl_conns, ctl_conn);

struct control {
	struct event_base *base;
	const struct moat_conf *conf;
	struct store *store; /* NULL if it could not be opened */
	struct store *traps; /* the trap bookkeeping's (state_dir/traps), or NULL */
	struct evconnlistener *listener;
	int master_fd; /* reload requests and the master's answer */
	struct event *master_ev;
	int notify_fd;   /* queue ids for the queue runner */
	int queue_dirfd; /* spool_dir/queue, -1 if unavailable */
	struct ctl_conns conns;
	size_t nconns;
	struct ctl_conn *reload_waiter; /* the request waiting for the master */
	int draining;
	struct export_timer *exporter; /* bait { export_file }, or NULL */
	struct ctl_metrics *metrics;   /* metrics_listen, or NULL */
};

struct ctl_conn {
	struct control *ctl;
	struct bufferevent *bev; /* NULL once the client is gone */
	uid_t uid;
	char request[CONTROL_LINE_MAX];
	struct evbuffer *body;
	size_t nlines;
	char err[256];  /* set: the reply is "error: err" */
	int holds;      /* operations still running for this request */
	int dispatched; /* the request was read and handed to its command */
	int answered;   /* the reply was written out */
	char note[512]; /* a command's line for its success */
	void (*complete)(struct ctl_conn *); /* before the reply goes out */
	/* per-command scratch */
	int64_t counts[24];
	const char *names[16];
	size_t nnames;
	void *scratch; /* a command's own, freed with scratch_free */
	void (*scratch_free)(void *);
	TAILQ_ENTRY(ctl_conn) entry;
};

/*
 * control_split.c: ctl_split - the words of a request line into r (argv in
 * buf, a copy of line of bufsz octets; rest[i] in line, from word i on).
 * -1 if line is not printable ASCII; *more if it has more than
 * CTL_ARGS_MAX words (r then holds the first CTL_ARGS_MAX).
 */
int ctl_split(const char *line, char *buf, size_t bufsz, struct ctl_req *r, int *more);

/* control.c */
void ctl_line(struct ctl_conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void ctl_error(struct ctl_conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void ctl_hold(struct ctl_conn *c);
void ctl_release(struct ctl_conn *c);
/* ctl_time - t as ISO 8601 UTC ("2025-01-31T12:00:00Z"); returns dst */
char *ctl_time(char *dst, size_t dstsz, time_t t);

/* control_store.c: one store operation in flight, and what its answer means */
enum ctl_op_kind {
	SHOW_BAN,   /* "label yes until=... reason=..." or "label no" */
	SHOW_FLAG,  /* "label yes until=..." or "label no" */
	SHOW_COUNT, /* "label N until=..." or "label 0" */
	SHOW_PASS,  /* the verdict cache's "SCORE[f][w]" */
	SHOW_RATE,  /* a bucket's tokens */
	SHOW_OFF,   /* "label off": a limit that is not set */
	SHOW_SUM,   /* "label N": the counters under a prefix, added up */
	SHOW_DEL    /* a removal */
};

struct ctl_op {
	struct ctl_conn *c;
	enum ctl_op_kind kind;
	char label[128];
	uint32_t capacity; /* SHOW_RATE */
	int counts;        /* SHOW_DEL: what a hit adds to c->counts[0] */
	long long sum;     /* SHOW_SUM */
};

/* ctl_op_new - an operation for c: the reply waits until ctl_op_done() */
struct ctl_op *ctl_op_new(struct ctl_conn *c, enum ctl_op_kind kind, const char *label);
void ctl_op_done(struct ctl_op *op);
/* ctl_store - the store, or NULL with the request failed */
struct store *ctl_store(struct ctl_conn *c);
/* ctl_client_key - KEY of an IP argument (the IP, or the IPv6 /64); -1 answered */
int ctl_client_key(struct ctl_conn *c, const char *arg, char *key, size_t keysz,
                   struct netaddr *out);
/* ctl_until - " until=ISO8601 ttl=N" for an expiry, " until=never" for none */
const char *ctl_until(char *buf, size_t bufsz, time_t expires);
/* ctl_count - a stored counter (decimal text); 0 if it is not one */
long long ctl_count(const void *val, size_t len);
/* ctl_scan_done - a scan's end: an error fails the request; releases it */
void ctl_scan_done(enum store_status st, void *arg);

void ctl_ban(struct ctl_conn *c, const struct ctl_req *r);
void ctl_unban(struct ctl_conn *c, const struct ctl_req *r);
void ctl_allow(struct ctl_conn *c, const struct ctl_req *r);
void ctl_disallow(struct ctl_conn *c, const struct ctl_req *r);
void ctl_bans(struct ctl_conn *c, const struct ctl_req *r);
/* control_events.c */
void ctl_events(struct ctl_conn *c, const struct ctl_req *r);
void ctl_allows(struct ctl_conn *c, const struct ctl_req *r);

/* control_show.c */
void ctl_show(struct ctl_conn *c, const struct ctl_req *r);
void ctl_greylist(struct ctl_conn *c, const struct ctl_req *r);
void ctl_stats(struct ctl_conn *c, const struct ctl_req *r);

/* control_queue.c */
void ctl_queue_list(struct ctl_conn *c, const struct ctl_req *r);
void ctl_queue_show(struct ctl_conn *c, const struct ctl_req *r);
void ctl_queue_retry(struct ctl_conn *c, const struct ctl_req *r);
void ctl_queue_delete(struct ctl_conn *c, const struct ctl_req *r);
void ctl_queue_hold(struct ctl_conn *c, const struct ctl_req *r);
void ctl_queue_release(struct ctl_conn *c, const struct ctl_req *r);
/* control_traps.c */
void ctl_traps(struct ctl_conn *c, const struct ctl_req *r);
void ctl_export(struct ctl_conn *c, const struct ctl_req *r);

/* control_metrics.c: accept no more scrapes (reload); answer what is left
 * and free (after the store has answered everything) */
void ctl_metrics_stop(struct ctl_metrics *cm);
void ctl_metrics_free(struct ctl_metrics *cm);

/* ctl_queue_count - messages in the queue directory, -1 if unreadable */
long ctl_queue_count(struct control *ctl);

#endif
