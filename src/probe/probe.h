/* SPDX-License-Identifier: ISC */
/*
 * probe.h - moat-probe's shared types: options, tests, results, targets.
 *
 * A run has one struct probe_opts (from the command line), a list of
 * struct probe_host (one per target address) and, per host, the battery
 * (struct probe_test, from catalog.c) with one struct probe_result each.
 */
#ifndef MOAT_PROBE_H
#define MOAT_PROBE_H

#include <stddef.h>
#include <sys/socket.h>
#include <time.h>

#include "common/mailaddr.h"
#include "common/netaddr.h"

#define PROBE_NAME_MAX  256 /* host and domain names */
#define PROBE_KEY_MAX   64  /* "addr:port" / "[v6]:port" */
#define PROBE_ID_MAX    32
#define PROBE_ADDR_MAX  (MAILADDR_PATH_MAX + 1)
#define PROBE_REPLY_MAX 512
#define PROBE_ONLY_MAX  32

struct probe_opts {
	const char *helo;                   /* EHLO argument: who we are */
	char sender[PROBE_ADDR_MAX];        /* the tool-like sender */
	const char *rcpt_local;             /* local part of the external recipient */
	const char *relay_domain;           /* external destination domain */
	char relay_literal[NETADDR_STRLEN]; /* external IP literal */
	const char *hostname;               /* target's name; NULL: from its greeting */
	const char *domain;                 /* target's own mail domain; NULL: derived */
	const char *tests;                  /* fnmatch pattern of test ids; NULL: all */
	const char *sink;                   /* ADDR:PORT of our receiving sink, or NULL */
	const char *key_file;
	const char *state_file;
	const char *source; /* source address to bind, or NULL */
	const char *dns;    /* DNS server for target names, or NULL */
	int json;
	int starttls;
	int verbose;
	int concurrency; /* hosts at once */
	int rate;        /* connections per minute per host */
	int timeout;     /* seconds per connect/reply */
	int wait;        /* seconds to wait for receipts after the last message */
	int port;        /* default port */
	struct cidr only[PROBE_ONLY_MAX];
	size_t nonly;
};

enum probe_verdict {
	PV_NOTRUN = 0,
	PV_REFUSED,      /* MAIL, RCPT or DATA refused */
	PV_ACCEPTED,     /* RCPT (and DATA) accepted, no receipt */
	PV_RELAYED,      /* the token came back to the sink */
	PV_REFUSED_CONN, /* 421/554 (or other non-2xx) greeting */
	PV_ERROR,        /* could not test: connect, timeout, protocol */
};

struct probe_test {
	char id[PROBE_ID_MAX];
	const char *group;
	const char *what;          /* one-line description */
	char from[PROBE_ADDR_MAX]; /* reverse-path without brackets; "" is <> */
	char to[PROBE_ADDR_MAX];   /* forward-path without brackets */
};

struct probe_result {
	enum probe_verdict verdict;
	const char *stage; /* connect, helo, mail, rcpt, data */
	int code;
	int local; /* the reply was synthesized by us */
	char reply[PROBE_REPLY_MAX];
	int data_sent; /* a message went out: a receipt can come */
	time_t sent_at;
	time_t proof_at;                /* when the token reached the sink */
	char proof_peer[PROBE_KEY_MAX]; /* who delivered it to the sink */
	char proof_rcpt[PROBE_ADDR_MAX];
};

struct probe_host {
	char name[PROBE_NAME_MAX]; /* as the user wrote it */
	char key[PROBE_KEY_MAX];   /* "addr:port": what tokens name */
	char ip[NETADDR_STRLEN];
	int port;
	struct sockaddr_storage ss;
	socklen_t sslen;
	char srvname[PROBE_NAME_MAX];
	char domain[PROBE_NAME_MAX];
	struct probe_test *tests;
	struct probe_result *res;
	size_t ntests;
	int refused_conn; /* the battery stopped at a 421/554 greeting */
	int gave_up;      /* stopped after local failures in a row */
	int conn_code;    /* the refusing greeting, or a local failure */
	int conn_local;
	char conn_reply[PROBE_REPLY_MAX];
	int resolved;
	int from_state; /* finished in an earlier run (state file) */
	char state_line[512];
	void *run; /* runner.c's private state */
};

const char *probe_verdict_str(enum probe_verdict v);

/* probe_host_status - 0 no relay, 1 relay found, 2 could not test */
int probe_host_status(const struct probe_host *h, int have_sink);

#endif
