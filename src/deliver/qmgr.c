/* SPDX-License-Identifier: ISC */
/*
 * qmgr.c - queue runner.
 *
 * SECURITY: reads queue files written by moatd (checked by envelope_read) and
 * datagrams from the SMTP workers on a private socketpair; a datagram is only
 * a hint and is checked to look like a queue id before use.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "deliver/deliver.h"
#include "deliver/maildir.h"
#include "deliver/qmgr.h"
#include "queue/envelope.h"

struct qmgr {
	struct event_base *base;
	const struct moat_conf *conf;
	int queue_dirfd;
	int corrupt_dirfd;
	struct event *notify_ev;
	struct event *scan_ev;
};

long
qmgr_backoff(const struct moat_conf *conf, int attempts)
{
	long d = conf->limits.retry_min;

	for (int i = 1; i < attempts && d < conf->limits.retry_max; i++)
		d *= 2;
	return d > conf->limits.retry_max ? conf->limits.retry_max : d;
}

static int
qid_valid(const char *s, size_t len)
{
	if (len != QID_LEN)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'F')))
			return 0;
	return 1;
}

/* route - deliver one recipient by the transport its domain names */
static void
route(struct qmgr *q, const struct envelope *env, int fd, size_t i, struct dresult *res)
{
	const char *addr = env->rcpts[i].addr;
	const char *at = strrchr(addr, '@');
	const struct domain_conf *d = at ? conf_domain_find(q->conf, at + 1) : NULL;

	memset(res, 0, sizeof(*res));
	if (d != NULL && d->delivery == DELIVER_MAILDIR) {
		maildir_deliver(q->conf, env, fd, i, res);
		return;
	}
	res->status = DS_DEFER;
	strlcpy(res->relay, "none", sizeof(res->relay));
	snprintf(res->text, sizeof(res->text),
	         "no transport available for this destination");
}

static void
quarantine(struct qmgr *q, const char *id)
{
	if (renameat(q->queue_dirfd, id, q->corrupt_dirfd, id) == -1)
		log_warn("queue: %s: cannot move to corrupt/", id);
	else
		log_warnx("queue: %s: damaged queue file moved to corrupt/", id);
}

/* run_one - one delivery pass over one message, if it is due */
static void
run_one(struct qmgr *q, const char *id, int force)
{
	struct envelope env;
	time_t now = time(NULL);
	int fd, changed = 0, pending = 0;

	if ((fd = openat(q->queue_dirfd, id, O_RDWR | O_CLOEXEC)) == -1) {
		if (errno != ENOENT)
			log_warn("queue: open %s", id);
		return;
	}
	if (envelope_read(fd, &env) == -1) {
		close(fd);
		quarantine(q, id);
		return;
	}
	if (!force && env.next > now) {
		envelope_free(&env);
		close(fd);
		return;
	}
	for (size_t i = 0; i < env.nrcpts; i++) {
		struct dresult res;
		if (env.rcpts[i].status != RCPT_PENDING)
			continue;
		route(q, &env, fd, i, &res);
		log_info(
		    "deliver id=%s to=<%s> relay=%s delay=%lds attempt=%d status=%s (%s)",
		    env.id, env.rcpts[i].addr, res.relay, (long)(now - env.arrival),
		    env.attempts + 1, dstatus_name(res.status), res.text);
		if (res.status == DS_SENT) {
			envelope_set_status(fd, &env.rcpts[i], RCPT_DELIVERED);
			changed = 1;
		} else if (res.status == DS_BOUNCE) {
			envelope_set_status(fd, &env.rcpts[i], RCPT_BOUNCED);
			changed = 1;
		} else
			pending++;
	}
	if (pending == 0) {
		/* Every recipient has a final answer: the message is done. */
		if (unlinkat(q->queue_dirfd, id, 0) == -1)
			log_warn("queue: remove %s", id);
		else
			log_info("queue removed id=%s", id);
	} else {
		int attempts = env.attempts + 1;
		time_t next = now + qmgr_backoff(q->conf, attempts);
		envelope_set_retry(fd, &env, attempts, next);
		/* Results already recorded must survive a crash. */
		if (changed)
			fdatasync(fd);
	}
	envelope_free(&env);
	close(fd);
}

static void
notify_cb(evutil_socket_t fd, short what, void *arg)
{
	struct qmgr *q = arg;
	char buf[64];
	ssize_t n;

	while ((n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT)) > 0) {
		buf[n] = '\0';
		if (qid_valid(buf, (size_t)n))
			run_one(q, buf, 1);
	}
}

static void
scan_cb(evutil_socket_t fd, short what, void *arg)
{
	struct qmgr *q = arg;
	int dfd = dup(q->queue_dirfd);
	DIR *dir;
	struct dirent *de;
	struct timeval tv = {q->conf->limits.queue_scan_interval, 0};

	if (dfd == -1 || (dir = fdopendir(dfd)) == NULL) {
		log_warn("queue: scan");
		if (dfd != -1)
			close(dfd);
	} else {
		rewinddir(dir);
		while ((de = readdir(dir)) != NULL)
			if (qid_valid(de->d_name, strlen(de->d_name)))
				run_one(q, de->d_name, 0);
		closedir(dir);
	}
	evtimer_add(q->scan_ev, &tv);
}

struct qmgr *
qmgr_new(struct event_base *base, const struct moat_conf *conf, int notify_fd)
{
	struct qmgr *q = xcalloc(1, sizeof(*q));
	char path[4096];
	struct timeval now = {0, 0};

	q->base = base;
	q->conf = conf;
	snprintf(path, sizeof(path), "%s/queue", conf->spool_dir);
	if ((q->queue_dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		fatal("queue: %s", path);
	snprintf(path, sizeof(path), "%s/corrupt", conf->spool_dir);
	if ((q->corrupt_dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		fatal("queue: %s", path);
	q->notify_ev = event_new(base, notify_fd, EV_READ | EV_PERSIST, notify_cb, q);
	event_add(q->notify_ev, NULL);
	/* The first scan runs at once: it delivers what a restart left behind. */
	q->scan_ev = evtimer_new(base, scan_cb, q);
	evtimer_add(q->scan_ev, &now);
	return q;
}

void
qmgr_free(struct qmgr *q)
{
	if (q == NULL)
		return;
	event_free(q->notify_ev);
	event_free(q->scan_ev);
	close(q->queue_dirfd);
	close(q->corrupt_dirfd);
	free(q);
}
