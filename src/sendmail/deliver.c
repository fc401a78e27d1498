/* SPDX-License-Identifier: ISC */
/*
 * deliver.c - moat-sendmail's submission (deliver.h): the message is read
 * whole from standard input (a lone "." ends it unless -i), its header
 * section through headers.c (-t's recipients, Bcc left out); From, Date
 * and Message-ID are added when missing; then one SMTP transaction on the
 * local submission socket. Exit 0 only after moatd's 250 to the end of
 * DATA: the message is on disk then.
 * SECURITY: reads a local user's message and arguments; every address
 * goes through sm_addrlist_parse() (no control characters, bounded) before
 * it is put in an SMTP command, and the message is bounded by
 * SM_MESSAGE_MAX here and by message_size_max in moatd.
 */
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <stdarg.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "common/xmalloc.h"
#include "sendmail/deliver.h"
#include "sendmail/headers.h"
#include "sendmail/submit.h"

static void warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
warn(const char *fmt, ...)
{
	va_list ap;

	fputs("moat-sendmail: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int
sm_connect_status(const char *socket, int err)
{
	if (err == EACCES || err == EPERM) {
		warn("cannot reach moatd at %s: %s", socket, strerror(err));
		return EX_NOPERM;
	}
	/* Nothing is queued offline (moat-sendmail(8)): the caller keeps the
	 * message and tries again, as cron and git do with 75. */
	warn("cannot reach moatd at %s: %s; the message was not sent (is moatd "
	     "running?)",
	     socket, strerror(err));
	return EX_TEMPFAIL;
}

/* ---- the message ---- */

struct message {
	struct sm_headers h;
	struct sm_buf body; /* lines ending CRLF */
	int in_body;
	int separated; /* the header section ended with its empty line */
};

/* take_line - one input line, its LF (and a CR before it) cut */
static int
take_line(struct message *m, const char *line, size_t len)
{
	if (!m->in_body) {
		enum sm_hdr_status st = sm_headers_line(&m->h, line, len);
		if (st == SM_HDR_ERROR)
			return -1;
		if (st == SM_HDR_MORE)
			return 0;
		m->in_body = 1;
		m->separated = len == 0;
		if (sm_headers_end(&m->h) == -1)
			return -1;
	}
	sm_buf_add(&m->body, line, len);
	sm_buf_add(&m->body, "\r\n", 2);
	return 0;
}

/* read_message - in, line by line, until its end or a lone "." (without
 * -i); an exit status, 0 when the message is whole */
static int
read_message(const struct sm_opts *o, FILE *in, struct message *m)
{
	char *line = NULL;
	size_t cap = 0, total = 0;
	ssize_t n;
	int status = 0;

	m->h.want_rcpts = o->extract;
	while ((n = getline(&line, &cap, in)) > 0) {
		size_t len = (size_t)n;
		total += len;
		if (total > SM_MESSAGE_MAX) {
			warn("the message is larger than %lu octets", SM_MESSAGE_MAX);
			status = EX_DATAERR;
			goto done;
		}
		if (line[len - 1] == '\n')
			len--;
		if (len > 0 && line[len - 1] == '\r')
			len--;
		if (o->dot_ends && len == 1 && line[0] == '.')
			break;
		if (take_line(m, line, len) == -1) {
			warn("%s", m->h.err);
			status = EX_DATAERR;
			goto done;
		}
	}
	if (ferror(in)) {
		warn("reading the message: %s", strerror(errno));
		status = EX_IOERR;
		goto done;
	}
	if (!m->in_body && sm_headers_end(&m->h) == -1) {
		warn("%s", m->h.err);
		status = EX_DATAERR;
	}
done:
	free(line);
	return status;
}

/* ---- the envelope ---- */

/* qualify - an address without a domain gets @hostname (Postfix's
 * append_at_myorigin); the null sender stays as it is */
static char *
qualify(const char *addr, const char *hostname)
{
	char *out;

	if (addr[0] == '\0' || strchr(addr, '@') != NULL)
		return xstrdup(addr);
	xasprintf(&out, "%s@%s", addr, hostname);
	return out;
}

/* sender_of - -f's address, or the user's login name @hostname; NULL (and
 * a message) when neither can be had */
static char *
sender_of(const struct sm_opts *o, const char *hostname)
{
	struct sm_rcpts one = {0};
	char err[96];
	char *s;

	if (o->sender != NULL) {
		/* -f "" and -f "<>": the null sender */
		if (o->sender[0] == '\0' || strcmp(o->sender, "<>") == 0)
			return xstrdup("");
		if (sm_addrlist_parse(o->sender, strlen(o->sender), sm_rcpts_add, &one,
		                      err, sizeof(err)) == -1 ||
		    one.n != 1) {
			warn("-f %s: not one address%s%s", o->sender,
			     one.n == 0 ? ": " : "", one.n == 0 ? err : "");
			sm_rcpts_free(&one);
			return NULL;
		}
		s = qualify(one.v[0], hostname);
		sm_rcpts_free(&one);
		return s;
	}
	struct passwd *pw = getpwuid(getuid());
	if (pw == NULL) {
		warn("no login name for uid %u", (unsigned)getuid());
		return NULL;
	}
	return qualify(pw->pw_name, hostname);
}

/* added_fields - From, Date and Message-ID, each when the message lacks it */
static void
added_fields(const struct sm_opts *o, const struct message *m, const char *sender,
             const char *hostname, struct sm_buf *out)
{
	char date[64], *f;
	time_t now = time(NULL);
	struct tm tm;

	if (!m->h.has_from && sender[0] != '\0') {
		if (o->fullname != NULL) {
			/* the name as an RFC 5322 quoted-string */
			struct sm_buf q = {0};
			for (const char *p = o->fullname; *p != '\0'; p++) {
				if ((unsigned char)*p < 0x20 || *p == 0x7f)
					continue;
				if (*p == '"' || *p == '\\')
					sm_buf_add(&q, "\\", 1);
				sm_buf_add(&q, p, 1);
			}
			xasprintf(&f, "From: \"%s\" <%s>\r\n", q.p ? q.p : "", sender);
			sm_buf_free(&q);
		} else
			xasprintf(&f, "From: %s\r\n", sender);
		sm_buf_add(out, f, strlen(f));
		free(f);
	}
	localtime_r(&now, &tm);
	if (!m->h.has_date) {
		strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
		xasprintf(&f, "Date: %s\r\n", date);
		sm_buf_add(out, f, strlen(f));
		free(f);
	}
	if (!m->h.has_msgid) {
		strftime(date, sizeof(date), "%Y%m%d%H%M%S", &tm);
		xasprintf(&f, "Message-ID: <%s.%ld.%08x@%s>\r\n", date, (long)getpid(),
		          arc4random(), hostname);
		sm_buf_add(out, f, strlen(f));
		free(f);
	}
}

/* reply_status - the exit status for a refusal at a stage */
static int
reply_status(int code, int at_rcpt)
{
	if (code < 0 || (code >= 400 && code < 500))
		return EX_TEMPFAIL;
	if (code == 552)
		return EX_DATAERR;
	return at_rcpt ? EX_NOUSER : EX_UNAVAILABLE;
}

static int
has_8bit(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			return 1;
	return 0;
}

/*
 * one_transaction - MAIL, the recipients from *next on, DATA; *next moves
 * past those the message went to. A 452 after some were taken is moatd's
 * recipients_max (RFC 5321 §4.5.3.1.10): the rest go in the next
 * transaction. Any other refusal stops the message before DATA, so the
 * user hears of it now rather than finding some copies sent. An exit
 * status.
 */
static int
one_transaction(struct sm_smtp *c, const char *sender, const char *params,
                const struct sm_rcpts *rcpts, size_t *next, const struct sm_buf *msg)
{
	int code, refused = 0;
	size_t i, taken = 0;

	code = sm_smtp_cmd(c, "MAIL FROM:<%s>%s", sender, params);
	if (code != 250) {
		warn("sender <%s>: %s", sender, code < 0 ? strerror(errno) : c->text);
		return reply_status(code, 0);
	}
	for (i = *next; i < rcpts->n; i++) {
		code = sm_smtp_cmd(c, "RCPT TO:<%s>", rcpts->v[i]);
		if (code < 0) {
			warn("recipient <%s>: %s", rcpts->v[i], strerror(errno));
			return EX_TEMPFAIL;
		}
		if (code == 452 && taken > 0 && !refused)
			break;
		if (code == 250 || code == 251) {
			taken++;
			continue;
		}
		warn("recipient <%s>: %s", rcpts->v[i], c->text);
		if (refused == 0 || refused == EX_NOUSER)
			refused = reply_status(code, 1);
	}
	if (refused)
		return refused;
	if ((code = sm_smtp_cmd(c, "DATA")) != 354) {
		warn("DATA: %s", code < 0 ? strerror(errno) : c->text);
		return reply_status(code, 0);
	}
	if (sm_smtp_data(c, msg->p, msg->len) == -1 || (code = sm_smtp_reply(c)) < 0) {
		warn("sending the message: %s", strerror(errno));
		return EX_TEMPFAIL;
	}
	if (code != 250) {
		warn("the message was refused: %s", c->text);
		return reply_status(code, 0);
	}
	*next = i;
	return EX_OK;
}

/* transaction - the greeting, EHLO, and as many transactions as moatd
 * needs for the recipients; an exit status */
static int
transaction(struct sm_smtp *c, const char *sender, const struct sm_rcpts *rcpts,
            const struct sm_buf *msg)
{
	int code, status = EX_OK, utf8 = has_8bit(sender, strlen(sender));
	char params[64], size[32] = "";
	size_t next = 0;

	if ((code = sm_smtp_reply(c)) != 220) {
		warn("moatd's greeting: %s", code < 0 ? strerror(errno) : c->text);
		return reply_status(code, 0);
	}
	if ((code = sm_smtp_cmd(c, "EHLO localhost")) != 250) {
		warn("EHLO: %s", code < 0 ? strerror(errno) : c->text);
		return reply_status(code, 0);
	}
	for (size_t i = 0; i < rcpts->n; i++)
		utf8 |= has_8bit(rcpts->v[i], strlen(rcpts->v[i]));
	if (c->ext_size)
		snprintf(size, sizeof(size), " SIZE=%zu", msg->len);
	snprintf(params, sizeof(params), "%s%s%s", size,
	         c->ext_8bit && has_8bit(msg->p, msg->len) ? " BODY=8BITMIME" : "",
	         c->ext_utf8 && utf8 ? " SMTPUTF8" : "");
	while (next < rcpts->n && status == EX_OK) {
		size_t before = next;
		status = one_transaction(c, sender, params, rcpts, &next, msg);
		if (status != EX_OK && before > 0)
			warn("the message went to the first %zu recipients only", before);
		else if (status != EX_OK)
			warn("the message was not sent");
	}
	(void)sm_smtp_cmd(c, "QUIT"); /* what is queued is queued: its answer
	                               * changes nothing */
	return status;
}

int
sm_deliver(const struct sm_opts *o, const struct sm_conf *cf, const char *socket,
           FILE *in)
{
	struct message m;
	struct sm_rcpts rcpts = {0};
	struct sm_buf msg = {0};
	struct sm_smtp c;
	char *sender = NULL, err[96];
	int status;

	memset(&m, 0, sizeof(m));
	if ((sender = sender_of(o, cf->hostname)) == NULL) {
		status = EX_USAGE;
		goto done;
	}
	for (int i = 0; i < o->nrcpts; i++)
		if (sm_addrlist_parse(o->rcpts[i], strlen(o->rcpts[i]), sm_rcpts_add,
		                      &rcpts, err, sizeof(err)) == -1) {
			warn("recipient %s: %s", o->rcpts[i], err);
			status = EX_USAGE;
			goto done;
		}
	if ((status = read_message(o, in, &m)) != 0)
		goto done;
	/* -t: the header's recipients are added to the command line's, as
	 * Postfix 2.1 and later do */
	for (size_t i = 0; i < m.h.rcpts.n; i++)
		if (sm_rcpts_add(&rcpts, m.h.rcpts.v[i], strlen(m.h.rcpts.v[i])) == -1) {
			warn("too many recipients (at most %d)", SM_RCPTS_MAX);
			status = EX_USAGE;
			goto done;
		}
	if (rcpts.n == 0) {
		warn(o->extract ? "no recipient addresses found in the message header"
		                : "no recipients given (and no -t)");
		status = EX_USAGE;
		goto done;
	}
	for (size_t i = 0; i < rcpts.n; i++) {
		char *q = qualify(rcpts.v[i], cf->hostname);
		free(rcpts.v[i]);
		rcpts.v[i] = q;
	}
	added_fields(o, &m, sender, cf->hostname, &msg);
	sm_buf_add(&msg, m.h.out.p, m.h.out.len);
	/* a body that began without the empty line gets one, if any field
	 * is above it */
	if (m.body.len > 0 && !m.separated && msg.len > 0)
		sm_buf_add(&msg, "\r\n", 2);
	sm_buf_add(&msg, m.body.p, m.body.len);
	if (sm_smtp_connect(&c, socket) == -1) {
		status = sm_connect_status(socket, errno);
		goto done;
	}
	c.verbose = o->verbose;
	status = transaction(&c, sender, &rcpts, &msg);
	sm_smtp_close(&c);
done:
	free(sender);
	sm_rcpts_free(&rcpts);
	sm_headers_free(&m.h);
	sm_buf_free(&m.body);
	sm_buf_free(&msg);
	return status;
}

/* ---- -bs ---- */

/* pump - what one side has, to the other; 0 at its end, -1 on error */
static int
pump(int from, int to)
{
	char buf[8192];
	ssize_t n = read(from, buf, sizeof(buf));

	if (n <= 0)
		return n == 0 || errno != EINTR ? (int)n : 1;
	for (ssize_t off = 0; off < n;) {
		ssize_t w = write(to, buf + off, (size_t)(n - off));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		off += w;
	}
	return 1;
}

int
sm_passthrough(const struct sm_opts *o, const char *socket)
{
	struct sm_smtp c;
	struct pollfd pf[2];
	int in_open = 1;

	if (sm_smtp_connect(&c, socket) == -1)
		return sm_connect_status(socket, errno);
	/* moatd's rules hold as on any listener: it ends the session */
	for (;;) {
		pf[0].fd = in_open ? STDIN_FILENO : -1;
		pf[0].events = POLLIN;
		pf[1].fd = c.fd;
		pf[1].events = POLLIN;
		int r = poll(pf, 2, SM_TIMEOUT * 1000);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			warn("-bs: no word from either side in %d s", SM_TIMEOUT);
			break;
		}
		if (pf[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			if (pump(c.fd, STDOUT_FILENO) <= 0)
				break; /* moatd ended the session */
		}
		if (in_open && (pf[0].revents & (POLLIN | POLLHUP | POLLERR))) {
			if (pump(STDIN_FILENO, c.fd) <= 0) {
				in_open = 0;
				shutdown(c.fd, SHUT_WR);
			}
		}
	}
	sm_smtp_close(&c);
	(void)o;
	return EX_OK;
}
