/* SPDX-License-Identifier: ISC */
/*
 * master.c - the moatd master process.
 *
 * Started as root, the master checks the configured paths (pathcheck.c),
 * prepares the directories by descriptor (privsep.c), loads the trap
 * secret, binds every listener (SMTP, bait, metrics), the control socket
 * (run_dir/moatd.sock) and the local submission socket (run_dir/submit.sock,
 * for moat-sendmail)
 * and forks the children that do the work: the SMTP workers, the queue
 * runner, the control process (control.c) and the bait web server
 * (bait/httpd.c). Each child drops to the unprivileged user before its
 * event loop reads a byte. The master reads nothing from the network; it
 * restarts children that die, and on SIGHUP, or when the control process
 * asks, re-reads the configuration and replaces its children (old SMTP
 * workers finish their sessions first). Under systemd it says so at each
 * step (notify.c: READY, RELOADING, STOPPING, STATUS, WATCHDOG). Who holds
 * what (moatd(8) says the
 * same; * = with chroot = true, after everything below was opened):
 *   master   root  /               listeners, control socket, run_dir and
 *                                  spool_dir by descriptor, trap secret
 *   smtp     moat  spool_dir*      SMTP listeners, spool tmp/queue/journal/
 *                                  free, store files, TLS key and trap
 *                                  secret in memory, password file contents
 *   queue    moat  /               spool, mail_dir, store; delivers anywhere
 *   control  moat  /               control socket, metrics listener,
 *                                  spool queue, store, export_file
 *   bait     moat  run_dir/empty*  bait listener, trap secret, store files
 * A child's own side, from fork to its event loop, is master_child.c; the
 * state both share is master_int.h.
 * SECURITY: no network input. Runs as root when started as root, and then
 * opens nothing by a name the run user could redirect. From the control
 * process it takes one byte, a reload request; anything else is ignored.
 * Children close the descriptors their role does not need.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "common/fdlimit.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "moatd/control.h"
#include "policy/policy.h"
#include "moatd/master.h"
#include "moatd/master_int.h"
#include "moatd/notify.h"
#include "moatd/pathcheck.h"
#include "moatd/privsep.h"
#include "moatd/runsock.h"
#include "moatd/sweep.h"
#include "queue/journal.h"
#include "smtp/tls.h"

static struct master *the_master;

/* ---- directories ---- */

/*
 * recover_spool - the spool journal's segments left by a crash, before any
 * child reads the queue; as the unprivileged user, who owns the spool's
 * directories.
 */
static void
recover_spool(const struct moat_conf *c)
{
	pid_t pid;
	int status;

	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid == 0) {
		drop_privileges(c);
		_exit(journal_recover(c->spool_dir) == -1 ? 1 : 0);
	}
	if (waitpid(pid, &status, 0) == -1 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		log_warnx("master: the spool journal could not be recovered; its "
		          "segments stay for the next start");
}

/*
 * load_tls - c's certificates as root, after privsep_prepare_dirs() made a
 * self-signed one: NULL and a logged error if they cannot be used (*bad set)
 */
static SSL_CTX *
load_tls(const struct moat_conf *c, int *bad)
{
	char err[1600];
	SSL_CTX *tls;

	*bad = 0;
	if (c->tls_cert_file == NULL)
		return NULL;
	if ((tls = tls_server_load(c, err, sizeof(err))) == NULL) {
		log_warnx("master: %s", err);
		*bad = 1;
	}
	return tls;
}

/* prepare_dirs - the directories of the configuration, at start (or fatal) */
static void
prepare_dirs(struct master *m)
{
	if (privsep_prepare_dirs(m->conf, &m->dirs) == -1)
		fatalx("master: the directories are not usable (see above)");
}

/* ---- listeners ---- */

/* bind_tcp - a listening TCP socket on ss, or fatal (start-up) */
static int
bind_tcp(const struct sockaddr_storage *ss, socklen_t len, const char *name,
         const char *address)
{
	int fd, one = 1;

	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		fatal("listen %s: socket", name);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss->ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)ss, len) == -1)
		fatal("listen %s: bind %s", name, address);
	if (listen(fd, 1024) == -1)
		fatal("listen %s: listen %s", name, address);
	return fd;
}

/* bind_listener - a TCP listener, or the local submission socket: in
 * run_dir, by name, mode 0666 (run_dir is root's 0755: anyone may reach
 * it; who connects is told by SO_PEERCRED, session_localuser.c) */
static int
bind_listener(const struct master *m, const struct listener_conf *l)
{
	if (l->role == ROLE_LOCAL)
		return runsock_listen(m->ctl_dirfd, LOCAL_SUBMIT_SOCKET, l->address + 5,
		                      0666, 128);
	return bind_tcp(&l->ss, l->sslen, l->name, l->address);
}

/* ---- children: spawned, reaped, restarted (their side: master_child.c) ---- */

static void ctl_chan_cb(evutil_socket_t fd, short what, void *arg);

/* chan_close - forget a control child's channel */
static void
chan_close(struct child *ch)
{
	if (ch->chan_ev != NULL)
		event_free(ch->chan_ev);
	if (ch->chan != -1)
		close(ch->chan);
	ch->chan_ev = NULL;
	ch->chan = -1;
}

static void
spawn(struct master *m, enum child_kind kind, int index)
{
	struct child *slot = NULL;
	int chan[2] = {-1, -1};
	pid_t pid;

	for (int i = 0; i < MAX_CHILDREN; i++)
		if (m->children[i].pid == 0) {
			slot = &m->children[i];
			break;
		}
	if (slot == NULL) {
		log_warnx("master: no room for another child");
		return;
	}
	/* The control process asks for reloads on a channel of its own. */
	if (kind == CHILD_CONTROL &&
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, chan) == -1) {
		log_warn("master: socketpair");
		return;
	}
	if ((pid = fork()) == -1) {
		log_warn("master: fork");
		if (chan[0] != -1) {
			close(chan[0]);
			close(chan[1]);
		}
		return;
	}
	if (pid == 0) {
		if (chan[0] != -1)
			close(chan[0]);
		child_main(m, kind, index, chan[1]);
	}
	slot->pid = pid;
	slot->kind = kind;
	slot->index = index;
	slot->generation = m->generation;
	if (chan[0] != -1) {
		close(chan[1]);
		fcntl(chan[0], F_SETFL, O_NONBLOCK);
		slot->chan = chan[0];
		slot->chan_ev =
		    event_new(m->base, chan[0], EV_READ | EV_PERSIST, ctl_chan_cb, slot);
		event_add(slot->chan_ev, NULL);
	}
}

static void
spawn_all(struct master *m)
{
	notify_generation_begin();
	spawn(m, CHILD_QUEUE, 0);
	spawn(m, CHILD_CONTROL, 0);
	if (m->bait_fd != -1)
		spawn(m, CHILD_BAIT, 0);
	for (int i = 0; i < m->conf->workers; i++)
		spawn(m, CHILD_SMTP, i);
	/* READY=1 when each of them is (notify.c) */
	notify_generation_spawned();
}

static void
signal_children(struct master *m, int sig, int generation)
{
	for (int i = 0; i < MAX_CHILDREN; i++)
		if (m->children[i].pid > 0 &&
		    (generation < 0 || m->children[i].generation == generation))
			kill(m->children[i].pid, sig);
}

static int
nchildren(struct master *m)
{
	int n = 0;
	for (int i = 0; i < MAX_CHILDREN; i++)
		n += m->children[i].pid > 0;
	return n;
}

/* respawn_cb - bring back children of the current generation that died */
static void
respawn_cb(evutil_socket_t fd, short what, void *arg)
{
	struct master *m = arg;
	int have_queue = 0, have_control = 0, have_bait = 0, have_smtp[64] = {0};

	if (m->stopping)
		return;
	for (int i = 0; i < MAX_CHILDREN; i++) {
		struct child *ch = &m->children[i];
		if (ch->pid <= 0 || ch->generation != m->generation)
			continue;
		if (ch->kind == CHILD_QUEUE)
			have_queue = 1;
		else if (ch->kind == CHILD_CONTROL)
			have_control = 1;
		else if (ch->kind == CHILD_BAIT)
			have_bait = 1;
		else if (ch->index < 64)
			have_smtp[ch->index] = 1;
	}
	if (!have_queue)
		spawn(m, CHILD_QUEUE, 0);
	if (!have_control)
		spawn(m, CHILD_CONTROL, 0);
	if (!have_bait && m->bait_fd != -1)
		spawn(m, CHILD_BAIT, 0);
	for (int i = 0; i < m->conf->workers; i++)
		if (!have_smtp[i])
			spawn(m, CHILD_SMTP, i);
}

static void
sigchld_cb(evutil_socket_t sig, short what, void *arg)
{
	struct master *m = arg;
	pid_t pid;
	int status, lost = 0;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (int i = 0; i < MAX_CHILDREN; i++) {
			struct child *ch = &m->children[i];
			if (ch->pid != pid)
				continue;
			ch->pid = 0;
			chan_close(ch);
			/* whatever it counted in the store goes with it */
			if (ch->kind == CHILD_SMTP && !m->stopping)
				sweep_process(m->conf, pid);
			if (m->stopping || ch->generation != m->generation)
				break;
			/* A child of the current generation should not exit. */
			if (WIFSIGNALED(status))
				log_warnx("master: %s process %d killed by signal %d",
				          child_kind_name(ch->kind), (int)pid,
				          WTERMSIG(status));
			else
				log_warnx("master: %s process %d exited with status %d",
				          child_kind_name(ch->kind), (int)pid,
				          WEXITSTATUS(status));
			lost = 1;
			break;
		}
	}
	if (m->stopping && nchildren(m) == 0)
		event_base_loopexit(m->base, NULL);
	if (lost) {
		/* A pause, so a child that dies at once cannot spin the master. */
		struct timeval tv = {1, 0};
		evtimer_add(m->respawn_ev, &tv);
	}
}

static void
sigterm_cb(evutil_socket_t sig, short what, void *arg)
{
	struct master *m = arg;

	if (m->stopping)
		return;
	log_info("master: stopping on signal %d", (int)sig);
	notify_stopping();
	m->stopping = 1;
	signal_children(m, SIGTERM, -1);
	if (nchildren(m) == 0)
		event_base_loopexit(m->base, NULL);
}

/* report_log - a pathcheck problem, as a warning */
static void
report_log(const char *line, void *arg)
{
	log_warnx("master: %s", line);
}

static enum control_reload reload_conf(struct master *m);

/* reload - re-read the configuration and replace the children; systemd
 * hears RELOADING=1 first, and READY=1 when the new children are (or at
 * once, when the running configuration stays) */
static enum control_reload
reload(struct master *m)
{
	enum control_reload r;

	notify_reloading();
	if ((r = reload_conf(m)) != CONTROL_RELOAD_OK)
		notify_reload_failed();
	return r;
}

static enum control_reload
reload_conf(struct master *m)
{
	struct moat_conf *nc;
	struct moat_dirs dirs;
	int old = m->generation;

	log_info("master: reloading %s", m->conf_path);
	if ((nc = conf_load(m->conf_path)) == NULL ||
	    policy_files_check(nc, stderr) == -1) {
		conf_free(nc);
		log_warnx("master: %s has errors; keeping the running configuration",
		          m->conf_path);
		return CONTROL_RELOAD_ERRORS;
	}
	/* Listeners stay bound; a changed listen section needs a restart. */
	if (nc->nlisteners != m->conf->nlisteners) {
		log_warnx("master: listeners changed; restart moatd to apply");
		conf_free(nc);
		return CONTROL_RELOAD_LISTENERS;
	}
	for (size_t i = 0; i < nc->nlisteners; i++)
		if (strcmp(nc->listeners[i].address, m->conf->listeners[i].address) !=
		    0) {
			log_warnx("master: listeners changed; restart moatd to apply");
			conf_free(nc);
			return CONTROL_RELOAD_LISTENERS;
		}
	/* The metrics listener too: bound once, as root. */
	if ((nc->metrics_listen == NULL) != (m->conf->metrics_listen == NULL) ||
	    (nc->metrics_listen != NULL &&
	     strcmp(nc->metrics_listen, m->conf->metrics_listen) != 0))
		log_warnx("master: metrics_listen changed; it stays %s until a restart",
		          m->conf->metrics_listen != NULL ? m->conf->metrics_listen
		                                          : "off");
	/* So is the control socket; moatctl finds it through the new file. */
	if (strcmp(nc->run_dir, m->conf->run_dir) != 0)
		log_warnx("master: run_dir changed; the control socket stays at %s "
		          "until a restart",
		          m->ctl_path);
	/* Nothing root would read or make through the run user's files. */
	if ((nc->chroot && !nc->drop_privileges) ||
	    pathcheck_conf(nc, report_log, NULL) > 0 ||
	    privsep_prepare_dirs(nc, &dirs) == -1) {
		if (nc->chroot && !nc->drop_privileges)
			log_warnx("master: chroot = true needs moatd started as root");
		log_warnx("master: %s cannot be used as it is (see above); keeping the "
		          "running configuration",
		          m->conf_path);
		privsep_distrust(m->conf);
		conf_free(nc);
		return CONTROL_RELOAD_ERRORS;
	}
	/* A certificate or key that cannot be used keeps the running ones. */
	int bad;
	SSL_CTX *tls = load_tls(nc, &bad);
	if (bad) {
		log_warnx("master: %s has a certificate that cannot be used (see "
		          "above); keeping the running configuration",
		          m->conf_path);
		privsep_close_dirs(&dirs);
		privsep_distrust(m->conf);
		conf_free(nc);
		return CONTROL_RELOAD_ERRORS;
	}
	SSL_CTX_free(m->tls);
	m->tls = tls;
	conf_free(m->conf);
	m->conf = nc;
	log_set_json(nc->log_json);
	m->generation++;
	privsep_close_dirs(&m->dirs);
	m->dirs = dirs;
	spawn_all(m);
	/* Old workers stop accepting and leave when their sessions end. */
	signal_children(m, SIGUSR1, old);
	log_info("master: configuration reloaded");
	return CONTROL_RELOAD_OK;
}

/* sighup_cb - SIGHUP: reload */
static void
sighup_cb(evutil_socket_t sig, short what, void *arg)
{
	reload(arg);
}

/* ctl_chan_cb - the control process asks for a reload; answer how it went */
static void
ctl_chan_cb(evutil_socket_t fd, short what, void *arg)
{
	struct child *ch = arg;
	char req, ans;
	ssize_t n = recv(fd, &req, 1, MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		chan_close(ch); /* the control process is gone */
		return;
	}
	if (req != CONTROL_RELOAD_REQUEST || the_master->stopping)
		return;
	ans = (char)('0' + reload(the_master));
	/* The asking process is of the old generation now; it still listens. */
	if (send(fd, &ans, 1, MSG_DONTWAIT | MSG_NOSIGNAL) != 1)
		log_warn("master: answer to the control process");
}

/* libevent_log - libevent's own warnings, through our log */
static void
libevent_log(int severity, const char *msg)
{
	if (severity >= EVENT_LOG_WARN)
		log_warnx("libevent: %s", msg);
}

int
master_run(struct moat_conf *conf, const char *conf_path)
{
	struct master *m = xcalloc(1, sizeof(*m));
	struct event *ev_chld, *ev_term, *ev_int, *ev_hup;

	the_master = m;
	m->conf = conf;
	m->conf_path = conf_path;
	for (int i = 0; i < MAX_CHILDREN; i++)
		m->children[i].chan = -1;
	if (conf->chroot && !conf->drop_privileges)
		fatalx("master: chroot = true needs moatd started as root");
	prepare_dirs(m);
	recover_spool(conf);
	sweep_all(conf);
	/* after the forks of the two above: only the children below inherit it */
	int bad;
	if ((m->tls = load_tls(conf, &bad)) == NULL && bad)
		fatalx("master: the certificates cannot be used (see above)");
	/* every session a socket: the children inherit the limit */
	fdlimit_raise((conf->limits.sessions_max > conf->limits.delivery_conns_max
	                   ? conf->limits.sessions_max
	                   : conf->limits.delivery_conns_max) +
	              FDLIMIT_SPARE);
	child_trap_secret_load(conf);
	if ((size_t)snprintf(m->ctl_path, sizeof(m->ctl_path), "%s/%s", conf->run_dir,
	                     CONTROL_SOCKET_NAME) >= sizeof(m->ctl_path))
		fatalx("control socket path too long");
	/* The socket's directory for good: run_dir may change on reload. */
	if ((m->ctl_dirfd = dup(m->dirs.run)) == -1)
		fatal("master: dup");
	m->ctl_fd = control_listen(m->ctl_dirfd, m->ctl_path);
	m->bait_fd = conf->bait.listen != NULL
	                 ? bind_tcp(&conf->bait.listen_ss, conf->bait.listen_len, "bait",
	                            conf->bait.listen)
	                 : -1;
	m->metrics_fd = conf->metrics_listen != NULL
	                    ? bind_tcp(&conf->metrics_ss, conf->metrics_len, "metrics",
	                               conf->metrics_listen)
	                    : -1;
	m->nfds = conf->nlisteners;
	m->fds = xcalloc(m->nfds, sizeof(int));
	for (size_t i = 0; i < m->nfds; i++)
		m->fds[i] = bind_listener(m, &conf->listeners[i]);
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, m->notify) == -1)
		fatal("socketpair");
	fcntl(m->notify[0], F_SETFL, O_NONBLOCK);
	fcntl(m->notify[1], F_SETFL, O_NONBLOCK);
	signal(SIGPIPE, SIG_IGN);
	event_set_log_callback(libevent_log);

	m->base = event_base_new();
	if (m->base == NULL)
		fatalx("event_base_new");
	m->respawn_ev = evtimer_new(m->base, respawn_cb, m);
	ev_chld = evsignal_new(m->base, SIGCHLD, sigchld_cb, m);
	ev_term = evsignal_new(m->base, SIGTERM, sigterm_cb, m);
	ev_int = evsignal_new(m->base, SIGINT, sigterm_cb, m);
	ev_hup = evsignal_new(m->base, SIGHUP, sighup_cb, m);
	event_add(ev_chld, NULL);
	event_add(ev_term, NULL);
	event_add(ev_int, NULL);
	event_add(ev_hup, NULL);
	notify_open(m->base);

	for (size_t i = 0; i < conf->nlisteners; i++)
		log_info("master: listening on %s (%s)", conf->listeners[i].address,
		         conf->listeners[i].name);
	if (conf->metrics_listen != NULL)
		log_info("master: metrics on http://%s/metrics", conf->metrics_listen);
	spawn_all(m);
	event_base_dispatch(m->base);

	event_free(ev_chld);
	event_free(ev_term);
	event_free(ev_int);
	event_free(ev_hup);
	event_free(m->respawn_ev);
	notify_close();
	for (int i = 0; i < MAX_CHILDREN; i++)
		chan_close(&m->children[i]);
	event_base_free(m->base);
	close(m->ctl_fd);
	if (m->metrics_fd != -1)
		close(m->metrics_fd);
	control_unlink(m->ctl_dirfd);
	runsock_unlink(m->ctl_dirfd, LOCAL_SUBMIT_SOCKET);
	close(m->ctl_dirfd);
	privsep_close_dirs(&m->dirs);
	for (size_t i = 0; i < m->nfds; i++)
		close(m->fds[i]);
	close(m->notify[0]);
	close(m->notify[1]);
	free(m->fds);
	SSL_CTX_free(m->tls);
	conf_free(m->conf);
	free(m);
	log_info("master: stopped");
	return 0;
}
