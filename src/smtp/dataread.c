/* SPDX-License-Identifier: ISC */
/*
 * dataread.c - DATA phase state machine.
 *
 * SECURITY: untrusted data read directly from the network. The reader keeps
 * no copy of its input; output is appended only while size < max_size.
 *
 * States: BOL (line start), MID (in a line), CR (a CR was seen), DOT (a line
 * began with "."), DOTCR ("." then CR at line start). End of data is DOTCR +
 * LF on a line that began after a real CRLF: CRLF "." CRLF and nothing else.
 */
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <event2/buffer.h>

#include "smtp/dataread.h"

enum { S_BOL, S_MID, S_CR, S_DOT, S_DOTCR };

void
data_reader_init(struct data_reader *dr, size_t max_size, size_t max_line, int normalize)
{
	dr->state = S_BOL;
	dr->bol_real = 1; /* data begins right after the CRLF of "DATA" */
	dr->flags = 0;
	dr->line_len = 0;
	dr->size = 0;
	dr->max_size = max_size;
	dr->max_line = max_line;
	dr->normalize = normalize;
}

/*
 * fake_end - a line of a lone "." that does not end the data because one
 * of its line ends is bare: the shape of SMTP smuggling (a server behind
 * or before us that took it for the end would read what follows as
 * commands). The first one is kept, as sent, for the signature check.
 */
static void
fake_end(struct data_reader *dr, const char *tail)
{
	char *p = dr->fake_end;

	if (dr->flags & DR_FAKE_END)
		return;
	dr->flags |= DR_FAKE_END;
	/* the line end before the dot: CRLF, or a bare one (CR or LF; which
	 * is not kept, LF stands for both) */
	if (dr->bol_real)
		*p++ = '\r';
	*p++ = '\n';
	*p++ = '.';
	while (*tail != '\0' && p < dr->fake_end + sizeof(dr->fake_end))
		*p++ = *tail++;
	dr->fake_len = (unsigned char)(p - dr->fake_end);
}

/* emit - append to the output unless the message is already over size */
static void
emit(struct data_reader *dr, struct evbuffer *out, const char *p, size_t n)
{
	if (dr->flags & DR_TOO_BIG)
		return;
	if (dr->size + n > dr->max_size) {
		dr->flags |= DR_TOO_BIG;
		return;
	}
	evbuffer_add(out, p, n);
	dr->size += n;
}

/* line_end - a line is complete; the next one starts, after a real CRLF or not */
static void
line_end(struct data_reader *dr, struct evbuffer *out, int real)
{
	/* Bare line ends are kept as CRLF in normalize mode; in reject mode the
	 * message is refused anyway, so CRLF is as good as anything. */
	emit(dr, out, "\r\n", 2);
	dr->state = S_BOL;
	dr->bol_real = real;
	dr->line_len = 0;
}

/*
 * plain_span - the length of p's run of bytes that are not CR, LF or NUL.
 * Sixteen bytes at a time where SSE2 is there (every x86-64), then eight:
 * the byte loop took a third of the SMTP worker's instructions for 4 KiB
 * messages. A byte b of word w is one of the three iff w ^ broadcast(c)
 * has a zero byte there; "has a zero byte" is (x - 0x01..01) & ~x &
 * 0x80..80, exact for the lowest such byte, which on a little-endian
 * machine is the first in memory.
 */
static size_t
plain_span(const char *p, size_t n)
{
	size_t i = 0;

#if defined(__SSE2__)
	const __m128i vcr = _mm_set1_epi8('\r'), vlf = _mm_set1_epi8('\n');
	const __m128i vnul = _mm_setzero_si128();
	for (; i + 16 <= n; i += 16) {
		__m128i w = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
		__m128i hit = _mm_or_si128(
		    _mm_or_si128(_mm_cmpeq_epi8(w, vcr), _mm_cmpeq_epi8(w, vlf)),
		    _mm_cmpeq_epi8(w, vnul));
		unsigned mask = (unsigned)_mm_movemask_epi8(hit);
		if (mask != 0)
			return i + (size_t)__builtin_ctz(mask);
	}
#endif
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
	for (; i + 8 <= n; i += 8) {
		uint64_t w, cr, lf, hit;
		memcpy(&w, p + i, 8);
		cr = w ^ (ones * '\r');
		lf = w ^ (ones * '\n');
		hit = ((w - ones) & ~w) | ((cr - ones) & ~cr) | ((lf - ones) & ~lf);
		if ((hit &= highs) != 0)
			return i + (size_t)__builtin_ctzll(hit) / 8;
	}
#endif
	while (i < n && p[i] != '\r' && p[i] != '\n' && p[i] != '\0')
		i++;
	return i;
}

static void
count(struct data_reader *dr, size_t n)
{
	dr->line_len += n;
	if (dr->line_len > dr->max_line)
		dr->flags |= DR_LONG_LINE;
}

size_t
data_reader_feed(struct data_reader *dr, const char *in, size_t len, struct evbuffer *out,
                 int *done)
{
	size_t i = 0;

	*done = 0;
	while (i < len) {
		unsigned char c = (unsigned char)in[i];

		switch (dr->state) {
		case S_BOL:
			if (c == '.') {
				/* Not counted: RFC 5321 §4.5.3.1.6 excludes the dot
				 * duplicated for transparency, so a 998-octet line
				 * that begins with "." arrives as 999 + CRLF. */
				dr->state = S_DOT;
				i++;
				continue;
			}
			dr->state = S_MID;
			continue; /* same byte, as line content */
		case S_MID: {
			/* Fast path: copy whole lines that end in CRLF and whose
			 * successor does not begin with "." in one go, so a plain
			 * message costs one append per read, not two per line. A line
			 * that would cross max_size takes the slow path below, which
			 * keeps the bytes that fit. */
			size_t from = i, j = i;
			for (;;) {
				size_t k = j + plain_span(in + j, len - j);
				if (k + 1 >= len || in[k] != '\r' || in[k + 1] != '\n' ||
				    (!(dr->flags & DR_TOO_BIG) &&
				     dr->size + (k + 2 - from) > dr->max_size))
					break;
				count(dr, k + 2 - j);
				dr->line_len = 0;
				dr->bol_real = 1;
				j = k + 2;
				if (j == len || in[j] == '.') {
					dr->state = S_BOL;
					break;
				}
			}
			if (j > from) {
				emit(dr, out, in + from, j - from);
				i = j;
				continue;
			}
			/* Copy the run of ordinary bytes in one go. */
			j += plain_span(in + j, len - j);
			if (j > i) {
				count(dr, j - i);
				emit(dr, out, in + i, j - i);
				i = j;
				continue;
			}
			count(dr, 1);
			if (c == '\r') {
				dr->state = S_CR;
			} else if (c == '\n') {
				dr->flags |= DR_BARE_LF;
				line_end(dr, out, 0);
			} else { /* NUL */
				dr->flags |= DR_NUL;
			}
			i++;
			continue;
		}
		case S_CR:
			if (c == '\n') {
				count(dr, 1);
				line_end(dr, out, 1);
				i++;
				continue;
			}
			/* A CR not followed by LF: a bare CR; this byte starts anew. */
			dr->flags |= DR_BARE_CR;
			line_end(dr, out, 0);
			continue;
		case S_DOT:
			if (c == '\r') {
				count(dr, 1);
				dr->state = S_DOTCR;
				i++;
				continue;
			}
			if (c == '\n')
				fake_end(dr, "\n"); /* "." LF */
			/* Dot-stuffing (RFC 5321 §4.5.2): drop the leading dot. */
			dr->state = S_MID;
			continue;
		case S_DOTCR:
			if (c == '\n' && dr->bol_real) {
				*done = 1;
				return i + 1;
			}
			if (c == '\n') {
				/* "." after a bare line end: never the end of data. */
				fake_end(dr, "\r\n");
				count(dr, 1);
				line_end(dr, out, 1);
				i++;
				continue;
			}
			/* "." CR x: a bare CR after the (removed) dot. */
			fake_end(dr, "\r");
			dr->flags |= DR_BARE_CR;
			line_end(dr, out, 0);
			continue;
		}
	}
	return i;
}

unsigned
data_reader_rejects(const struct data_reader *dr)
{
	unsigned bad = dr->flags & (DR_NUL | DR_LONG_LINE | DR_TOO_BIG);
	if (!dr->normalize)
		bad |= dr->flags & (DR_BARE_LF | DR_BARE_CR);
	return bad;
}
