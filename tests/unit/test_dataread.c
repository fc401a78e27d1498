/* SPDX-License-Identifier: ISC */
/*
 * test_dataread.c - the DATA phase reader (src/smtp/dataread.c).
 *
 * Every row is fed three ways (at once, cut in two at every position, one
 * octet at a time) and must give the same answer: where data ends is a
 * property of the bytes, never of how the network split them. The smuggling
 * table holds every "almost CRLF.CRLF" a client can send to make a lax server
 * end data early (SMTP smuggling); none of them may end data.
 */
#include <event2/buffer.h>

#include "smtp/dataread.h"
#include "unit.h"

#define BIG      ((size_t)1 << 20) /* max_size when size is not the point */
#define LINE     1000              /* RFC 5321 §4.5.3.1.6, CRLF included */
#define WHOLE    ((size_t)-1)      /* want_consumed: the whole input */
#define OUT_MAX  4096
#define BYTEWISE ((size_t)-1) /* run(): one octet per feed */

struct result {
	size_t consumed;
	int done;
	unsigned flags;
	unsigned rejects;
	char out[OUT_MAX];
	size_t outlen;
};

/*
 * run - feed in[0..len) as the session does: in[0..cut) first, then the rest
 * (or one octet per call with BYTEWISE), draining what each call consumed and
 * stopping when data is done.
 */
static void
run(const char *in, size_t len, size_t cut, size_t max_size, size_t max_line,
    int normalize, struct result *r)
{
	struct evbuffer *out = evbuffer_new();
	struct data_reader dr;
	size_t pos = 0;

	assert_non_null(out);
	data_reader_init(&dr, max_size, max_line, normalize);
	memset(r, 0, sizeof(*r));
	while (pos < len && !r->done) {
		size_t n = cut == BYTEWISE ? 1 : pos < cut ? cut - pos : len - pos;
		size_t used = data_reader_feed(&dr, in + pos, n, out, &r->done);
		/* Everything is consumed, except what follows the end. */
		if (r->done)
			assert_true(used <= n);
		else
			assert_int_equal(used, n);
		pos += used;
	}
	r->consumed = pos;
	r->flags = dr.flags;
	r->rejects = data_reader_rejects(&dr);
	r->outlen = evbuffer_get_length(out);
	assert_int_equal(r->outlen, dr.size);
	assert_true(r->outlen < sizeof(r->out));
	evbuffer_remove(out, r->out, r->outlen);
	evbuffer_free(out);
}

/* crlf_clean - every CR in the output is followed by LF, every LF preceded by CR */
static int
crlf_clean(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\r' && (i + 1 == n || s[i + 1] != '\n'))
			return 0;
		if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r'))
			return 0;
	}
	return 1;
}

struct msg_case {
	const char *name;
	const char *in; /* may hold "{N*unit}", see unit_expand() */
	size_t len;
	int normalize;
	size_t max_size;
	size_t max_line;
	const char *out; /* NUL-free, may hold "{N*unit}" */
	size_t consumed;
	int done;
	unsigned flags;
};

static const struct msg_case msgs[] = {
    /* the end of data and dot-unstuffing (RFC 5321 §4.1.1.4, §4.5.2) */
    {"empty message", B(".\r\n"), 0, BIG, LINE, "", WHOLE, 1, 0},
    {"one line", B("a\r\n.\r\n"), 0, BIG, LINE, "a\r\n", WHOLE, 1, 0},
    {"blank line", B("\r\n.\r\n"), 0, BIG, LINE, "\r\n", WHOLE, 1, 0},
    {"header and body", B("Subject: x\r\n\r\nbody\r\n.\r\n"), 0, BIG, LINE,
     "Subject: x\r\n\r\nbody\r\n", WHOLE, 1, 0},
    {"dot-stuffed", B("..a\r\n.\r\n"), 0, BIG, LINE, ".a\r\n", WHOLE, 1, 0},
    {"stuffed dot line", B("a\r\n..\r\n.\r\n"), 0, BIG, LINE, "a\r\n.\r\n", WHOLE, 1, 0},
    {"stuffed terminator", B("a\r\n..\r\nb\r\n.\r\n"), 0, BIG, LINE, "a\r\n.\r\nb\r\n",
     WHOLE, 1, 0},
    {"three dots", B("...\r\n.\r\n"), 0, BIG, LINE, "..\r\n", WHOLE, 1, 0},
    {"single leading dot", B(".a\r\n.\r\n"), 0, BIG, LINE, "a\r\n", WHOLE, 1, 0},
    {"dot mid-line", B("a.b\r\n.\r\n"), 0, BIG, LINE, "a.b\r\n", WHOLE, 1, 0},
    {"dot at line end", B("a.\r\n.\r\n"), 0, BIG, LINE, "a.\r\n", WHOLE, 1, 0},
    {"dot and space", B(". \r\n.\r\n"), 0, BIG, LINE, " \r\n", WHOLE, 1, 0},
    {"8-bit and tab kept", B("\xc3\xa9\tx\r\n.\r\n"), 0, BIG, LINE, "\xc3\xa9\tx\r\n",
     WHOLE, 1, 0},
    {"bytes after the end", B("a\r\n.\r\nQUIT\r\n"), 0, BIG, LINE, "a\r\n", 6, 1, 0},
    {"pipelined after empty", B(".\r\nMAIL FROM:<a@b.test>\r\n"), 0, BIG, LINE, "", 3, 1,
     0},
    {"second terminator left", B("a\r\n.\r\n.\r\n"), 0, BIG, LINE, "a\r\n", 6, 1, 0},
    {"CR before real end", B("a\r\r\n.\r\n"), 0, BIG, LINE, "a\r\n\r\n", WHOLE, 1,
     DR_BARE_CR},

    /* not ended yet: everything is consumed, nothing is lost */
    {"no end", B("a\r\n"), 0, BIG, LINE, "a\r\n", WHOLE, 0, 0},
    {"no end, dot", B("a\r\n."), 0, BIG, LINE, "a\r\n", WHOLE, 0, 0},
    {"no end, dot CR", B("a\r\n.\r"), 0, BIG, LINE, "a\r\n", WHOLE, 0, 0},
    {"no end, CR", B("a\r"), 0, BIG, LINE, "a", WHOLE, 0, 0},
    {"no end, dot only", B("."), 0, BIG, LINE, "", WHOLE, 0, 0},

    /* bare line ends: CRLF in the output, flagged (RFC 5321 §2.3.8) */
    {"bare LF", B("a\nb\r\n.\r\n"), 0, BIG, LINE, "a\r\nb\r\n", WHOLE, 1, DR_BARE_LF},
    {"bare LF normalized", B("a\nb\r\n.\r\n"), 1, BIG, LINE, "a\r\nb\r\n", WHOLE, 1,
     DR_BARE_LF},
    {"bare CR", B("a\rb\r\n.\r\n"), 0, BIG, LINE, "a\r\nb\r\n", WHOLE, 1, DR_BARE_CR},
    {"bare CR normalized", B("a\rb\r\n.\r\n"), 1, BIG, LINE, "a\r\nb\r\n", WHOLE, 1,
     DR_BARE_CR},
    {"LF CR normalized", B("a\n\rb\r\n.\r\n"), 1, BIG, LINE, "a\r\n\r\nb\r\n", WHOLE, 1,
     DR_BARE_LF | DR_BARE_CR},
    {"bare LF first", B("\n.\r\n.\r\n"), 1, BIG, LINE, "\r\n\r\n", WHOLE, 1,
     DR_BARE_LF | DR_FAKE_END},
    {"dot CR x", B("a\r\n.\rb\r\n.\r\n"), 1, BIG, LINE, "a\r\n\r\nb\r\n", WHOLE, 1,
     DR_BARE_CR | DR_FAKE_END},
    {"NUL dropped", B("a\0b\r\n.\r\n"), 1, BIG, LINE, "ab\r\n", WHOLE, 1, DR_NUL},

    /* the size limit: output stops, reading goes on to the real end */
    {"size exact", B("12345678\r\n.\r\n"), 0, 10, LINE, "12345678\r\n", WHOLE, 1, 0},
    {"size one over", B("12345678\r\n.\r\n"), 0, 9, LINE, "12345678", WHOLE, 1,
     DR_TOO_BIG},
    {"size long run", B("0123456789abcdef\r\n.\r\n"), 0, 10, LINE, "", WHOLE, 1,
     DR_TOO_BIG},
    {"size zero, empty", B(".\r\n"), 0, 0, LINE, "", WHOLE, 1, 0},
    {"size zero, one line", B("a\r\n.\r\n"), 0, 0, LINE, "", WHOLE, 1, DR_TOO_BIG},
    {"size, read to end", B("abc\r\n{100*x}\r\nMAIL\r\n.\r\nQUIT\r\n"), 0, 10, LINE,
     "abc\r\n", 116, 1, DR_TOO_BIG},
    {"size, still strict", B("abc\r\n{20*x}\n.\nyy\r\n.\r\n"), 0, 10, LINE, "abc\r\n",
     WHOLE, 1, DR_TOO_BIG | DR_BARE_LF | DR_FAKE_END},

    /* line length: 1000 octets with CRLF (RFC 5321 §4.5.3.1.6) */
    {"line 1000", B("{998*a}\r\n.\r\n"), 0, BIG, LINE, "{998*a}\r\n", WHOLE, 1, 0},
    {"line 1001", B("{999*a}\r\n.\r\n"), 0, BIG, LINE, "{999*a}\r\n", WHOLE, 1,
     DR_LONG_LINE},
    {"line 1000 stuffed", B("..{997*a}\r\n.\r\n"), 0, BIG, LINE, ".{997*a}\r\n", WHOLE, 1,
     0},
    {"line 1001 stuffed", B("..{998*a}\r\n.\r\n"), 0, BIG, LINE, ".{998*a}\r\n", WHOLE, 1,
     DR_LONG_LINE},
    {"short lines", B("{998*a}\r\n{998*b}\r\n.\r\n"), 0, BIG, LINE,
     "{998*a}\r\n{998*b}\r\n", WHOLE, 1, 0},
    {"bare LF ends a line", B("{500*a}\n{500*b}\r\n.\r\n"), 1, BIG, LINE,
     "{500*a}\r\n{500*b}\r\n", WHOLE, 1, DR_BARE_LF},
    {"long line, small limit", B("123456789\r\n.\r\n"), 0, BIG, 10, "123456789\r\n",
     WHOLE, 1, DR_LONG_LINE},
    {"no end, long line", B("{1001*a}"), 0, BIG, LINE, "{1001*a}", WHOLE, 0,
     DR_LONG_LINE},
};

static void
check_msg(const struct msg_case *c, const char *in, size_t len, const char *want,
          size_t wantlen, size_t cut, const char *how)
{
	struct result r;
	char name[128];

	snprintf(name, sizeof(name), "%s (%s %zu)", c->name, how,
	         cut == BYTEWISE ? 1 : cut);
	run(in, len, cut, c->max_size, c->max_line, c->normalize, &r);
	EXPECT_INT(name, "done", r.done, c->done);
	EXPECT_INT(name, "consumed", r.consumed,
	           c->consumed == WHOLE ? len : c->consumed);
	EXPECT_INT(name, "flags", r.flags, c->flags);
	EXPECT_INT(name, "output within max_size", r.outlen <= c->max_size, 1);
	EXPECT_INT(name, "output CRLF-clean", crlf_clean(r.out, r.outlen), 1);
	if (cut == len || !(c->flags & DR_TOO_BIG)) {
		EXPECT_MEM(name, "output", r.out, r.outlen, want, wantlen);
		return;
	}
	/* Over size, how much output came before the stop depends on how the
	 * input was cut; it is always a prefix of the whole message. */
	static struct result full;
	run(in, len, len, BIG, c->max_line, c->normalize, &full);
	EXPECT_INT(name, "output a prefix",
	           r.outlen <= full.outlen && memcmp(r.out, full.out, r.outlen) == 0, 1);
}

static void
test_messages(void **state)
{
	static char in[OUT_MAX], want[OUT_MAX];

	for (size_t i = 0; i < NELEM(msgs); i++) {
		const struct msg_case *c = &msgs[i];
		size_t len = unit_expand(c->in, c->len, in, sizeof(in));
		size_t wantlen = unit_expand(c->out, strlen(c->out), want, sizeof(want));

		check_msg(c, in, len, want, wantlen, len, "whole");
		check_msg(c, in, len, want, wantlen, BYTEWISE, "bytewise");
		for (size_t cut = 0; cut < len; cut++)
			check_msg(c, in, len, want, wantlen, cut, "cut at");
	}
	UNIT_END();
}

struct smuggle_case {
	const char *name;
	const char *seq; /* what sits between "hi" and the smuggled command */
	size_t len;
	unsigned flags;
};

/*
 * SMTP smuggling (2023): an outbound server passes one of these through, a
 * lax inbound server ends data on it, and the text after it runs as commands
 * in the sender's session. Here none ends data; each is flagged.
 */
static const struct smuggle_case smuggles[] = {
    {"LF . LF", B("\n.\n"), DR_BARE_LF | DR_FAKE_END},
    {"LF . CRLF", B("\n.\r\n"), DR_BARE_LF | DR_FAKE_END},
    {"CRLF . LF", B("\r\n.\n"), DR_BARE_LF | DR_FAKE_END},
    {"CR . CR", B("\r.\r"), DR_BARE_CR | DR_FAKE_END},
    {"CR . CRLF", B("\r.\r\n"), DR_BARE_CR | DR_FAKE_END},
    {"CRLF . CR", B("\r\n.\r"), DR_BARE_CR | DR_FAKE_END},
    {"CR . LF", B("\r.\n"), DR_BARE_CR | DR_BARE_LF | DR_FAKE_END},
    {"LF . CR", B("\n.\r"), DR_BARE_LF | DR_BARE_CR | DR_FAKE_END},
    {"CRLF NUL . CRLF", B("\r\n\0.\r\n"), DR_NUL},
    {"CRLF . NUL CRLF", B("\r\n.\0\r\n"), DR_NUL},
    {"CRLF . CR CRLF", B("\r\n.\r\r\n"), DR_BARE_CR | DR_FAKE_END},
    {"CRLF . LF CRLF", B("\r\n.\n\r\n"), DR_BARE_LF | DR_FAKE_END},
    {"LF LF . LF LF", B("\n\n.\n\n"), DR_BARE_LF | DR_FAKE_END},
    {"CR CR . CR CR", B("\r\r.\r\r"), DR_BARE_CR | DR_FAKE_END},
};

static const char smuggled[] = "MAIL FROM:<s@evil.test>\r\n";

static void
check_smuggle(const struct smuggle_case *c, const char *in, size_t len, size_t cut,
              int normalize)
{
	struct result r;
	char name[128];

	snprintf(name, sizeof(name), "%s (%s, cut %zu)", c->name,
	         normalize ? "normalize" : "reject", cut == BYTEWISE ? 1 : cut);
	run(in, len, cut, BIG, LINE, normalize, &r);
	/* Data ends only at the real CRLF.CRLF, the last five octets. */
	EXPECT_INT(name, "done", r.done, 1);
	EXPECT_INT(name, "consumed", r.consumed, len);
	EXPECT_INT(name, "flags", r.flags, c->flags);
	EXPECT_INT(name, "output CRLF-clean", crlf_clean(r.out, r.outlen), 1);
	if (normalize) {
		/* Accepted or not, the command stays message text. */
		EXPECT_INT(name, "command is text",
		           memmem(r.out, r.outlen, smuggled, strlen(smuggled)) != NULL,
		           1);
		EXPECT_INT(name, "rejects", r.rejects, c->flags & DR_NUL);
	} else {
		/* a fake end is a signature's matter, not a refusal's */
		EXPECT_INT(name, "rejects", r.rejects, c->flags & ~DR_FAKE_END);
		EXPECT_INT(name, "rejected", r.rejects != 0, 1);
	}
}

static void
test_smuggling(void **state)
{
	for (size_t i = 0; i < NELEM(smuggles); i++) {
		const struct smuggle_case *c = &smuggles[i];
		char in[256];
		size_t len;

		len = 0;
		memcpy(in, "hi", 2);
		len += 2;
		memcpy(in + len, c->seq, c->len);
		len += c->len;
		memcpy(in + len, smuggled, strlen(smuggled));
		len += strlen(smuggled);
		memcpy(in + len, ".\r\n", 3);
		len += 3;

		for (int normalize = 0; normalize <= 1; normalize++) {
			check_smuggle(c, in, len, len, normalize);
			check_smuggle(c, in, len, BYTEWISE, normalize);
			for (size_t cut = 0; cut < len; cut++)
				check_smuggle(c, in, len, cut, normalize);
		}
	}
	UNIT_END();
}

/* A feed of nothing changes nothing, and state carries across feeds. */
static void
test_empty_feed(void **state)
{
	struct evbuffer *out = evbuffer_new();
	struct data_reader dr;
	int done = 1;

	data_reader_init(&dr, BIG, LINE, 0);
	assert_int_equal(data_reader_feed(&dr, "", 0, out, &done), 0);
	assert_int_equal(done, 0);
	assert_int_equal(data_reader_feed(&dr, ".\r", 2, out, &done), 2);
	assert_int_equal(data_reader_feed(&dr, "", 0, out, &done), 0);
	assert_int_equal(done, 0);
	assert_int_equal(data_reader_feed(&dr, "\nX", 2, out, &done), 1);
	assert_int_equal(done, 1);
	assert_int_equal(evbuffer_get_length(out), 0);
	assert_int_equal(dr.flags, 0);
	evbuffer_free(out);
}

struct reject_case {
	const char *name;
	unsigned flags;
	int normalize;
	unsigned want;
};

static const struct reject_case rejects[] = {
    {"clean", 0, 0, 0},
    {"clean, normalize", 0, 1, 0},
    {"bare LF", DR_BARE_LF, 0, DR_BARE_LF},
    {"bare LF, normalize", DR_BARE_LF, 1, 0},
    {"bare CR", DR_BARE_CR, 0, DR_BARE_CR},
    {"bare CR, normalize", DR_BARE_CR, 1, 0},
    {"NUL", DR_NUL, 0, DR_NUL},
    {"NUL, normalize", DR_NUL, 1, DR_NUL},
    {"long line, normalize", DR_LONG_LINE, 1, DR_LONG_LINE},
    {"too big, normalize", DR_TOO_BIG, 1, DR_TOO_BIG},
    {"all", 0x1f, 0, 0x1f},
    {"all, normalize", 0x1f, 1, DR_NUL | DR_LONG_LINE | DR_TOO_BIG},
};

static void
test_rejects(void **state)
{
	for (size_t i = 0; i < NELEM(rejects); i++) {
		struct data_reader dr;
		data_reader_init(&dr, BIG, LINE, rejects[i].normalize);
		dr.flags = rejects[i].flags;
		EXPECT_INT(rejects[i].name, "rejects", data_reader_rejects(&dr),
		           rejects[i].want);
	}
	UNIT_END();
}

/*
 * test_span_every_offset - a CR, LF or NUL at every place of a long line
 * (the reader looks for them 16 and 8 octets at a time): each is found
 * where it is, and the text around it comes out whole
 */
static void
test_span_every_offset(void **state)
{
	static const struct {
		char c;
		unsigned flag;
		const char *becomes;
	} specials[] = {{'\n', DR_BARE_LF, "\r\n"},
	                {'\r', DR_BARE_CR, "\r\n"},
	                {'\0', DR_NUL, ""},
	                {'x', 0, "x"}};

	for (size_t k = 0; k < NELEM(specials); k++) {
		for (size_t pos = 0; pos < 70; pos++) {
			char in[160], want[160], name[64];
			size_t n = 0, w = 0;
			struct result r;

			snprintf(name, sizeof(name), "special %zu at %zu", k, pos);
			memset(in, 'a', pos);
			memset(want, 'a', pos);
			n = w = pos;
			in[n++] = specials[k].c;
			w += (size_t)snprintf(want + w, sizeof(want) - w, "%s",
			                      specials[k].becomes);
			memset(in + n, 'b', 40);
			memset(want + w, 'b', 40);
			n += 40;
			w += 40;
			memcpy(in + n, "\r\n.\r\n", 5);
			n += 5;
			memcpy(want + w, "\r\n", 2);
			w += 2;
			run(in, n, n, BIG, LINE, 1, &r);
			EXPECT_INT(name, "done", r.done, 1);
			EXPECT_INT(name, "consumed", r.consumed, n);
			EXPECT_INT(name, "flags", r.flags, specials[k].flag);
			EXPECT_MEM(name, "out", r.out, r.outlen, want, w);
		}
	}
	UNIT_END();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_messages),          cmocka_unit_test(test_smuggling),
	    cmocka_unit_test(test_empty_feed),        cmocka_unit_test(test_rejects),
	    cmocka_unit_test(test_span_every_offset),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
