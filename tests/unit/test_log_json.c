/* SPDX-License-Identifier: ISC */
/*
 * test_log_json.c - JSON strings (src/common/json.c) and log lines as JSON
 * objects (src/common/log_json.c).
 *
 * json_quote(): a table of { name, input, want }: quotes, backslashes,
 * controls, DEL and 8-bit octets (UTF-8 or not) as \u00XX; a value cut to
 * its buffer ends in "..." and stays a string. log_json_line(): a table of
 * messages and the whole object they make, hostile values among them (a
 * value that tries to close its string, add a member or break the line);
 * a log_escape()d value of every octet reads back, member by member, as
 * those octets; a buffer too small still gives one closed object.
 */
#include "common/json.h"
#include "common/log.h"
#include "common/log_json.h"
#include "unit.h"

static const struct {
	const char *name;
	const char *in;
	size_t inlen;
	const char *want;
} quote_rows[] = {
    {"plain", B("alice@example.test"), "\"alice@example.test\""},
    {"empty", B(""), "\"\""},
    {"quote and backslash", B("a\"b\\c"), "\"a\\\"b\\\\c\""},
    {"line breaks and tab", B("a\r\n\tb"), "\"a\\r\\n\\tb\""},
    {"other controls", B("\x01\x1f\x7f"), "\"\\u0001\\u001f\\u007f\""},
    {"NUL inside", B("a\0b"), "\"a\\u0000b\""},
    {"8-bit, not UTF-8", B("\xff\xfe"), "\"\\u00ff\\u00fe\""},
    {"UTF-8 as its octets", B("\xc3\xa9"), "\"\\u00c3\\u00a9\""},
    {"slash stays", B("a/b"), "\"a/b\""},
};

static void
test_quote_table(void **state)
{
	char out[256];

	(void)state;
	for (size_t i = 0; i < NELEM(quote_rows); i++) {
		size_t n = json_quote(out, sizeof(out), 0, quote_rows[i].in,
		                      quote_rows[i].inlen);
		EXPECT_STR(quote_rows[i].name, "json_quote", out, quote_rows[i].want);
		EXPECT_INT(quote_rows[i].name, "length", n, strlen(quote_rows[i].want));
	}
	UNIT_END();
}

static void
test_quote_cut_and_tiny(void **state)
{
	char out[16];
	size_t n;

	(void)state;
	/* 16 octets: quote, 10 of the value, "...", quote, NUL */
	n = json_quote(out, sizeof(out), 0, B("abcdefghijklmnopqrstuvwxyz"));
	EXPECT_STR("cut", "json_quote", out, "\"abcdefghij...\"");
	EXPECT_INT("cut", "length", n, 15);
	/* an escape is never cut in half */
	n = json_quote(out, sizeof(out), 0, B("abcdefgh\x01"));
	EXPECT_STR("escape kept whole", "json_quote", out, "\"abcdefgh...\"");
	/* the last octet may use the room of "..." */
	n = json_quote(out, sizeof(out), 0, B("abcdefghijklm"));
	EXPECT_STR("last fits", "json_quote", out, "\"abcdefghijklm\"");
	/* too small even for "...": nothing, NUL-terminated */
	n = json_quote(out, 5, 0, B("abc"));
	EXPECT_INT("tiny", "length", n, 0);
	EXPECT_STR("tiny", "json_quote", out, "");
	/* NULL is empty */
	json_quote(out, sizeof(out), 0, NULL, 5);
	EXPECT_STR("NULL", "json_quote", out, "\"\"");
	UNIT_END();
}

#define HEAD                                                                             \
	"{\"time\":\"T\",\"level\":\"info\",\"process\":\"moatd/smtp\",\"pid\":\"42\","

static const struct {
	const char *name;
	const char *msg;
	const char *want;
} line_rows[] = {
    {"words only", "smtp worker 0 ready", HEAD "\"msg\":\"smtp worker 0 ready\"}\n"},
    {"fields after the words", "smtp connect sid=0A client=127.0.0.1:5000 listener=mx",
     HEAD "\"msg\":\"smtp connect\",\"sid\":\"0A\",\"client\":\"127.0.0.1:5000\","
          "\"listener\":\"mx\"}\n"},
    {"quoted value with escapes", "smtp helo sid=1 helo=\"a \\\"b\\\" \\\\ \\x01\\xff\"",
     HEAD "\"msg\":\"smtp helo\",\"sid\":\"1\",\"helo\":\"a \\\"b\\\" \\\\ "
          "\\u0001\\u00ff\"}\n"},
    {"a value cannot add a member", "smtp x from=\"<a\\\",\\\"level\\\":\\\"crit@b>\"",
     HEAD "\"msg\":\"smtp x\",\"from\":\"<a\\\",\\\"level\\\":\\\"crit@b>\"}\n"},
    {"empty value", "deliver text=\"\"", HEAD "\"msg\":\"deliver\",\"text\":\"\"}\n"},
    {"reserved key renamed", "x msg=hi pid=7",
     HEAD "\"msg\":\"x\",\"msg_\":\"hi\",\"pid_\":\"7\"}\n"},
    {"unclosed quote takes the rest", "x a=\"b c", HEAD "\"msg\":\"x\",\"a\":\"b c\"}\n"},
    {"equals in a word is not a key", "master: =x ok",
     HEAD "\"msg\":\"master: =x ok\"}\n"},
    {"no words", "a=1", HEAD "\"msg\":\"\",\"a\":\"1\"}\n"},
    {"a raw quote in the words", "say \"hi\"", HEAD "\"msg\":\"say \\\"hi\\\"\"}\n"},
};

static void
test_line_table(void **state)
{
	char out[LOG_JSON_SIZE];

	(void)state;
	for (size_t i = 0; i < NELEM(line_rows); i++) {
		size_t n = log_json_line(out, sizeof(out), "T", "info", "moatd/smtp", 42,
		                         line_rows[i].msg);
		EXPECT_STR(line_rows[i].name, "log_json_line", out, line_rows[i].want);
		EXPECT_INT(line_rows[i].name, "length", n, strlen(line_rows[i].want));
	}
	UNIT_END();
}

/* value_of - the JSON string of member key in line, decoded to octets
 * (only the escapes json_quote writes); its length, or -1 if absent */
static long
value_of(const char *line, const char *key, char *out)
{
	char pat[64];
	const char *p;
	long n = 0;

	snprintf(pat, sizeof(pat), "\"%s\":\"", key);
	if ((p = strstr(line, pat)) == NULL)
		return -1;
	for (p += strlen(pat); *p != '"'; p++) {
		if (*p != '\\') {
			out[n++] = *p;
			continue;
		}
		p++;
		if (*p == 'u') {
			unsigned v;
			sscanf(p + 1, "%4x", &v);
			out[n++] = (char)v;
			p += 4;
		} else
			out[n++] = *p == 'n'   ? '\n'
			           : *p == 'r' ? '\r'
			           : *p == 't' ? '\t'
			                       : *p;
	}
	return n;
}

static void
test_every_octet_round_trips(void **state)
{
	char octets[256], esc[LOG_ESCAPE_BUFSZ], msg[LOG_MSG_MAX], out[LOG_JSON_SIZE];
	char back[512];

	(void)state;
	/* a HELO of every octet but NUL, cut to LOG_ESCAPE_MAX as the log cuts */
	for (int i = 1; i < 256; i++)
		octets[i - 1] = (char)i;
	log_escape(esc, sizeof(esc), octets, 200);
	snprintf(msg, sizeof(msg), "smtp helo sid=1 helo=%s tail=ok", esc);
	log_json_line(out, sizeof(out), "T", "info", "p", 1, msg);
	long n = value_of(out, "helo", back);
	EXPECT_MEM("200 octets", "helo", back, (size_t)(n < 0 ? 0 : n), octets, 200);
	n = value_of(out, "tail", back);
	EXPECT_MEM("after it", "tail", back, (size_t)(n < 0 ? 0 : n), "ok", 2);
	log_escape(esc, sizeof(esc), octets + 200, 55);
	snprintf(msg, sizeof(msg), "x v=%s", esc);
	log_json_line(out, sizeof(out), "T", "info", "p", 1, msg);
	n = value_of(out, "v", back);
	EXPECT_MEM("the rest", "v", back, (size_t)(n < 0 ? 0 : n), octets + 200, 55);
	/* the object is one line of printable ASCII */
	for (size_t i = 0; out[i + 1] != '\0'; i++)
		if (out[i] < 0x20 || out[i] > 0x7e)
			UNIT_FAIL("octet %zu of the object is 0x%02x", i,
			          (unsigned char)out[i]);
	UNIT_END();
}

static void
test_small_buffer_still_one_object(void **state)
{
	char out[100];
	size_t n;

	(void)state;
	n = log_json_line(out, sizeof(out), "T", "info", "moatd/smtp", 42,
	                  "smtp connect sid=0A client=127.0.0.1:5000 listener=mx "
	                  "helo=\"a very long name that will not fit here at all\"");
	EXPECT_INT("small", "length", n, strlen(out));
	if (n < 3 || out[0] != '{' || out[n - 2] != '}' || out[n - 1] != '\n')
		UNIT_FAIL("not one closed object: %s", out);
	if (n >= sizeof(out))
		UNIT_FAIL("past the buffer: %zu", n);
	/* too small for the head: nothing */
	n = log_json_line(out, 10, "T", "info", "p", 1, "x");
	EXPECT_INT("tiny", "length", n, 0);
	UNIT_END();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_quote_table),
	    cmocka_unit_test(test_quote_cut_and_tiny),
	    cmocka_unit_test(test_line_table),
	    cmocka_unit_test(test_every_octet_round_trips),
	    cmocka_unit_test(test_small_buffer_still_one_object),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
