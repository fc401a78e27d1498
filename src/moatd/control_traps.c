/* SPDX-License-Identifier: ISC */
/*
 * control_traps.c - the control process's trap work: `traps` (harvesters
 * and trapped senders from the store's trap:* records), `export rbldnsd
 * [FILE]` (the bans as rbldnsd data), and the periodic export of
 * bait { export_file } (bait/export.c), here because this process already
 * holds the store and is neither chrooted nor on the network. The bait web
 * server is a process of its own (master.c).
 * SECURITY: reads our own store records; FILE comes from root or the run
 * user over the control socket and is written as the run user.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bait/export.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "moatd/control_int.h"

#define TRAP_ROWS_MAX 10000

struct trap_row {
	char key[80];
	long long first, last, mails, hits, senders;
	char lastline[400];
};

struct trap_scan {
	struct ctl_conn *c;
	struct trap_row *h, *s; /* harvesters, senders */
	size_t nh, ns;
};

static struct trap_row *
row(struct trap_row **rows, size_t *n, const char *key, size_t keylen)
{
	for (size_t i = 0; i < *n; i++)
		if (strlen((*rows)[i].key) == keylen &&
		    strncmp((*rows)[i].key, key, keylen) == 0)
			return &(*rows)[i];
	if (*n >= TRAP_ROWS_MAX || keylen >= sizeof((*rows)[0].key))
		return NULL;
	*rows = xreallocarray(*rows, *n + 1, sizeof(**rows));
	struct trap_row *r = &(*rows)[(*n)++];
	memset(r, 0, sizeof(*r));
	memcpy(r->key, key, keylen);
	return r;
}

/* trap_each - one trap:h|H|... or trap:s|S|... record */
static int
trap_each(const char *key, const void *val, size_t len, time_t expires, void *arg)
{
	struct trap_scan *t = arg;
	const char *who = key + 7, *bar = strchr(who, '|');
	struct trap_row *r;
	char buf[400];
	size_t n = len < sizeof(buf) - 1 ? len : sizeof(buf) - 1;

	if (bar == NULL || (key[5] != 'h' && key[5] != 's'))
		return 0;
	memcpy(buf, val, n);
	buf[n] = '\0';
	if (key[5] == 'h')
		r = row(&t->h, &t->nh, who, (size_t)(bar - who));
	else
		r = row(&t->s, &t->ns, who, (size_t)(bar - who));
	if (r == NULL)
		return 0;
	const char *what = bar + 1;
	if (strcmp(what, "first") == 0)
		r->first = strtoll(buf, NULL, 10);
	else if (strcmp(what, "last") == 0 && key[5] == 'h')
		r->last = strtoll(buf, NULL, 10);
	else if (strcmp(what, "mails") == 0)
		r->mails = strtoll(buf, NULL, 10);
	else if (strncmp(what, "from|", 5) == 0)
		r->senders++;
	else if (strcmp(what, "hits") == 0)
		r->hits = strtoll(buf, NULL, 10);
	else if (strcmp(what, "last") == 0)
		strlcpy(r->lastline, buf, sizeof(r->lastline));
	return 0;
}

static void
traps_done(enum store_status st, void *arg)
{
	struct trap_scan *t = arg;
	struct ctl_conn *c = t->c;
	char a[40], b[40];

	if (st == STORE_ERROR)
		ctl_error(c, "cannot read the trap records");
	for (size_t i = 0; st != STORE_ERROR && i < t->nh; i++) {
		struct trap_row *r = &t->h[i];
		ctl_line(c, "harvester %s first=%s last=%s mails=%lld senders=%lld",
		         r->key, ctl_time(a, sizeof(a), (time_t)r->first),
		         ctl_time(b, sizeof(b), (time_t)r->last), r->mails, r->senders);
	}
	for (size_t i = 0; st != STORE_ERROR && i < t->ns; i++) {
		struct trap_row *r = &t->s[i];
		/* "TIME HARVESTER ADDRESS" */
		char *sp1 = strchr(r->lastline, ' '),
		     *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
		if (sp1 == NULL || sp2 == NULL)
			continue;
		*sp1 = *sp2 = '\0';
		ctl_line(c, "sender %s hits=%lld last=%s harvester=%s trap=%s",
		         log_escape_str(r->key), r->hits,
		         ctl_time(a, sizeof(a), (time_t)strtoll(r->lastline, NULL, 10)),
		         log_escape_str(sp1 + 1), log_escape_addr(sp2 + 1));
	}
	free(t->h);
	free(t->s);
	free(t);
	ctl_release(c);
}

void
ctl_traps(struct ctl_conn *c, const struct ctl_req *r)
{
	struct store *st = c->ctl->traps; /* the bookkeeping's own store */
	struct trap_scan *t;

	if (st == NULL) {
		ctl_error(c, "the trap store is not available");
		return;
	}
	t = xcalloc(1, sizeof(*t));
	t->c = c;
	ctl_hold(c);
	store_scan(st, "trap:", trap_each, traps_done, t);
}

/* exported - the file is written (or not): the reply */
static void
exported(void *arg, int n, const char *err)
{
	struct ctl_conn *c = arg;

	if (n < 0)
		ctl_error(c, "%s", err);
	else
		ctl_line(c, "wrote %d entries to %s and %s.v6", n, c->note, c->note);
	c->note[0] = '\0';
	ctl_release(c);
}

void
ctl_export(struct ctl_conn *c, const struct ctl_req *r)
{
	struct store *st = ctl_store(c);
	/* argv: the words after "export": FORMAT [FILE] */
	const char *path = r->argc > 1 ? r->argv[1] : c->ctl->conf->bait.export_file;
	if (st == NULL)
		return;
	if (strcmp(r->argv[0], "rbldnsd") != 0) {
		ctl_error(c, "unknown export format \"%s\" (rbldnsd)", r->argv[0]);
		return;
	}
	if (path == NULL) {
		ctl_error(c, "no file given and no bait { export_file } configured");
		return;
	}
	if (path[0] != '/') {
		ctl_error(c, "the file must be an absolute path");
		return;
	}
	snprintf(c->note, sizeof(c->note), "%s", path);
	ctl_hold(c);
	export_rbldnsd(st, path, exported, c);
}

void
control_export(struct control *ctl)
{
	ctl->exporter = export_timer_new(ctl->base, ctl->conf, ctl->store);
}
