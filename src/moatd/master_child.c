/* SPDX-License-Identifier: ISC */
/*
 * master_child.c - a child of the moatd master, from fork to exit: it
 * closes what the master holds that its role does not need, drops to the
 * run user (chrooted SMTP workers and bait server: into spool_dir or
 * run_dir/empty, after their work is open), opens its work on an event
 * loop of its own (SMTP worker, queue runner, control process or bait web
 * server), says it is ready and runs until SIGTERM (stop now) or SIGUSR1
 * (reload: finish what is under way, then exit). The trap secret the
 * master reads as root lives here: the children inherit it in memory.
 * API: master_int.h (master.c forks, this file runs the child).
 * SECURITY: no network input of its own: the work it opens reads the
 * network (smtpd.c, control.c, bait/httpd.c) only after this file has
 * closed the other roles' descriptors and dropped root.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "bait/httpd.h"
#include "bait/trapaddr.h"
#include "common/log.h"
#include "conf/conf.h"
#include "deliver/qmgr.h"
#include "moatd/control.h"
#include "moatd/master_int.h"
#include "moatd/notify.h"
#include "moatd/privsep.h"
#include "policy/policy.h"
#include "smtp/smtpd.h"
#include "store/store.h"

/*
 * The trap secret: read (or made, on first start) by the master as root,
 * before any child exists; the children inherit it in memory, so the file
 * can stay readable by root only.
 */
static struct trap_secret trap_secret;
static int have_trap_secret;

void
child_trap_secret_load(const struct moat_conf *c)
{
	char err[512];

	if (c->bait.secret_file == NULL)
		return;
	if (trap_secret_load(c->bait.secret_file, 1, &trap_secret, err, sizeof(err)) ==
	    -1)
		fatalx("bait: %s", err);
	have_trap_secret = 1;
}

/* ---- children ---- */

static struct event_base *child_base;
static struct smtpd *child_smtpd;
static struct qmgr *child_qmgr;
static struct control *child_ctl;
static struct baitd *child_baitd;
static struct store *child_store; /* the bait server's */

static void
child_term_cb(evutil_socket_t sig, short what, void *arg)
{
	if (child_smtpd != NULL)
		smtpd_shutdown(child_smtpd);
	event_base_loopexit(child_base, NULL);
}

static void
child_drain_cb(evutil_socket_t sig, short what, void *arg)
{
	/* Reload: stop accepting; exit when the last session ends. */
	if (child_smtpd != NULL)
		smtpd_drain(child_smtpd);
	else if (child_ctl != NULL)
		control_drain(child_ctl);
	else if (child_baitd != NULL)
		baitd_drain(child_baitd);
	else
		event_base_loopexit(child_base, NULL);
}

static void
child_signals(void)
{
	signal(SIGHUP, SIG_IGN);
	signal(SIGINT, SIG_IGN); /* the master handles ^C for the group */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGCHLD, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGUSR1, SIG_DFL);
}

/* The name of each kind, for log lines and the log ident (moatd/NAME). */
static const char *const kind_names[] = {
    [CHILD_SMTP] = "smtp",
    [CHILD_QUEUE] = "queue",
    [CHILD_CONTROL] = "control",
    [CHILD_BAIT] = "bait",
};
_Static_assert(sizeof(kind_names) / sizeof(kind_names[0]) == CHILD_BAIT + 1,
               "a name for every child kind");

const char *
child_kind_name(enum child_kind kind)
{
	return kind_names[kind];
}

static void
log_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what, (void)arg;
	log_flush();
}

static void
log_wake(void *ev)
{
	event_active(ev, EV_TIMEOUT, 0);
}

/* open_traps - the trap bookkeeping's store: all the bait server writes */
static struct store *
open_traps(const struct moat_conf *c, struct event_base *base)
{
	struct store_config sc;

	store_config_traps(&sc, c);
	return store_open(&sc, base);
}

/*
 * child_close - what the master holds that this kind does not need; the
 * directory a chrooted child will chroot into is its return value (-1:
 * none). A chrooted child must hold no directory outside its root: one
 * would be a way out ("..").
 */
static int
child_close(struct master *m, enum child_kind kind)
{
	const struct moat_conf *c = m->conf;
	int root = -1;

	/* The master's ends of control channels are the master's alone. */
	for (int i = 0; i < MAX_CHILDREN; i++)
		if (m->children[i].chan != -1)
			close(m->children[i].chan);
	if (kind != CHILD_CONTROL)
		close(m->ctl_fd);
	if (kind != CHILD_BAIT && m->bait_fd != -1)
		close(m->bait_fd);
	if (kind != CHILD_CONTROL && m->metrics_fd != -1)
		close(m->metrics_fd);
	if (kind == CHILD_QUEUE)
		close(m->notify[0]);
	else
		close(m->notify[1]);
	if (kind != CHILD_SMTP)
		for (size_t i = 0; i < m->nfds; i++)
			close(m->fds[i]);
	close(m->ctl_dirfd);
	notify_child_init();
	if (c->chroot && kind == CHILD_SMTP) {
		root = m->dirs.spool;
		m->dirs.spool = -1;
	} else if (c->chroot && kind == CHILD_BAIT) {
		root = m->dirs.empty;
		m->dirs.empty = -1;
	}
	privsep_close_dirs(&m->dirs);
	return root;
}

/* For the STATUS= line systemd shows (notify.c). */
static long
smtp_sessions(void)
{
	return (long)child_smtpd->nsessions;
}

static long
queue_size(void)
{
	return (long)qmgr_size(child_qmgr);
}

/*
 * child_open - the work of each kind, set up on child_base; a chrooted one
 * does this as the run user, before its chroot
 */
static void
child_open(struct master *m, enum child_kind kind, int chan, SSL_CTX *tls)
{
	struct moat_conf *c = m->conf;

	if (kind == CHILD_SMTP) {
		size_t share = ((size_t)c->limits.sessions_max + (size_t)c->workers - 1) /
		               (size_t)c->workers;
		/* Chrooted, the Dovecot socket is reached from inside spool_dir
		 * (pathcheck.c made sure it is there). */
		char *in;
		if (c->chroot && c->auth_dovecot_socket != NULL &&
		    (in = privsep_inside(c->spool_dir, c->auth_dovecot_socket)) != NULL) {
			free(c->auth_dovecot_socket);
			c->auth_dovecot_socket = in;
		}
		child_smtpd =
		    smtpd_new(child_base, c, m->fds, m->nfds, m->notify[0], share, tls);
		if (have_trap_secret)
			policy_set_trap_secret(child_smtpd->policy, &trap_secret);
	} else if (kind == CHILD_QUEUE) {
		child_qmgr = qmgr_new(child_base, c, m->notify[1]);
	} else if (kind == CHILD_CONTROL) {
		child_ctl = control_new(child_base, c, m->ctl_fd, chan, m->notify[0]);
		control_export(child_ctl);
		if (m->metrics_fd != -1)
			control_metrics(child_ctl, m->metrics_fd);
	} else {
		if ((child_store = open_traps(c, child_base)) == NULL)
			fatalx("bait: cannot open the trap store in %s/traps",
			       log_escape_str(c->state_dir));
		child_baitd =
		    baitd_new(child_base, c, &trap_secret, child_store, m->bait_fd);
	}
}

void
child_main(struct master *m, enum child_kind kind, int index, int chan)
{
	struct event *term, *drain;
	const struct moat_conf *c = m->conf;
	char ident[32];
	int root;

	child_signals();
	/*
	 * One event base per process may own signals: drop the master's. The
	 * epoll instance is shared with the master after fork, so give the
	 * child its own first (event_reinit), or freeing would unregister the
	 * master's events.
	 */
	if (m->base != NULL) {
		event_reinit(m->base);
		event_base_free(m->base);
		m->base = NULL;
	}
	snprintf(ident, sizeof(ident), "moatd/%s", child_kind_name(kind));
	log_set_ident(ident);
	root = child_close(m, kind);
	/* The keys, read by root in the master, are the SMTP workers' alone:
	 * another child frees its copy at once (OpenSSL clears a freed key). */
	SSL_CTX *tls = kind == CHILD_SMTP ? m->tls : NULL;
	if (kind != CHILD_SMTP)
		SSL_CTX_free(m->tls);
	m->tls = NULL;
	if (root != -1)
		privsep_become_user(c);
	else
		drop_privileges(c);
	/* epoll's change list: a socket's read/write interest switched on and
	 * off in one loop pass costs no epoll_ctl at all (a refused client's
	 * whole session may). Unsafe with dup()ed sockets in the loop; no
	 * process here puts one there. */
	struct event_config *ecfg = event_config_new();
	if (ecfg == NULL)
		fatalx("event_config_new");
	event_config_set_flag(ecfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	/* The bait server's pages wait bait_pace_ms: on libevent's coarse
	 * clock (a tick of 4 ms) they came up to a tick early. */
	if (kind == CHILD_BAIT)
		event_config_set_flag(ecfg, EVENT_BASE_FLAG_PRECISE_TIMER);
	child_base = event_base_new_with_config(ecfg);
	event_config_free(ecfg);
	if (child_base == NULL)
		fatalx("event_base_new");
	/* A loop pass's log lines go out in one write at its end. */
	struct event *log_ev = event_new(child_base, -1, 0, log_flush_cb, NULL);
	if (log_ev == NULL)
		fatalx("event_new");
	log_hold(log_wake, log_ev);
	term = evsignal_new(child_base, SIGTERM, child_term_cb, NULL);
	drain = evsignal_new(child_base, SIGUSR1, child_drain_cb, NULL);
	event_add(term, NULL);
	event_add(drain, NULL);
	child_open(m, kind, chan, tls);
	if (root != -1) {
		privsep_chroot(c, root, child_kind_name(kind));
		close(root);
	}
	if (kind == CHILD_SMTP)
		log_info("smtp worker %d ready%s", index,
		         root != -1 ? " (chrooted)" : "");
	else if (kind == CHILD_QUEUE)
		log_info("queue runner ready");
	else if (kind == CHILD_CONTROL)
		log_info("control ready on %s", m->ctl_path);
	else
		log_info("bait server ready on %s%s", c->bait.listen,
		         root != -1 ? " (chrooted)" : "");
	if (kind == CHILD_SMTP)
		notify_child_report(child_base, NOTIFY_SESSIONS, smtp_sessions);
	else if (kind == CHILD_QUEUE)
		notify_child_report(child_base, NOTIFY_QUEUE, queue_size);
	notify_child_ready();
	event_base_dispatch(child_base);
	if (child_smtpd != NULL) {
		smtpd_shutdown(child_smtpd);
		smtpd_free(child_smtpd);
	}
	qmgr_free(child_qmgr);
	control_free(child_ctl);
	baitd_free(child_baitd);
	store_close(child_store);
	event_free(term);
	event_free(drain);
	log_hold(NULL, NULL);
	event_free(log_ev);
	event_base_free(child_base);
	conf_free(m->conf);
	free(m->fds);
	exit(0);
}
