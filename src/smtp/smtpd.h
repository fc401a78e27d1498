/* SPDX-License-Identifier: ISC */
/*
 * smtpd.h - one SMTP worker process: its listeners and its sessions.
 *
 * smtpd_new() takes the already-bound listener sockets; smtpd_drain() stops
 * accepting and lets the sessions finish (reload, shutdown). The worker's
 * counters (struct smtpd_stats) are added to the store's "stat:NAME"
 * counters every second, and once more when the worker ends.
 */
#ifndef MOAT_SMTPD_H
#define MOAT_SMTPD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <time.h>

struct event_base;
struct moat_conf;
struct resolver;
struct spool;
struct evconnlistener;
struct authdb;
struct store;
struct policy;
typedef struct ssl_ctx_st SSL_CTX;

struct smtpd_stats {
	uint64_t sessions;
	uint64_t messages;
	uint64_t rejected_rcpts;
	uint64_t refused_connect; /* sessions refused by the connect screen
	                           * or as early talkers, and over sessions_max */
	uint64_t preempted;       /* idle sessions closed to make room */
	uint64_t stress;          /* times stress mode began */
	uint64_t store_alarms;    /* checks that let a client through: no store */
	uint64_t attack_hits;     /* signature hits (policy/attack.c) */
	uint64_t attack_bans;     /* ... and the bans they led to */
};

struct session;
struct preempted;
TAILQ_HEAD(session_list, session);

struct smtpd {
	struct event_base *base;
	const struct moat_conf *conf;
	struct resolver *res;
	struct spool *spool;
	SSL_CTX *tls_ctx; /* NULL: no TLS */
	struct authdb *authdb;
	struct store *store;
	struct store *traps; /* the trap bookkeeping's (state_dir/traps), or NULL */
	struct policy *policy;
	struct event *purge_ev;
	char *linebuf; /* one command line at a time: sessions share it */
	size_t linebuf_sz;
	struct session_list sessions;
	struct session_list idle;    /* preemptible, longest idle first */
	struct preempted *preempted; /* clients whose sessions went lately */
	size_t nsessions;
	size_t nheld; /* sessions whose refusal is held back (refuse_hold_ms) */
	size_t sessions_max;
	int stress; /* above stress_high_water: short timeouts, one error */
	size_t stress_on, stress_off; /* session counts that start and end it */
	uint64_t next_sid;
	struct evconnlistener **listeners;
	size_t nlisteners;
	struct event *accept_ev;          /* accepting again after EMFILE */
	int spool_fd;                     /* spool_dir, for its free space (fstatvfs) */
	time_t room_checked, room_logged; /* the spool's free space, once a second */
	int room_short;
	long accept_pause_ms;
	unsigned long accept_errors;
	time_t accept_logged;
	int draining;
	struct smtpd_stats stats;
	struct smtpd_stats stats_sent; /* what the store has been asked to add */
	struct event *stats_ev;
	size_t sessions_shown; /* the open sessions the store was told of */
	int sessions_put;      /* ... told at least once */
	unsigned ticks;
	char host_tag[16]; /* store_host_tag(): "" alone, "@TAG" with a shared store */
};

struct smtpd *smtpd_new(struct event_base *base, const struct moat_conf *conf,
                        const int *fds, size_t nfds, int notify_fd, size_t sessions_max,
                        SSL_CTX *tls_ctx);
void smtpd_drain(struct smtpd *sd);
/* smtpd_shutdown - drop every session now (SIGTERM) */
void smtpd_shutdown(struct smtpd *sd);
void smtpd_free(struct smtpd *sd);

/* smtpd_spool_short - 1 while the spool's file system has less free space
 * than spool_free_min (looked at once a second) */
int smtpd_spool_short(struct smtpd *sd);

/* called by session.c */
void smtpd_session_closed(struct smtpd *sd);

#endif
