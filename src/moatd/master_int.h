/* SPDX-License-Identifier: ISC */
/*
 * master_int.h - what master.c (the supervisor: binds, forks, restarts,
 * reloads) and master_child.c (a forked child: what it closes, who it
 * becomes, the work it opens and its event loop) share: the master's
 * state, inherited by every child at fork.
 */
#ifndef MOAT_MASTER_INT_H
#define MOAT_MASTER_INT_H

#include <sys/types.h>

#include <openssl/ssl.h>

#include "moatd/privsep.h"

struct event;
struct event_base;
struct moat_conf;

enum child_kind { CHILD_SMTP, CHILD_QUEUE, CHILD_CONTROL, CHILD_BAIT };

struct child {
	pid_t pid;
	enum child_kind kind;
	int generation;
	int index;
	int chan;              /* control: the master's end of its channel, or -1 */
	struct event *chan_ev; /* control: reload requests */
};

#define MAX_CHILDREN 130

struct master {
	int bait_fd;           /* the bait web server's listener, or -1 */
	int metrics_fd;        /* metrics_listen (the control process's), or -1 */
	struct moat_dirs dirs; /* of the current configuration */
	int ctl_dirfd;         /* the run_dir the control socket is in */
	struct event_base *base;
	struct moat_conf *conf;
	const char *conf_path;
	int generation;
	int *fds; /* listener sockets, conf->listeners order */
	size_t nfds;
	int notify[2]; /* [0] workers send, [1] queue runner receives */
	int ctl_fd;    /* the control socket, listening */
	char ctl_path[4096];
	struct child children[MAX_CHILDREN];
	int stopping;
	struct event *respawn_ev;
	/* the listeners' certificates, read by root for each configuration;
	 * SMTP workers inherit them, a refused reload keeps them; NULL: no TLS */
	SSL_CTX *tls;
};

/* master_child.c */
/* child_trap_secret_load - the trap secret the children inherit, read (or
 * made) by the master as root before any child exists (or fatal) */
void child_trap_secret_load(const struct moat_conf *c);
/* child_kind_name - "smtp", "queue", "control" or "bait": log lines, the
 * log ident (moatd/NAME) */
const char *child_kind_name(enum child_kind kind);
/* child_main - a forked child of kind: drop what its role does not need,
 * become the run user, run its work until it is told to stop, exit */
void child_main(struct master *m, enum child_kind kind, int index, int chan)
    __attribute__((noreturn));

#endif
