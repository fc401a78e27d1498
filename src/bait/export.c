/* SPDX-License-Identifier: ISC */
/*
 * export.c - write the bans from the store as rbldnsd data.
 *
 * rbldnsd(8) ip4set lines are "ADDRESS :A-VALUE:TXT"; ip6trie takes
 * "PREFIX/LEN :A-VALUE:TXT". Reasons are our own text plus addresses; they
 * are reduced to printable ASCII without '$' (rbldnsd substitutes it) or
 * ':' (its field separator) before they go out.
 * export_timer_new() rewrites the configured file periodically; it runs in
 * the control process, which is not chrooted and not on the network.
 * SECURITY: reads our own store; output is for rbldnsd, sanitised.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "bait/export.h"
#include "common/log.h"
#include "common/netaddr.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "store/store.h"

struct export_ctx {
	FILE *v4, *v6;
	int n;
	char path[4096], path6[4096], tmp4[4200], tmp6[4200];
	export_done_cb *cb;
	void *arg;
};

static void
clean(char *out, size_t outsz, const void *val, size_t len)
{
	const unsigned char *p = val;
	size_t n = 0;

	for (size_t i = 0; i < len && n + 1 < outsz; i++)
		out[n++] = (p[i] < 32 || p[i] > 126 || p[i] == '$' || p[i] == ':')
		               ? ' '
		               : (char)p[i];
	out[n] = '\0';
}

static int
each_ban(const char *key, const void *val, size_t len, time_t expires, void *arg)
{
	struct export_ctx *x = arg;
	const char *ip = key + 4; /* after "ban:" */
	struct netaddr na;
	char reason[300], buf[NETADDR_STRLEN + 4];
	const char *slash = strchr(ip, '/');

	clean(reason, sizeof(reason), val, len);
	if (slash != NULL) {
		size_t n = (size_t)(slash - ip);
		if (n >= sizeof(buf))
			return 0;
		memcpy(buf, ip, n);
		buf[n] = '\0';
		if (netaddr_parse(&na, buf) == 0 && na.family == AF_INET6) {
			fprintf(x->v6, "%s :127.0.0.2:%s\n", ip, reason);
			x->n++;
		}
		return 0;
	}
	if (netaddr_parse(&na, ip) == 0 && na.family == AF_INET) {
		fprintf(x->v4, "%s :127.0.0.2:%s\n", ip, reason);
		x->n++;
	}
	return 0;
}

static FILE *
open_tmp(const char *path, char *tmp, size_t tmpsz)
{
	int fd;
	FILE *fp;

	snprintf(tmp, tmpsz, "%s.tmp.%d", path, (int)getpid());
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
	               0644)) == -1)
		return NULL;
	if ((fp = fdopen(fd, "w")) == NULL) {
		close(fd);
		unlink(tmp);
	}
	return fp;
}

static int
finish(FILE *fp, const char *tmp, const char *path)
{
	int ok = fflush(fp) == 0 && fsync(fileno(fp)) == 0;

	if (fclose(fp) != 0)
		ok = 0;
	if (!ok || rename(tmp, path) == -1) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* scanned - every ban is written: finish both files, then tell */
static void
scanned(enum store_status st, void *arg)
{
	struct export_ctx *x = arg;
	char err[300] = "";
	int n = x->n;

	if (st == STORE_ERROR) {
		snprintf(err, sizeof(err), "cannot read the bans from the store");
		fclose(x->v4);
		fclose(x->v6);
		unlink(x->tmp4);
		unlink(x->tmp6);
		n = -1;
	} else if (finish(x->v4, x->tmp4, x->path) == -1 ||
	           finish(x->v6, x->tmp6, x->path6) == -1) {
		snprintf(err, sizeof(err), "%s: %s", x->path, strerror(errno));
		n = -1;
	}
	x->cb(x->arg, n, err);
	free(x);
}

void
export_rbldnsd(struct store *st, const char *path, export_done_cb *cb, void *arg)
{
	struct export_ctx *x = xcalloc(1, sizeof(*x));
	char date[64];
	time_t now = time(NULL);
	struct tm tm;

	x->cb = cb;
	x->arg = arg;
	snprintf(x->path, sizeof(x->path), "%s", path);
	snprintf(x->path6, sizeof(x->path6), "%s.v6", path);
	if ((x->v4 = open_tmp(x->path, x->tmp4, sizeof(x->tmp4))) == NULL ||
	    (x->v6 = open_tmp(x->path6, x->tmp6, sizeof(x->tmp6))) == NULL) {
		char err[300];
		snprintf(err, sizeof(err), "%s: %s", path, strerror(errno));
		if (x->v4 != NULL) {
			fclose(x->v4);
			unlink(x->tmp4);
		}
		free(x);
		cb(arg, -1, err);
		return;
	}
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(x->v4, "# moat bans (ip4set), written %s\n:127.0.0.2:Listed by moat\n",
	        date);
	fprintf(x->v6, "# moat bans (ip6trie), written %s\n:127.0.0.2:Listed by moat\n",
	        date);
	/* a network store answers later, from the loop */
	store_scan(st, "ban:", each_ban, scanned, x);
}

struct export_timer {
	const struct moat_conf *conf;
	struct store *st;
	struct event *ev;
	int busy; /* an export is under way: its answer comes to us */
	int dead; /* freed meanwhile: the answer frees us */
};

static void
exported(void *arg, int n, const char *err)
{
	struct export_timer *t = arg;

	t->busy = 0;
	if (t->dead) {
		free(t);
		return;
	}
	if (n < 0)
		log_warnx("bait: export: %s", err);
	else
		log_info("bait export file=%s entries=%d", t->conf->bait.export_file, n);
}

static void
export_cb(evutil_socket_t fd, short what, void *arg)
{
	struct export_timer *t = arg;

	if (t->busy)
		return; /* the last one is still being written */
	t->busy = 1;
	export_rbldnsd(t->st, t->conf->bait.export_file, exported, t);
}

struct export_timer *
export_timer_new(struct event_base *base, const struct moat_conf *conf, struct store *st)
{
	struct export_timer *t;
	struct timeval tv = {conf->limits.bait_export_interval, 0};

	if (conf->bait.export_file == NULL || st == NULL)
		return NULL;
	t = xcalloc(1, sizeof(*t));
	t->conf = conf;
	t->st = st;
	if ((t->ev = event_new(base, -1, EV_PERSIST, export_cb, t)) == NULL)
		fatalx("bait: event_new");
	event_add(t->ev, &tv);
	export_cb(-1, 0, t); /* a first zone right away */
	return t;
}

void
export_timer_free(struct export_timer *t)
{
	if (t == NULL)
		return;
	event_free(t->ev);
	if (t->busy) {
		t->dead = 1;
		return;
	}
	free(t);
}
