/* SPDX-License-Identifier: ISC */
/*
 * submit.c - moat-sendmail's SMTP client (submit.h): connects to the
 * local submission socket, sends commands and reads replies, with a
 * timeout on every read and write.
 * SECURITY: the replies come from moatd, still they are read into a
 * bounded buffer (SM_REPLY_LINE_MAX a line, SM_REPLY_LINES a reply) and
 * a malformed one ends the dialogue; they are shown to the user with
 * anything unprintable as '?'.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "sendmail/submit.h"

int
sm_smtp_connect(struct sm_smtp *c, const char *path)
{
	struct sockaddr_un sun;
	struct timeval tv = {SM_TIMEOUT, 0};
	int saved;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strlcpy(sun.sun_path, path, sizeof(sun.sun_path));
	if ((c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (connect(c->fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		saved = errno;
		close(c->fd);
		c->fd = -1;
		errno = saved;
		return -1;
	}
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return 0;
}

/* read_line - the next line, its CRLF (or LF) cut, into line; 0, -1 at
 * the end, an error, or a line longer than linesz - 1 */
static int
read_line(struct sm_smtp *c, char *line, size_t linesz)
{
	for (;;) {
		char *nl = memchr(c->rbuf + c->roff, '\n', c->rlen - c->roff);
		if (nl != NULL) {
			size_t n = (size_t)(nl - (c->rbuf + c->roff));
			if (n >= linesz) {
				errno = EPROTO;
				return -1;
			}
			memcpy(line, c->rbuf + c->roff, n);
			if (n > 0 && line[n - 1] == '\r')
				n--;
			line[n] = '\0';
			c->roff = (size_t)(nl - c->rbuf) + 1;
			return 0;
		}
		if (c->roff > 0) {
			memmove(c->rbuf, c->rbuf + c->roff, c->rlen - c->roff);
			c->rlen -= c->roff;
			c->roff = 0;
		}
		if (c->rlen >= linesz || c->rlen == sizeof(c->rbuf)) {
			errno = EPROTO;
			return -1;
		}
		ssize_t got = read(c->fd, c->rbuf + c->rlen, sizeof(c->rbuf) - c->rlen);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			if (got == 0)
				errno = ECONNRESET;
			return -1;
		}
		c->rlen += (size_t)got;
	}
}

/* printable - anything but printable ASCII becomes '?' */
static void
printable(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			*s = '?';
}

/* ehlo_keyword - an EHLO reply line's extension (RFC 5321 §4.1.1.1) */
static void
ehlo_keyword(struct sm_smtp *c, const char *kw)
{
	if (strncasecmp(kw, "SIZE", 4) == 0 && (kw[4] == '\0' || kw[4] == ' '))
		c->ext_size = 1;
	else if (strcasecmp(kw, "8BITMIME") == 0)
		c->ext_8bit = 1;
	else if (strcasecmp(kw, "SMTPUTF8") == 0)
		c->ext_utf8 = 1;
}

static int
reply_lines(struct sm_smtp *c, int ehlo)
{
	char line[SM_REPLY_LINE_MAX];

	for (int i = 0; i < SM_REPLY_LINES; i++) {
		if (read_line(c, line, sizeof(line)) == -1)
			return -1;
		if (strlen(line) < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' ||
		    line[1] > '9' || line[2] < '0' || line[2] > '9' ||
		    (line[3] != '\0' && line[3] != ' ' && line[3] != '-')) {
			errno = EPROTO;
			return -1;
		}
		printable(line);
		if (c->verbose)
			fprintf(stderr, "<<< %s\n", line);
		if (ehlo && i > 0)
			ehlo_keyword(c, line + 4);
		if (line[3] != '-') {
			c->code = (line[0] - '0') * 100 + (line[1] - '0') * 10 +
			          (line[2] - '0');
			strlcpy(c->text, line, sizeof(c->text));
			return c->code;
		}
	}
	errno = EPROTO;
	return -1;
}

int
sm_smtp_reply(struct sm_smtp *c)
{
	return reply_lines(c, 0);
}

int
sm_smtp_write(struct sm_smtp *c, const void *p, size_t n)
{
	const char *b = p;

	while (n > 0) {
		ssize_t w = send(c->fd, b, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

int
sm_smtp_cmd(struct sm_smtp *c, const char *fmt, ...)
{
	char line[SM_REPLY_LINE_MAX + 2];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 2) {
		errno = EMSGSIZE;
		return -1;
	}
	if (c->verbose)
		fprintf(stderr, ">>> %s\n", line);
	memcpy(line + n, "\r\n", 2);
	if (sm_smtp_write(c, line, (size_t)n + 2) == -1)
		return -1;
	return reply_lines(c, strncasecmp(line, "EHLO ", 5) == 0);
}

int
sm_smtp_data(struct sm_smtp *c, const char *msg, size_t len)
{
	size_t off = 0;

	/* RFC 5321 §4.5.2: a line's leading "." is doubled */
	while (off < len) {
		const char *nl = memchr(msg + off, '\n', len - off);
		size_t n = nl ? (size_t)(nl - (msg + off)) + 1 : len - off;
		if (msg[off] == '.' && sm_smtp_write(c, ".", 1) == -1)
			return -1;
		if (sm_smtp_write(c, msg + off, n) == -1)
			return -1;
		off += n;
	}
	if (c->verbose)
		fprintf(stderr, ">>> (%zu octets)\n>>> .\n", len);
	return sm_smtp_write(c, ".\r\n", 3);
}

void
sm_smtp_close(struct sm_smtp *c)
{
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
}
