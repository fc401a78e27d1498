/* SPDX-License-Identifier: ISC */
/*
 * client_body.c - the SMTP client's DATA encoder (see client_body.h).
 *
 * Text that needs no change (CRLF lines, none beginning with ".") is moved
 * to the output as it lies, without a copy: the common case, since the
 * SMTP server stores what it receives that way. The rest is encoded a line
 * at a time, runs of ordinary text copied whole (memchr finds the next
 * line end), so a large message costs a few copies, not a test per octet.
 * SECURITY: the message comes from a queue file or moat-probe, not from
 * the peer; every piece encoded is bounded by SMTP_BODY_CHUNK (what is
 * moved as it is takes no room of ours), and tmp holds the
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

/*
 * clean_span - how many of p's n octets go out as they are: CRLF line ends
 * only, and no "." that begins a line (bol: p[0] begins one). It stops
 * before the first octet that needs work, and before a CR in the last
 * place (its LF may come with the next piece). memchr finds the line ends.
 */
static size_t
clean_span(const unsigned char *p, size_t n, int bol)
{
	size_t i = 0;

	if (bol && n > 0 && p[0] == '.')
		return 0;
	while (i < n) {
		const unsigned char *lf = memchr(p + i, '\n', n - i);
		size_t end = lf != NULL ? (size_t)(lf - p) : n;
		const unsigned char *cr = memchr(p + i, '\r', end - i);

		if (lf == NULL) /* the last line so far: no CR, or one at the end */
			return cr == NULL ? n : (size_t)(cr - p);
		if (cr == NULL || (size_t)(cr - p) != end - 1)
			return cr != NULL ? (size_t)(cr - p) : end; /* a bare LF or CR */
		i = end + 1;
		if (i < n && p[i] == '.')
			break;
	}
	return i;
}

/*
 * encode - the general case, for a piece clean_span() stopped at: bare line
 * ends become CRLF, a leading dot is doubled. It goes on to the end of the
 * piece, or stops after a real CRLF, where clean text is likely to begin
 * again. Returns the octets of p used; tmp gets what they become.
 */
static size_t
encode(struct smtp_body *b, const unsigned char *p, size_t len, unsigned char *tmp,
       size_t *out_n)
{
	size_t n = 0, i = 0;

	while (i < len) {
		unsigned char o = p[i];

		if (b->cr) {
			/* a CR that ended the previous piece */
			b->cr = 0;
			tmp[n++] = '\r';
			tmp[n++] = '\n';
			b->bol = 1;
			if (o == '\n') {
				i++;
				break;
			}
		}
		if (o == '\r') {
			if (i + 1 < len && p[i + 1] == '\n') {
				tmp[n++] = '\r';
				tmp[n++] = '\n';
				b->bol = 1;
				i += 2;
				break;
			}
			b->cr = 1;
			i++;
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
		/* the rest of the line's text in one copy */
		size_t j = len;
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
	*out_n = n;
	return i;
}

int
smtp_body_fill(struct smtp_body *b, struct evbuffer *out, size_t limit)
{
	unsigned char tmp[2 * SMTP_BODY_CHUNK + 8];

	while (!b->done && evbuffer_get_length(out) < limit) {
		struct evbuffer_iovec v;
		size_t n, used;

		if (evbuffer_peek(b->msg, -1, NULL, &v, 1) < 1 || v.iov_len == 0) {
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
		const unsigned char *p = v.iov_base;
		/* Text that goes out as it is goes over whole. A large run moves
		 * without a copy: a piece of the message (a file's 64 KiB read)
		 * changes owner. A small one is copied, to share a buffer with
		 * what comes before and after it (the final dot): on TLS each
		 * buffer is a record and a write of its own. */
		if (!b->cr && (n = clean_span(p, v.iov_len, b->bol)) > 0) {
			b->bol = p[n - 1] == '\n';
			if (n < SMTP_BODY_CHUNK) {
				evbuffer_add(out, p, n);
				evbuffer_drain(b->msg, n);
			} else if (evbuffer_remove_buffer(b->msg, out, n) != (int)n) {
				errno = ENOMEM;
				return -1;
			}
			continue;
		}
		used = encode(b, p,
		              v.iov_len < SMTP_BODY_CHUNK ? v.iov_len : SMTP_BODY_CHUNK,
		              tmp, &n);
		evbuffer_add(out, tmp, n);
		evbuffer_drain(b->msg, used);
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
