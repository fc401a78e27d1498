/* SPDX-License-Identifier: ISC */
/*
 * test_sendmail.c - moat-sendmail's parsers of a local user's input: the
 * address lists of To/Cc/Bcc and the command line (sm_addrlist_parse),
 * the header section reader behind -t (sm_headers_*), and the options
 * (sm_options_parse).
 */
#include "unit.h"

#include "sendmail/headers.h"
#include "sendmail/options.h"

/* join - the addresses found, "|"-separated, into buf */
struct joined {
	char buf[1024];
	size_t n;
};

static int
join_cb(void *arg, const char *addr, size_t len)
{
	struct joined *j = arg;
	j->n += (size_t)snprintf(j->buf + j->n, sizeof(j->buf) - j->n, "%s%.*s",
	                         j->n ? "|" : "", (int)len, addr);
	return 0;
}

static void
test_addrlist(void **state)
{
	static const struct {
		const char *name, *in, *want; /* want NULL: refused */
	} rows[] = {
	    {"bare", "bob@example.test", "bob@example.test"},
	    {"two", "a@x.test, b@y.test", "a@x.test|b@y.test"},
	    {"display name", "Bob Smith <bob@example.test>", "bob@example.test"},
	    {"quoted name with comma", "\"Smith, Bob\" <bob@x.test>, c@x.test",
	     "bob@x.test|c@x.test"},
	    {"comments", "(boss) bob@x.test (Bob (B))", "bob@x.test"},
	    {"group", "Team: a@x.test, b@x.test;, c@x.test",
	     "a@x.test|b@x.test|c@x.test"},
	    {"empty group", "undisclosed-recipients:;", ""},
	    {"source route dropped", "<@relay.test,@r2.test:bob@x.test>", "bob@x.test"},
	    {"quoted local part kept", "\"john doe\"@x.test", "\"john doe\"@x.test"},
	    {"domain literal", "bob@[IPv6:::1]", "bob@[IPv6:::1]"},
	    {"folded", "a@x.test,\r\n b@x.test", "a@x.test|b@x.test"},
	    {"bare local part", "root", "root"},
	    {"empty elements", " , ,a@x.test,,", "a@x.test"},
	    {"unclosed angle", "Bob <bob@x.test", NULL},
	    {"stray close", "bob@x.test>", NULL},
	    {"unclosed quote", "\"bob@x.test", NULL},
	    {"unclosed comment", "bob@x.test (hi", NULL},
	    {"nested angle", "<a<b@x.test>>", NULL},
	    {"comma in angle, no route", "<a,b@x.test>", NULL},
	    {"semicolon in angle", "<@r.test;b@x.test>", NULL},
	    {"NUL", "bob\001@x.test", NULL},
	    {"CR in a quote", "\"a\rb\"@x.test", NULL},
	};
	char err[96];

	for (size_t i = 0; i < NELEM(rows); i++) {
		struct joined j = {.n = 0};
		j.buf[0] = '\0';
		int r = sm_addrlist_parse(rows[i].in, strlen(rows[i].in), join_cb, &j,
		                          err, sizeof(err));
		if (rows[i].want == NULL) {
			EXPECT_INT(rows[i].name, "result", r, -1);
			continue;
		}
		EXPECT_INT(rows[i].name, "result", r, 0);
		EXPECT_STR(rows[i].name, "addresses", j.buf, rows[i].want);
	}
	/* an address over the bound is refused, whole */
	char big[SM_ADDR_MAX + 16];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	struct joined j = {.n = 0};
	EXPECT_INT("too long", "result",
	           sm_addrlist_parse(big, strlen(big), join_cb, &j, err, sizeof(err)),
	           -1);
	UNIT_END();
}

/* feed - a message's lines into h (want_rcpts set by the caller); the
 * index of the line that ended the section, or -1 on error, or the count */
static int
feed(struct sm_headers *h, const char *msg)
{
	int i = 0;
	while (*msg != '\0') {
		const char *nl = strchr(msg, '\n');
		size_t len = nl ? (size_t)(nl - msg) : strlen(msg);
		enum sm_hdr_status st = sm_headers_line(h, msg, len);
		if (st == SM_HDR_ERROR)
			return -1;
		if (st == SM_HDR_END)
			return sm_headers_end(h) == -1 ? -1 : i;
		msg += len + (nl != NULL);
		i++;
	}
	return sm_headers_end(h) == -1 ? -1 : i;
}

static void
test_headers(void **state)
{
	static const struct {
		const char *name, *in;
		int want_end;      /* the line the section ended at; -1: error */
		const char *rcpts; /* "|"-joined */
		const char *out;   /* the section as sent */
		int from, date, msgid;
	} rows[] = {
	    {"cron", "To: root\nSubject: x\n\nbody\n", 2, "root",
	     "To: root\r\nSubject: x\r\n", 0, 0, 0},
	    {"bcc dropped, folded bcc too",
	     "From: a@x.test\nTo: b@x.test\nBcc: c@x.test,\n d@x.test\nCc: e@x.test\n\n",
	     5, "b@x.test|c@x.test|d@x.test|e@x.test",
	     "From: a@x.test\r\nTo: b@x.test\r\nCc: e@x.test\r\n", 1, 0, 0},
	    {"case and spacing",
	     "tO : b@x.test\nBCC:c@x.test\nDATE: now\nmessage-id: <1@x>\n\n", 4,
	     "b@x.test|c@x.test", "tO : b@x.test\r\nDATE: now\r\nmessage-id: <1@x>\r\n",
	     0, 1, 1},
	    {"body without the empty line", "To: b@x.test\nthis is text\n", 1, "b@x.test",
	     "To: b@x.test\r\n", 0, 0, 0},
	    {"mbox From line dropped", "From joe  Mon Dec 7\nTo: b@x.test\n\n", 2,
	     "b@x.test", "To: b@x.test\r\n", 0, 0, 0},
	    {"resent and x- fields are not recipients",
	     "X-To: z@x.test\nResent-To: y@x.test\nTo: b@x.test\n\n", 3, "b@x.test",
	     "X-To: z@x.test\r\nResent-To: y@x.test\r\nTo: b@x.test\r\n", 0, 0, 0},
	    {"continuation first is body", " not a field\n", 0, "", "", 0, 0, 0},
	    {"bad list in To", "To: <b@x.test\n\n", -1, "", "", 0, 0, 0},
	};

	for (size_t i = 0; i < NELEM(rows); i++) {
		struct sm_headers h;
		struct joined j = {.n = 0};
		memset(&h, 0, sizeof(h));
		h.want_rcpts = 1;
		j.buf[0] = '\0';
		int end = feed(&h, rows[i].in);
		EXPECT_INT(rows[i].name, "end", end, rows[i].want_end);
		if (end >= 0) {
			for (size_t k = 0; k < h.rcpts.n; k++)
				join_cb(&j, h.rcpts.v[k], strlen(h.rcpts.v[k]));
			EXPECT_STR(rows[i].name, "rcpts", j.buf, rows[i].rcpts);
			EXPECT_MEM(rows[i].name, "out", h.out.p ? h.out.p : "", h.out.len,
			           rows[i].out, strlen(rows[i].out));
			EXPECT_INT(rows[i].name, "has_from", h.has_from, rows[i].from);
			EXPECT_INT(rows[i].name, "has_date", h.has_date, rows[i].date);
			EXPECT_INT(rows[i].name, "has_msgid", h.has_msgid, rows[i].msgid);
		}
		sm_headers_free(&h);
	}
	/* without -t no recipient is gathered, and Bcc still goes */
	struct sm_headers h;
	memset(&h, 0, sizeof(h));
	EXPECT_INT("no -t", "end", feed(&h, "To: a@x.test\nBcc: b@x.test\n\n"), 2);
	EXPECT_INT("no -t", "rcpts", h.rcpts.n, 0);
	EXPECT_MEM("no -t", "out", h.out.p, h.out.len, "To: a@x.test\r\n", 14);
	sm_headers_free(&h);
	/* a line over SM_LINE_MAX is folded at its last white space that
	 * keeps it within; one without white space stays */
	{
		char to[1200], want[1300];
		size_t n = (size_t)snprintf(to, sizeof(to), "To: ");
		while (n + 10 < sizeof(to))
			n += (size_t)snprintf(to + n, sizeof(to) - n, "a@x.test, ");
		to[n - 2] = '\0'; /* no ", " at the end */
		memset(&h, 0, sizeof(h));
		h.want_rcpts = 1;
		EXPECT_INT("fold", "line", sm_headers_line(&h, to, strlen(to)),
		           SM_HDR_MORE);
		EXPECT_INT("fold", "end", sm_headers_end(&h), 0);
		EXPECT_INT("fold", "rcpts", h.rcpts.n, (strlen(to) - 2) / 10);
		/* the fold goes before the last space within 998 octets */
		size_t cut = 998;
		while (to[cut] != ' ')
			cut--;
		snprintf(want, sizeof(want), "%.*s\r\n%s\r\n", (int)cut, to, to + cut);
		EXPECT_STR("fold", "out", h.out.p, want);
		sm_headers_free(&h);

		memset(to, 'x', sizeof(to));
		memcpy(to, "Subject:", 8);
		to[sizeof(to) - 1] = '\0';
		memset(&h, 0, sizeof(h));
		sm_headers_line(&h, to, strlen(to));
		EXPECT_INT("no space", "end", sm_headers_end(&h), 0);
		EXPECT_INT("no space", "len", h.out.len, strlen(to) + 2);
		sm_headers_free(&h);
	}
	/* a field past SM_FIELD_MAX is an error, not a truncation */
	memset(&h, 0, sizeof(h));
	char line[1000];
	memset(line, 'x', sizeof(line) - 1);
	line[0] = ' ';
	line[sizeof(line) - 1] = '\0';
	int r = sm_headers_line(&h, "Subject: x", 10);
	for (int k = 0; k < 100 && r == SM_HDR_MORE; k++)
		r = sm_headers_line(&h, line, strlen(line));
	EXPECT_INT("long field", "status", r, SM_HDR_ERROR);
	sm_headers_free(&h);
	UNIT_END();
}

static void
test_options(void **state)
{
	static const struct {
		const char *name;
		const char *argv[10];
		int ok;
		enum sm_mode mode;
		int extract, dot_ends;
		const char *sender, *fullname;
		int nrcpts;
	} rows[] = {
	    {"cron",
	     {"sendmail", "-FCronDaemon", "-i", "-B8BITMIME", "-oem", "root"},
	     1,
	     SM_MODE_DELIVER,
	     0,
	     0,
	     NULL,
	     "CronDaemon",
	     1},
	    {"php", {"sendmail", "-t", "-i"}, 1, SM_MODE_DELIVER, 1, 0, NULL, NULL, 0},
	    {"git",
	     {"sendmail", "-i", "-f", "me@x.test", "a@x.test", "b@x.test"},
	     1,
	     SM_MODE_DELIVER,
	     0,
	     0,
	     "me@x.test",
	     NULL,
	     2},
	    {"-oi and -r",
	     {"sendmail", "-oi", "-rme@x.test", "a@x.test"},
	     1,
	     SM_MODE_DELIVER,
	     0,
	     0,
	     "me@x.test",
	     NULL,
	     1},
	    {"-bs", {"sendmail", "-bs"}, 1, SM_MODE_SMTP, 0, 1, NULL, NULL, 0},
	    {"-bp", {"sendmail", "-bp"}, 1, SM_MODE_QUEUE, 0, 1, NULL, NULL, 0},
	    {"mailq", {"/usr/bin/mailq"}, 1, SM_MODE_QUEUE, 0, 1, NULL, NULL, 0},
	    {"newaliases", {"sendmail", "-bi"}, 1, SM_MODE_NOOP, 0, 1, NULL, NULL, 0},
	    {"ignored",
	     {"sendmail", "-N", "never", "-R", "hdrs", "-v", "-odb", "a"},
	     1,
	     SM_MODE_DELIVER,
	     0,
	     1,
	     NULL,
	     NULL,
	     1},
	    {"-bd refused", {"sendmail", "-bd"}, 0, 0, 0, 0, NULL, NULL, 0},
	    {"-q refused", {"sendmail", "-q"}, 0, 0, 0, 0, NULL, NULL, 0},
	    {"unknown", {"sendmail", "-k"}, 0, 0, 0, 0, NULL, NULL, 0},
	    {"missing -f argument", {"sendmail", "-f"}, 0, 0, 0, 0, NULL, NULL, 0},
	};
	char err[256];

	for (size_t i = 0; i < NELEM(rows); i++) {
		struct sm_opts o;
		char *argv[11];
		int argc = 0;
		for (; rows[i].argv[argc] != NULL; argc++)
			argv[argc] = (char *)rows[i].argv[argc];
		argv[argc] = NULL;
		int r = sm_options_parse(argc, argv, &o, err, sizeof(err));
		EXPECT_INT(rows[i].name, "ok", r == 0, rows[i].ok);
		if (r != 0)
			continue;
		EXPECT_INT(rows[i].name, "mode", o.mode, rows[i].mode);
		EXPECT_INT(rows[i].name, "extract", o.extract, rows[i].extract);
		EXPECT_INT(rows[i].name, "dot_ends", o.dot_ends, rows[i].dot_ends);
		EXPECT_STR(rows[i].name, "sender", o.sender ? o.sender : "(null)",
		           rows[i].sender ? rows[i].sender : "(null)");
		EXPECT_STR(rows[i].name, "fullname", o.fullname ? o.fullname : "(null)",
		           rows[i].fullname ? rows[i].fullname : "(null)");
		EXPECT_INT(rows[i].name, "recipients", o.nrcpts, rows[i].nrcpts);
	}
	UNIT_END();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_addrlist),
	    cmocka_unit_test(test_headers),
	    cmocka_unit_test(test_options),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
