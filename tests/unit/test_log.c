/* SPDX-License-Identifier: ISC */
/*
 * test_log.c - held log lines (log_hold): nothing is written before the
 * flush, the wake hook runs once per empty-to-held, lines keep their order
 * and are never cut, a full buffer writes what it holds, and releasing the
 * hold flushes. stderr is pointed at a temporary file for each test.
 *
 * log_escape(): a table of { name, input, want } (the hostile RCPT address
 * of issue 20 among them), and a round trip through a logfmt reader: a line
 * built from escaped values has exactly the fields it was given, and each
 * value reads back as the octets that went in.
 */
#include <unistd.h>

#include "common/log.h"
#include "unit.h"

static int wakes;
static int saved_stderr = -1;
static FILE *capture;

static void
wake(void *arg)
{
	(void)arg;
	wakes++;
}

static int
setup(void **state)
{
	(void)state;
	wakes = 0;
	capture = tmpfile();
	if (capture == NULL)
		return -1;
	saved_stderr = dup(STDERR_FILENO);
	dup2(fileno(capture), STDERR_FILENO);
	log_init("test", 1, 0);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	log_hold(NULL, NULL);
	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	fclose(capture);
	return 0;
}

/* written - what reached stderr so far (static buffer) */
static const char *
written(void)
{
	static char buf[1 << 17];
	size_t n;

	fflush(capture);
	n = (size_t)pread(fileno(capture), buf, sizeof(buf) - 1, 0);
	buf[n == (size_t)-1 ? 0 : n] = '\0';
	return buf;
}

static int
count_lines(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void
test_unheld_lines_go_out_at_once(void **state)
{
	(void)state;
	log_info("one %d", 1);
	assert_non_null(strstr(written(), "test["));
	assert_non_null(strstr(written(), "]: one 1\n"));
	assert_int_equal(wakes, 0);
}

static void
test_held_lines_wait_for_flush(void **state)
{
	(void)state;
	log_hold(wake, NULL);
	log_info("first");
	log_warnx("second");
	log_info("third");
	assert_string_equal(written(), "");
	assert_int_equal(wakes, 1); /* once: the buffer was empty only before "first" */
	log_flush();
	const char *w = written();
	assert_int_equal(count_lines(w), 3);
	const char *a = strstr(w, "first"), *b = strstr(w, "second"),
	           *c = strstr(w, "third");
	assert_true(a != NULL && b != NULL && c != NULL && a < b && b < c);
	/* the next line after a flush wakes the loop again */
	log_info("fourth");
	assert_int_equal(wakes, 2);
	log_flush();
	assert_int_equal(count_lines(written()), 4);
}

static void
test_full_buffer_writes_whole_lines(void **state)
{
	(void)state;
	char big[1500];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	log_hold(wake, NULL);
	for (int i = 0; i < 40; i++) /* ~61 KiB: several buffers' worth */
		log_info("%03d %s", i, big);
	const char *w = written();
	/* Some went out without a flush, and only whole lines did. */
	assert_true(strlen(w) > 0);
	assert_int_equal(w[strlen(w) - 1], '\n');
	log_flush();
	w = written();
	assert_int_equal(count_lines(w), 40);
	char want[8];
	const char *p = w;
	for (int i = 0; i < 40; i++) {
		snprintf(want, sizeof(want), "%03d x", i);
		p = strstr(p, want);
		assert_non_null(p);
	}
}

static void
test_release_flushes(void **state)
{
	(void)state;
	log_hold(wake, NULL);
	log_info("held");
	assert_string_equal(written(), "");
	log_hold(NULL, NULL);
	assert_non_null(strstr(written(), "held\n"));
	log_info("direct");
	assert_non_null(strstr(written(), "direct\n"));
	assert_int_equal(wakes, 1);
}

/* ---- log_escape ---- */

/* The address of issue 20: printable, and once a second client= field. */
#define HOSTILE "<\"x> client=203.0.113.9:25 rule=ok addr=<y\"@evil.test>"

struct escape_case {
	const char *name;
	const char *in;
	size_t inlen;
	size_t dstsz; /* 0: LOG_ESCAPE_BUFSZ */
	const char *want;
};

static const struct escape_case escapes[] = {
    {"plain address", B("alice@example.test"), 0, "alice@example.test"},
    {"bracketed", B("<alice@example.test>"), 0, "<alice@example.test>"},
    {"null sender", B("<>"), 0, "<>"},
    {"empty is quoted", B(""), 0, "\"\""},
    {"punctuation stays bare", B("a.b-c_d+e/f:g;h,i(j)[k]!?#$%&'*@~^`{|}"), 0,
     "a.b-c_d+e/f:g;h,i(j)[k]!?#$%&'*@~^`{|}"},
    {"hostile address", B(HOSTILE), 0,
     "\"<\\\"x> client=203.0.113.9:25 rule=ok addr=<y\\\"@evil.test>\""},
    {"space", B("a b"), 0, "\"a b\""},
    {"equals", B("a=b"), 0, "\"a=b\""},
    {"quote", B("say \"hi\""), 0, "\"say \\\"hi\\\"\""},
    {"backslash", B("c:\\dir"), 0, "\"c:\\\\dir\""},
    {"CRLF cannot end the line", B("a\r\nfake line"), 0, "\"a\\x0d\\x0afake line\""},
    {"tab", B("a\tb"), 0, "\"a\\x09b\""},
    {"NUL", B("a\0b"), 0, "\"a\\x00b\""},
    {"DEL", B("\x7f"), 0, "\"\\x7f\""},
    {"8-bit UTF-8", B("j\xc3\xa9r\xc3\xb4me"), 0, "\"j\\xc3\\xa9r\\xc3\\xb4me\""},
    {"ESC sequence", B("\x1b[31mred"), 0, "\"\\x1b[31mred\""},
    {"a whole 256-octet path", B("{256*a}"), 0, "{256*a}"},
    {"long bare value is cut", B("{300*a}"), 0, "{256*a}..."},
    {"long quoted value is cut inside the quotes", B("{300* }"), 0, "\"{256* }...\""},
    {"long escaped value fits its buffer", B("{300*\x01}"), 0, "\"{256*\\x01}...\""},
    {"small buffer, bare", B("abcdefghijklmnopqrstuvwxyz"), 16, "abcdefghijkl..."},
    {"small buffer, an escape is never split", B("\x01\x02\x03\x04"), 12, "\"\\x01...\""},
    {"exact fit", B("abcdefghijklmno"), 16, "abcdefghijklmno"},
};

static void
test_escape_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(escapes); i++) {
		const struct escape_case *c = &escapes[i];
		char in[1024], want[2048], out[LOG_ESCAPE_BUFSZ + 16];
		size_t inlen = unit_expand(c->in, c->inlen, in, sizeof(in));
		size_t dstsz = c->dstsz ? c->dstsz : LOG_ESCAPE_BUFSZ;
		size_t wlen = unit_expand(c->want, strlen(c->want), want, sizeof(want));

		memset(out, 'Z', sizeof(out));
		log_escape(out, dstsz, in, inlen);
		EXPECT_MEM(c->name, "value", out, strlen(out), want, wlen);
		EXPECT_INT(c->name, "fits", strlen(out) < dstsz, 1);
		EXPECT_INT(c->name, "past dst untouched", out[dstsz], 'Z');
	}
	UNIT_END();
}

static void
test_escape_null_and_tiny(void **state)
{
	char out[8] = "xxxxxxx", tiny[4] = "xxx";

	(void)state;
	assert_string_equal(log_escape(out, sizeof(out), NULL, 5), "\"\"");
	assert_string_equal(log_escape(tiny, sizeof(tiny), "abc", 3), "");
}

static void
test_escape_str_and_addr(void **state)
{
	char long_addr[400];
	const char *v[10];

	(void)state;
	assert_string_equal(log_escape_str("a b"), "\"a b\"");
	assert_string_equal(log_escape_str(NULL), "\"\"");
	assert_string_equal(log_escape_addr("alice@example.test"),
	                    "<alice@example.test>");
	assert_string_equal(log_escape_addr(""), "<>");
	/* the RCPT TO path of issue 20, as the parser hands it over */
	assert_string_equal(
	    log_escape_addr("\"x> client=203.0.113.9:25 rule=ok "
	                    "addr=<y\"@evil.test"),
	    "\"<\\\"x> client=203.0.113.9:25 rule=ok addr=<y\\\"@evil.test>\"");
	/* an address of more than LOG_ESCAPE_MAX octets is cut, never overrun */
	memset(long_addr, 'a', sizeof(long_addr) - 1);
	long_addr[sizeof(long_addr) - 1] = '\0';
	const char *cut = log_escape_addr(long_addr);
	assert_int_equal(strlen(cut), LOG_ESCAPE_MAX + 3);
	assert_int_equal(cut[0], '<');
	assert_string_equal(cut + LOG_ESCAPE_MAX, "...");
	/* eight values of one line stay apart; the ninth reuses the first slot */
	for (int i = 0; i < 8; i++) {
		char s[8];
		snprintf(s, sizeof(s), "v%d", i);
		v[i] = log_escape_str(s);
	}
	for (int i = 0; i < 8; i++) {
		char s[8];
		snprintf(s, sizeof(s), "v%d", i);
		assert_string_equal(v[i], s);
	}
}

/* logfmt_next - read one key=value field of line at *p: 1, or 0 at the end.
 * Values are bare or quoted with \" \\ \xNN, as doc/moatd.8 says. */
static int
logfmt_next(const char **p, char *key, size_t keysz, char *val, size_t valsz,
            size_t *vlen)
{
	const char *s = *p;
	size_t k = 0, v = 0;

	while (*s == ' ')
		s++;
	if (*s == '\0' || *s == '\n')
		return 0;
	while (*s != '=' && *s != ' ' && *s != '\0' && k + 1 < keysz)
		key[k++] = *s++;
	key[k] = '\0';
	assert_int_equal(*s, '=');
	s++;
	if (*s == '"') {
		for (s++; *s != '"'; s++) {
			assert_true(*s != '\0' && *s != '\n' && v + 1 < valsz);
			if (*s != '\\') {
				val[v++] = *s;
				continue;
			}
			s++;
			if (*s == 'x') {
				unsigned x;
				assert_int_equal(sscanf(s + 1, "%2x", &x), 1);
				val[v++] = (char)x;
				s += 2;
			} else {
				assert_true(*s == '"' || *s == '\\');
				val[v++] = *s;
			}
		}
		s++;
		assert_true(*s == ' ' || *s == '\0' || *s == '\n');
	} else
		while (*s != ' ' && *s != '\0' && *s != '\n' && v + 1 < valsz)
			val[v++] = *s++;
	val[v] = '\0';
	*vlen = v;
	*p = s;
	return 1;
}

static void
test_escaped_line_keeps_its_fields(void **state)
{
	static const struct {
		const char *v;
		size_t len;
	} values[] = {
	    {B(HOSTILE)},
	    {B("x client=1.2.3.4 rule=forged")},
	    {B("a\r\n2026-01-01T00:00:00.000 moatd[1]: smtp screen verdict=pass")},
	    {B("\"\\\" =\\")},
	    {B("")},
	    {B("plain")},
	};
	char esc[NELEM(values)][LOG_ESCAPE_BUFSZ], key[64], val[512];
	const char *line, *p;
	size_t vlen, n = 0;

	(void)state;
	for (size_t i = 0; i < NELEM(values); i++)
		log_escape(esc[i], sizeof(esc[i]), values[i].v, values[i].len);
	log_info("smtp refuse sid=1 client=192.0.2.1:25 v0=%s v1=%s v2=%s v3=%s v4=%s "
	         "v5=%s rule=ok",
	         esc[0], esc[1], esc[2], esc[3], esc[4], esc[5]);
	line = written();
	assert_int_equal(count_lines(line), 1);
	p = strstr(line, "]: smtp refuse ");
	assert_non_null(p);
	p += strlen("]: smtp refuse ");
	while (logfmt_next(&p, key, sizeof(key), val, sizeof(val), &vlen)) {
		if (n == 0)
			assert_string_equal(key, "sid");
		else if (n == 1) {
			assert_string_equal(key, "client");
			assert_string_equal(val, "192.0.2.1:25");
		} else if (n < 2 + NELEM(values)) {
			char want[8];
			snprintf(want, sizeof(want), "v%zu", n - 2);
			assert_string_equal(key, want);
			assert_int_equal(vlen, values[n - 2].len);
			assert_memory_equal(val, values[n - 2].v, vlen);
		} else {
			assert_string_equal(key, "rule");
			assert_string_equal(val, "ok");
		}
		n++;
	}
	assert_int_equal(n, 3 + NELEM(values)); /* no field more, none less */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_unheld_lines_go_out_at_once, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_held_lines_wait_for_flush, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_full_buffer_writes_whole_lines, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_release_flushes, setup, teardown),
	    cmocka_unit_test(test_escape_table),
	    cmocka_unit_test(test_escape_null_and_tiny),
	    cmocka_unit_test(test_escape_str_and_addr),
	    cmocka_unit_test_setup_teardown(test_escaped_line_keeps_its_fields, setup,
	                                    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
