/* SPDX-License-Identifier: ISC */
/*
 * session.c - the SMTP server session: command table, named states, one
 * reply function, one place that turns policy verdicts into replies.
 *
 * SECURITY: untrusted data read directly from the network. A command line is
 * measured in the input buffer before a byte is copied, and is refused whole
 * when it is too long or holds a bare CR, bare LF or NUL (RFC 5321 §2.3.8).
 * DATA goes through dataread.c, which only ends at CRLF "." CRLF. Client text
 * is escaped (log_vis) before it reaches a log line. Nothing here can reach
 * fatal(): protocol errors are replies, counters and state changes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "common/log.h"
#include "common/mailaddr.h"
#include "common/netaddr.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "dns/resolver.h"
#include "policy/relay.h"
#include "queue/spool.h"
#include "smtp/command.h"
#include "smtp/dataread.h"
#include "smtp/session.h"
#include "smtp/smtpd.h"

/* RFC 1870 §3(5) and RFC 4954 §5: what MAIL FROM may add to the 512 octets. */
#define SIZE_EXTRA_OCTETS 26
#define AUTH_EXTRA_OCTETS 500
/* Write the message to the spool in pieces of about this size. */
#define SPOOL_CHUNK (64 * 1024)

enum state {
	S_CONNECT = 0, /* before the greeting: connect-time checks */
	S_HELO,        /* greeted, waiting for HELO/EHLO */
	S_READY,       /* ready for MAIL */
	S_MAIL,        /* in a transaction, no recipient yet */
	S_RCPT,        /* at least one recipient */
	S_DATA,        /* reading the message */
	S_CLOSING,     /* last reply queued; no more input */
};

static const char *state_names[] = {"CONNECT", "HELO", "READY",  "MAIL",
                                    "RCPT",    "DATA", "CLOSING"};

enum wait { W_NONE = 0, W_COMMIT };

#define F_ESMTP        0x01
#define F_TRUSTED      0x02
#define F_SKIP_LINE    0x04 /* discarding an over-long line up to its LF */
#define F_PIPE_WARNED  0x08
#define F_RDNS_PENDING 0x10

struct transaction {
	char *sender; /* formatted; "" for <> */
	struct mail_params params;
	char **rcpts;
	size_t nrcpts;
	size_t rcap;
	struct spool_msg *msg;
	struct evbuffer *buf;
	struct data_reader dr;
};

struct session {
	struct smtpd *sd;
	const struct listener_conf *lc;
	struct bufferevent *bev;
	char sid[13];
	struct netaddr peer;
	int peer_port;
	char peer_str[NETADDR_STRLEN];
	char *rdns; /* forward-confirmed name or "unknown" */
	struct dns_req *rdns_req;
	enum state state;
	enum wait wait;
	unsigned flags;
	char *helo;
	int errors;
	int nmsgs;
	unsigned total[V_NVERBS];
	unsigned ok[V_NVERBS];
	enum smtp_verb last_verb;
	struct transaction tx;
	struct timespec start;
	TAILQ_ENTRY(session) entry;
};

static void session_input(struct session *s);
static void session_close(struct session *s, const char *reason);
static void session_free(struct session *s);
static void tx_reset(struct session *s);

/* reply - one reply line (or the last line of a multi-line reply) */
static void __attribute__((format(printf, 4, 5)))
reply(struct session *s, int code, const char *enh, const char *fmt, ...)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (enh != NULL)
		evbuffer_add_printf(out, "%d %s %s\r\n", code, enh, text);
	else
		evbuffer_add_printf(out, "%d %s\r\n", code, text);
	if (code < 300 && s->last_verb != V_UNKNOWN)
		s->ok[s->last_verb]++;
}

static int
may_relay(const struct session *s)
{
	return (s->flags & F_TRUSTED) != 0;
}

/* log_refusal - one line for every refusal: who, what, which rule */
static void
log_refusal(struct session *s, const char *stage, const char *rule, int code,
            const char *enh, const char *addr)
{
	char vis[LOG_VIS_BUFSZ];

	log_info("smtp refuse sid=%s client=%s:%d stage=%s rule=%s reply=\"%d %s\"%s%s%s",
	         s->sid, s->peer_str, s->peer_port, stage, rule, code, enh ? enh : "",
	         addr ? " addr=<" : "",
	         addr ? log_vis(vis, sizeof(vis), addr, strlen(addr)) : "",
	         addr ? ">" : "");
}

/*
 * client_error - count a protocol error; past errors_max the session ends
 * with 421 (RFC 5321 §4.2.2 lets a server close after errors).
 */
static void
client_error(struct session *s)
{
	if (++s->errors < s->sd->conf->limits.errors_max)
		return;
	reply(s, 421, "4.7.0", "%s Error: too many errors", s->sd->conf->hostname);
	log_refusal(s, state_names[s->state], "errors-max", 421, "4.7.0", NULL);
	session_close(s, "too many errors");
}

/* line_limit - RFC 5321 §4.5.3.1.4 plus what advertised extensions add */
static size_t
line_limit(const struct session *s, enum smtp_verb v)
{
	size_t base = (size_t)s->sd->conf->limits.command_line_max;

	if (v == V_MAIL && (s->flags & F_ESMTP))
		return base + SIZE_EXTRA_OCTETS;
	return base;
}

static size_t
line_limit_any(const struct session *s)
{
	size_t a = line_limit(s, V_MAIL), b = line_limit(s, V_UNKNOWN);
	return a > b ? a : b;
}

/* ---- transaction ---- */

static void
tx_reset(struct session *s)
{
	struct transaction *tx = &s->tx;

	free(tx->sender);
	for (size_t i = 0; i < tx->nrcpts; i++)
		free(tx->rcpts[i]);
	free(tx->rcpts);
	if (tx->msg != NULL) {
		if (s->wait == W_COMMIT)
			spool_detach(tx->msg);
		else
			spool_abort(tx->msg);
	}
	if (tx->buf != NULL)
		evbuffer_free(tx->buf);
	memset(tx, 0, sizeof(*tx));
	if (s->state == S_MAIL || s->state == S_RCPT || s->state == S_DATA)
		s->state = S_READY;
}

/* ---- commands ---- */

static void
cmd_helo(struct session *s, enum smtp_verb v, const char *arg, size_t len)
{
	const struct moat_conf *c = s->sd->conf;

	if (!smtp_helo_valid(arg, len)) {
		reply(s, 501, "5.5.4", "Syntax: %s hostname",
		      v == V_EHLO ? "EHLO" : "HELO");
		client_error(s);
		return;
	}
	/* RFC 5321 §4.1.4: a new EHLO resets the transaction. */
	tx_reset(s);
	free(s->helo);
	s->helo = xstrndup(arg, len);
	s->state = S_READY;
	if (v == V_HELO) {
		s->flags &= ~F_ESMTP;
		reply(s, 250, NULL, "%s", c->hostname);
		return;
	}
	s->flags |= F_ESMTP;
	struct evbuffer *out = bufferevent_get_output(s->bev);
	evbuffer_add_printf(out, "250-%s\r\n", c->hostname);
	evbuffer_add_printf(out, "250-PIPELINING\r\n");
	evbuffer_add_printf(out, "250-SIZE %ld\r\n", c->limits.message_size_max);
	evbuffer_add_printf(out, "250-ENHANCEDSTATUSCODES\r\n");
	reply(s, 250, NULL, "8BITMIME");
}

/* path_error - the reply for a MAIL FROM / RCPT TO parse error */
static void
path_error(struct session *s, int err, int is_rcpt)
{
	const char *what = is_rcpt ? "recipient" : "sender";
	const char *enh = is_rcpt ? "5.1.3" : "5.1.7";
	const char *cmd = is_rcpt ? "RCPT TO" : "MAIL FROM";
	int code = 501;

	switch (err) {
	case PE_KEYWORD:
		enh = "5.5.4";
		reply(s, code, enh, "Syntax: %s:<address>", cmd);
		break;
	case PE_PARAM_UNKNOWN:
		code = 555;
		enh = "5.5.4";
		reply(s, code, enh, "Unsupported %s parameter", cmd);
		break;
	case PE_PARAM_SYNTAX:
	case PE_PARAM_DUP:
		enh = "5.5.4";
		reply(s, code, enh, "Bad %s parameter: %s", cmd,
		      smtp_parse_strerror(err));
		break;
	case MAE_8BIT:
		code = 553;
		enh = "5.6.7";
		reply(s, code, enh, "Bad %s address: %s", what, mailaddr_strerror(err));
		break;
	case MAE_PATH_TOO_LONG:
	case MAE_LOCAL_TOO_LONG:
		enh = "5.5.2";
		reply(s, code, enh, "Bad %s address: %s", what, mailaddr_strerror(err));
		break;
	default:
		reply(s, code, enh, "Bad %s address syntax: %s", what,
		      mailaddr_strerror(err));
		break;
	}
	log_refusal(s, is_rcpt ? "rcpt" : "mail", "syntax", code, enh, NULL);
	client_error(s);
}

static void
cmd_mail(struct session *s, enum smtp_verb v, const char *arg, size_t len)
{
	const struct moat_conf *c = s->sd->conf;
	struct mailaddr from;
	struct mail_params mp;
	char buf[MAILADDR_FMT_MAX];
	int err;

	if (s->nmsgs >= c->limits.messages_per_session_max) {
		reply(s, 421, "4.7.0", "%s Error: too many messages in one session",
		      c->hostname);
		log_refusal(s, "mail", "messages-per-session", 421, "4.7.0", NULL);
		session_close(s, "too many messages");
		return;
	}
	if ((err = smtp_parse_mail(arg, len, 0, &from, &mp)) != MAE_OK) {
		path_error(s, err, 0);
		return;
	}
	if (mp.size > c->limits.message_size_max) {
		reply(s, 552, "5.3.4", "Message size exceeds fixed limit");
		log_refusal(s, "mail", "size", 552, "5.3.4", NULL);
		client_error(s);
		return;
	}
	/* MAIL FROM:<> is never refused (RFC 2505 §2.6.1, RFC 5321 §4.5.5). */
	mailaddr_format(&from, buf, sizeof(buf));
	s->tx.sender = xstrdup(buf);
	s->tx.params = mp;
	s->state = S_MAIL;
	reply(s, 250, "2.1.0", "Ok");
}

static int
rcpt_known(const struct transaction *tx, const char *addr)
{
	for (size_t i = 0; i < tx->nrcpts; i++)
		if (strcasecmp(tx->rcpts[i], addr) == 0)
			return 1;
	return 0;
}

static void
cmd_rcpt(struct session *s, enum smtp_verb v, const char *arg, size_t len)
{
	const struct moat_conf *c = s->sd->conf;
	struct transaction *tx = &s->tx;
	struct mailaddr to;
	struct rcpt_dest dest;
	struct verdict vd;
	int err;

	if ((long)tx->nrcpts >= c->limits.recipients_max) {
		/* RFC 5321 §4.5.3.1.10: 452, and the client sends the rest later */
		reply(s, 452, "4.5.3", "Error: too many recipients");
		log_refusal(s, "rcpt", "recipients-max", 452, "4.5.3", NULL);
		client_error(s);
		return;
	}
	if ((err = smtp_parse_rcpt(arg, len, &to)) != MAE_OK) {
		path_error(s, err, 1);
		return;
	}
	relay_check_rcpt(c, &to, may_relay(s), &dest, &vd);
	if (vd.kind != VERDICT_OK) {
		char shown[MAILADDR_FMT_MAX];
		mailaddr_format(&to, shown, sizeof(shown));
		reply(s, vd.code, vd.enh, "%s", vd.text);
		log_refusal(s, "rcpt", vd.rule, vd.code, vd.enh, shown);
		s->sd->stats.rejected_rcpts++;
		client_error(s);
		return;
	}
	/* The same mailbox twice gets one copy. */
	if (!rcpt_known(tx, dest.addr)) {
		if (tx->nrcpts == tx->rcap) {
			tx->rcap = tx->rcap ? tx->rcap * 2 : 4;
			tx->rcpts = xreallocarray(tx->rcpts, tx->rcap, sizeof(char *));
		}
		tx->rcpts[tx->nrcpts++] = xstrdup(dest.addr);
	}
	s->state = S_RCPT;
	reply(s, 250, "2.1.5", "Ok");
}

/* received_header - RFC 5321 §4.4 trace line, RFC 5322 date */
static void
received_header(struct session *s, struct evbuffer *out, const char *qid)
{
	char date[64], ip[NETADDR_STRLEN + 8];
	struct tm tm;
	time_t now = time(NULL);

	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	if (s->peer.family == AF_INET6)
		snprintf(ip, sizeof(ip), "IPv6:%s", s->peer_str);
	else
		snprintf(ip, sizeof(ip), "%s", s->peer_str);
	evbuffer_add_printf(
	    out, "Received: from %s (%s [%s])\r\n\tby %s (moat) with %s id %s", s->helo,
	    s->rdns ? s->rdns : "unknown", ip, s->sd->conf->hostname,
	    (s->flags & F_ESMTP) ? "ESMTP" : "SMTP", qid);
	/* Name the recipient only when there is one (no list disclosure). */
	if (s->tx.nrcpts == 1)
		evbuffer_add_printf(out, "\r\n\tfor <%s>", s->tx.rcpts[0]);
	evbuffer_add_printf(out, "; %s\r\n", date);
}

static void
cmd_data(struct session *s, enum smtp_verb v, const char *arg, size_t len)
{
	const struct moat_conf *c = s->sd->conf;
	struct transaction *tx = &s->tx;
	struct spool_env_in in;
	struct evbuffer *input = bufferevent_get_input(s->bev);

	if (tx->nrcpts == 0) {
		reply(s, 554, "5.5.1", "Error: no valid recipients");
		client_error(s);
		return;
	}
	/*
	 * RFC 2920 §3.1: DATA ends a pipelined group; the message may only
	 * follow our 354. Bytes already here were sent blind: a bot, or an
	 * attempt to smuggle. We answer and hang up rather than guess.
	 */
	if (evbuffer_get_length(input) > 0) {
		reply(s, 554, "5.5.0", "Error: improper command pipelining after DATA");
		log_refusal(s, "data", "pipelining", 554, "5.5.0", NULL);
		session_close(s, "improper pipelining");
		return;
	}
	memset(&in, 0, sizeof(in));
	in.sender = tx->sender;
	in.rcpts = tx->rcpts;
	in.nrcpts = tx->nrcpts;
	in.origin = may_relay(s) ? ORIGIN_TRUSTED : ORIGIN_STRANGER;
	in.client = s->peer_str;
	in.helo = s->helo;
	if ((tx->msg = spool_begin(s->sd->spool, &in)) == NULL) {
		/* Our own trouble: 4xx, never 5xx. */
		reply(s, 451, "4.3.0", "Error: queue file write error");
		tx_reset(s);
		return;
	}
	tx->buf = evbuffer_new();
	received_header(s, tx->buf, spool_msg_id(tx->msg));
	data_reader_init(&tx->dr, (size_t)c->limits.message_size_max,
	                 (size_t)c->limits.text_line_max, c->bare_newline_normalize);
	s->state = S_DATA;
	struct timeval tv = {c->limits.timeout_data, 0};
	bufferevent_set_timeouts(s->bev, &tv, &tv);
	reply(s, 354, NULL, "End data with <CR><LF>.<CR><LF>");
}

static void
commit_done(void *arg, int ok)
{
	struct session *s = arg;
	struct transaction *tx = &s->tx;
	const char *id = spool_msg_id(tx->msg);

	s->wait = W_NONE;
	if (ok) {
		char vis[LOG_VIS_BUFSZ];
		reply(s, 250, "2.0.0", "Ok: queued as %s", id);
		log_info(
		    "smtp queued sid=%s id=%s client=%s from=<%s> nrcpt=%zu size=%zu",
		    s->sid, id, s->peer_str,
		    log_vis(vis, sizeof(vis), tx->sender, strlen(tx->sender)), tx->nrcpts,
		    tx->dr.size);
		s->nmsgs++;
		s->sd->stats.messages++;
	} else {
		reply(s, 451, "4.3.0", "Error: queue file write error");
	}
	/* The spool owns the message from here on. */
	tx->msg = NULL;
	tx_reset(s);
	if (s->state != S_CLOSING) {
		bufferevent_enable(s->bev, EV_READ);
		session_input(s);
	}
}

/* end_of_data - the reader saw CRLF.CRLF: refuse, or make it durable */
static void
end_of_data(struct session *s)
{
	const struct moat_conf *c = s->sd->conf;
	struct transaction *tx = &s->tx;
	unsigned bad = data_reader_rejects(&tx->dr);
	struct timeval tv = {c->limits.timeout_command, 0};

	bufferevent_set_timeouts(s->bev, &tv, &tv);
	s->state = S_READY;
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
			text = "Error: bare <CR> or <LF> in message (RFC 5321 §2.3.8)";
		} else {
			rule = "line-length";
			text = "Error: message line too long (RFC 5321 §4.5.3.1.6)";
		}
		reply(s, code, enh, "%s", text);
		log_refusal(s, "data", rule, code, enh, NULL);
		tx_reset(s);
		client_error(s);
		return;
	}
	spool_append(tx->msg, tx->buf);
	s->wait = W_COMMIT;
	/* Stop reading while the disk catches up: backpressure, not buffering. */
	bufferevent_disable(s->bev, EV_READ);
	spool_commit(tx->msg, commit_done, s);
}

/* data_input - feed the DATA reader; 1 when data ended, 0 for more input */
static int
data_input(struct session *s, struct evbuffer *in)
{
	struct transaction *tx = &s->tx;

	while (evbuffer_get_length(in) > 0) {
		struct evbuffer_iovec v;
		int done = 0;
		size_t used;

		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		used = data_reader_feed(&tx->dr, v.iov_base, v.iov_len, tx->buf, &done);
		evbuffer_drain(in, used);
		if (evbuffer_get_length(tx->buf) >= SPOOL_CHUNK)
			spool_append(tx->msg, tx->buf);
		if (done) {
			end_of_data(s);
			return 1;
		}
	}
	return 0;
}

static void
cmd_rset(struct session *s, enum smtp_verb v, const char *arg, size_t len)
{
	tx_reset(s);
	reply(s, 250, "2.0.0", "Ok");
}

static void
cmd_noop(struct session *s, enum smtp_verb v, const char *arg, size_t len)
{
	reply(s, 250, "2.0.0", "Ok");
}

static void
cmd_quit(struct session *s, enum smtp_verb v, const char *arg, size_t len)
{
	reply(s, 221, "2.0.0", "Bye");
	session_close(s, "quit");
}

static void
cmd_help(struct session *s, enum smtp_verb v, const char *arg, size_t len)
{
	reply(s, 214, "2.0.0",
	      "Commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP");
}

static void
cmd_vrfy(struct session *s, enum smtp_verb v, const char *arg, size_t len)
{
	/* RFC 5321 §3.5.3: 252 for everyone, so VRFY is no address oracle. */
	reply(s, 252, "2.0.0", "Send some mail, I'll try my best");
}

static void
cmd_not_implemented(struct session *s, enum smtp_verb v, const char *arg, size_t len)
{
	reply(s, 502, "5.5.1", "Error: %s command not implemented", smtp_verb_name(v));
	client_error(s);
}

static void
cmd_http(struct session *s, enum smtp_verb v, const char *arg, size_t len)
{
	/* A web request on the SMTP port: a proxy abuse probe. */
	reply(s, 221, "2.7.0", "Error: I can break rules, too. Goodbye.");
	log_refusal(s, "command", "http-command", 221, "2.7.0", NULL);
	session_close(s, "http command");
}

/* ---- the command table ---- */

#define CMD_NEED_HELO 0x01 /* after HELO/EHLO only */
#define CMD_NEED_MAIL 0x02 /* inside a transaction only */
#define CMD_NO_TX     0x04 /* outside a transaction only */
#define CMD_NO_ARGS   0x08
#define CMD_NEED_ARGS 0x10
#define CMD_LAST      0x20 /* must end a pipelined group (RFC 2920 §3.1) */

struct cmd {
	enum smtp_verb verb;
	unsigned flags;
	const char *syntax;
	void (*proceed)(struct session *, enum smtp_verb, const char *, size_t);
};

static const struct cmd commands[] = {
    {V_HELO, CMD_NEED_ARGS | CMD_LAST, "HELO hostname", cmd_helo},
    {V_EHLO, CMD_NEED_ARGS | CMD_LAST, "EHLO hostname", cmd_helo},
    {V_MAIL, CMD_NEED_HELO | CMD_NO_TX | CMD_NEED_ARGS, "MAIL FROM:<address>", cmd_mail},
    {V_RCPT, CMD_NEED_HELO | CMD_NEED_MAIL | CMD_NEED_ARGS, "RCPT TO:<address>",
     cmd_rcpt},
    {V_DATA, CMD_NEED_HELO | CMD_NEED_MAIL | CMD_NO_ARGS | CMD_LAST, "DATA", cmd_data},
    {V_RSET, CMD_NO_ARGS, "RSET", cmd_rset},
    {V_NOOP, CMD_LAST, NULL, cmd_noop},
    {V_QUIT, CMD_NO_ARGS | CMD_LAST, "QUIT", cmd_quit},
    {V_HELP, 0, NULL, cmd_help},
    {V_VRFY, CMD_NEED_ARGS | CMD_LAST, "VRFY address", cmd_vrfy},
    {V_EXPN, CMD_LAST, NULL, cmd_not_implemented},
    {V_ETRN, 0, NULL, cmd_not_implemented},
    {V_STARTTLS, CMD_LAST, NULL, cmd_not_implemented},
    {V_AUTH, CMD_LAST, NULL, cmd_not_implemented},
    {V_BDAT, 0, NULL, cmd_not_implemented},
    {V_HTTP, 0, NULL, cmd_http},
};

static void
dispatch(struct session *s, enum smtp_verb v, const char *args, size_t argslen)
{
	const struct cmd *cmd = NULL;
	struct evbuffer *in = bufferevent_get_input(s->bev);

	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (commands[i].verb == v)
			cmd = &commands[i];
	s->total[v]++;
	s->last_verb = v;
	if (cmd == NULL) {
		reply(s, 500, "5.5.2", "Error: command not recognized");
		client_error(s);
		return;
	}
	if ((cmd->flags & CMD_NEED_HELO) && s->state < S_READY) {
		reply(s, 503, "5.5.1", "Error: send HELO/EHLO first");
		client_error(s);
		return;
	}
	if ((cmd->flags & CMD_NEED_MAIL) && s->state != S_MAIL && s->state != S_RCPT) {
		reply(s, 503, "5.5.1", "Error: need MAIL command");
		client_error(s);
		return;
	}
	if ((cmd->flags & CMD_NO_TX) && (s->state == S_MAIL || s->state == S_RCPT)) {
		reply(s, 503, "5.5.1", "Error: nested MAIL command");
		client_error(s);
		return;
	}
	if (((cmd->flags & CMD_NO_ARGS) && argslen > 0) ||
	    ((cmd->flags & CMD_NEED_ARGS) && argslen == 0)) {
		reply(s, 501, "5.5.4", "Syntax: %s", cmd->syntax);
		client_error(s);
		return;
	}
	if ((cmd->flags & CMD_LAST) && v != V_DATA && evbuffer_get_length(in) > 0 &&
	    !(s->flags & F_PIPE_WARNED)) {
		/* Tolerated (RFC 2920 puts the burden on the client), noted once. */
		s->flags |= F_PIPE_WARNED;
		log_info(
		    "smtp pipelining sid=%s client=%s: commands after %s in one group",
		    s->sid, s->peer_str, smtp_verb_name(v));
	}
	cmd->proceed(s, v, args, argslen);
}

/* line_input - take one command line off the input; 0 when none is complete */
static int
line_input(struct session *s, struct evbuffer *in)
{
	struct smtpd *sd = s->sd;
	size_t avail = evbuffer_get_length(in), len, argslen;
	size_t maxlen = line_limit_any(s);
	struct evbuffer_ptr eol;
	const char *args;
	enum smtp_verb v;

	if (avail == 0)
		return 0;
	eol = evbuffer_search_eol(in, NULL, NULL, EVBUFFER_EOL_LF);
	if (eol.pos == -1) {
		if (avail > maxlen) {
			/* Too long already: drop it now, answer when it ends. */
			evbuffer_drain(in, avail);
			s->flags |= F_SKIP_LINE;
		}
		return 0;
	}
	len = (size_t)eol.pos + 1;
	if ((s->flags & F_SKIP_LINE) || len > maxlen) {
		evbuffer_drain(in, len);
		s->flags &= ~F_SKIP_LINE;
		s->last_verb = V_UNKNOWN;
		reply(s, 500, "5.5.2", "Error: line too long");
		log_refusal(s, state_names[s->state], "line-too-long", 500, "5.5.2",
		            NULL);
		client_error(s);
		return 1;
	}
	/* The check came first; now the copy, which the check bounds. */
	if (evbuffer_remove(in, sd->linebuf, len) != (int)len)
		return 0;
	switch (smtp_line_check(sd->linebuf, len)) {
	case LINE_OK:
		break;
	case LINE_BARE_LF:
	case LINE_BARE_CR:
	case LINE_NUL:
		s->last_verb = V_UNKNOWN;
		reply(s, 500, "5.5.2",
		      "Error: bare <CR>, <LF> or NUL in command (RFC 5321 §2.3.8)");
		log_refusal(s, state_names[s->state], "bare-newline", 500, "5.5.2", NULL);
		client_error(s);
		return 1;
	}
	len -= 2;
	sd->linebuf[len] = '\0';
	v = smtp_verb_parse(sd->linebuf, len, &args, &argslen);
	if (len + 2 > line_limit(s, v)) {
		s->last_verb = V_UNKNOWN;
		reply(s, 500, "5.5.2", "Error: line too long");
		log_refusal(s, state_names[s->state], "line-too-long", 500, "5.5.2",
		            NULL);
		client_error(s);
		return 1;
	}
	dispatch(s, v, args, argslen);
	return 1;
}

static void
session_input(struct session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);

	while (s->state != S_CLOSING && s->wait == W_NONE) {
		if (s->state == S_CONNECT) {
			/* Talking before the greeting: handled by the screening
			 * stage; until then, keep the bytes for after it. */
			break;
		}
		if (s->state == S_DATA) {
			if (!data_input(s, in))
				break;
			continue;
		}
		if (!line_input(s, in))
			break;
	}
}

/* ---- connection events ---- */

static void
read_cb(struct bufferevent *bev, void *arg)
{
	session_input(arg);
}

static void
drained_cb(struct bufferevent *bev, void *arg)
{
	session_free(arg);
}

static void
event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct session *s = arg;

	if (s->state == S_CLOSING) {
		session_free(s);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		if (what & BEV_EVENT_READING) {
			reply(s, 421, "4.4.2", "%s Error: timeout exceeded",
			      s->sd->conf->hostname);
			session_close(s, "timeout");
		} else {
			session_close(s, "write timeout");
			session_free(s);
		}
		return;
	}
	session_close(s, (what & BEV_EVENT_EOF) ? "lost connection" : "connection error");
	session_free(s);
}

static void
greet(struct session *s)
{
	s->state = S_HELO;
	reply(s, 220, NULL, "%s ESMTP moat", s->sd->conf->hostname);
	session_input(s);
}

static void
rdns_done(void *arg, enum dns_status st, const char *name)
{
	struct session *s = arg;

	s->rdns_req = NULL;
	s->flags &= ~F_RDNS_PENDING;
	s->rdns = xstrdup(st == DNS_OK ? name : "unknown");
	if (s->state == S_CONNECT)
		greet(s);
}

void
session_start(struct smtpd *sd, const struct listener_conf *lc, int fd,
              const struct sockaddr *sa, int salen)
{
	struct session *s = xcalloc(1, sizeof(*s));
	const struct moat_conf *c = sd->conf;
	struct timeval tv = {c->limits.timeout_command, 0};

	s->sd = sd;
	s->lc = lc;
	snprintf(s->sid, sizeof(s->sid), "%012llX", (unsigned long long)sd->next_sid++);
	netaddr_from_sockaddr(&s->peer, sa);
	s->peer_port = netaddr_port(sa);
	netaddr_str(&s->peer, s->peer_str, sizeof(s->peer_str));
	clock_gettime(CLOCK_MONOTONIC, &s->start);
	if (conf_is_trusted(c, &s->peer))
		s->flags |= F_TRUSTED;
	s->bev = bufferevent_socket_new(sd->base, fd, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(s->bev, read_cb, NULL, event_cb, s);
	bufferevent_set_timeouts(s->bev, &tv, &tv);
	bufferevent_enable(s->bev, EV_READ);
	TAILQ_INSERT_TAIL(&sd->sessions, s, entry);
	sd->nsessions++;
	sd->stats.sessions++;
	log_info("smtp connect sid=%s client=%s:%d listener=%s%s", s->sid, s->peer_str,
	         s->peer_port, lc->name, (s->flags & F_TRUSTED) ? " trusted=yes" : "");
	s->state = S_CONNECT;
	s->flags |= F_RDNS_PENDING;
	s->rdns_req = dns_rdns(sd->res, &s->peer, rdns_done, s);
}

static void
counts(const struct session *s, char *buf, size_t sz)
{
	size_t n = 0;
	buf[0] = '\0';
	for (int v = 1; v < V_NVERBS; v++) {
		if (s->total[v] == 0)
			continue;
		char name[16];
		const char *vn = smtp_verb_name(v);
		size_t i;
		for (i = 0; vn[i] && i < sizeof(name) - 1; i++)
			name[i] =
			    (char)(vn[i] >= 'A' && vn[i] <= 'Z' ? vn[i] + 32 : vn[i]);
		name[i] = '\0';
		int w =
		    snprintf(buf + n, sz - n, " %s=%u/%u", name, s->ok[v], s->total[v]);
		if (w < 0 || (size_t)w >= sz - n)
			break;
		n += (size_t)w;
	}
	if (s->total[V_UNKNOWN] > 0 && n < sz)
		snprintf(buf + n, sz - n, " unknown=0/%u", s->total[V_UNKNOWN]);
}

/* session_close - queue nothing more, log the disconnect, free once flushed */
static void
session_close(struct session *s, const char *reason)
{
	struct timespec now;
	char cmds[512];

	if (s->state == S_CLOSING)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	counts(s, cmds, sizeof(cmds));
	log_info(
	    "smtp disconnect sid=%s client=%s:%d reason=\"%s\" state=%s duration=%.3f "
	    "messages=%d errors=%d%s",
	    s->sid, s->peer_str, s->peer_port, reason, state_names[s->state],
	    (double)(now.tv_sec - s->start.tv_sec) +
	        (double)(now.tv_nsec - s->start.tv_nsec) / 1e9,
	    s->nmsgs, s->errors, cmds);
	s->state = S_CLOSING;
	bufferevent_disable(s->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0) {
		/* Freed by the caller's path: defer to the loop to stay safe. */
		bufferevent_setcb(s->bev, NULL, drained_cb, event_cb, s);
		bufferevent_trigger(s->bev, EV_WRITE, BEV_TRIG_DEFER_CALLBACKS);
		return;
	}
	bufferevent_setcb(s->bev, NULL, drained_cb, event_cb, s);
}

static void
session_free(struct session *s)
{
	struct smtpd *sd = s->sd;

	if (s->rdns_req != NULL)
		dns_cancel(s->rdns_req);
	tx_reset(s);
	bufferevent_free(s->bev);
	free(s->helo);
	free(s->rdns);
	TAILQ_REMOVE(&sd->sessions, s, entry);
	free(s);
	sd->nsessions--;
	smtpd_session_closed(sd);
}

void
session_abort(struct session *s)
{
	session_close(s, "shutdown");
	session_free(s);
}
