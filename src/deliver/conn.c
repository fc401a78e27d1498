/* SPDX-License-Identifier: ISC */
/*
 * conn.c - SMTP and LMTP delivery connections (RFC 5321, RFC 2033).
 *
 * A connection tries its destination's addresses in order until one greets
 * it, says EHLO (LHLO), turns on STARTTLS when the server offers it, then
 * delivers jobs of its destination one after another (each job's
 * transaction: conn_txn.c). Between jobs it waits delivery_idle_time for
 * more.
 * A configured next hop (relayhost, a domain's smtp:) has a TLS level and
 * may have a login; an MX host has the level of its address (mx_tls, its
 * TLSA records under DANE, its MTA-STS policy): conn_tls.c. A level not
 * reached, or a login refused, fails the address like a refusal (never
 * plain text instead), and when none is left its jobs are deferred.
 * SECURITY: every reply is untrusted; client.c bounds and parses them, here
 * only the code and the first line are used.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "common/log.h"
#include "common/netaddr.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "deliver/conn_int.h"
#include "deliver/dane.h"
#include "deliver/qmgr_int.h"
#include "deliver/tlspolicy.h"
#include "smtp/client.h"

static TAILQ_HEAD(, conn) all_conns = TAILQ_HEAD_INITIALIZER(all_conns);

static void conn_connect(struct conn *cn);

static void
describe_relay(struct conn *cn)
{
	const struct dest_addr *a = &cn->d->addrs[cn->ai];
	struct netaddr na;
	char ip[NETADDR_STRLEN];

	if (a->ss.ss_family == AF_UNIX) {
		snprintf(cn->relay, sizeof(cn->relay), "%s", a->host);
		return;
	}
	netaddr_from_sockaddr(&na, (const struct sockaddr *)&a->ss);
	snprintf(cn->relay, sizeof(cn->relay), "%s[%s]:%d", a->host,
	         netaddr_str(&na, ip, sizeof(ip)),
	         netaddr_port((const struct sockaddr *)&a->ss));
}

/* ---- the job ---- */

/* Clients saying QUIT, kept so a shutdown can free them too. */
struct quitting {
	struct smtp_client *c;
	TAILQ_ENTRY(quitting) entry;
};
static TAILQ_HEAD(, quitting) quitting = TAILQ_HEAD_INITIALIZER(quitting);

static void
quit_cb(struct smtp_client *c, const struct smtp_reply *r, void *arg)
{
	struct quitting *qt = arg;

	TAILQ_REMOVE(&quitting, qt, entry);
	free(qt);
	smtp_client_free(c);
}

void
conn_close(struct conn *cn)
{
	struct dest *d = cn->d;

	TAILQ_REMOVE(&all_conns, cn, all);
	if (cn->idle_ev != NULL)
		event_free(cn->idle_ev);
	if (cn->c != NULL) {
		if (!smtp_client_dead(cn->c)) {
			struct quitting *qt = xcalloc(1, sizeof(*qt));
			qt->c = cn->c;
			TAILQ_INSERT_TAIL(&quitting, qt, entry);
			smtp_client_cmd(cn->c, quit_cb, qt, "QUIT");
		} else
			smtp_client_free(cn->c);
	}
	int delivered = cn->delivered_any;
	struct dresult fail = cn->fail;
	int failed = cn->failed;
	dane_tlsa_unref(cn->tlsa);
	free(cn);
	dest_conn_closed(d, delivered, failed ? &fail : NULL);
}

static void
idle_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct conn *cn = arg;

	TAILQ_REMOVE(&cn->d->idle, cn, entry);
	cn->idle = 0;
	conn_close(cn);
}

void
conn_next_job(struct conn *cn)
{
	struct dest *d = cn->d;
	struct job *job;

	if (cn->msgs >= d->q->conf->limits.delivery_msgs_per_conn) {
		conn_close(cn);
		return;
	}
	if ((job = dest_take_job(d)) != NULL) {
		conn_send_job(cn, job);
		return;
	}
	if (d->q->conf->limits.delivery_idle_time == 0) {
		conn_close(cn);
		return;
	}
	/* Keep it a moment: the next message for here is often close behind. */
	struct timeval tv = {d->q->conf->limits.delivery_idle_time, 0};
	if (cn->idle_ev == NULL)
		cn->idle_ev = evtimer_new(d->q->base, idle_timeout, cn);
	evtimer_add(cn->idle_ev, &tv);
	TAILQ_INSERT_TAIL(&d->idle, cn, entry);
	cn->idle = 1;
}

int
conn_reuse(struct dest *d)
{
	struct conn *cn = TAILQ_FIRST(&d->idle);

	if (cn == NULL)
		return 0;
	TAILQ_REMOVE(&d->idle, cn, entry);
	cn->idle = 0;
	evtimer_del(cn->idle_ev);
	if (smtp_client_dead(cn->c)) {
		conn_close(cn);
		return 1;
	}
	conn_next_job(cn);
	return 1;
}

/* conn_drop - free a connection without ceremony (shutdown) */
static void
conn_drop(struct conn *cn)
{
	TAILQ_REMOVE(&all_conns, cn, all);
	if (cn->idle)
		TAILQ_REMOVE(&cn->d->idle, cn, entry);
	if (cn->idle_ev != NULL)
		event_free(cn->idle_ev);
	if (cn->c != NULL)
		smtp_client_free(cn->c);
	conn_txn_drop_all(cn, "local: queue runner stopping");
	cn->d->active--;
	cn->d->q->conns--;
	dane_tlsa_unref(cn->tlsa);
	free(cn);
}

void
conn_close_idle(struct dest *d)
{
	struct conn *cn;

	while ((cn = TAILQ_FIRST(&d->idle)) != NULL)
		conn_drop(cn);
}

void
conn_shutdown_all(void)
{
	struct conn *cn;

	struct quitting *qt;

	while ((cn = TAILQ_FIRST(&all_conns)) != NULL)
		conn_drop(cn);
	while ((qt = TAILQ_FIRST(&quitting)) != NULL) {
		TAILQ_REMOVE(&quitting, qt, entry);
		smtp_client_free(qt->c);
		free(qt);
	}
}

/* next_address - this address failed: try the next, or give up */
static void
next_address(struct conn *cn, const struct smtp_reply *r)
{
	char first[400];

	conn_fail(cn, "%s%d %s", r->local ? "local: " : "", r->code,
	          smtp_reply_first(r, first, sizeof(first)));
}

void
conn_fail(struct conn *cn, const char *fmt, ...)
{
	va_list ap;

	cn->failed = 1;
	memset(&cn->fail, 0, sizeof(cn->fail));
	cn->fail.status = DS_DEFER;
	strlcpy(cn->fail.relay, cn->relay, sizeof(cn->fail.relay));
	va_start(ap, fmt);
	vsnprintf(cn->fail.text, sizeof(cn->fail.text), fmt, ap);
	va_end(ap);
	log_info("deliver connect relay=%s result=failed text=%s",
	         log_escape_str(cn->relay), log_escape_str(cn->fail.text));
	smtp_client_free(cn->c);
	cn->c = NULL;
	if (++cn->ai < cn->d->naddrs) {
		conn_connect(cn);
		return;
	}
	conn_close(cn);
}

static void ehlo_cb(struct smtp_client *c, const struct smtp_reply *r, void *arg);

static void
starttls_cb(struct smtp_client *c, const struct smtp_reply *r, void *arg)
{
	struct conn *cn = arg;

	if (r->code != 220) {
		/* a level above may: no plain text instead (conn_tls.c) */
		if (conn_tls_required(cn)) {
			char first[400];
			conn_fail(
			    cn, "TLS is required (tls = %s) and STARTTLS failed: %s%d %s",
			    conn_tls_level_word(cn), r->local ? "local: " : "", r->code,
			    smtp_reply_first(r, first, sizeof(first)));
			return;
		}
		next_address(cn, r);
		return;
	}
	if (conn_tls_judge(cn) == -1)
		return;
	smtp_client_ehlo(cn->c, ehlo_cb, cn);
}

/* conn_ready - the session is set up (TLS, login): deliver */
void
conn_ready(struct conn *cn)
{
	char tls[200];
	const char *sts = conn_tls_sts_mode(cn);

	cn->failed = 0;
	outtls_fields(smtp_client_ssl(cn->c), cn->reached, tls, sizeof(tls));
	log_info("deliver connected relay=%s%s %s%s%s%s%s", log_escape_str(cn->relay),
	         cn->d->lmtp ? " lmtp" : "", tls, sts != NULL ? " mta-sts=" : "",
	         sts != NULL ? sts : "", cn->authed ? " auth=" : "",
	         cn->authed ? log_escape_str(cn->d->nh->auth_user) : "");
	conn_next_job(cn);
}

static void
ehlo_cb(struct smtp_client *c, const struct smtp_reply *r, void *arg)
{
	struct conn *cn = arg;

	if (r->code / 100 != 2) {
		next_address(cn, r);
		return;
	}
	if (!smtp_client_tls(c) && conn_tls_wanted(cn)) {
		if (cn->d->q->tls_ctx != NULL && smtp_client_has_ext(c, "STARTTLS")) {
			smtp_client_starttls(c, conn_tls_name(cn), starttls_cb, cn);
			return;
		}
		if (conn_tls_no_starttls(cn) == -1)
			return;
	}
	if (conn_auth_wanted(cn)) {
		conn_auth_start(cn);
		return;
	}
	conn_ready(cn);
}

static void
greeting_cb(struct smtp_client *c, const struct smtp_reply *r, void *arg)
{
	struct conn *cn = arg;

	if (r->code != 220) {
		/* RFC 5321 §5.1: a refusing host means: try the next one. */
		next_address(cn, r);
		return;
	}
	/* implicit TLS: the handshake is done; judge it before saying more */
	if (smtp_client_tls(c) && conn_tls_judge(cn) == -1)
		return;
	smtp_client_ehlo(c, ehlo_cb, cn);
}

static void
conn_connect(struct conn *cn)
{
	const struct moat_conf *conf = cn->d->q->conf;
	struct smtp_client_opts o;
	const struct dest_addr *a = &cn->d->addrs[cn->ai];

	memset(&o, 0, sizeof(o));
	o.helo = conf->hostname;
	o.lmtp = cn->d->lmtp;
	o.connect_timeout = (int)conf->limits.delivery_connect_timeout;
	o.command_timeout = (int)conf->limits.delivery_command_timeout;
	o.data_timeout = (int)conf->limits.delivery_data_timeout;
	o.ssl_ctx = cn->d->q->tls_ctx;
	cn->tls = a->tls;
	dane_tlsa_unref(cn->tlsa);
	cn->tlsa = dane_tlsa_ref(a->tlsa);
	conn_tls_opts(cn, &o);
	cn->reached = TLS_REACHED_NONE;
	cn->authed = 0;
	describe_relay(cn);
	cn->c = smtp_client_new(cn->d->q->base, &o);
	smtp_client_connect(cn->c, (const struct sockaddr *)&a->ss, a->len, greeting_cb,
	                    cn);
}

void
conn_start(struct dest *d)
{
	struct conn *cn = xcalloc(1, sizeof(*cn));

	cn->d = d;
	TAILQ_INIT(&cn->txns);
	d->active++;
	d->q->conns++;
	TAILQ_INSERT_TAIL(&all_conns, cn, all);
	conn_connect(cn);
}
