/* SPDX-License-Identifier: ISC */
/*
 * runner.c - drive the SMTP client through the battery for one host.
 *
 * One test = one connection: greeting, EHLO (HELO fallback), optional
 * STARTTLS, RSET, MAIL, RCPT, then DATA only when a sink can receive the
 * message, RSET, QUIT. The decisive reply of a test is the first one that
 * refused, or the last one that accepted.
 * SECURITY: replies come from the target; they reach us through
 * smtp/client.c (bounded, control bytes replaced) and are only copied with
 * bounds into results. Nothing here sends to any address but the host's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "probe/catalog.h"
#include "probe/runner.h"
#include "smtp/client.h"

#define ERRORS_IN_A_ROW_MAX 3 /* local failures before the host is given up */

struct hostrun {
	const struct runner_env *env;
	struct probe_host *h;
	struct smtp_client *c;
	long cur; /* test index; -1 for the discovery connection */
	size_t next;
	struct event *timer;
	struct timeval next_ok; /* earliest next connection (rate limit) */
	int errors_in_a_row;
	runner_done_cb done;
	void *arg;
};

static void schedule(struct hostrun *hr);

static struct probe_result *
cur_result(struct hostrun *hr)
{
	return hr->cur >= 0 ? &hr->h->res[hr->cur] : NULL;
}

/* record - the test's verdict and decisive reply */
static void
record(struct hostrun *hr, enum probe_verdict v, const char *stage,
       const struct smtp_reply *r)
{
	struct probe_result *res = cur_result(hr);
	char first[PROBE_REPLY_MAX];

	if (res == NULL)
		return;
	/* A receipt already proved this test; later replies do not undo it. */
	if (res->verdict != PV_RELAYED)
		res->verdict = v;
	res->stage = stage;
	res->code = r->code;
	res->local = r->local;
	smtp_reply_first(r, first, sizeof(first));
	snprintf(res->reply, sizeof(res->reply), "%d %s", r->code, first);
	hr->errors_in_a_row = v == PV_ERROR ? hr->errors_in_a_row + 1 : 0;
}

static void
quit_cb(struct smtp_client *c, const struct smtp_reply *r, void *arg)
{
	struct hostrun *hr = arg;

	smtp_client_free(c);
	hr->c = NULL;
	schedule(hr);
}

/* finish - end the connection politely; the next test follows */
static void
finish(struct hostrun *hr)
{
	smtp_client_cmd(hr->c, quit_cb, hr, "QUIT");
}

/* failed - a reply that ends the test: refused by the server or a local error */
static int
failed(struct hostrun *hr, const char *stage, const struct smtp_reply *r)
{
	if (r->code / 100 == 2 || r->code / 100 == 3)
		return 0;
	record(hr, r->local ? PV_ERROR : PV_REFUSED, stage, r);
	if (!r->local)
		smtp_client_cmd(hr->c, NULL, NULL, "RSET");
	finish(hr);
	return 1;
}

static void
data_cb(struct smtp_client *c, const struct smtp_reply *r, void *arg)
{
	struct hostrun *hr = arg;
	struct probe_result *res = cur_result(hr);

	if (failed(hr, "data", r))
		return;
	res->data_sent = 1;
	record(hr, PV_ACCEPTED, "data", r);
	finish(hr);
}

/* message - the one test message: the token in Subject, header and body */
static struct evbuffer *
message(struct hostrun *hr, const struct probe_test *t)
{
	const struct probe_opts *o = hr->env->opts;
	struct evbuffer *m = evbuffer_new();
	char tok[TOKEN_MAX], date[64];
	time_t now = time(NULL);
	struct tm tm;

	if (token_make(hr->env->key, t->id, hr->h->key, now, tok, sizeof(tok)) < 0)
		strlcpy(tok, "mp1/invalid", sizeof(tok));
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	evbuffer_add_printf(
	    m,
	    "Date: %s\r\n"
	    "From: moat-probe <%s>\r\n"
	    "To: <%s>\r\n"
	    "Subject: moat-probe relay test %s\r\n"
	    "Message-ID: <%s.%lld@%s>\r\n"
	    "X-Moat-Probe-Token: %s\r\n"
	    "\r\n"
	    "This is an open-relay test sent by moat-probe on behalf of the\r\n"
	    "administrator of %s (%s).\r\n"
	    "If you are reading it, that server relayed mail for a third\r\n"
	    "party. Test: %s (%s).\r\n"
	    "Token: %s\r\n",
	    date, o->sender, t->to, tok, t->id, (long long)now, o->helo, tok, hr->h->key,
	    hr->h->srvname, t->id, t->what, tok);
	return m;
}

static void
rcpt_cb(struct smtp_client *c, const struct smtp_reply *r, void *arg)
{
	struct hostrun *hr = arg;
	const struct probe_test *t = &hr->h->tests[hr->cur];

	if (failed(hr, "rcpt", r))
		return;
	record(hr, PV_ACCEPTED, "rcpt", r);
	if (hr->env->have_sink) {
		/* From now on a receipt for this test can come back. */
		hr->h->res[hr->cur].sent_at = time(NULL);
		smtp_client_data(c, message(hr, t), 1, data_cb, hr);
		return;
	}
	/* No sink, no message: abandon the transaction (as nmap does). */
	smtp_client_cmd(c, NULL, NULL, "RSET");
	finish(hr);
}

static void
mail_cb(struct smtp_client *c, const struct smtp_reply *r, void *arg)
{
	struct hostrun *hr = arg;

	if (failed(hr, "mail", r))
		return;
	smtp_client_cmd(c, rcpt_cb, hr, "RCPT TO:<%s>", hr->h->tests[hr->cur].to);
}

static void
rset_cb(struct smtp_client *c, const struct smtp_reply *r, void *arg)
{
	struct hostrun *hr = arg;

	/* A refused RSET says nothing about relaying: the test could not run. */
	if (r->code / 100 != 2) {
		record(hr, PV_ERROR, "rset", r);
		finish(hr);
		return;
	}
	smtp_client_cmd(c, mail_cb, hr, "MAIL FROM:<%s>", hr->h->tests[hr->cur].from);
}

/* greeting_name - the first word of the greeting (RFC 5321 §4.2: the domain) */
static void
greeting_name(struct probe_host *h, const struct smtp_reply *r)
{
	size_t n = strcspn(r->text, " \n");

	if (n > 0 && n < sizeof(h->srvname) && h->srvname[0] == '\0') {
		memcpy(h->srvname, r->text, n);
		h->srvname[n] = '\0';
	}
}

/* build - the battery, now that the target's name is known */
static void
build(struct hostrun *hr)
{
	const struct probe_opts *o = hr->env->opts;
	struct probe_host *h = hr->h;
	struct catalog_params p;
	char lit[NETADDR_STRLEN + 8], xlit[NETADDR_STRLEN + 8];

	if (o->hostname != NULL)
		strlcpy(h->srvname, o->hostname, sizeof(h->srvname));
	if (catalog_literal(h->ip, lit, sizeof(lit)) < 0)
		lit[0] = '\0';
	if (h->srvname[0] == '\0')
		strlcpy(h->srvname, lit, sizeof(h->srvname));
	if (o->domain != NULL)
		strlcpy(h->domain, o->domain, sizeof(h->domain));
	else
		catalog_domain_of(h->srvname, h->domain, sizeof(h->domain));
	if (catalog_literal(o->relay_literal, xlit, sizeof(xlit)) < 0)
		xlit[0] = '\0';
	memset(&p, 0, sizeof(p));
	p.sender = o->sender;
	p.rcpt_local = o->rcpt_local;
	p.relay_domain = o->relay_domain;
	p.relay_literal = xlit;
	p.srvname = h->srvname;
	p.ip_literal = lit;
	p.domain = h->domain;
	p.pattern = o->tests;
	h->ntests = catalog_build(&p, &h->tests);
	h->res = xcalloc(h->ntests > 0 ? h->ntests : 1, sizeof(*h->res));
}

static void
stop_host(struct hostrun *hr)
{
	hr->next = hr->h->ntests; /* the rest stay PV_NOTRUN */
}

static void tls_ehlo_cb(struct smtp_client *c, const struct smtp_reply *r, void *arg);

static void
after_ehlo(struct hostrun *hr)
{
	if (hr->cur < 0) {
		smtp_client_cmd(hr->c, quit_cb, hr, "QUIT");
		return;
	}
	smtp_client_cmd(hr->c, rset_cb, hr, "RSET");
}

static void
tls_cb(struct smtp_client *c, const struct smtp_reply *r, void *arg)
{
	struct hostrun *hr = arg;

	if (r->code != 220) {
		/* STARTTLS is opportunistic here: a refusal leaves us in plaintext. */
		if (r->local && smtp_client_dead(c)) {
			record(hr, PV_ERROR, "starttls", r);
			finish(hr);
			return;
		}
		after_ehlo(hr);
		return;
	}
	smtp_client_ehlo(c, tls_ehlo_cb, hr);
}

static void
ehlo_cb(struct smtp_client *c, const struct smtp_reply *r, void *arg)
{
	struct hostrun *hr = arg;

	if (r->code / 100 != 2) {
		if (hr->cur < 0) {
			finish(hr); /* the tests will show what EHLO says */
			return;
		}
		failed(hr, "helo", r);
		return;
	}
	if (hr->env->opts->starttls && smtp_client_has_ext(c, "STARTTLS") &&
	    !smtp_client_tls(c)) {
		smtp_client_starttls(c, NULL, tls_cb, hr);
		return;
	}
	after_ehlo(hr);
}

static void
tls_ehlo_cb(struct smtp_client *c, const struct smtp_reply *r, void *arg)
{
	struct hostrun *hr = arg;

	if (r->code / 100 != 2) {
		if (hr->cur < 0) {
			finish(hr);
			return;
		}
		failed(hr, "helo", r);
		return;
	}
	after_ehlo(hr);
}

static void
greeting_cb(struct smtp_client *c, const struct smtp_reply *r, void *arg)
{
	struct hostrun *hr = arg;
	struct probe_host *h = hr->h;
	struct probe_result *res = cur_result(hr);

	if (r->code / 100 == 2) {
		if (hr->cur < 0)
			greeting_name(h, r);
		smtp_client_ehlo(c, ehlo_cb, hr);
		return;
	}
	if (r->local) {
		record(hr, PV_ERROR, "connect", r);
		if (hr->cur < 0) {
			/* Nobody there: do not knock a hundred times. */
			h->conn_code = r->code;
			h->conn_local = 1;
			smtp_reply_first(r, h->conn_reply, sizeof(h->conn_reply));
			stop_host(hr);
		}
	} else {
		/* A 421/554 greeting: the server refuses us; stop here, politely. */
		h->refused_conn = 1;
		h->conn_code = r->code;
		smtp_reply_first(r, h->conn_reply, sizeof(h->conn_reply));
		if (res != NULL)
			record(hr, PV_REFUSED_CONN, "connect", r);
		stop_host(hr);
	}
	smtp_client_cmd(c, quit_cb, hr, "QUIT");
}

static void
begin(evutil_socket_t fd, short what, void *arg)
{
	struct hostrun *hr = arg;
	const struct runner_env *env = hr->env;
	struct smtp_client_opts co;
	struct timeval now, gap;

	memset(&co, 0, sizeof(co));
	co.helo = env->opts->helo;
	co.bind_addr = env->bind_addr;
	co.bind_len = env->bind_len;
	co.connect_timeout = env->opts->timeout;
	co.command_timeout = env->opts->timeout;
	co.data_timeout = env->opts->timeout;
	co.ssl_ctx = env->ssl_ctx;
	gettimeofday(&now, NULL);
	gap.tv_sec = 60 / env->opts->rate;
	gap.tv_usec = (long)((60 % env->opts->rate) * 1000000L / env->opts->rate);
	timeradd(&now, &gap, &hr->next_ok);
	if (hr->cur >= 0)
		log_debug("probe %s test %s", log_escape_str(hr->h->key),
		          log_escape_str(hr->h->tests[hr->cur].id));
	hr->c = smtp_client_new(env->base, &co);
	smtp_client_connect(hr->c, (struct sockaddr *)&hr->h->ss, hr->h->sslen,
	                    greeting_cb, hr);
}

/* schedule - the next connection, no sooner than the rate allows */
static void
schedule(struct hostrun *hr)
{
	struct timeval now, delay = {0, 0};

	if (hr->cur < 0 && hr->h->tests == NULL) {
		if (hr->h->conn_code != 0) {
			hr->done(hr->h, hr->arg);
			return;
		}
		build(hr);
	}
	if (hr->errors_in_a_row >= ERRORS_IN_A_ROW_MAX && hr->next < hr->h->ntests) {
		/* Timeouts or resets every time: stop rather than wait out the rest. */
		struct probe_result *last = cur_result(hr);
		hr->h->gave_up = 1;
		hr->h->conn_code = last->code;
		hr->h->conn_local = last->local;
		snprintf(hr->h->conn_reply, sizeof(hr->h->conn_reply),
		         "%d errors in a row, the last: %s", hr->errors_in_a_row,
		         last->reply);
		stop_host(hr);
	}
	if (hr->next >= hr->h->ntests) {
		hr->done(hr->h, hr->arg);
		return;
	}
	hr->cur = (long)hr->next++;
	gettimeofday(&now, NULL);
	if (timercmp(&hr->next_ok, &now, >))
		timersub(&hr->next_ok, &now, &delay);
	evtimer_add(hr->timer, &delay);
}

void
runner_start(const struct runner_env *env, struct probe_host *h, runner_done_cb done,
             void *arg)
{
	struct hostrun *hr = xcalloc(1, sizeof(*hr));
	struct timeval now = {0, 0};

	hr->env = env;
	hr->h = h;
	hr->cur = -1;
	hr->done = done;
	hr->arg = arg;
	hr->timer = evtimer_new(env->base, begin, hr);
	h->run = hr;
	evtimer_add(hr->timer, &now);
}

void
runner_free(struct probe_host *h)
{
	struct hostrun *hr = h->run;

	if (hr == NULL)
		return;
	if (hr->c != NULL)
		smtp_client_free(hr->c);
	event_free(hr->timer);
	free(hr);
	h->run = NULL;
}
