/* SPDX-License-Identifier: ISC */
/*
 * control_store.c - the control commands that read and write the state
 * store that keep lists: ban, unban, allow, disallow, bans, allows; and the
 * helpers every store command uses (control_show.c has the reports).
 *
 * The keys are those of the screening stages (src/policy/): "ban:KEY",
 * "trapban:KEY" and "traphits:KEY" (trap.c), "allow:KEY", "early:KEY",
 * "conc:KEY#wPID", "rate:{conn,msg,rcpt}:KEY", "pass:KEY", "harvest:KEY",
 * "greyok:NET", "grey:HASH", where KEY is netaddr_client_key() (the IPv4
 * address, or the IPv6 /64); "rate:user-{msg,rcpt}:LOGIN" and
 * "rate:sender:ADDRESS" (submit_limits.c). The counters
 * "stat:NAME" are summed by the SMTP workers and the queue runner.
 * Every store operation is asynchronous; the reply waits for all of them
 * (ctl_hold/ctl_release), and the store answers in the order asked, so the
 * lines come out in the order the operations were issued.
 * SECURITY: arguments are checked before use (an IP address, a number in
 * range, a reason of printable ASCII, at most CTL_REASON_MAX octets);
 * values read from the store are escaped before they are printed.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/netaddr.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "moatd/control_int.h"
#include "policy/policy.h"
#include "store/store.h"

#define CTL_REASON_MAX 200       /* octets of a ban reason, NUL included (ban.c) */
#define CTL_TTL_MAX    315360000 /* ten years, in seconds */

/* ctl_op_new - an operation for c: held until ctl_op_done() */
struct ctl_op *
ctl_op_new(struct ctl_conn *c, enum ctl_op_kind kind, const char *label)
{
	struct ctl_op *op = xcalloc(1, sizeof(*op));

	op->c = c;
	op->kind = kind;
	strlcpy(op->label, label, sizeof(op->label));
	ctl_hold(c);
	return op;
}

/* ctl_op_done - the operation answered: free it, release its request */
void
ctl_op_done(struct ctl_op *op)
{
	struct ctl_conn *c = op->c;

	free(op);
	ctl_release(c);
}

/* ctl_store - the store, or NULL with the request failed */
struct store *
ctl_store(struct ctl_conn *c)
{
	if (c->ctl->store == NULL)
		ctl_error(c, "the state store is not available");
	return c->ctl->store;
}

/* ctl_client_key - KEY of an IP argument ("a.b.c.d", IPv6, "v6/64"); -1 answered */
int
ctl_client_key(struct ctl_conn *c, const char *arg, char *key, size_t keysz,
               struct netaddr *out)
{
	char buf[NETADDR_STRLEN + 4], vis[LOG_ESCAPE_BUFSZ];
	struct netaddr na;
	size_t len = strlen(arg);

	if (len >= sizeof(buf))
		goto bad;
	strlcpy(buf, arg, sizeof(buf));
	/* The /64 form "bans" prints for IPv6 clients is accepted back. */
	if (len > 3 && strcmp(buf + len - 3, "/64") == 0) {
		buf[len - 3] = '\0';
		if (netaddr_parse(&na, buf) == -1 || na.family != AF_INET6)
			goto bad;
	} else if (netaddr_parse(&na, buf) == -1)
		goto bad;
	netaddr_client_key(&na, key, keysz);
	if (out != NULL)
		*out = na;
	return 0;
bad:
	ctl_error(c, "%s is not an IP address", log_escape(vis, sizeof(vis), arg, len));
	return -1;
}

/* seconds_arg - a TTL argument in [min, CTL_TTL_MAX]; -1 (answered) if not */
static long long
seconds_arg(struct ctl_conn *c, const char *arg, long long min)
{
	const char *errstr = NULL;
	long long v = strtonum(arg, min, CTL_TTL_MAX, &errstr);

	if (errstr != NULL) {
		ctl_error(c, "SECONDS must be a number from %lld to %d", min,
		          CTL_TTL_MAX);
		return -1;
	}
	return v;
}

/* all_digits - 1 if s is a non-empty run of digits */
static int
all_digits(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

/* ctl_until - " until=ISO8601 ttl=N" for an expiry, " until=never" for none */
const char *
ctl_until(char *buf, size_t bufsz, time_t expires)
{
	char when[32];
	long long left_ms;

	if (expires == 0) {
		snprintf(buf, bufsz, " until=never");
		return buf;
	}
	/* The store rounds expiry up to the second: count from now to the
	 * millisecond, so a fresh 600 s ban shows 600, never 601. */
	left_ms = (long long)expires * 1000 - clock_real_ms();
	ctl_time(when, sizeof(when), expires);
	snprintf(buf, bufsz, " until=%s ttl=%lld", when,
	         left_ms > 0 ? left_ms / 1000 : 0);
	return buf;
}

/* ctl_count - a stored counter (decimal text); 0 if it is not one */
long long
ctl_count(const void *val, size_t len)
{
	char buf[24];
	const char *errstr = NULL;
	long long v;

	if (len == 0 || len >= sizeof(buf))
		return 0;
	memcpy(buf, val, len);
	buf[len] = '\0';
	v = strtonum(buf, LLONG_MIN, LLONG_MAX, &errstr);
	return errstr != NULL ? 0 : v;
}

/* ---- ban, unban, allow, disallow ---- */

/* put_done - the entry is stored: its line, or the error */
static void
put_done(enum store_status st, void *arg)
{
	struct ctl_op *op = arg;

	if (st == STORE_OK)
		ctl_line(op->c, "%s", op->label);
	else
		ctl_error(op->c, "the state store failed");
	ctl_op_done(op);
}

/* allowed_note - a ban on an allowed client does nothing yet: say so */
static void
allowed_note(enum store_status st, const void *val, size_t len, time_t expires, void *arg)
{
	struct ctl_op *op = arg;

	if (st == STORE_OK)
		ctl_line(op->c,
		         "note: %s is on the allow list: the ban has no effect "
		         "until \"disallow\"",
		         op->label);
	ctl_op_done(op);
}

/* ctl_ban - ban IP [SECONDS] [REASON...] */
void
ctl_ban(struct ctl_conn *c, const struct ctl_req *r)
{
	struct store *st = ctl_store(c);
	char who[96], key[128], reason[CTL_REASON_MAX], label[CTL_REASON_MAX + 128];
	long long ttl = c->ctl->conf->limits.harvest_ban_time;
	int i = 1;

	if (st == NULL || ctl_client_key(c, r->argv[0], who, sizeof(who), NULL) == -1)
		return;
	if (r->argc > 1 && all_digits(r->argv[1])) {
		if ((ttl = seconds_arg(c, r->argv[1], 1)) == -1)
			return;
		i = 2;
	}
	strlcpy(reason, "manual", sizeof(reason));
	if (r->argc > i) {
		size_t len = strlen(r->rest[i]);
		while (len > 0 && r->rest[i][len - 1] == ' ')
			len--;
		if (len >= sizeof(reason)) {
			ctl_error(c, "the reason is longer than %d octets",
			          CTL_REASON_MAX - 1);
			return;
		}
		memcpy(reason, r->rest[i], len);
		reason[len] = '\0';
	}
	snprintf(key, sizeof(key), "ban:%s", who);
	snprintf(label, sizeof(label), "banned %s for %llds: %s", who, ttl, reason);
	store_put(st, key, reason, strlen(reason), (uint32_t)ttl, put_done,
	          ctl_op_new(c, SHOW_BAN, label));
	snprintf(key, sizeof(key), "allow:%s", who);
	store_get(st, key, allowed_note, ctl_op_new(c, SHOW_FLAG, who));
}

/* ctl_allow - allow IP [SECONDS]: past every screening stage */
void
ctl_allow(struct ctl_conn *c, const struct ctl_req *r)
{
	struct store *st = ctl_store(c);
	char who[96], key[128], label[160];
	long long ttl = 0;

	if (st == NULL || ctl_client_key(c, r->argv[0], who, sizeof(who), NULL) == -1)
		return;
	if (r->argc > 1 && (ttl = seconds_arg(c, r->argv[1], 0)) == -1)
		return;
	snprintf(key, sizeof(key), "allow:%s", who);
	if (ttl > 0)
		snprintf(label, sizeof(label), "allowed %s for %llds", who, ttl);
	else
		snprintf(label, sizeof(label), "allowed %s until disallowed", who);
	store_put(st, key, "manual", 6, (uint32_t)ttl, put_done,
	          ctl_op_new(c, SHOW_FLAG, label));
}

/* del_done - a removal answered: its line if there was something */
static void
del_done(enum store_status st, void *arg)
{
	struct ctl_op *op = arg;

	if (st == STORE_OK) {
		if (op->label[0] != '\0')
			ctl_line(op->c, "%s", op->label);
		op->c->counts[0] += op->counts;
	} else if (st == STORE_ERROR)
		ctl_error(op->c, "the state store failed");
	ctl_op_done(op);
}

/* unban_complete - nothing was removed: that is an error */
static void
unban_complete(struct ctl_conn *c)
{
	if (c->counts[0] == 0)
		ctl_error(c, "%s", c->note);
}

/* del - remove key; a hit prints label and adds counts to counts[0] */
static void
del(struct ctl_conn *c, const char *prefix, const char *who, const char *label,
    int counts)
{
	char key[128];
	struct ctl_op *op = ctl_op_new(c, SHOW_DEL, label);

	op->counts = counts;
	snprintf(key, sizeof(key), "%s%s", prefix, who);
	store_del(c->ctl->store, key, del_done, op);
}

/*
 * ctl_unban - unban IP: the ban, a trap's ban here, the early-talker
 * memory, and the counts that would ban or publish it again at once.
 */
void
ctl_unban(struct ctl_conn *c, const struct ctl_req *r)
{
	char who[96], label[160];

	if (ctl_store(c) == NULL ||
	    ctl_client_key(c, r->argv[0], who, sizeof(who), NULL) == -1)
		return;
	snprintf(c->note, sizeof(c->note), "%s is not banned", who);
	c->complete = unban_complete;
	snprintf(label, sizeof(label), "unbanned %s", who);
	del(c, "ban:", who, label, 1);
	snprintf(label, sizeof(label), "unbanned %s (trap, not published)", who);
	del(c, "trapban:", who, label, 1);
	del(c, "traphits:", who, "", 0);
	snprintf(label, sizeof(label), "forgot early talker %s", who);
	del(c, "early:", who, label, 1);
	del(c, "harvest:", who, "", 0);
	del(c, "attack:", who, "", 0); /* a fresh start: the events stay */
}

/* disallow_complete - nothing was removed: that is an error */
static void
disallow_complete(struct ctl_conn *c)
{
	if (c->counts[0] == 0)
		ctl_error(c, "%s", c->note);
}

/* ctl_disallow - disallow IP: screened like everyone again */
void
ctl_disallow(struct ctl_conn *c, const struct ctl_req *r)
{
	char who[96], label[160];

	if (ctl_store(c) == NULL ||
	    ctl_client_key(c, r->argv[0], who, sizeof(who), NULL) == -1)
		return;
	snprintf(c->note, sizeof(c->note), "%s is not on the allow list", who);
	c->complete = disallow_complete;
	snprintf(label, sizeof(label), "disallowed %s", who);
	del(c, "allow:", who, label, 1);
}

/* ---- lists ---- */

/* ctl_scan_done - a scan for c ended: release the request */
void
ctl_scan_done(enum store_status st, void *arg)
{
	struct ctl_conn *c = arg;

	if (st != STORE_OK)
		ctl_error(c, "the state store failed");
	ctl_release(c);
}

/* ban_line - one line of "bans": KEY until=... ttl=... reason=...[ published=no] */
static void
ban_line(struct ctl_conn *c, const char *who, const void *val, size_t len, time_t expires,
         int published)
{
	char vis[LOG_ESCAPE_BUFSZ], u[80];

	ctl_line(c, "%s%s reason=%s%s", log_escape_str(who),
	         ctl_until(u, sizeof(u), expires), log_escape(vis, sizeof(vis), val, len),
	         published ? "" : " published=no");
}

static int
ban_each(const char *key, const void *val, size_t len, time_t expires, void *arg)
{
	ban_line(arg, key + 4, val, len, expires, 1);
	return 0;
}

/* trapban_each - a trap's ban that stays here (trap_export_hits not reached) */
static int
trapban_each(const char *key, const void *val, size_t len, time_t expires, void *arg)
{
	ban_line(arg, key + 8, val, len, expires, 0);
	return 0;
}

/* allow_each - one line of "allows" */
static int
allow_each(const char *key, const void *val, size_t len, time_t expires, void *arg)
{
	char u[80];

	ctl_line(arg, "%s%s", key + 6, ctl_until(u, sizeof(u), expires));
	return 0;
}

/* ctl_bans - every ban: KEY until=... reason="..." */
void
ctl_bans(struct ctl_conn *c, const struct ctl_req *r)
{
	struct store *st = ctl_store(c);

	if (st == NULL)
		return;
	ctl_hold(c);
	store_scan(st, "ban:", ban_each, ctl_scan_done, c);
	ctl_hold(c);
	store_scan(st, "trapban:", trapban_each, ctl_scan_done, c);
}

/* ctl_allows - every allow entry: KEY until=... */
void
ctl_allows(struct ctl_conn *c, const struct ctl_req *r)
{
	struct store *st = ctl_store(c);

	if (st == NULL)
		return;
	ctl_hold(c);
	store_scan(st, "allow:", allow_each, ctl_scan_done, c);
}
