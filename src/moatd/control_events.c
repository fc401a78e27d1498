/* SPDX-License-Identifier: ISC */
/*
 * control_events.c - moatctl events [IP]: the recent signature hits that
 * policy/attack.c stored ("event:KEY:MS.PID.SEQ" = "MS STAGE RULE REF
 * TEXT"), oldest first, the newest EVENTS_SHOWN of them: time, client,
 * stage, rule, reference, the text as it was escaped when stored.
 * SECURITY: the values are our own records of client text, escaped before
 * they were stored; a value that does not parse is skipped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/xmalloc.h"
#include "moatd/control_int.h"
#include "store/store.h"

#define EVENTS_SHOWN 1000

struct event_row {
	long long ms;
	char *line;
};

struct event_rows {
	struct event_row *row;
	size_t n, cap;
};

static void
rows_free(void *arg)
{
	struct event_rows *rs = arg;

	for (size_t i = 0; i < rs->n; i++)
		free(rs->row[i].line);
	free(rs->row);
	free(rs);
}

static int
event_each(const char *key, const void *val, size_t len, time_t expires, void *arg)
{
	struct ctl_conn *c = arg;
	struct event_rows *rs = c->scratch;
	char v[2048], client[128], when[40];
	const char *k = key + 6, *colon;
	long long ms;
	int off = 0;

	/* the client: the key's part before its last ':' (IPv6 keys have
	 * colons of their own) */
	if ((colon = strrchr(k, ':')) == NULL || (size_t)(colon - k) >= sizeof(client) ||
	    len >= sizeof(v))
		return 0;
	memcpy(client, k, (size_t)(colon - k));
	client[colon - k] = '\0';
	memcpy(v, val, len);
	v[len] = '\0';
	if (sscanf(v, "%lld %n", &ms, &off) != 1 || off == 0)
		return 0;
	if (rs->n == rs->cap) {
		rs->cap = rs->cap ? rs->cap * 2 : 64;
		rs->row = xreallocarray(rs->row, rs->cap, sizeof(*rs->row));
	}
	ctl_time(when, sizeof(when), (time_t)(ms / 1000));
	size_t n = strlen(when) + strlen(client) + strlen(v + off) + 3;
	rs->row[rs->n].ms = ms;
	rs->row[rs->n].line = xmalloc(n);
	snprintf(rs->row[rs->n].line, n, "%s %s %s", when, client, v + off);
	rs->n++;
	return 0;
}

static int
by_time(const void *a, const void *b)
{
	const struct event_row *x = a, *y = b;

	if (x->ms != y->ms)
		return x->ms < y->ms ? -1 : 1;
	return strcmp(x->line, y->line);
}

static void
events_complete(struct ctl_conn *c)
{
	struct event_rows *rs = c->scratch;

	if (c->err[0] || rs == NULL)
		return;
	qsort(rs->row, rs->n, sizeof(*rs->row), by_time);
	for (size_t i = rs->n > EVENTS_SHOWN ? rs->n - EVENTS_SHOWN : 0; i < rs->n; i++)
		ctl_line(c, "%s", rs->row[i].line);
}

/* ctl_events - every stored hit, or IP's */
void
ctl_events(struct ctl_conn *c, const struct ctl_req *r)
{
	struct store *st = ctl_store(c);
	char prefix[128] = "event:";

	if (st == NULL)
		return;
	if (r->argc > 0) {
		struct netaddr na;
		char key[96];
		if (ctl_client_key(c, r->argv[0], key, sizeof(key), &na) == -1)
			return;
		snprintf(prefix, sizeof(prefix), "event:%s:", key);
	}
	c->scratch = xcalloc(1, sizeof(struct event_rows));
	c->scratch_free = rows_free;
	c->complete = events_complete;
	ctl_hold(c);
	store_scan(st, prefix, event_each, ctl_scan_done, c);
}
