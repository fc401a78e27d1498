/* SPDX-License-Identifier: ISC */
/*
 * fuzz_dataread.c - libFuzzer target for the DATA phase reader.
 *
 * Input: byte 0 chooses where the message is cut in two, byte 1 the policy
 * (bit 0 normalize, bits 1-6 max_size, bit 7 max_line 1000 or 16); the rest
 * is what the client sends after "354". The reader runs three times: at once
 * with no size limit (the reference), cut in two with the size limit, and
 * one octet per call. Checked: consumed never exceeds the input; data ends
 * exactly at the first CRLF "." CRLF (or ".\r\n" at the start) and nowhere
 * else; the cut and the octet-wise runs agree with the reference; every flag
 * matches a plain reading of the bytes; the output never exceeds max_size and
 * never holds a bare CR, a bare LF or a NUL.
 */
#include <event2/buffer.h>

#include "fuzz.h"
#include "smtp/dataread.h"

#define UNLIMITED ((size_t)1 << 30)
#define BYTEWISE  ((size_t)-1)

struct result {
	size_t consumed;
	int done;
	unsigned flags, rejects;
	unsigned char *out;
	size_t outlen;
};

/* run - feed in[0..cut) then the rest (or one octet per call), as the session does */
static void
run(const char *in, size_t len, size_t cut, size_t max_size, size_t max_line,
    int normalize, struct result *r)
{
	struct evbuffer *out = evbuffer_new();
	struct data_reader dr;
	size_t pos = 0;

	REQUIRE(out != NULL);
	data_reader_init(&dr, max_size, max_line, normalize);
	memset(r, 0, sizeof(*r));
	while (pos < len && !r->done) {
		size_t n = cut == BYTEWISE ? 1 : pos < cut ? cut - pos : len - pos;
		size_t used = data_reader_feed(&dr, in + pos, n, out, &r->done);
		REQUIRE(used <= n);
		REQUIRE(r->done || used == n);
		pos += used;
	}
	r->consumed = pos;
	r->flags = dr.flags;
	r->rejects = data_reader_rejects(&dr);
	r->outlen = evbuffer_get_length(out);
	REQUIRE(r->outlen == dr.size && r->outlen <= max_size);
	r->out = malloc(r->outlen + 1);
	REQUIRE(r->out != NULL);
	evbuffer_remove(out, r->out, r->outlen);
	evbuffer_free(out);
}

/* data_end - where data must end: after the first CRLF.CRLF, or 0 */
static size_t
data_end(const char *in, size_t len)
{
	const char *p;

	if (len >= 3 && memcmp(in, ".\r\n", 3) == 0)
		return 3;
	p = memmem(in, len, "\r\n.\r\n", 5);
	return p == NULL ? 0 : (size_t)(p - in) + 5;
}

/* want_flags - the flags, read straight off the consumed bytes */
static unsigned
want_flags(const char *in, size_t n, size_t max_line)
{
	unsigned f = 0;
	size_t line = 0;
	int bol = 1, bol_real = 1; /* data begins after DATA's CRLF */

	for (size_t i = 0; i < n; i++) {
		char c = in[i];
		if (c == '\0')
			f |= DR_NUL;
		if (c == '\n' && (i == 0 || in[i - 1] != '\r'))
			f |= DR_BARE_LF;
		if (c == '\r' && i + 1 < n && in[i + 1] != '\n')
			f |= DR_BARE_CR;
		/* RFC 5321 §4.5.3.1.6: the stuffing dot is not counted. */
		if (bol && c == '.') {
			/* a lone "." line with a bare line end, before or after
			 * it: smuggling's shape, once the next octets decide */
			if (i + 1 < n && in[i + 1] == '\n')
				f |= DR_FAKE_END;
			else if (i + 2 < n && in[i + 1] == '\r' &&
			         (in[i + 2] != '\n' || !bol_real))
				f |= DR_FAKE_END;
			bol = 0;
			continue;
		}
		bol = 0;
		if (++line > max_line)
			f |= DR_LONG_LINE;
		if (c == '\n' || (c == '\r' && i + 1 < n && in[i + 1] != '\n')) {
			line = 0;
			bol = 1;
			bol_real = c == '\n' && i > 0 && in[i - 1] == '\r';
		}
	}
	return f;
}

static void
check_output(const struct result *r)
{
	REQUIRE(memchr(r->out, '\0', r->outlen) == NULL);
	for (size_t i = 0; i < r->outlen; i++) {
		if (r->out[i] == '\r')
			REQUIRE(i + 1 < r->outlen && r->out[i + 1] == '\n');
		if (r->out[i] == '\n')
			REQUIRE(i > 0 && r->out[i - 1] == '\r');
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct result ref, cut, bytes;
	const char *in = (const char *)data + 2;
	size_t len, end, at, max_size, max_line, sz;
	int normalize;
	unsigned f;

	if (size < 2)
		return 0;
	len = size - 2;
	at = len * data[0] / 255;
	normalize = data[1] & 1;
	sz = (data[1] >> 1) & 0x3f;
	max_size = sz == 0x3f ? UNLIMITED : sz * 8;
	max_line = (data[1] & 0x80) ? 1000 : 16;

	run(in, len, len, UNLIMITED, max_line, normalize, &ref);
	run(in, len, at, max_size, max_line, normalize, &cut);
	run(in, len, BYTEWISE, UNLIMITED, max_line, normalize, &bytes);

	/* Data ends at the real CRLF.CRLF, and nothing else ends it. */
	end = data_end(in, len);
	REQUIRE(ref.done == (end != 0));
	REQUIRE(ref.consumed == (ref.done ? end : len));
	if (ref.done)
		REQUIRE((ref.consumed == 3 && memcmp(in, ".\r\n", 3) == 0) ||
		        (ref.consumed >= 5 &&
		         memcmp(in + ref.consumed - 5, "\r\n.\r\n", 5) == 0));

	f = want_flags(in, ref.consumed, max_line);
	REQUIRE(ref.flags == f);
	REQUIRE(ref.rejects == (f & (DR_NUL | DR_LONG_LINE |
	                             (normalize ? 0 : DR_BARE_LF | DR_BARE_CR))));
	check_output(&ref);

	/* How the bytes were cut changes nothing... */
	REQUIRE(bytes.done == ref.done && bytes.consumed == ref.consumed);
	REQUIRE(bytes.flags == ref.flags);
	REQUIRE(bytes.outlen == ref.outlen &&
	        memcmp(bytes.out, ref.out, ref.outlen) == 0);

	/* ...and the size limit only stops the output. */
	REQUIRE(cut.done == ref.done && cut.consumed == ref.consumed);
	REQUIRE((cut.flags & ~DR_TOO_BIG) == ref.flags);
	REQUIRE(!!(cut.flags & DR_TOO_BIG) == (ref.outlen > max_size));
	REQUIRE(!(cut.flags & DR_TOO_BIG) == !(cut.rejects & DR_TOO_BIG));
	REQUIRE(cut.outlen <= ref.outlen && memcmp(cut.out, ref.out, cut.outlen) == 0);
	if (!(cut.flags & DR_TOO_BIG))
		REQUIRE(cut.outlen == ref.outlen);
	check_output(&cut);

	free(ref.out);
	free(cut.out);
	free(bytes.out);
	return 0;
}
