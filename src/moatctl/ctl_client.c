/* SPDX-License-Identifier: ISC */
/*
 * ctl_client.c - moatctl's side of the control socket: connect to
 * run_dir/moatd.sock, send one request line, print the reply's body on
 * standard output (an error on standard error), and say how it went.
 *
 * API: ctl_talk() in ctl.h.
 * SECURITY: the reply comes from the daemon, still it is read with a
 * bounded line buffer, and anything not printable is shown as '?'.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "conf/conf.h"
#include "moatctl/ctl.h"
#include "moatd/control.h"

#define REPLY_LINE_MAX 65536 /* the daemon's lines are far shorter */
#define TALK_TIMEOUT   120   /* seconds: a reload or a long queue list */

struct reader {
	int fd;
	char buf[REPLY_LINE_MAX];
	size_t len, off;
};

/*
 * read_line - the next line without its LF into line; 1, 0 at EOF before a
 * whole line, -1 on error or a line over REPLY_LINE_MAX
 */
static int
read_line(struct reader *r, char *line, size_t linesz)
{
	for (;;) {
		char *nl = memchr(r->buf + r->off, '\n', r->len - r->off);
		if (nl != NULL) {
			size_t n = (size_t)(nl - (r->buf + r->off));
			if (n >= linesz)
				return -1;
			memcpy(line, r->buf + r->off, n);
			line[n] = '\0';
			r->off += n + 1;
			return 1;
		}
		if (r->off > 0) {
			memmove(r->buf, r->buf + r->off, r->len - r->off);
			r->len -= r->off;
			r->off = 0;
		}
		if (r->len == sizeof(r->buf))
			return -1;
		ssize_t got = read(r->fd, r->buf + r->len, sizeof(r->buf) - r->len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -1;
		if (got == 0)
			return 0;
		r->len += (size_t)got;
	}
}

/* printable - anything but printable ASCII becomes '?' */
static void
printable(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			*s = '?';
}

/* send_all - the whole request, then the end of our side */
static int
send_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* ctl_talk - send line, print the reply: 0 ok, 1 the daemon's error, 3 no daemon */
int
ctl_talk(const struct moat_conf *conf, const char *line)
{
	static struct reader r;
	static char text[REPLY_LINE_MAX];
	struct sockaddr_un sun;
	struct timeval tv = {TALK_TIMEOUT, 0};
	char req[CONTROL_LINE_MAX + 1];
	int fd, status, got;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if ((size_t)snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%s", conf->run_dir,
	                     CONTROL_SOCKET_NAME) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "moatctl: the control socket path is too long\n");
		return 3;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		fprintf(stderr, "moatctl: cannot reach moatd at %s: %s\n", sun.sun_path,
		        strerror(errno));
		if (fd != -1)
			close(fd);
		return 3;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	snprintf(req, sizeof(req), "%s\n", line);
	memset(&r, 0, sizeof(r));
	r.fd = fd;
	/* A refusal (permission denied) may come before the request is read. */
	if (send_all(fd, req, strlen(req)) == -1 && errno != EPIPE && errno != ECONNRESET)
		goto broken;
	errno = 0;
	if (read_line(&r, text, sizeof(text)) != 1)
		goto broken;
	if (strcmp(text, "ok") == 0)
		status = 0;
	else if (strncmp(text, "error: ", 7) == 0) {
		printable(text);
		fprintf(stderr, "moatctl: %s\n", text + 7);
		status = 1;
	} else
		goto broken;
	while ((got = read_line(&r, text, sizeof(text))) == 1) {
		if (strcmp(text, ".") == 0) {
			close(fd);
			fflush(stdout);
			return status;
		}
		printable(text);
		/* a leading "." was doubled (control.h) */
		printf("%s\n", text[0] == '.' ? text + 1 : text);
	}
broken:
	fprintf(stderr, "moatctl: no complete reply from moatd at %s%s%s\n", sun.sun_path,
	        errno != 0 ? ": " : "", errno != 0 ? strerror(errno) : "");
	close(fd);
	return 3;
}
