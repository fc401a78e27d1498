/* SPDX-License-Identifier: ISC */
/*
 * control.c - the control process: serves run_dir/moatd.sock for moatctl.
 *
 * The master binds the socket as root in run_dir, a directory of root's
 * it holds open (control_listen: mode 0600 from the bind on, owned by
 * root), and forks this process, which drops to the run user and serves
 * it on its own loop (control_new). A peer must be root or the run user
 * (SO_PEERCRED). Each connection carries one request line and gets one
 * reply (protocol in control.h); commands live in control_store.c and
 * control_queue.c, reload is here: the master is asked over a socketpair
 * and its one-byte answer becomes the reply. Every request is logged once,
 * with the peer's uid and the result.
 * SECURITY: reads bytes from local peers: at most CONTROL_LINE_MAX per
 * request (a longer line is answered with an error, never buffered), only
 * printable ASCII, at most CTL_ARGS_MAX words; at most CTL_CONNS_MAX
 * connections, each with read and write timeouts. The master's answer is
 * one byte, checked.
 */
#define LIBBSD_OPENBSD_VIS /* strnvisx() as in OpenBSD */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <vis.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "moatd/control.h"
#include "bait/export.h"
#include "moatd/control_int.h"
#include "moatd/runsock.h"
#include "store/store.h"

#define CTL_CONNS_MAX     32 /* connections at once */
#define CTL_READ_TIMEOUT  10 /* seconds to send the request line */
#define CTL_WRITE_TIMEOUT 60 /* seconds for the client to take the reply */

static void ctl_reload(struct ctl_conn *c, const struct ctl_req *r);

/* The commands: name, sub-command, argument counts (-1: rest of the line). */
static const struct ctl_cmd {
	const char *name;
	const char *sub;
	int min, max;
	void (*run)(struct ctl_conn *, const struct ctl_req *);
} ctl_cmds[] = {
    {"ban", NULL, 1, -1, ctl_ban},
    {"unban", NULL, 1, 1, ctl_unban},
    {"allow", NULL, 1, 2, ctl_allow},
    {"disallow", NULL, 1, 1, ctl_disallow},
    {"bans", NULL, 0, 0, ctl_bans},
    {"events", NULL, 0, 1, ctl_events},
    {"allows", NULL, 0, 0, ctl_allows},
    {"show", NULL, 1, 1, ctl_show},
    {"greylist", NULL, 0, 0, ctl_greylist},
    {"stats", NULL, 0, 0, ctl_stats},
    {"reload", NULL, 0, 0, ctl_reload},
    {"queue", "list", 0, 1, ctl_queue_list},
    {"queue", "show", 1, 1, ctl_queue_show},
    {"queue", "retry", 1, 1, ctl_queue_retry},
    {"queue", "delete", 1, 1, ctl_queue_delete},
    {"queue", "hold", 1, 1, ctl_queue_hold},
    {"queue", "release", 1, 1, ctl_queue_release},
    {"traps", NULL, 0, 0, ctl_traps},
    {"export", NULL, 1, 2, ctl_export},
};

/* ---- the socket, made by the master ---- */

/* control_listen - see control.h */
int
control_listen(int dirfd, const char *path)
{
	/* Mode 0600 from the start: only root connects (then SO_PEERCRED). */
	return runsock_listen(dirfd, CONTROL_SOCKET_NAME, path, 0600, 16);
}

/* control_unlink - remove our socket at exit (only a socket of ours) */
void
control_unlink(int dirfd)
{
	runsock_unlink(dirfd, CONTROL_SOCKET_NAME);
}

/* ---- replies ---- */

/* ctl_time - t as ISO 8601 UTC ("2025-01-31T12:00:00Z"); returns dst */
char *
ctl_time(char *dst, size_t dstsz, time_t t)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(dst, dstsz, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(dst, dstsz, "%lld", (long long)t);
	return dst;
}

/* ctl_line - one body line; dot-stuffed, never a line break inside */
void
ctl_line(struct ctl_conn *c, const char *fmt, ...)
{
	char buf[4096];
	va_list ap;

	if (c->nlines >= CTL_LINES_MAX) {
		if (c->nlines++ == CTL_LINES_MAX)
			evbuffer_add_printf(c->body, "(more lines not shown)\n");
		return;
	}
	c->nlines++;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	for (char *p = buf; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = '?';
	evbuffer_add_printf(c->body, "%s%s\n", buf[0] == '.' ? "." : "", buf);
}

/* ctl_error - the reply will be "error: ..."; the first error counts */
void
ctl_error(struct ctl_conn *c, const char *fmt, ...)
{
	va_list ap;

	if (c->err[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	for (char *p = c->err; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = '?';
	if (c->err[0] == '\0')
		strlcpy(c->err, "failed", sizeof(c->err));
}

/* conn_free - forget a connection; the last one ends a draining process */
static void
conn_free(struct ctl_conn *c)
{
	struct control *ctl = c->ctl;

	TAILQ_REMOVE(&ctl->conns, c, entry);
	ctl->nconns--;
	if (ctl->reload_waiter == c)
		ctl->reload_waiter = NULL;
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	evbuffer_free(c->body);
	if (c->scratch_free != NULL)
		c->scratch_free(c->scratch);
	free(c);
	if (ctl->draining && ctl->nconns == 0)
		event_base_loopexit(ctl->base, NULL);
}

/* conn_gone - the client left or timed out: free now, or when work ends */
static void
conn_gone(struct ctl_conn *c)
{
	bufferevent_free(c->bev);
	c->bev = NULL;
	if (c->holds == 0)
		conn_free(c);
}

/* answer - the request is done: write the reply, close once it is out */
static void
answer(struct ctl_conn *c)
{
	struct evbuffer *out;

	if (c->complete != NULL) {
		void (*complete)(struct ctl_conn *) = c->complete;
		c->complete = NULL;
		complete(c);
	}
	c->answered = 1;
	log_info("control request uid=%u request=%s result=%s%s", (unsigned)c->uid,
	         log_escape_str(c->request), c->err[0] ? "error: " : "ok", c->err);
	if (c->bev == NULL) {
		conn_free(c);
		return;
	}
	out = bufferevent_get_output(c->bev);
	if (c->err[0])
		evbuffer_add_printf(out, "error: %s\n", c->err);
	else
		evbuffer_add_printf(out, "ok\n");
	evbuffer_add_buffer(out, c->body);
	evbuffer_add_printf(out, ".\n");
	bufferevent_disable(c->bev, EV_READ);
	bufferevent_enable(c->bev, EV_WRITE);
}

/* ctl_hold - one more operation to wait for before the reply */
void
ctl_hold(struct ctl_conn *c)
{
	c->holds++;
}

/* ctl_release - an operation ended; the last one sends the reply */
void
ctl_release(struct ctl_conn *c)
{
	if (--c->holds > 0)
		return;
	if (!c->answered)
		answer(c);
	else if (c->bev == NULL)
		conn_free(c);
}

/* ---- requests ---- */

/* dispatch - find the command and run it; the reply waits for its holds */
static void
dispatch(struct ctl_conn *c)
{
	char buf[CONTROL_LINE_MAX];
	const struct ctl_cmd *cmd = NULL;
	struct ctl_req r, args;
	int more, skip, nargs;

	c->dispatched = 1;
	ctl_hold(c);
	if (ctl_split(c->request, buf, sizeof(buf), &r, &more) == -1) {
		ctl_error(c, "the request must be printable ASCII");
		goto done;
	}
	if (r.argc == 0) {
		ctl_error(c, "empty request");
		goto done;
	}
	for (size_t i = 0; i < sizeof(ctl_cmds) / sizeof(ctl_cmds[0]); i++) {
		if (strcmp(ctl_cmds[i].name, r.argv[0]) != 0)
			continue;
		if (ctl_cmds[i].sub == NULL ||
		    (r.argc > 1 && strcmp(ctl_cmds[i].sub, r.argv[1]) == 0)) {
			cmd = &ctl_cmds[i];
			break;
		}
	}
	if (cmd == NULL) {
		ctl_error(c, "unknown command %s", log_escape_str(r.argv[0]));
		goto done;
	}
	skip = cmd->sub != NULL ? 2 : 1;
	nargs = r.argc - skip;
	if (nargs < cmd->min || (cmd->max >= 0 && (nargs > cmd->max || more))) {
		ctl_error(c, "wrong number of arguments for \"%s%s%s\"", cmd->name,
		          cmd->sub ? " " : "", cmd->sub ? cmd->sub : "");
		goto done;
	}
	memset(&args, 0, sizeof(args));
	args.argc = nargs;
	for (int i = 0; i < nargs; i++) {
		args.argv[i] = r.argv[i + skip];
		args.rest[i] = r.rest[i + skip];
	}
	cmd->run(c, &args);
done:
	ctl_release(c);
}

/* read_cb - the request line, once it is all there (or too long) */
static void
read_cb(struct bufferevent *bev, void *arg)
{
	struct ctl_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_ptr eol;
	size_t eol_len = 0;

	if (c->dispatched)
		return;
	eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);
	if (eol.pos < 0) {
		if (evbuffer_get_length(in) < CONTROL_LINE_MAX)
			return; /* not all there yet */
	} else if ((size_t)eol.pos + 1 <= CONTROL_LINE_MAX) {
		evbuffer_remove(in, c->request, (size_t)eol.pos);
		c->request[eol.pos] = '\0';
		bufferevent_disable(bev, EV_READ);
		/* A NUL would hide the rest of the line from every check. */
		if (strlen(c->request) != (size_t)eol.pos) {
			strlcpy(c->request, "(NUL in the line)", sizeof(c->request));
			c->dispatched = 1;
			ctl_hold(c);
			ctl_error(c, "the request must be printable ASCII");
			ctl_release(c);
			return;
		}
		if (eol.pos > 0 && c->request[eol.pos - 1] == '\r')
			c->request[eol.pos - 1] = '\0';
		dispatch(c);
		return;
	}
	/* Too long: answer without reading the rest. */
	bufferevent_disable(bev, EV_READ);
	strlcpy(c->request, "(too long)", sizeof(c->request));
	c->dispatched = 1;
	ctl_hold(c);
	ctl_error(c, "request line longer than %d octets", CONTROL_LINE_MAX);
	ctl_release(c);
}

/* write_cb - the reply is out: close */
static void
write_cb(struct bufferevent *bev, void *arg)
{
	struct ctl_conn *c = arg;

	if (c->answered && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		conn_free(c);
}

/* event_cb - the client left, or a timeout: stop writing to it */
static void
event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct ctl_conn *c = arg;

	if (!c->dispatched && (what & BEV_EVENT_TIMEOUT))
		log_warnx("control uid=%u: no request within %d seconds",
		          (unsigned)c->uid, CTL_READ_TIMEOUT);
	conn_gone(c);
}

/* peer_allowed - root and the run user may talk to us; nobody else */
static int
peer_allowed(const struct control *ctl, uid_t uid)
{
	return uid == 0 || uid == ctl->conf->uid;
}

/* accept_cb - a new client: check who it is, then read its request */
static void
accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
          void *arg)
{
	struct control *ctl = arg;
	struct ucred cred;
	socklen_t credlen = sizeof(cred);
	struct ctl_conn *c;
	struct timeval rt = {CTL_READ_TIMEOUT, 0}, wt = {CTL_WRITE_TIMEOUT, 0};

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &credlen) == -1) {
		log_warn("control: SO_PEERCRED");
		close(fd);
		return;
	}
	if (ctl->nconns >= CTL_CONNS_MAX) {
		static const char busy[] = "error: too many control connections\n.\n";
		ssize_t w = send(fd, busy, sizeof(busy) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
		(void)w;
		close(fd);
		log_warnx("control refuse uid=%u: too many connections",
		          (unsigned)cred.uid);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->ctl = ctl;
	c->uid = cred.uid;
	c->body = evbuffer_new();
	c->bev = bufferevent_socket_new(ctl->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->body == NULL || c->bev == NULL)
		fatalx("control: out of memory");
	TAILQ_INSERT_TAIL(&ctl->conns, c, entry);
	ctl->nconns++;
	bufferevent_setcb(c->bev, read_cb, write_cb, event_cb, c);
	bufferevent_set_timeouts(c->bev, &rt, &wt);
	/* Reading stops at the limit: a longer line is refused, not buffered. */
	bufferevent_setwatermark(c->bev, EV_READ, 0, CONTROL_LINE_MAX);
	if (!peer_allowed(ctl, cred.uid)) {
		snprintf(c->request, sizeof(c->request), "(peer pid %d)", (int)cred.pid);
		c->dispatched = 1;
		ctl_hold(c);
		ctl_error(c, "permission denied");
		ctl_release(c);
		return;
	}
	bufferevent_enable(c->bev, EV_READ);
}

/* ---- reload, done by the master ---- */

/* ctl_reload - reload: ask the master, answer when it has */
static void
ctl_reload(struct ctl_conn *c, const struct ctl_req *r)
{
	struct control *ctl = c->ctl;
	char req = CONTROL_RELOAD_REQUEST;

	if (ctl->reload_waiter != NULL) {
		ctl_error(c, "a reload is already running");
		return;
	}
	if (send(ctl->master_fd, &req, 1, MSG_DONTWAIT | MSG_NOSIGNAL) != 1) {
		log_warn("control: reload request to the master");
		ctl_error(c, "cannot reach the master process");
		return;
	}
	ctl->reload_waiter = c;
	ctl_hold(c);
}

/* master_cb - the master's answer to a reload request */
static void
master_cb(evutil_socket_t fd, short what, void *arg)
{
	struct control *ctl = arg;
	struct ctl_conn *c = ctl->reload_waiter;
	char b;
	ssize_t n = recv(fd, &b, 1, MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0)
		event_del(ctl->master_ev); /* the master is gone */
	if (c == NULL)
		return;
	ctl->reload_waiter = NULL;
	if (n <= 0)
		ctl_error(c, "the master process did not answer");
	else if (b == '0' + CONTROL_RELOAD_OK)
		ctl_line(c, "reloaded %s", ctl->conf->path);
	else if (b == '0' + CONTROL_RELOAD_ERRORS)
		ctl_error(c, "the configuration has errors (see the log); the running "
		             "one stays");
	else if (b == '0' + CONTROL_RELOAD_LISTENERS)
		ctl_error(c, "the listeners changed; restart moatd to apply");
	else
		ctl_error(c, "unexpected answer from the master process");
	ctl_release(c);
}

/* ---- the process ---- */

/* control_new - the control process's state; opens the store and the queue */
struct control *
control_new(struct event_base *base, const struct moat_conf *conf, int listen_fd,
            int master_fd, int notify_fd)
{
	struct control *ctl = xcalloc(1, sizeof(*ctl));
	struct store_config sc;
	char path[4096];

	ctl->base = base;
	ctl->conf = conf;
	ctl->master_fd = master_fd;
	ctl->notify_fd = notify_fd;
	TAILQ_INIT(&ctl->conns);
	store_config_moat(&sc, conf);
	/* Without the store the queue commands still work. */
	if ((ctl->store = store_open(&sc, base)) == NULL)
		log_warnx("control: no state store in %s", log_escape_str(sc.path));
	store_config_traps(&sc, conf);
	if ((ctl->traps = store_open(&sc, base)) == NULL)
		log_warnx("control: no trap store in %s", log_escape_str(sc.path));
	snprintf(path, sizeof(path), "%s/queue", conf->spool_dir);
	if ((ctl->queue_dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		log_warn("control: %s", path);
	ctl->listener = evconnlistener_new(base, accept_cb, ctl, LEV_OPT_CLOSE_ON_FREE,
	                                   -1, listen_fd);
	if (ctl->listener == NULL)
		fatalx("control: cannot listen on the control socket");
	ctl->master_ev = event_new(base, master_fd, EV_READ | EV_PERSIST, master_cb, ctl);
	event_add(ctl->master_ev, NULL);
	return ctl;
}

/* control_drain - accept no more; leave when the last reply is out */
void
control_drain(struct control *ctl)
{
	ctl->draining = 1;
	if (ctl->listener != NULL)
		evconnlistener_free(ctl->listener);
	ctl->listener = NULL;
	/* the next generation's control process scrapes from now on */
	ctl_metrics_stop(ctl->metrics);
	if (ctl->nconns == 0)
		event_base_loopexit(ctl->base, NULL);
}

/* control_free - answer what is still queued, then free everything */
void
control_free(struct control *ctl)
{
	struct ctl_conn *c;

	if (ctl == NULL)
		return;
	if (ctl->listener != NULL)
		evconnlistener_free(ctl->listener);
	event_free(ctl->master_ev);
	export_timer_free(ctl->exporter);
	/* Operations still queued answer now, while their requests exist. */
	ctl->draining = 0;
	store_close(ctl->store);
	if (ctl->traps != NULL)
		store_close(ctl->traps);
	/* after the store: its last answers may finish a scrape */
	ctl_metrics_free(ctl->metrics);
	while ((c = TAILQ_FIRST(&ctl->conns)) != NULL)
		conn_free(c);
	if (ctl->queue_dirfd != -1)
		close(ctl->queue_dirfd);
	free(ctl);
}
