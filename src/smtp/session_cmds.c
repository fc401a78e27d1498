/* SPDX-License-Identifier: ISC */
/*
 * session_cmds.c - the SMTP commands (RFC 5321 §4.1.1) and the DATA phase;
 * RCPT and the recipients of a transaction are session_rcpt.c's.
 *
 * Each handler parses its arguments, asks policy for a verdict where one is
 * needed, and turns the verdict into a reply. Policy never writes to the
 * socket; these handlers never decide policy.
 * SECURITY: arguments are untrusted; they arrive bounded by the line limit
 * and are parsed by command.c/mailaddr.c before use. DATA bytes go through
 * dataread.c, which only ends at CRLF "." CRLF; those read from the socket
 * here (data_read_direct) land in a fixed buffer first, and what follows
 * the end goes back to the command parser, unread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include "common/ascii.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/mailaddr.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "metrics/metrics.h"
#include "queue/spool.h"
#include "smtp/reply.h"
#include "smtp/session_int.h"
#include "smtp/smtpd.h"

/* Write the message to the spool in pieces of about this size. */
#define SPOOL_CHUNK (64 * 1024)

void
tx_reset(struct session *s)
{
	struct transaction *tx = &s->tx;

	session_milter_abort(s);
	free(tx->sender);
	for (size_t i = 0; i < tx->nrcpts; i++) {
		free(tx->rcpts[i]);
		free(tx->rorcpt[i]);
	}
	free(tx->rcpts);
	free(tx->rnotify);
	free(tx->rorcpt);
	if (tx->msg != NULL) {
		if (s->wait == W_COMMIT)
			spool_detach(tx->msg);
		else
			spool_abort(tx->msg);
	}
	if (tx->buf != NULL)
		evbuffer_free(tx->buf);
	free(tx->prepend);
	for (size_t i = 0; i < tx->nforwards; i++)
		free(tx->forwards[i]);
	free(tx->forwards);
	free(tx->loop);
	memset(tx, 0, sizeof(*tx));
	if (session_state_in_transaction(s->state))
		session_enter(s, S_READY);
}

/* helo_reply - the HELO/EHLO answer, once screening let it through */
static void
helo_screened(struct session *s, const struct verdict *v)
{
	const struct moat_conf *c = s->sd->conf;
	enum smtp_verb verb = s->pending_verb;

	if (v->kind != VERDICT_OK) {
		free(s->pending_helo);
		s->pending_helo = NULL;
		session_refuse_verdict(s, "helo", v, NULL);
		if (v->kind == VERDICT_PERMFAIL)
			client_error(s);
		session_resume(s);
		return;
	}
	/* RFC 5321 §4.1.4: a new EHLO resets the transaction. */
	tx_reset(s);
	free(s->helo);
	s->helo = s->pending_helo;
	s->pending_helo = NULL;
	session_enter(s, S_READY);
	if (verb == V_HELO) {
		s->flags &= ~F_ESMTP;
		reply(s, 250, NULL, "%s", c->hostname);
		session_resume(s);
		return;
	}
	s->flags |= F_ESMTP;
	reply_cont(s, 250, "%s", c->hostname);
	reply_cont(s, 250, "PIPELINING");
	reply_cont(s, 250, "SIZE %ld", c->limits.message_size_max);
	if (starttls_offered(s))
		reply_cont(s, 250, "STARTTLS");
	if (auth_offered(s))
		reply_cont(s, 250, "AUTH PLAIN LOGIN");
	reply_cont(s, 250, "ENHANCEDSTATUSCODES");
	reply_cont(s, 250, "DSN");
	reply_cont(s, 250, "SMTPUTF8");
	reply(s, 250, NULL, "8BITMIME");
	session_resume(s);
}

void
cmd_helo(struct session *s, enum smtp_verb v, const char *arg, size_t len)
{
	if (!smtp_helo_valid(arg, len)) {
		session_refuse(s, "helo", "syntax", NULL, 501, "5.5.4",
		               "Syntax: %s hostname", v == V_EHLO ? "EHLO" : "HELO");
		client_error(s);
		return;
	}
	/*
	 * Commands sent before our HELO/EHLO answer: no PIPELINING was
	 * offered yet (RFC 2920 §3.1), so this is a bot that does not listen
	 * (postscreen's pipelining test). Treated like an early talker.
	 */
	if (s->sd->conf->screen.early_talker &&
	    !(s->pc.flags & (PC_TRUSTED | PC_ALLOWLISTED)) &&
	    evbuffer_get_length(bufferevent_get_input(s->bev)) > 0) {
		session_early_talker(s, v == V_EHLO ? "before our EHLO reply"
		                                    : "before our HELO reply");
		return;
	}
	free(s->pending_helo);
	s->pending_helo = xstrndup(arg, len);
	s->pending_verb = v;
	strlcpy(s->pc.helo, s->pending_helo, sizeof(s->pc.helo));
	session_screen(s, HOOK_HELO, NULL, NULL, helo_screened);
}

/* session_path_error - the reply for a MAIL FROM / RCPT TO parse error */
void
session_path_error(struct session *s, int err, int is_rcpt)
{
	const char *what = is_rcpt ? "recipient" : "sender";
	const char *stage = is_rcpt ? "rcpt" : "mail";
	const char *cmd = is_rcpt ? "RCPT TO" : "MAIL FROM";
	const char *enh = is_rcpt ? "5.1.3" : "5.1.7";

	switch (err) {
	case PE_KEYWORD:
		session_refuse(s, stage, "syntax", NULL, 501, "5.5.4",
		               "Syntax: %s:<address>", cmd);
		break;
	case PE_PARAM_UNKNOWN:
		session_refuse(s, stage, "syntax", NULL, 555, "5.5.4",
		               "Unsupported %s parameter", cmd);
		break;
	case PE_PARAM_SYNTAX:
	case PE_PARAM_DUP:
		session_refuse(s, stage, "syntax", NULL, 501, "5.5.4",
		               "Bad %s parameter: %s", cmd, smtp_parse_strerror(err));
		break;
	case MAE_8BIT:
		session_refuse(s, stage, "syntax", NULL, 553, "5.6.7",
		               "Bad %s address: %s", what, mailaddr_strerror(err));
		break;
	case MAE_PATH_TOO_LONG:
	case MAE_LOCAL_TOO_LONG:
		session_refuse(s, stage, "syntax", NULL, 501, "5.5.2",
		               "Bad %s address: %s", what, mailaddr_strerror(err));
		break;
	default:
		session_refuse(s, stage, "syntax", NULL, 501, enh,
		               "Bad %s address syntax: %s", what, mailaddr_strerror(err));
		break;
	}
	client_error(s);
}

static void mail_passed(struct session *s, const struct verdict *v);

static void
mail_screened(struct session *s, const struct verdict *v)
{
	if (v->kind == VERDICT_OK && session_milters(s)) {
		session_milter_mail(s, mail_passed);
		return;
	}
	mail_passed(s, v);
}

/* mail_passed - the screening stages and then the milters: refused, or
 * the transaction begins */
static void
mail_passed(struct session *s, const struct verdict *v)
{
	if (v->kind != VERDICT_OK) {
		session_refuse_verdict(s, "mail", v, s->pending_addr);
		if (v->kind == VERDICT_PERMFAIL)
			client_error(s);
		session_resume(s);
		return;
	}
	s->tx.sender = xstrdup(s->pending_addr);
	s->tx.params = s->pending_params;
	session_enter(s, S_MAIL);
	reply(s, 250, "2.1.0", "Ok");
	session_resume(s);
}

void
cmd_mail(struct session *s, enum smtp_verb v, const char *arg, size_t len)
{
	const struct moat_conf *c = s->sd->conf;
	struct mailaddr from;
	struct mail_params mp;
	char buf[MAILADDR_FMT_MAX];
	int err;

	if (s->nmsgs >= c->limits.messages_per_session_max) {
		session_refuse(s, "mail", "messages-per-session", NULL, 421, "4.7.0",
		               "%s Error: too many messages in one session", c->hostname);
		session_close(s, "too many messages");
		return;
	}
	/* Submission is for users: authenticate first (RFC 4954 §6, RFC 6409). */
	if ((s->lc->role == ROLE_SUBMISSION || s->lc->role == ROLE_SMTPS) &&
	    !(s->flags & F_AUTHED)) {
		session_refuse(s, "mail", "auth-required", NULL, 530, "5.7.0",
		               "Authentication required");
		client_error(s);
		return;
	}
	if ((err = smtp_parse_mail(
	         arg, len, (auth_extension(s) ? PARSE_ALLOW_AUTH : 0) | PARSE_ALLOW_UTF8,
	         &from, &mp)) != MAE_OK) {
		session_path_error(s, err, 0);
		return;
	}
	if (mp.size > c->limits.message_size_max) {
		session_refuse(s, "mail", "size", NULL, 552, "5.3.4",
		               "Message size exceeds fixed limit");
		client_error(s);
		return;
	}
	/* Postfix's queue_minfree: refused before the message, not after */
	if (smtpd_spool_short(s->sd)) {
		session_refuse(s, "mail", "spool-full", NULL, 452, "4.3.1",
		               "Insufficient system storage");
		return;
	}
	/* MAIL FROM:<> is never refused (RFC 2505 §2.6.1, RFC 5321 §4.5.5);
	 * an authenticated user's own addresses are a stage (sender_login.c) */
	mailaddr_format(&from, buf, sizeof(buf));
	strlcpy(s->pending_addr, buf, sizeof(s->pending_addr));
	s->pending_params = mp;
	session_screen(s, HOOK_MAIL, buf, NULL, mail_screened);
}

/*
 * helo_shown - the HELO name as the trace line may carry it: a domain, or
 * an address literal of the characters RFC 5321 §4.1.3 allows, as given;
 * anything else (a parenthesis would open a comment, a semicolon end the
 * clause) with every other octet as \xNN, so the client writes no header
 * syntax of its own into ours.
 */
static const char *
helo_shown(const char *helo, char *buf, size_t bufsz)
{
	size_t len = strlen(helo), n = 0;
	int literal = len > 2 && helo[0] == '[' && helo[len - 1] == ']';

	if (domain_valid(helo, len))
		return helo;
	for (size_t i = 0; helo[i] != '\0' && n + 5 < bufsz; i++) {
		unsigned char c = (unsigned char)helo[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		         (c >= '0' && c <= '9') || c == '.' || c == '-' ||
		         (literal && (c == ':' || c == '[' || c == ']'));
		if (ok)
			buf[n++] = (char)c;
		else
			n += (size_t)snprintf(buf + n, bufsz - n, "\\x%02x", c);
	}
	buf[n] = '\0';
	return buf;
}

/* received_header - RFC 5321 §4.4 trace line, RFC 3848 protocol, RFC 5322 date */
static void
received_header(struct session *s, struct evbuffer *out, const char *qid)
{
	char date[64], ip[NETADDR_STRLEN + 8], with[16], helo[4 * 255 + 1];
	struct tm tm;
	time_t now = time(NULL);

	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	if (s->peer.family == AF_INET6)
		snprintf(ip, sizeof(ip), "IPv6:%s", s->peer_str);
	else
		snprintf(ip, sizeof(ip), "%s", s->peer_str);
	if (s->flags & F_ESMTP)
		snprintf(with, sizeof(with), "ESMTP%s%s", (s->flags & F_TLS) ? "S" : "",
		         (s->flags & F_AUTHED) ? "A" : "");
	else
		snprintf(with, sizeof(with), "SMTP");
	if (s->flags & F_LOCAL) {
		session_localuser_received(s, out, with, qid, date);
		return;
	}
	evbuffer_add_printf(out, "Received: from %s (%s [%s])\r\n",
	                    helo_shown(s->helo, helo, sizeof(helo)),
	                    s->rdns ? s->rdns : "unknown", ip);
	if (s->flags & F_TLS)
		evbuffer_add_printf(out, "\t(using %s)\r\n", s->tls_info);
	session_submit_received(s, out);
	evbuffer_add_printf(out, "\tby %s (moat) with %s id %s", s->sd->conf->hostname,
	                    with, qid);
	/* Name the recipient only when there is one (no list disclosure). */
	if (s->tx.nrcpts == 1)
		evbuffer_add_printf(out, "\r\n\tfor <%s>", s->tx.rcpts[0]);
	evbuffer_add_printf(out, "; %s\r\n", date);
}

/* queue_error - the spool failed us: 4xx, and which (a full disk says so) */
static void
queue_error(struct session *s)
{
	s->sd->room_checked = 0; /* look again now */
	if (smtpd_spool_short(s->sd))
		session_refuse(s, "data", "spool-full", NULL, 452, "4.3.1",
		               "Insufficient system storage");
	else
		session_refuse(s, "data", "queue-error", NULL, 451, "4.3.0",
		               "Error: queue file write error");
}

/*
 * data_slow - a minute of DATA is over: it must have brought data_rate_min
 * octets a second on average. The DATA timeout alone lets a client hold
 * its slot for ever with one octet every timeout_data seconds.
 */
static void
data_slow(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	long min = s->sd->conf->limits.data_rate_min;

	if (s->data_minute >= (size_t)min * 60) {
		struct timeval tv = {60, 0};
		s->data_minute = 0;
		evtimer_add(s->data_ev, &tv);
		return;
	}
	session_refuse(s, "data", "data-rate", NULL, 421, "4.4.2",
	               "%s Error: message data too slow", s->sd->conf->hostname);
	session_close(s, "data too slow");
}

static void
data_rate_start(struct session *s)
{
	struct timeval tv = {60, 0};

	if (s->sd->conf->limits.data_rate_min == 0)
		return;
	s->data_minute = 0;
	if (s->data_ev == NULL)
		s->data_ev = evtimer_new(s->sd->base, data_slow, s);
	evtimer_add(s->data_ev, &tv);
}

void
session_env_in(struct session *s, struct spool_env_in *in)
{
	struct transaction *tx = &s->tx;

	memset(in, 0, sizeof(*in));
	in->sender = tx->sender;
	in->rcpts = tx->rcpts;
	in->notify = tx->rnotify;
	in->orcpt = tx->rorcpt;
	in->nrcpts = tx->nrcpts;
	in->ret = tx->params.ret;
	in->smtputf8 = tx->params.smtputf8;
	in->envid = tx->params.envid[0] != '\0' ? tx->params.envid : NULL;
	in->origin = (s->flags & F_AUTHED)    ? ORIGIN_AUTH
	             : (s->flags & F_TRUSTED) ? ORIGIN_TRUSTED
	                                      : ORIGIN_STRANGER;
	in->client = s->peer_str;
	in->helo = s->helo;
	in->auth = s->auth_user;
	in->hold = tx->hold;
}

/* data_begin - the DATA command passed: open the queue file, answer 354 */
static void
data_begin(struct session *s)
{
	const struct moat_conf *c = s->sd->conf;
	struct transaction *tx = &s->tx;
	struct spool_env_in in;
	struct evbuffer *input = bufferevent_get_input(s->bev);

	/*
	 * RFC 2920 §3.1: DATA ends a pipelined group; the message may only
	 * follow our 354. Bytes already here were sent blind: a bot, or an
	 * attempt to smuggle. We answer and hang up rather than guess.
	 */
	if (evbuffer_get_length(input) > 0) {
		session_refuse(s, "data", "pipelining", NULL, 554, "5.5.0",
		               "Error: improper command pipelining after DATA");
		session_close(s, "improper pipelining");
		return;
	}
	session_env_in(s, &in);
	if ((tx->msg = spool_begin(s->sd->spool, &in)) == NULL) {
		/* Our own trouble: 4xx, never 5xx. */
		queue_error(s);
		tx_reset(s);
		return;
	}
	tx->buf = evbuffer_new();
	/* Postfix's order: what the policy services prepend, then our trace */
	if (tx->prepend != NULL)
		evbuffer_add(tx->buf, tx->prepend, strlen(tx->prepend));
	/* above our trace, as Postfix's local(8) puts it on a forward */
	for (size_t i = 0; i < tx->nforwards; i++)
		evbuffer_add_printf(tx->buf, "Delivered-To: %s\r\n", tx->forwards[i]);
	received_header(s, tx->buf, spool_msg_id(tx->msg));
	/* the client's header lines follow ours: the signatures see theirs */
	tx->hdr_scan = 1;
	tx->hdr_pos = evbuffer_get_length(tx->buf);
	tx->own_len = tx->hdr_pos;
	tx->hdr_seen = 0;
	session_submit_begin(s);
	data_reader_init(&tx->dr, (size_t)c->limits.message_size_max,
	                 (size_t)c->limits.text_line_max, c->bare_newline_normalize);
	session_enter(s, S_DATA);
	session_set_timeout(s, c->limits.timeout_data);
	data_rate_start(s);
	reply(s, 354, NULL, "End data with <CR><LF>.<CR><LF>");
}

/* data_refused - a refusal at DATA or at the end of data (only the policy
 * services answer there, and they never hang up): the reply, the error,
 * and the session goes on */
static void
data_refused(struct session *s, const struct verdict *v)
{
	session_refuse_verdict(s, "data", v, NULL);
	if (v->kind == VERDICT_PERMFAIL)
		client_error(s);
	session_resume(s);
}

static void
data_screened(struct session *s, const struct verdict *v)
{
	if (v->kind != VERDICT_OK) {
		data_refused(s, v);
		return;
	}
	data_begin(s);
	if (s->state != S_CLOSING)
		session_resume(s);
}

void
cmd_data(struct session *s, enum smtp_verb v, const char *arg, size_t len)
{
	struct transaction *tx = &s->tx;

	if (tx->nrcpts == 0) {
		session_refuse(s, "data", "no-recipients", NULL, 554, "5.5.1",
		               "Error: no valid recipients");
		client_error(s);
		return;
	}
	/* blind bytes after DATA: refused before anyone is asked */
	if (evbuffer_get_length(bufferevent_get_input(s->bev)) > 0) {
		data_begin(s);
		return;
	}
	if (policy_services_at(s->sd->policy, HOOK_DATA, s->lc->name)) {
		session_screen(s, HOOK_DATA, tx->sender, NULL, data_screened);
		return;
	}
	data_begin(s);
}

/* queued_line - the 250 of a committed message, as reply() formats it */
static size_t
queued_line(char line[REPLY_LINE_MAX + 1], const char *id)
{
	char text[64];

	snprintf(text, sizeof(text), "Ok: queued as %s", id);
	return reply_format(line, 250, ' ', "2.0.0", text);
}

/*
 * early_reply - let the commit send the 250 itself when the message is
 * durable (spool_commit_reply()), if nothing else can be on its way to the
 * client before it: plain TCP, nothing queued, no delay earned, no write
 * callback waiting. Anything written to the client meanwhile cancels it
 * first (session_reply.c), and so does the session's end (spool_detach()).
 */
static void
early_reply(struct session *s)
{
	char line[REPLY_LINE_MAX + 1];
	bufferevent_data_cb writecb;

	bufferevent_getcb(s->bev, NULL, &writecb, NULL, NULL);
	if (evbuffer_get_length(s->out) != 0 || s->flush_pending || s->tarpit_ms != 0 ||
	    s->stutter || (s->flags & F_HELD) || writecb != NULL ||
	    evbuffer_get_length(bufferevent_get_output(s->bev)) != 0 ||
	    bufferevent_openssl_get_ssl(s->bev) != NULL)
		return;
	size_t n = queued_line(line, spool_msg_id(s->tx.msg));
	spool_commit_reply(s->tx.msg, bufferevent_getfd(s->bev), line, n);
}

static void
commit_done(void *arg, int ok)
{
	struct session *s = arg;
	struct transaction *tx = &s->tx;
	const char *id = spool_msg_id(tx->msg);

	if (ok) {
		/* what the commit did not send itself (early_reply(): all of
		 * it, none, or what the socket did not take) goes the usual way */
		char line[REPLY_LINE_MAX + 1];
		size_t n = queued_line(line, id), sent = spool_reply_sent(tx->msg);
		if (sent < n)
			evbuffer_add(s->out, line + sent, n - sent);
		reply_counted(s, 250);
		metrics_observe(M_COMMIT_SECONDS, clock_mono_us() - tx->eod_us);
		metrics_observe(M_MESSAGE_SIZE, (int64_t)tx->dr.size);
		char who[96];
		log_info(
		    "smtp queued sid=%s id=%s client=%s from=%s nrcpt=%zu size=%zu%s%s%s",
		    s->sid, id, s->peer_str, log_escape_addr(tx->sender), tx->nrcpts,
		    tx->dr.size, s->auth_user ? " auth=" : "",
		    s->auth_user ? log_escape_str(s->auth_user) : "",
		    session_localuser_log(s, who, sizeof(who)));
		s->nmsgs++;
		s->junk = 0; /* as Postfix: mail moved, the junk count starts over */
		if (!(s->flags & F_GOOD_SAVED)) {
			/* a good record, kept verdict_cache_ttl (once a session) */
			s->flags |= F_GOOD_SAVED;
			s->pc.flags |= PC_GOOD;
			policy_remember_good(s->sd->policy, &s->pc);
			session_idle_update(s);
		}
		s->sd->stats.messages++;
	} else
		queue_error(s);
	/* The spool owns the message from here on. */
	tx->msg = NULL;
	s->wait = W_NONE;
	tx_reset(s);
	session_resume(s);
}

static void commit(struct session *s);

/* eod_milted - the milters' verdict on the message */
static void
eod_milted(struct session *s, const struct verdict *v)
{
	if (v->kind != VERDICT_OK) {
		tx_reset(s);
		data_refused(s, v);
		return;
	}
	commit(s);
	/* committing: the reply waits for the disk (commit_done resumes) */
	if (s->wait == W_NONE && s->state != S_CLOSING)
		session_resume(s);
}

/* milters - 1 if the milters take the message over (eod_milted ends it) */
static int
milters(struct session *s)
{
	if (!session_milters(s))
		return 0;
	/* they read it back from the spool: all of it goes there first */
	spool_append(s->tx.msg, s->tx.buf);
	session_milter_eod(s, eod_milted);
	return 1;
}

/* eod_screened - the end-of-data policy services' verdict */
static void
eod_screened(struct session *s, const struct verdict *v)
{
	if (v->kind != VERDICT_OK) {
		tx_reset(s);
		data_refused(s, v);
		return;
	}
	if (milters(s))
		return;
	commit(s);
	if (s->wait == W_NONE && s->state != S_CLOSING)
		session_resume(s);
}

/* end_of_data - the reader saw CRLF.CRLF: refuse, or make it durable */
static void
end_of_data(struct session *s)
{
	struct transaction *tx = &s->tx;
	unsigned bad = data_reader_rejects(&tx->dr);

	tx->eod_us = clock_mono_us(); /* end-of-data filters and the disk: the
	                               * client's wait for its 250 */
	if (tx->dr.flags & DR_FAKE_END)
		session_sig(s, SIG_DATA, tx->dr.fake_end, tx->dr.fake_len,
		            tx->dr.fake_len);
	session_set_timeout(s, session_timeout_command(s));
	if (s->data_ev != NULL)
		evtimer_del(s->data_ev);
	session_enter(s, S_READY);
	/* a header section that runs to the end (no body): the missing fields
	 * of submitted mail go at its end */
	if (!bad && tx->hdr_scan)
		session_submit_end(s, tx->hdr_pos);
	if (bad) {
		int code = 550;
		const char *enh = "5.6.0", *rule, *text;
		if (bad & DR_TOO_BIG) {
			code = 552;
			enh = "5.3.4";
			rule = "size";
			text = "Error: message size exceeds fixed limit";
		} else if (bad & DR_NUL) {
			rule = "nul";
			text = "Error: message contains NUL characters";
		} else if (bad & (DR_BARE_LF | DR_BARE_CR)) {
			enh = "5.5.2";
			rule = "bare-newline";
			text = "Error: bare <CR> or <LF> in message (RFC 5321 2.3.8)";
		} else {
			rule = "line-length";
			text = "Error: message line too long (RFC 5321 4.5.3.1.6)";
		}
		session_refuse(s, "data", rule, NULL, code, enh, "%s", text);
		tx_reset(s);
		client_error(s);
		return;
	}
	if (tx->hops > s->sd->conf->limits.hop_count_max) {
		/* RFC 5321 §6.3: a loop; refused, never bounced by us */
		session_refuse(s, "data", "hop-count", NULL, 554, "5.4.6",
		               "Error: too many hops (%ld Received: lines; a mail loop?)",
		               tx->hops);
		tx_reset(s);
		return;
	}
	if (tx->loop != NULL) {
		/* our own forward came back: refused (the sender's MTA bounces
		 * it, once), never forwarded again */
		session_refuse(s, "data", "forward-loop", tx->loop, 554, "5.4.6",
		               "<%s>: Recipient address rejected: mail forwarding loop "
		               "(Delivered-To: is already there)",
		               tx->loop);
		tx_reset(s);
		return;
	}
	if (policy_services_at(s->sd->policy, HOOK_EOD, s->lc->name)) {
		session_screen(s, HOOK_EOD, tx->sender, NULL, eod_screened);
		return;
	}
	if (milters(s))
		return;
	commit(s);
}

/* commit - the message is whole and passed: make it durable (or, if a
 * policy service said DISCARD, drop it and say it was taken) */
static void
commit(struct session *s)
{
	struct transaction *tx = &s->tx;

	if (tx->discard) {
		const char *id = spool_msg_id(tx->msg);
		/* RFC 5321 allows no "taken but dropped" reply: as Postfix, the
		 * client hears what it would have heard */
		reply(s, 250, "2.0.0", "Ok: queued as %s", id);
		log_info("smtp discarded sid=%s id=%s client=%s from=%s nrcpt=%zu "
		         "size=%zu",
		         s->sid, id, s->peer_str, log_escape_addr(tx->sender), tx->nrcpts,
		         tx->dr.size);
		tx_reset(s);
		return;
	}
	if (tx->hold)
		spool_set_hold(tx->msg);
	spool_append(tx->msg, tx->buf);
	/* Nothing more is read while the disk catches up (backpressure, not
	 * buffering): read_cb() turns reading off should the client talk
	 * meanwhile. Turning it off here and on again in commit_done() would
	 * cost two epoll_ctl calls per message, and a client that waits for
	 * our 250 sends nothing in between. */
	s->wait = W_COMMIT;
	early_reply(s);
	spool_commit(tx->msg, commit_done, s);
}

/* data_feed - len octets of the message through the DATA reader; the
 * octets used (fewer at the end of the data, with *done set) */
static size_t
data_feed(struct session *s, const char *p, size_t len, int *done)
{
	struct transaction *tx = &s->tx;
	size_t used = data_reader_feed(&tx->dr, p, len, tx->buf, done);

	s->data_minute += used;
	session_sig_headers(s);
	if (evbuffer_get_length(tx->buf) >= SPOOL_CHUNK) {
		spool_append(tx->msg, tx->buf);
		/* what was not matched of the header section went with it: no
		 * half line is matched as if it were whole */
		tx->hdr_scan = 0;
	}
	return used;
}

/*
 * data_read_direct - on plain TCP, once the input buffer is empty, the
 * message is read from the socket DATA_READ octets at a time. libevent 2.1
 * reads 4 KiB per turn of its loop (each an ioctl, a readv and an
 * epoll_wait): a 10 MiB message took 2,560 turns. At most DATA_READ_ROUNDS
 * reads per turn, so one sender cannot starve the worker's other sessions.
 * What follows the end of the data (pipelined commands) is put back at the
 * front of the empty input buffer, where the command parser finds it as if
 * libevent had read it. A failed read or the end of the connection is left
 * for the bufferevent's next read to report.
 */
#define DATA_READ        (64 * 1024)
#define DATA_READ_ROUNDS 4

static int
data_read_direct(struct session *s, struct evbuffer *in)
{
	static char buf[DATA_READ]; /* a worker runs its sessions on one thread */
	int fd = bufferevent_getfd(s->bev);

	for (int round = 0; round < DATA_READ_ROUNDS; round++) {
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		size_t off = 0;

		if (n <= 0)
			return 0;
		while (off < (size_t)n) {
			int done = 0;

			off += data_feed(s, buf + off, (size_t)n - off, &done);
			if (done) {
				if (off < (size_t)n)
					evbuffer_prepend(in, buf + off, (size_t)n - off);
				end_of_data(s);
				return 1;
			}
			if (s->state != S_DATA)
				return 0; /* closed meanwhile: the rest goes with it */
		}
		if ((size_t)n < sizeof(buf))
			return 0; /* the socket had no more */
	}
	return 0;
}

int
data_input(struct session *s, struct evbuffer *in)
{
	while (evbuffer_get_length(in) > 0) {
		struct evbuffer_iovec v;
		int done = 0;
		size_t used;

		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		used = data_feed(s, v.iov_base, v.iov_len, &done);
		evbuffer_drain(in, used);
		if (done) {
			end_of_data(s);
			return 1;
		}
	}
	if (!(s->flags & F_TLS) && s->state == S_DATA)
		return data_read_direct(s, in);
	return 0;
}

void
cmd_rset(struct session *s, enum smtp_verb v, const char *arg, size_t len)
{
	tx_reset(s);
	reply(s, 250, "2.0.0", "Ok");
}

void
cmd_noop(struct session *s, enum smtp_verb v, const char *arg, size_t len)
{
	reply(s, 250, "2.0.0", "Ok");
}

void
cmd_quit(struct session *s, enum smtp_verb v, const char *arg, size_t len)
{
	reply(s, 221, "2.0.0", "Bye");
	session_close(s, "quit");
}

void
cmd_help(struct session *s, enum smtp_verb v, const char *arg, size_t len)
{
	reply(s, 214, "2.0.0",
	      "Commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP");
}

void
cmd_vrfy(struct session *s, enum smtp_verb v, const char *arg, size_t len)
{
	/* RFC 5321 §3.5.3: 252 for everyone, so VRFY is no address oracle. */
	reply(s, 252, "2.0.0", "Send some mail, I'll try my best");
}

void
cmd_not_implemented(struct session *s, enum smtp_verb v, const char *arg, size_t len)
{
	session_refuse(s, "command", "not-implemented", NULL, 502, "5.5.1",
	               "Error: %s command not implemented", smtp_verb_name(v));
	client_error(s);
}

void
cmd_http(struct session *s, enum smtp_verb v, const char *arg, size_t len)
{
	/* A web request on the SMTP port: a proxy abuse probe. */
	session_refuse(s, "command", "http-command", NULL, 221, "2.7.0",
	               "Error: I can break rules, too. Goodbye.");
	session_close(s, "http command");
}
