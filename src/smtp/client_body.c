/* SPDX-License-Identifier: ISC */
/*
 * client_body.c - the SMTP client's DATA encoder (see client_body.h).
 *
 * Runs of ordinary text are copied whole (memchr finds the next line end),
 * so a large message costs a few copies, not a test per octet.
 * SECURITY: the message comes from a queue file or moat-probe, not from
 * the peer; every piece is bounded by SMTP_BODY_CHUNK, and tmp holds the
 * worst case of a chunk (every octet a lone LF or CR: two octets each).
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "smtp/client_body.h"

void
smtp_body_start(struct smtp_body *b, struct evbuffer *msg)
{
	b->msg = msg;
	b->bol = 1;
	b->cr = 0;
	b->done = 0;
	b->fd = -1;
	b->has_fd = 0;
	b->off = 0;
	b->left = 0;
}

void
smtp_body_start_file(struct smtp_body *b, struct evbuffer *msg, int fd, off_t off,
                     size_t len)
{
	smtp_body_start(b, msg);
	b->fd = fd;
	b->has_fd = 1;
	b->off = off;
	b->left = len;
}

/* refill - the next piece of the file into b->msg */
static int
refill(struct smtp_body *b)
{
	struct evbuffer_iovec v;
	size_t want = b->left < SMTP_BODY_READ ? b->left : SMTP_BODY_READ;
	ssize_t n;

	if (evbuffer_reserve_space(b->msg, (ev_ssize_t)want, &v, 1) != 1) {
		errno = ENOMEM;
		return -1;
	}
	while ((n = pread(b->fd, v.iov_base, want, b->off)) == -1 && errno == EINTR)
		;
	if (n <= 0) {
		if (n == 0)
			errno = EIO; /* short: the file changed under us */
		return -1;
	}
	v.iov_len = (size_t)n;
	evbuffer_commit_space(b->msg, &v, 1);
	b->off += n;
	b->left -= (size_t)n;
	return 0;
}

int
smtp_body_fill(struct smtp_body *b, struct evbuffer *out, size_t limit)
{
	unsigned char tmp[2 * SMTP_BODY_CHUNK + 8];

	while (!b->done && evbuffer_get_length(out) < limit) {
		struct evbuffer_iovec v;
		size_t n = 0, i;

		if (evbuffer_peek(b->msg, SMTP_BODY_CHUNK, NULL, &v, 1) < 1 ||
		    v.iov_len == 0) {
			if (b->left > 0) {
				if (refill(b) == -1)
					return -1;
				continue;
			}
			/* End of message: finish the last line, then the dot. */
			if (b->cr || !b->bol)
				evbuffer_add(out, "\r\n", 2);
			evbuffer_add(out, ".\r\n", 3);
			b->done = 1;
			smtp_body_free(b);
			break;
		}
		if (v.iov_len > SMTP_BODY_CHUNK)
			v.iov_len = SMTP_BODY_CHUNK;
		const unsigned char *p = v.iov_base;
		for (i = 0; i < v.iov_len;) {
			unsigned char o = p[i];

			if (b->cr) {
				/* a CR that ended the previous chunk */
				b->cr = 0;
				tmp[n++] = '\r';
				tmp[n++] = '\n';
				b->bol = 1;
				if (o == '\n') {
					i++;
					continue;
				}
			}
			if (o == '\r') {
				if (i + 1 < v.iov_len && p[i + 1] == '\n') {
					tmp[n++] = '\r';
					tmp[n++] = '\n';
					b->bol = 1;
					i += 2;
				} else {
					b->cr = 1;
					i++;
				}
				continue;
			}
			if (o == '\n') {
				tmp[n++] = '\r';
				tmp[n++] = '\n';
				b->bol = 1;
				i++;
				continue;
			}
			if (b->bol && o == '.')
				tmp[n++] = '.';
			/* the rest of the line's text in one copy; memchr finds
			 * the line's end a word at a time, not a byte */
			size_t j = v.iov_len;
			const unsigned char *lf = memchr(p + i + 1, '\n', j - i - 1);
			if (lf != NULL)
				j = (size_t)(lf - p);
			const unsigned char *cr = memchr(p + i + 1, '\r', j - i - 1);
			if (cr != NULL)
				j = (size_t)(cr - p);
			memcpy(tmp + n, p + i, j - i);
			n += j - i;
			i = j;
			b->bol = 0;
		}
		evbuffer_add(out, tmp, n);
		evbuffer_drain(b->msg, v.iov_len);
	}
	return 0;
}

void
smtp_body_free(struct smtp_body *b)
{
	if (b->msg != NULL)
		evbuffer_free(b->msg);
	b->msg = NULL;
	if (b->has_fd)
		close(b->fd);
	b->has_fd = 0;
	b->fd = -1;
	b->left = 0;
}
