/* SPDX-License-Identifier: ISC */
/*
 * control_show.c - the control commands that report from the state store:
 * show IP (everything stored about one client), greylist (pending triplets
 * and passed networks), stats (the summed counters, on one line).
 *
 * Each looked-up key is one asynchronous operation (struct ctl_op) whose
 * answer becomes one line; the store answers in the order asked, so the
 * lines keep the order of the code below.
 * SECURITY: the IP argument is parsed before use; stored values are parsed
 * strictly (counters) or escaped (reasons) before they are printed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/netaddr.h"
#include "conf/conf.h"
#include "moatd/control_int.h"
#include "store/store.h"

/* The counters of "stats", in the order printed; tls_*: recipients sent
 * over SMTP/LMTP, by the TLS their connection reached; mta_sts_*: policy
 * lookups and failures to meet them (enum mtasts_event). */
static const char *const stat_names[] = {
    "sessions",
    "messages",
    "rejected_rcpts",
    "refused_connect",
    "sent",
    "deferred",
    "bounced",
    "preempted",
    "stress_began",
    "store_alarms",
    "attack_hits",
    "attack_bans",
    "tls_none",
    "tls_encrypted",
    "tls_verified",
    "tls_dane",
    "mta_sts_fetched",
    "mta_sts_cached",
    "mta_sts_failed",
    "mta_sts_enforce_failed",
    "mta_sts_testing_failed",
};
#define NSTATS (sizeof(stat_names) / sizeof(stat_names[0]))
/* the counters, then bans, stress and a failed scan (stats_complete) */
_Static_assert(NSTATS + 3 <= sizeof(((struct ctl_conn *)0)->counts) / sizeof(int64_t),
               "room for every counter");

/* ---- show ---- */

/* show_got - a looked-up entry becomes its line, by kind */
static void
show_got(enum store_status st, const void *val, size_t len, time_t expires, void *arg)
{
	struct ctl_op *op = arg;
	char u[80], vis[LOG_ESCAPE_BUFSZ], buf[16];

	if (st == STORE_ERROR) {
		ctl_error(op->c, "the state store failed");
		ctl_op_done(op);
		return;
	}
	if (op->kind == SHOW_OFF) {
		ctl_line(op->c, "%s off", op->label);
		ctl_op_done(op);
		return;
	}
	if (st == STORE_NOT_FOUND) {
		if (op->kind == SHOW_COUNT)
			ctl_line(op->c, "%s 0", op->label);
		else
			ctl_line(op->c, "%s no", op->label);
		ctl_op_done(op);
		return;
	}
	ctl_until(u, sizeof(u), expires);
	switch (op->kind) {
	case SHOW_BAN:
		ctl_line(op->c, "%s yes%s reason=%s", op->label, u,
		         log_escape(vis, sizeof(vis), val, len));
		break;
	case SHOW_COUNT:
		ctl_line(op->c, "%s %lld%s", op->label, ctl_count(val, len), u);
		break;
	case SHOW_PASS: {
		/* "SCORE[f][w]" (verdict_cache.c) */
		size_t n = len < sizeof(buf) - 1 ? len : sizeof(buf) - 1;
		memcpy(buf, val, n);
		buf[n] = '\0';
		ctl_line(op->c, "%s yes score=%ld fcrdns=%s dnswl=%s%s", op->label,
		         strtol(buf, NULL, 10), strchr(buf, 'f') ? "yes" : "no",
		         strchr(buf, 'w') ? "yes" : "no", u);
		break;
	}
	default:
		ctl_line(op->c, "%s yes%s", op->label, u);
	}
	ctl_op_done(op);
}

/* show_rate - a bucket looked at becomes "label tokens=N capacity=M" */
static void
show_rate(enum store_status st, const struct store_take_result *res, void *arg)
{
	struct ctl_op *op = arg;

	if (st != STORE_OK)
		ctl_error(op->c, "the state store failed");
	else
		ctl_line(op->c, "%s tokens=%u capacity=%u", op->label, res->remaining,
		         op->capacity);
	ctl_op_done(op);
}

/* show_get - look key up; the answer becomes the line "label ..." */
static void
show_get(struct ctl_conn *c, enum ctl_op_kind kind, const char *label, const char *prefix,
         const char *who)
{
	char key[160];

	snprintf(key, sizeof(key), "%s%s", prefix, who);
	store_get(c->ctl->store, key, show_got, ctl_op_new(c, kind, label));
}

/* show_bucket - a rate bucket's tokens, looked at (cost 0) as limits.c keeps it */
static void
show_bucket(struct ctl_conn *c, const char *label, const char *prefix, const char *who,
            long per_minute)
{
	struct store_bucket b;
	struct ctl_op *op;
	char key[160];

	if (per_minute <= 0) {
		/* still through the store, so the line keeps its place */
		show_get(c, SHOW_OFF, label, prefix, who);
		return;
	}
	b.capacity = (uint32_t)per_minute;
	b.refill_ms = (uint32_t)(60000 / per_minute);
	if (b.refill_ms == 0)
		b.refill_ms = 1;
	op = ctl_op_new(c, SHOW_RATE, label);
	op->capacity = b.capacity;
	snprintf(key, sizeof(key), "%s%s", prefix, who);
	store_take(c->ctl->store, key, &b, 0, show_rate, op);
}

/* sum_each - one share of a summed counter */
static int
sum_each(const char *key, const void *val, size_t len, time_t expires, void *arg)
{
	struct ctl_op *op = arg;
	long long n = ctl_count(val, len);

	if (n > 0)
		op->sum += n;
	return 0;
}

static void
sum_done(enum store_status st, void *arg)
{
	struct ctl_op *op = arg;

	if (st != STORE_OK)
		ctl_error(op->c, "the state store failed");
	else
		ctl_line(op->c, "%s %lld", op->label, op->sum);
	ctl_op_done(op);
}

/* show_sum - the shares of the counters under prefix, added up (limits.c:
 * each process holds its share of a client's session count) */
static void
show_sum(struct ctl_conn *c, const char *label, const char *prefix)
{
	store_scan(c->ctl->store, prefix, sum_each, sum_done,
	           ctl_op_new(c, SHOW_SUM, label));
}

/* ctl_show - show IP: everything the store knows about the client */
void
ctl_show(struct ctl_conn *c, const struct ctl_req *r)
{
	const struct moat_conf *conf = c->ctl->conf;
	struct netaddr na, net;
	char who[96], s[NETADDR_STRLEN], netkey[80], label[128];
	int bits;

	if (ctl_store(c) == NULL ||
	    ctl_client_key(c, r->argv[0], who, sizeof(who), &na) == -1)
		return;
	/* greylist.c remembers passed networks: /24, or /64 for IPv6 */
	net = na;
	bits = na.family == AF_INET ? 24 : 64;
	netaddr_mask(&net, bits);
	ctl_line(c, "client %s", who);
	ctl_line(c, "trusted %s", conf_is_trusted(conf, &na) ? "yes" : "no");
	show_get(c, SHOW_BAN, "ban", "ban:", who);
	show_get(c, SHOW_BAN, "trap-ban", "trapban:", who);
	show_get(c, SHOW_FLAG, "allow", "allow:", who);
	show_get(c, SHOW_FLAG, "early-talker", "early:", who);
	snprintf(label, sizeof(label), "conc:%s#", who);
	show_sum(c, "sessions", label);
	show_sum(c, "sessions-all", "conc:");
	show_bucket(c, "conn-rate", "rate:conn:", who, conf->limits.conn_rate);
	show_bucket(c, "msg-rate", "rate:msg:", who, conf->limits.msg_rate);
	show_bucket(c, "rcpt-rate", "rate:rcpt:", who, conf->limits.rcpt_rate);
	show_get(c, SHOW_PASS, "verdict-cache", "pass:", who);
	snprintf(netkey, sizeof(netkey), "%s/%d", netaddr_str(&net, s, sizeof(s)), bits);
	snprintf(label, sizeof(label), "greylist-passed %s", netkey);
	show_get(c, SHOW_FLAG, label, "greyok:", netkey);
	show_get(c, SHOW_COUNT, "unknown-recipients", "harvest:", who);
	show_get(c, SHOW_COUNT, "attack-score", "attack:", who);
}

/* ---- greylist ---- */

/* count_each - count the entries of a scan in counts[0] */
static int
count_each(const char *key, const void *val, size_t len, time_t expires, void *arg)
{
	struct ctl_conn *c = arg;

	c->counts[0]++;
	return 0;
}

/* pending_done - the triplets are counted: their line */
static void
pending_done(enum store_status st, void *arg)
{
	struct ctl_conn *c = arg;

	if (st == STORE_OK)
		ctl_line(c, "pending %lld", (long long)c->counts[0]);
	ctl_scan_done(st, arg);
}

/* passed_each - one network that passed greylisting */
static int
passed_each(const char *key, const void *val, size_t len, time_t expires, void *arg)
{
	char u[80];

	ctl_line(arg, "passed %s%s", key + 7, ctl_until(u, sizeof(u), expires));
	return 0;
}

/* ctl_greylist - triplets waiting for their retry, and the networks that passed */
void
ctl_greylist(struct ctl_conn *c, const struct ctl_req *r)
{
	struct store *st = ctl_store(c);

	if (st == NULL)
		return;
	ctl_hold(c);
	store_scan(st, "grey:", count_each, pending_done, c);
	ctl_hold(c);
	store_scan(st, "greyok:", passed_each, ctl_scan_done, c);
}

/* ---- stats ---- */

/* stat_each - a "stat:NAME" counter into its place */
static int
stat_each(const char *key, const void *val, size_t len, time_t expires, void *arg)
{
	struct ctl_conn *c = arg;

	for (size_t i = 0; i < NSTATS; i++)
		if (strcmp(key + 5, stat_names[i]) == 0)
			c->counts[i] = ctl_count(val, len);
	return 0;
}

/* stat_ban_each - count one ban */
static int
stat_ban_each(const char *key, const void *val, size_t len, time_t expires, void *arg)
{
	struct ctl_conn *c = arg;

	c->counts[NSTATS]++;
	return 0;
}

/* stat_stress_each - one worker under stress now */
static int
stat_stress_each(const char *key, const void *val, size_t len, time_t expires, void *arg)
{
	struct ctl_conn *c = arg;

	c->counts[NSTATS + 1]++;
	return 0;
}

/* stats_complete - the one line of "stats" */
static void
stats_complete(struct ctl_conn *c)
{
	char line[1024];
	size_t n = 0;

	if (c->err[0])
		return;
	for (size_t i = 0; i < NSTATS && n < sizeof(line); i++)
		n += (size_t)snprintf(line + n, sizeof(line) - n, "%s=%lld ",
		                      stat_names[i], (long long)c->counts[i]);
	if (n < sizeof(line))
		n += (size_t)snprintf(
		    line + n, sizeof(line) - n, "queue=%ld bans=%lld stress=%lld",
		    ctl_queue_count(c->ctl), (long long)c->counts[NSTATS],
		    (long long)c->counts[NSTATS + 1]);
	/* a shared store's state, as this process's connection sees it */
	if (n < sizeof(line))
		store_info(c->ctl->store, line + n, sizeof(line) - n);
	if (c->counts[NSTATS + 2])
		ctl_error(c, "the state store failed:%s", line + n);
	else
		ctl_line(c, "%s", line);
}

/* stats_scan_done - a scan of stats ended; a failed one is said at the end,
 * with the store's state */
static void
stats_scan_done(enum store_status st, void *arg)
{
	struct ctl_conn *c = arg;

	if (st != STORE_OK)
		c->counts[NSTATS + 2] = 1;
	ctl_release(c);
}

/* ctl_stats - one line: the summed counters, the queue, the bans */
void
ctl_stats(struct ctl_conn *c, const struct ctl_req *r)
{
	struct store *st = ctl_store(c);

	if (st == NULL)
		return;
	c->complete = stats_complete;
	ctl_hold(c);
	store_scan(st, "stat:", stat_each, stats_scan_done, c);
	ctl_hold(c);
	store_scan(st, "ban:", stat_ban_each, stats_scan_done, c);
	ctl_hold(c);
	store_scan(st, "stress:", stat_stress_each, stats_scan_done, c);
}
