/* SPDX-License-Identifier: ISC */
/*
 * session_input.c - the SMTP session's input: command lines taken off the
 * input buffer (their length limits, the deadline of a line's last octet,
 * over-long and malformed lines), the command table and its dispatch (the
 * state each command needs, its arguments, pipelining and junk), and the
 * back-pressure of replies a client does not read. session_input() is the
 * loop every wait's end comes back to (session_resume()).
 * API: session_int.h.
 *
 * SECURITY: untrusted data read directly from the network. A command line is
 * measured in the input buffer before a byte is copied, and is refused whole
 * when it is too long or holds a bare CR, bare LF or NUL (RFC 5321 §2.3.8).
 * Client text is escaped (log_escape) before it reaches a log line. Nothing
 * here can reach fatal(): protocol errors are replies, counters and state
 * changes.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "common/evsecret.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "conf/limits.h"
#include "smtp/session.h"
#include "smtp/session_int.h"
#include "smtp/smtpd.h"

/* line_limit - RFC 5321 §4.5.3.1.4 plus what advertised extensions add
 * (limits.h) */
static size_t
line_limit(const struct session *s, enum smtp_verb v)
{
	long base = s->sd->conf->limits.command_line_max;

	if (s->auth_step != AS_NONE || (v == V_AUTH && auth_offered(s)))
		return (size_t)(base > LIMIT_AUTH_LINE ? base : LIMIT_AUTH_LINE);
	if (v == V_MAIL && (s->flags & F_ESMTP))
		return (size_t)(base + LIMIT_MAIL_SIZE_EXTRA +
		                (auth_extension(s) ? LIMIT_MAIL_AUTH_EXTRA : 0));
	return (size_t)base;
}

static size_t
line_limit_any(const struct session *s)
{
	size_t a = line_limit(s, V_MAIL), b = line_limit(s, V_AUTH);
	return a > b ? a : b;
}

void
line_too_long(struct session *s, int auth)
{
	s->last_verb = V_UNKNOWN;
	if (auth || s->auth_step != AS_NONE) {
		/* RFC 4954 §4: a bad AUTH exchange is a 501, and it is over. */
		auth_cleanup(s);
		session_refuse(s, "auth", "line-too-long", NULL, 501, "5.5.2",
		               "Error: authentication line too long");
	} else
		session_refuse(s, "command", "line-too-long", NULL, 500, "5.5.2",
		               "Error: line too long");
	client_error(s);
}

/* ---- the command table ---- */

#define CMD_NEED_HELO 0x01 /* after HELO/EHLO only */
#define CMD_NEED_MAIL 0x02 /* inside a transaction only */
#define CMD_NO_TX     0x04 /* outside a transaction only */
#define CMD_NO_ARGS   0x08
#define CMD_NEED_ARGS 0x10
#define CMD_LAST      0x20 /* must end a pipelined group (RFC 2920 §3.1) */
#define CMD_JUNK      0x40 /* moves no mail: counts toward junk_commands_max */

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
    {V_RSET, CMD_NO_ARGS | CMD_JUNK, "RSET", cmd_rset},
    {V_NOOP, CMD_LAST | CMD_JUNK, NULL, cmd_noop},
    {V_QUIT, CMD_NO_ARGS | CMD_LAST, "QUIT", cmd_quit},
    {V_HELP, CMD_JUNK, NULL, cmd_help},
    {V_VRFY, CMD_NEED_ARGS | CMD_LAST | CMD_JUNK, "VRFY address", cmd_vrfy},
    {V_EXPN, CMD_LAST | CMD_JUNK, NULL, cmd_not_implemented},
    {V_ETRN, CMD_JUNK, NULL, cmd_not_implemented},
    {V_STARTTLS, CMD_NO_ARGS | CMD_LAST, "STARTTLS", cmd_starttls},
    {V_AUTH, CMD_NEED_HELO | CMD_NEED_ARGS | CMD_LAST, "AUTH mechanism", cmd_auth},
    {V_BDAT, 0, NULL, cmd_not_implemented},
    {V_HTTP, 0, NULL, cmd_http},
    {V_PROXY, 0, NULL, cmd_proxy},
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
	if (!(s->flags & F_ESMTP) && evbuffer_get_length(in) > 0 &&
	    !((v == V_HELO || v == V_EHLO) && s->sd->conf->screen.early_talker &&
	      !(s->pc.flags & (PC_TRUSTED | PC_ALLOWLISTED)))) {
		/* No PIPELINING was offered (no EHLO yet, or HELO): a command
		 * sent before the reply to the one before it does not listen
		 * (RFC 5321 §4.3.1, Postfix's smtpd_forbid_unauth_pipelining).
		 * An early HELO/EHLO is the early-talker test's (cmd_helo()). */
		session_refuse(s, "command", "unauth-pipelining", NULL, 554, "5.5.0",
		               "Error: improper command pipelining");
		session_close(s, "improper pipelining");
		return;
	}
	if (cmd != NULL && (cmd->flags & CMD_JUNK) && !session_junk(s))
		return;
	if (cmd == NULL) {
		session_refuse(s, "command", "unknown-command", NULL, 500, "5.5.2",
		               "Error: command not recognized");
		client_error(s);
		return;
	}
	if ((cmd->flags & CMD_NEED_HELO) && s->state < S_READY) {
		session_refuse(s, "command", "bad-sequence", NULL, 503, "5.5.1",
		               "Error: send HELO/EHLO first");
		client_error(s);
		return;
	}
	if ((cmd->flags & CMD_NEED_MAIL) && s->state != S_MAIL && s->state != S_RCPT) {
		session_refuse(s, "command", "bad-sequence", NULL, 503, "5.5.1",
		               "Error: need MAIL command");
		client_error(s);
		return;
	}
	if ((cmd->flags & CMD_NO_TX) && (s->state == S_MAIL || s->state == S_RCPT)) {
		session_refuse(s, "command", "bad-sequence", NULL, 503, "5.5.1",
		               "Error: nested MAIL command");
		client_error(s);
		return;
	}
	if (((cmd->flags & CMD_NO_ARGS) && argslen > 0) ||
	    ((cmd->flags & CMD_NEED_ARGS) && argslen == 0)) {
		session_refuse(s, "command", "syntax", NULL, 501, "5.5.4", "Syntax: %s",
		               cmd->syntax);
		client_error(s);
		return;
	}
	if ((cmd->flags & CMD_LAST) && v != V_DATA && v != V_STARTTLS &&
	    evbuffer_get_length(in) > 0 && !(s->flags & F_PIPE_WARNED)) {
		/* Tolerated (RFC 2920 puts the burden on the client), noted once. */
		s->flags |= F_PIPE_WARNED;
		log_info("smtp pipelining sid=%s client=%s after=%s", s->sid, s->peer_str,
		         smtp_verb_name(v));
	}
	cmd->proceed(s, v, args, argslen);
}

#define LONG_HEAD 64 /* octets of an over-long line kept for the signatures */

/* long_line_head - keep the first octets of an over-long line, for the
 * signatures (overlong-helo etc.) when it ends */
static void
long_line_head(struct session *s, struct evbuffer *in)
{
	ev_ssize_t n;

	if (s->long_head == NULL)
		s->long_head = xmalloc(LONG_HEAD);
	n = evbuffer_copyout(in, s->long_head, LONG_HEAD);
	s->long_headlen = n > 0 ? (size_t)n : 0;
	s->long_total = 0;
}

static int line_take(struct session *s, size_t len);

/* line_input - take one command line off the input; 0 when none is complete */
static int
line_input(struct session *s, struct evbuffer *in)
{
	struct smtpd *sd = s->sd;
	size_t avail = evbuffer_get_length(in), len;
	size_t maxlen = line_limit_any(s);
	struct evbuffer_ptr eol;
	char head[5];

	s->flags &= ~F_PARTIAL;
	if (avail == 0)
		return 0;
	eol = evbuffer_search_eol(in, NULL, NULL, EVBUFFER_EOL_LF);
	if (eol.pos == -1) {
		s->flags |= F_PARTIAL;
		if (avail > maxlen) {
			/* Too long already: drop it now, answer when it ends. */
			if (!(s->flags & F_SKIP_LINE)) {
				long_line_head(s, in);
				if (evbuffer_copyout(in, head, sizeof(head)) ==
				        (ev_ssize_t)sizeof(head) &&
				    strncasecmp(head, "AUTH ", 5) == 0)
					s->flags |= F_SKIP_AUTH;
			}
			s->long_total += avail;
			evbuffer_drain(in, avail);
			s->flags |= F_SKIP_LINE;
		}
		return 0;
	}
	len = (size_t)eol.pos + 1;
	if ((s->flags & F_SKIP_LINE) || len > maxlen) {
		int auth = (s->flags & F_SKIP_AUTH) != 0;
		if (!(s->flags & F_SKIP_LINE)) {
			long_line_head(s, in);
			if (evbuffer_copyout(in, head, sizeof(head)) ==
			    (ev_ssize_t)sizeof(head))
				auth = strncasecmp(head, "AUTH ", 5) == 0;
		}
		s->long_total += len;
		evbuffer_drain(in, len);
		s->flags &= ~(F_SKIP_LINE | F_SKIP_AUTH);
		/* a probe for a buffer overflow, maybe (not an AUTH line: its
		 * tail would be a password) */
		if (!auth && s->auth_step == AS_NONE)
			session_sig_long(s, s->long_head, s->long_headlen, s->long_total);
		s->long_total = 0;
		line_too_long(s, auth);
		return 1;
	}
	/* The check came first; now the copy, which the check bounds. A line
	 * that may carry a password (AUTH, or a response to its challenge) is
	 * wiped where the input buffer kept it, and from linebuf once used. */
	int secret =
	    s->auth_step != AS_NONE ||
	    (evbuffer_copyout(in, head, sizeof(head)) == (ev_ssize_t)sizeof(head) &&
	     strncasecmp(head, "AUTH ", 5) == 0);
	if (secret ? evbuffer_remove_secret(in, sd->linebuf, len) != 0
	           : evbuffer_remove(in, sd->linebuf, len) != (int)len)
		return 0;
	int taken = line_take(s, len);
	if (secret)
		explicit_bzero(sd->linebuf, len);
	return taken;
}

/* line_take - the command line of len octets in linebuf (CRLF included) */
static int
line_take(struct session *s, size_t len)
{
	struct smtpd *sd = s->sd;
	size_t argslen;
	const char *args;
	enum smtp_verb v;

	if (s->on_idle) {
		/* busy now: the longest idle are at the head */
		TAILQ_REMOVE(&sd->idle, s, idle_entry);
		TAILQ_INSERT_TAIL(&sd->idle, s, idle_entry);
	}
	if (s->auth_step == AS_NONE) {
		/* the line as sent, before any check refuses it */
		size_t clen = len - 1 - (len >= 2 && sd->linebuf[len - 2] == '\r');
		v = smtp_verb_parse(sd->linebuf, clen, &args, &argslen);
		session_sig_command(s, sd->linebuf, clen, v, args, argslen);
	}
	if (smtp_line_check(sd->linebuf, len) != LINE_OK) {
		s->last_verb = V_UNKNOWN;
		if (s->auth_step != AS_NONE)
			auth_cleanup(s);
		session_refuse(
		    s, "command", "bare-newline", NULL, 500, "5.5.2",
		    "Error: bare <CR>, <LF> or NUL in command (RFC 5321 2.3.8)");
		client_error(s);
		return 1;
	}
	len -= 2;
	sd->linebuf[len] = '\0';
	if (s->auth_step != AS_NONE) {
		auth_response(s, sd->linebuf, len);
		return 1;
	}
	v = smtp_verb_parse(sd->linebuf, len, &args, &argslen);
	if (len + 2 > line_limit(s, v)) {
		line_too_long(s, v == V_AUTH);
		return 1;
	}
	dispatch(s, v, args, argslen);
	return 1;
}

/* line_late - a command line was not whole within the command timeout of
 * its first octet: a client that trickles a byte now and then holds its
 * slot no longer than one that sends nothing */
static void
line_late(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;

	session_refuse(s, "command", "line-timeout", NULL, 421, "4.4.2",
	               "%s Error: timeout exceeded", s->sd->conf->hostname);
	session_close(s, "command line timeout");
}

/* line_deadline - start the clock at a line's first octets, stop it when
 * no part of a line waits */
static void
line_deadline(struct session *s)
{
	if (!(s->flags & F_PARTIAL) || s->state == S_DATA || s->state == S_CLOSING) {
		if (s->line_ev != NULL)
			evtimer_del(s->line_ev);
		return;
	}
	if (s->line_ev == NULL)
		s->line_ev = evtimer_new(s->sd->base, line_late, s);
	if (!evtimer_pending(s->line_ev, NULL)) {
		struct timeval tv = {session_timeout_command(s), 0};
		evtimer_add(s->line_ev, &tv);
	}
}

/* output_drained - the replies a client left unread went out: read again */
static void
output_drained(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;

	bufferevent_setcb(bev, session_read_cb, NULL, session_event_cb, s);
	bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
	session_resume(s);
}

/* output_piled - too much output waits: stop reading until half is out */
static int
output_piled(struct session *s)
{
	size_t out = evbuffer_get_length(s->out) +
	             evbuffer_get_length(bufferevent_get_output(s->bev));

	if (out <= LIMIT_OUTPUT_PENDING)
		return 0;
	s->wait = W_OUTPUT;
	bufferevent_disable(s->bev, EV_READ);
	bufferevent_setwatermark(s->bev, EV_WRITE, LIMIT_OUTPUT_PENDING / 2, 0);
	bufferevent_setcb(s->bev, session_read_cb, output_drained, session_event_cb, s);
	return 1;
}

void
session_input(struct session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);

	while (s->state != S_CLOSING && s->wait == W_NONE) {
		if (session_attack_banned(s))
			break;
		if (s->state == S_CONNECT || s->state == S_GREETING)
			break; /* screening first; the bytes wait */
		if (s->state == S_DATA) {
			if (!data_input(s, in))
				break;
			continue;
		}
		if (output_piled(s))
			break;
		if (!line_input(s, in)) {
			line_deadline(s);
			break;
		}
	}
	session_flush(s);
	/* the replies of this pass may be what tips it over */
	if (s->wait == W_NONE && s->state != S_CLOSING)
		(void)output_piled(s);
}

/* session_resume - a wait ended: read again and handle what is buffered */
void
session_resume(struct session *s)
{
	s->wait = W_NONE;
	if (s->state == S_CLOSING)
		return;
	bufferevent_enable(s->bev, EV_READ);
	session_input(s);
}
