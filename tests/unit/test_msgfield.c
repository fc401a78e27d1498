/* SPDX-License-Identifier: ISC */
/*
 * test_msgfield.c - the Date and Message-ID a submission gets
 * (common/msgfield.c): the RFC 5322 date-time with its zone offset in every
 * sign and the edges of the calendar, the msg-id's shape, and which lines
 * of a header section are fields, folded lines, or neither.
 */
#include "common/msgfield.h"
#include "unit.h"

struct date_case {
	const char *name;
	int year, mon, mday, wday, hour, min, sec;
	long gmtoff;
	const char *want;
};

static const struct date_case dates[] = {
    {"utc", 2026, 11, 7, 1, 17, 42, 11, 0, "Mon, 07 Dec 2026 17:42:11 +0000"},
    {"east", 2026, 0, 1, 4, 0, 0, 0, 3600, "Thu, 01 Jan 2026 00:00:00 +0100"},
    {"west", 1999, 11, 31, 5, 23, 59, 59, -5 * 3600, "Fri, 31 Dec 1999 23:59:59 -0500"},
    {"half hour", 2024, 1, 29, 4, 12, 5, 9, 5 * 3600 + 1800,
     "Thu, 29 Feb 2024 12:05:09 +0530"},
    {"west quarter", 2025, 6, 15, 2, 8, 0, 60, -(9 * 3600 + 45 * 60),
     "Tue, 15 Jul 2025 08:00:60 -0945"},
    {"chatham", 2025, 5, 1, 0, 6, 7, 8, 13 * 3600 + 45 * 60,
     "Sun, 01 Jun 2025 06:07:08 +1345"},
};

static void
test_date(void **state)
{
	for (size_t i = 0; i < NELEM(dates); i++) {
		const struct date_case *c = &dates[i];
		struct tm tm = {.tm_year = c->year - 1900,
		                .tm_mon = c->mon,
		                .tm_mday = c->mday,
		                .tm_wday = c->wday,
		                .tm_hour = c->hour,
		                .tm_min = c->min,
		                .tm_sec = c->sec};
		char buf[MSGFIELD_DATE_MAX];
		size_t n = msgfield_date_tm(&tm, c->gmtoff, buf, sizeof(buf));
		EXPECT_INT(c->name, "length", n, strlen(c->want));
		if (n > 0)
			EXPECT_STR(c->name, "date", buf, c->want);
		/* one octet short: refused, never cut */
		EXPECT_INT(c->name, "short buffer",
		           msgfield_date_tm(&tm, c->gmtoff, buf, n), 0);
	}
	UNIT_END();
}

/* the real clock's answer has the shape, whatever TZ and locale */
static void
test_date_now(void **state)
{
	char buf[MSGFIELD_DATE_MAX];
	size_t n = msgfield_date(time(NULL), buf, sizeof(buf));

	EXPECT_INT("now", "length", n, 31);
	if (n == 31) {
		EXPECT_INT("now", "comma", buf[3], ',');
		EXPECT_INT("now", "sign", buf[26] == '+' || buf[26] == '-', 1);
	}
	UNIT_END();
}

struct msgid_case {
	const char *name, *qid;
	uint64_t random;
	const char *host, *want;
};

static const struct msgid_case msgids[] = {
    {"plain", "4F2A9C01B7", 0x0123456789abcdefULL, "mx.example.test",
     "<4F2A9C01B7.0123456789abcdef@mx.example.test>"},
    {"zero random", "A", 0, "h", "<A.0000000000000000@h>"},
    {"odd host", "B", 1, "bad host(x)", "<B.0000000000000001@bad-host-x->"},
};

static void
test_msgid(void **state)
{
	for (size_t i = 0; i < NELEM(msgids); i++) {
		const struct msgid_case *c = &msgids[i];
		char buf[128];
		size_t n = msgfield_msgid(c->qid, c->random, c->host, buf, sizeof(buf));
		EXPECT_INT(c->name, "length", n, strlen(c->want));
		if (n > 0)
			EXPECT_STR(c->name, "msgid", buf, c->want);
		EXPECT_INT(c->name, "short buffer",
		           msgfield_msgid(c->qid, c->random, c->host, buf, n), 0);
	}
	UNIT_END();
}

struct line_case {
	const char *line;
	enum msgfield_line kind;
	int is_date, is_msgid;
};

static const struct line_case lines[] = {
    {"Date: Mon, 07 Dec 2026 17:42:11 +0000", MSGFIELD_FIELD, 1, 0},
    {"DATE:x", MSGFIELD_FIELD, 1, 0},
    {"date \t: obsolete space before the colon", MSGFIELD_FIELD, 1, 0},
    {"Message-ID: <a@b>", MSGFIELD_FIELD, 0, 1},
    {"message-id:<a@b>", MSGFIELD_FIELD, 0, 1},
    {"Message-IDs: <a@b>", MSGFIELD_FIELD, 0, 0},
    {"Resent-Date: x", MSGFIELD_FIELD, 0, 0},
    {"Dated: x", MSGFIELD_FIELD, 0, 0},
    {"X-Date: x", MSGFIELD_FIELD, 0, 0},
    {" Date: folded", MSGFIELD_CONT, 0, 0},
    {"\tMessage-ID: folded", MSGFIELD_CONT, 0, 0},
    {"Date", MSGFIELD_OTHER, 0, 0},
    {"hello world", MSGFIELD_OTHER, 0, 0},
    {"Hello world: a body line with a colon", MSGFIELD_OTHER, 0, 0},
    {": no name", MSGFIELD_OTHER, 0, 0},
    {"", MSGFIELD_OTHER, 0, 0},
    {"From sender@example.test Mon Dec  7 17:42:11 2026", MSGFIELD_OTHER, 0, 0},
    {"Caf\xc3\xa9: 8-bit name", MSGFIELD_OTHER, 0, 0},
};

static void
test_line_kind(void **state)
{
	for (size_t i = 0; i < NELEM(lines); i++) {
		const struct line_case *c = &lines[i];
		size_t len = strlen(c->line);
		EXPECT_INT(c->line, "kind", msgfield_line_kind(c->line, len), c->kind);
		EXPECT_INT(c->line, "is Date", msgfield_name_is(c->line, len, "date"),
		           c->is_date);
		EXPECT_INT(c->line, "is Message-ID",
		           msgfield_name_is(c->line, len, "message-id"), c->is_msgid);
	}
	/* only len octets are read: a field name cut before its colon */
	EXPECT_INT("cut", "kind", msgfield_line_kind("Date: x", 4), MSGFIELD_OTHER);
	EXPECT_INT("cut", "is Date", msgfield_name_is("Date: x", 4, "date"), 0);
	UNIT_END();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_date),
	    cmocka_unit_test(test_date_now),
	    cmocka_unit_test(test_msgid),
	    cmocka_unit_test(test_line_kind),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
