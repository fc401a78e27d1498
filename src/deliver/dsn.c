/* SPDX-License-Identifier: ISC */
/*
 * dsn.c - delivery status notifications (RFC 3464, multipart/report).
 *
 * Failures are reported unless the sender said NOTIFY=NEVER or left FAILURE
 * out; deliveries when it asked NOTIFY=SUCCESS ("delivered" into a mailbox,
 * "relayed" to a next hop without DSN: one with DSN was handed the request,
 * conn.c). RET=FULL returns the whole message, else its header section;
 * ENVID and ORCPT come back as Original-Envelope-Id and
 * Original-Recipient (RFC 3461 §6).
 * A DSN goes to the envelope sender only when that sender is ours: the
 * message came from a trusted network or an authenticated user. Mail from
 * strangers was judged at RCPT time, so a later failure is not reported to
 * an address that may be forged (no backscatter); the null sender never
 * gets one (RFC 5321 §4.5.5). The DSN is written into the queue durably
 * before the failed message is removed, then delivered like any message.
 * The original's headers go back as text/rfc822-headers (RFC 6522).
 * SECURITY: the original message and remote replies are quoted; replies
 * were made single-line and printable by client.c, headers are copied as
 * stored and capped at DSN_HEADERS_MAX.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "deliver/qmgr_int.h"
#include "queue/spool.h"

#define DSN_HEADERS_MAX (64 * 1024)

static void
rfc5322_date(time_t t, char *buf, size_t sz)
{
	struct tm tm;
	localtime_r(&t, &tm);
	strftime(buf, sz, "%a, %d %b %Y %H:%M:%S %z", &tm);
}

/* status_of - the RFC 3463 code in a reply text like "550 5.1.1 ...", or a default */
static void
status_of(const struct dresult *r, char *buf, size_t sz, int expired)
{
	const char *p = r->text;

	if (strncmp(p, "local: ", 7) == 0)
		p += 7;
	if (strlen(p) > 6 && p[3] == ' ' && (p[4] == '4' || p[4] == '5') && p[5] == '.') {
		size_t n = strcspn(p + 4, " ");
		if (n < sz && n >= 5) {
			memcpy(buf, p + 4, n);
			buf[n] = '\0';
			if (buf[0] == '4')
				buf[0] = '5'; /* a failed DSN reports a 5.x.x */
			return;
		}
	}
	snprintf(buf, sz, "%s", expired ? "4.4.7" : "5.0.0");
}

/* copy_headers - the original's header section, CRLF kept */
static void
copy_headers(struct qmsg *m, struct evbuffer *out)
{
	size_t want = m->env.size < DSN_HEADERS_MAX ? m->env.size : DSN_HEADERS_MAX;
	char *buf = xmalloc(want + 1);
	ssize_t n = pread(m->fd, buf, want, m->env.body_off);

	if (n > 0) {
		buf[n] = '\0';
		char *end = strstr(buf, "\r\n\r\n");
		size_t len = end ? (size_t)(end - buf) + 2 : (size_t)n;
		evbuffer_add(out, buf, len);
		if (len == 0 || buf[len - 1] != '\n')
			evbuffer_add(out, "\r\n", 2);
	}
	free(buf);
}

/* copy_message - the whole original, for RET=FULL */
static void
copy_message(struct qmsg *m, struct evbuffer *out)
{
	char buf[65536];
	size_t done = 0;

	while (done < m->env.size) {
		size_t want =
		    m->env.size - done < sizeof(buf) ? m->env.size - done : sizeof(buf);
		ssize_t n = pread(m->fd, buf, want, m->env.body_off + (off_t)done);
		if (n <= 0)
			break;
		evbuffer_add(out, buf, (size_t)n);
		done += (size_t)n;
	}
	if (done > 0 && evbuffer_get_length(out) > 0) {
		struct evbuffer_ptr end;
		char last;
		evbuffer_ptr_set(out, &end, evbuffer_get_length(out) - 1,
		                 EVBUFFER_PTR_SET);
		if (evbuffer_copyout_from(out, &end, &last, 1) == 1 && last != '\n')
			evbuffer_add(out, "\r\n", 2);
	}
}

/* wanted - the sender asked to hear of this result (RFC 3461 §4.1: without
 * NOTIFY, failures are reported) */
static int
wanted(const struct env_rcpt *r, int success)
{
	if (success)
		return (r->notify & ENV_NOTIFY_SUCCESS) != 0;
	return r->notify == 0 || (r->notify & ENV_NOTIFY_FAILURE) != 0;
}

int
dsn_send(struct qmgr *q, struct qmsg *m, const char *why, int success)
{
	const struct moat_conf *c = q->conf;
	struct envelope *env = &m->env;
	const struct rcpt_result *list = success ? m->successes : m->bounces;
	size_t n = success ? m->nsuccesses : m->nbounces, nwanted = 0;
	struct evbuffer *b;
	struct spool_env_in in;
	char date[64], arrival[64], boundary[64], newid[QID_LEN + 1], status[16];
	char *rcpt[1];
	int expired = why != NULL;
	const char *kind = success ? "success" : expired ? "expired" : "failed";
	int ret;

	if (env->sender[0] == '\0') {
		log_info("deliver id=%s dsn=none reason=null-sender", m->id);
		return 0;
	}
	if (env->origin != ORIGIN_TRUSTED && env->origin != ORIGIN_AUTH) {
		/* no backscatter: strangers' senders are likely forged */
		log_info("deliver id=%s dsn=none to=%s reason=sender-not-ours", m->id,
		         log_escape_addr(env->sender));
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		nwanted += wanted(&env->rcpts[list[i].index], success);
	if (nwanted == 0) {
		log_info("deliver id=%s dsn=none reason=notify", m->id);
		return 0;
	}
	rfc5322_date(time(NULL), date, sizeof(date));
	rfc5322_date(env->arrival, arrival, sizeof(arrival));
	snprintf(boundary, sizeof(boundary), "%s.%lld/%s", m->id, (long long)time(NULL),
	         c->hostname);
	b = evbuffer_new();
	evbuffer_add_printf(
	    b,
	    "From: MAILER-DAEMON@%s (Mail Delivery System)\r\n"
	    "To: <%s>\r\n"
	    "Subject: %s\r\n"
	    "Date: %s\r\n"
	    "Message-ID: <%s.%s@%s>\r\n"
	    "Auto-Submitted: auto-replied\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: multipart/report; report-type=delivery-status;\r\n"
	    "\tboundary=\"%s\"\r\n"
	    "\r\n"
	    "This is a MIME-encapsulated message.\r\n\r\n"
	    "--%s\r\n"
	    "Content-Description: Notification\r\n"
	    "Content-Type: text/plain; charset=us-ascii\r\n\r\n"
	    "This is the mail system at host %s.\r\n\r\n"
	    "%s\r\n"
	    "%s\r\n",
	    c->hostname, env->sender,
	    success ? "Successful Mail Delivery Report"
	            : "Undelivered Mail Returned to Sender",
	    date, m->id, success ? "success" : "dsn", c->hostname, boundary, boundary,
	    c->hostname,
	    success ? "Your message was delivered to the recipients listed below, or\r\n"
	              "handed to a next hop that reports no delivery status itself."
	            : "Your message could not be delivered to one or more recipients.",
	    expired ? "It stayed in the queue too long; we gave up.\r\n" : "");
	for (size_t i = 0; i < n; i++) {
		const struct rcpt_result *r = &list[i];
		if (wanted(&env->rcpts[r->index], success))
			evbuffer_add_printf(b, "<%s>: %s said: %s\r\n",
			                    env->rcpts[r->index].addr, r->res.relay,
			                    r->res.text);
	}
	evbuffer_add_printf(b,
	                    "\r\n--%s\r\n"
	                    "Content-Description: Delivery report\r\n"
	                    "Content-Type: message/delivery-status\r\n\r\n",
	                    boundary);
	if (env->envid != NULL)
		evbuffer_add_printf(b, "Original-Envelope-Id: %s\r\n", env->envid);
	evbuffer_add_printf(b,
	                    "Reporting-MTA: dns; %s\r\n"
	                    "X-Moat-Queue-ID: %s\r\n"
	                    "Arrival-Date: %s\r\n",
	                    c->hostname, m->id, arrival);
	for (size_t i = 0; i < n; i++) {
		const struct rcpt_result *r = &list[i];
		const struct env_rcpt *er = &env->rcpts[r->index];
		const char *semi = er->orcpt != NULL ? strchr(er->orcpt, ';') : NULL;
		int maildir = strcmp(r->res.relay, "maildir") == 0;
		if (!wanted(er, success))
			continue;
		evbuffer_add(b, "\r\n", 2);
		if (semi != NULL)
			evbuffer_add_printf(b, "Original-Recipient: %.*s; %s\r\n",
			                    (int)(semi - er->orcpt), er->orcpt, semi + 1);
		if (success)
			strlcpy(status, "2.0.0", sizeof(status));
		else
			status_of(&r->res, status, sizeof(status), expired);
		evbuffer_add_printf(b,
		                    "Final-Recipient: rfc822; %s\r\n"
		                    "Action: %s\r\n"
		                    "Status: %s\r\n",
		                    er->addr,
		                    !success       ? "failed"
		                    : r->res.final ? "delivered"
		                                   : "relayed",
		                    status);
		if (!maildir)
			evbuffer_add_printf(b, "Remote-MTA: dns; %s\r\n", r->res.relay);
		evbuffer_add_printf(b, "Diagnostic-Code: %s; %s\r\n",
		                    maildir ? "X-Moat" : "smtp", r->res.text);
	}
	if (env->ret == ENV_RET_FULL) {
		evbuffer_add_printf(
		    b,
		    "\r\n--%s\r\n"
		    "Content-Description: %s\r\n"
		    "Content-Type: message/rfc822\r\n\r\n",
		    boundary, success ? "Delivered Message" : "Undelivered Message");
		copy_message(m, b);
	} else {
		evbuffer_add_printf(b,
		                    "\r\n--%s\r\n"
		                    "Content-Description: %s\r\n"
		                    "Content-Type: text/rfc822-headers\r\n\r\n",
		                    boundary,
		                    success ? "Message Headers"
		                            : "Undelivered Message Headers");
		copy_headers(m, b);
	}
	evbuffer_add_printf(b, "\r\n--%s--\r\n", boundary);

	memset(&in, 0, sizeof(in));
	in.sender = ""; /* RFC 5321 §4.5.5: DSNs go out with the null sender */
	rcpt[0] = env->sender;
	in.rcpts = rcpt;
	in.nrcpts = 1;
	in.origin = ORIGIN_LOCAL;
	in.client = "127.0.0.1";
	in.helo = c->hostname;
	size_t len = evbuffer_get_length(b);
	ret = spool_inject(c->spool_dir, &in, (const char *)evbuffer_pullup(b, -1), len,
	                   newid);
	evbuffer_free(b);
	if (ret == -1)
		return -1;
	log_info("deliver id=%s dsn=%s dsn-id=%s to=%s", m->id, kind, newid,
	         log_escape_addr(env->sender));
	qmgr_add(q, newid, 1);
	return 0;
}
