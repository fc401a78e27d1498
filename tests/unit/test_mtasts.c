/* SPDX-License-Identifier: ISC */
/*
 * test_mtasts.c - MTA-STS texts (src/deliver/mtasts_policy.c): the
 * "_mta-sts" TXT record (RFC 8461 §3.1) alone and in a DNS answer, the
 * policy file (§3.2), its
 * round trip through mtasts_policy_format() (what the cache keeps), and
 * which MX hosts a policy's patterns allow (§4.1).
 */
#include "deliver/mtasts_policy.h"
#include "unit.h"

static void
test_txt(void **state)
{
	static const struct {
		const char *name;
		const char *txt;
		size_t len;
		int rc;
		const char *id;
	} rows[] = {
	    {"plain", B("v=STSv1; id=20160831085700Z;"), 0, "20160831085700Z"},
	    {"no trailing delimiter", B("v=STSv1; id=abc"), 0, "abc"},
	    {"no spaces", B("v=STSv1;id=abc;"), 0, "abc"},
	    {"tabs and spaces", B("v=STSv1 \t;\t id=abc \t; "), 0, "abc"},
	    {"extension first", B("v=STSv1; ext-1.x=val; id=Z9"), 0, "Z9"},
	    {"first id counts", B("v=STSv1; id=one; id=two"), 0, "one"},
	    {"32 characters", B("v=STSv1; id={32*a}"), 0, "{32*a}"},
	    {"33 characters", B("v=STSv1; id={33*a}"), -1, ""},
	    {"not STSv1", B("v=STSv2; id=abc"), -1, ""},
	    {"lower case version", B("v=stsv1; id=abc"), -1, ""},
	    {"spf record", B("v=spf1 -all"), -1, ""},
	    {"no id", B("v=STSv1;"), -1, ""},
	    {"version only", B("v=STSv1"), -1, ""},
	    {"empty id", B("v=STSv1; id=;"), -1, ""},
	    {"id with a dash", B("v=STSv1; id=a-b"), -1, ""},
	    {"id with a space", B("v=STSv1; id=a b"), -1, ""},
	    {"upper case key", B("v=STSv1; ID=abc"), -1, ""},
	    {"junk after version", B("v=STSv1x; id=abc"), -1, ""},
	    {"field without =", B("v=STSv1; id"), -1, ""},
	    {"extension without value", B("v=STSv1; x=; id=abc"), -1, ""},
	    {"NUL in id",
	     B("v=STSv1; id=ab"
	       "\x00"
	       "c"),
	     -1, ""},
	    {"empty", B(""), -1, ""},
	};
	char txt[128], want[64], id[MTASTS_ID_MAX + 1];

	for (size_t i = 0; i < NELEM(rows); i++) {
		size_t n = unit_expand(rows[i].txt, rows[i].len, txt, sizeof(txt));
		/* B() lengths count NUL octets; unit_expand stops at none */
		if (memchr(rows[i].txt, '\0', rows[i].len) != NULL) {
			memcpy(txt, rows[i].txt, rows[i].len);
			n = rows[i].len;
		}
		unit_expand(rows[i].id, strlen(rows[i].id), want, sizeof(want));
		int rc = mtasts_txt_parse(txt, n, id);
		EXPECT_INT(rows[i].name, "rc", rc, rows[i].rc);
		if (rc == 0)
			EXPECT_STR(rows[i].name, "id", id, want);
	}
	UNIT_END();
}

/* whole DNS answers: chunks joined, exactly one STSv1 record (§3.1) */
static void
test_txt_answer(void **state)
{
	static const struct {
		const char *name;
		const char *abuf;
		int alen;
		int rc;
		const char *id;
	} rows[] = {
	    {"one record, two chunks, and SPF",
	     "\x12\x34\x81\x80\x00\x01\x00\x02\x00\x00\x00\x00\x08\x5f\x6d\x74\x61\x2d"
	     "\x73\x74\x73\x07\x65\x78\x61\x6d\x70\x6c\x65\x04\x74\x65\x73\x74\x00\x00"
	     "\x10\x00\x01\xc0\x0c\x00\x10\x00\x01\x00\x00\x01\x2c\x00\x15\x09\x76\x3d"
	     "\x53\x54\x53\x76\x31\x3b\x20\x0a\x69\x64\x3d\x61\x62\x63\x31\x32\x33\x3b"
	     "\xc0\x0c\x00\x10\x00\x01\x00\x00\x01\x2c\x00\x0c\x0b\x76\x3d\x73\x70\x66"
	     "\x31\x20\x2d\x61\x6c\x6c",
	     96, 0, "abc123"},
	    {"two STSv1 records",
	     "\x12\x34\x81\x80\x00\x01\x00\x02\x00\x00\x00\x00\x08\x5f\x6d\x74\x61\x2d"
	     "\x73\x74\x73\x07\x65\x78\x61\x6d\x70\x6c\x65\x04\x74\x65\x73\x74\x00\x00"
	     "\x10\x00\x01\xc0\x0c\x00\x10\x00\x01\x00\x00\x01\x2c\x00\x0f\x0e\x76\x3d"
	     "\x53\x54\x53\x76\x31\x3b\x20\x69\x64\x3d\x61\x3b\xc0\x0c\x00\x10\x00\x01"
	     "\x00\x00\x01\x2c\x00\x0f\x0e\x76\x3d\x53\x54\x53\x76\x31\x3b\x20\x69\x64"
	     "\x3d\x62\x3b",
	     93, -1, ""},
	    {"invalid STSv1 record",
	     "\x12\x34\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00\x08\x5f\x6d\x74\x61\x2d"
	     "\x73\x74\x73\x07\x65\x78\x61\x6d\x70\x6c\x65\x04\x74\x65\x73\x74\x00\x00"
	     "\x10\x00\x01\xc0\x0c\x00\x10\x00\x01\x00\x00\x01\x2c\x00\x11\x10\x76\x3d"
	     "\x53\x54\x53\x76\x31\x3b\x20\x69\x64\x3d\x61\x2d\x62\x3b",
	     68, -1, ""},
	    {"STSv10 is not STSv1",
	     "\x12\x34\x81\x80\x00\x01\x00\x02\x00\x00\x00\x00\x08\x5f\x6d\x74\x61\x2d"
	     "\x73\x74\x73\x07\x65\x78\x61\x6d\x70\x6c\x65\x04\x74\x65\x73\x74\x00\x00"
	     "\x10\x00\x01\xc0\x0c\x00\x10\x00\x01\x00\x00\x01\x2c\x00\x10\x0f\x76\x3d"
	     "\x53\x54\x53\x76\x31\x30\x3b\x20\x69\x64\x3d\x61\x3b\xc0\x0c\x00\x10\x00"
	     "\x01\x00\x00\x01\x2c\x00\x0e\x0d\x76\x3d\x53\x54\x53\x76\x31\x3b\x20\x69"
	     "\x64\x3d\x7a",
	     93, 0, "z"},
	    {"no STSv1 record",
	     "\x12\x34\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00\x08\x5f\x6d\x74\x61\x2d"
	     "\x73\x74\x73\x07\x65\x78\x61\x6d\x70\x6c\x65\x04\x74\x65\x73\x74\x00\x00"
	     "\x10\x00\x01\xc0\x0c\x00\x10\x00\x01\x00\x00\x01\x2c\x00\x0c\x0b\x76\x3d"
	     "\x73\x70\x66\x31\x20\x2d\x61\x6c\x6c",
	     63, -1, ""},
	};
	char id[MTASTS_ID_MAX + 1];

	for (size_t i = 0; i < NELEM(rows); i++) {
		int rc = mtasts_txt_answer((const unsigned char *)rows[i].abuf,
		                           rows[i].alen, id);
		EXPECT_INT(rows[i].name, "rc", rc, rows[i].rc);
		EXPECT_STR(rows[i].name, "id", id, rows[i].id);
	}
	UNIT_END();
}

static void
test_policy(void **state)
{
	static const struct {
		const char *name;
		const char *text;
		int rc;
		int mode;
		long max_age;
		size_t nmx;
		const char *mx0;
	} rows[] = {
	    {"RFC example",
	     "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\n"
	     "mx: *.example.net\r\nmx: backupmx.example.com\r\nmax_age: 604800\r\n",
	     0, MTASTS_ENFORCE, 604800, 3, "mail.example.com"},
	    {"LF, no final newline",
	     "version: STSv1\nmode: testing\nmx: MX.Example.COM\nmax_age: 86400", 0,
	     MTASTS_TESTING, 86400, 1, "mx.example.com"},
	    {"none needs no mx", "version: STSv1\nmode: none\nmax_age: 0\n", 0,
	     MTASTS_NONE, 0, 0, ""},
	    {"extensions ignored",
	     "version: STSv1\nfoo: bar baz\nmode: enforce\nmx: a.example\nmax_age: "
	     "1\nx_y: \xc3\xa9\n",
	     0, MTASTS_ENFORCE, 1, 1, "a.example"},
	    {"spaces around the value",
	     "version:STSv1\nmode:\t enforce \t\nmx:  a.example  \nmax_age: 5 \n", 0,
	     MTASTS_ENFORCE, 5, 1, "a.example"},
	    {"blank lines", "\nversion: STSv1\n\r\nmode: none\nmax_age: 9\n\n\n", 0,
	     MTASTS_NONE, 9, 0, ""},
	    {"first mode counts",
	     "version: STSv1\nmode: testing\nmode: enforce\nmx: a.example\nmax_age: 9\n",
	     0, MTASTS_TESTING, 9, 1, "a.example"},
	    {"max_age a year", "version: STSv1\nmode: none\nmax_age: 31557600\n", 0,
	     MTASTS_NONE, 31557600, 0, ""},
	    {"max_age above a year", "version: STSv1\nmode: none\nmax_age: 9999999999\n",
	     0, MTASTS_NONE, 31557600, 0, ""},
	    {"max_age 11 digits", "version: STSv1\nmode: none\nmax_age: 10000000000\n",
	     -1, 0, 0, 0, ""},
	    {"max_age negative", "version: STSv1\nmode: none\nmax_age: -1\n", -1, 0, 0, 0,
	     ""},
	    {"max_age empty", "version: STSv1\nmode: none\nmax_age:\n", -1, 0, 0, 0, ""},
	    {"no version", "mode: none\nmax_age: 1\n", -1, 0, 0, 0, ""},
	    {"version 2", "version: STSv2\nmode: none\nmax_age: 1\n", -1, 0, 0, 0, ""},
	    {"no mode", "version: STSv1\nmax_age: 1\n", -1, 0, 0, 0, ""},
	    {"bad mode", "version: STSv1\nmode: Enforce\nmx: a.example\nmax_age: 1\n", -1,
	     0, 0, 0, ""},
	    {"no max_age", "version: STSv1\nmode: none\n", -1, 0, 0, 0, ""},
	    {"enforce without mx", "version: STSv1\nmode: enforce\nmax_age: 1\n", -1, 0,
	     0, 0, ""},
	    {"bad mx", "version: STSv1\nmode: enforce\nmx: a..example\nmax_age: 1\n", -1,
	     0, 0, 0, ""},
	    {"mx with two stars",
	     "version: STSv1\nmode: enforce\nmx: *.*.example\nmax_age: 1\n", -1, 0, 0, 0,
	     ""},
	    {"mx star inside",
	     "version: STSv1\nmode: enforce\nmx: a*.example\nmax_age: 1\n", -1, 0, 0, 0,
	     ""},
	    {"mx star alone", "version: STSv1\nmode: enforce\nmx: *\nmax_age: 1\n", -1, 0,
	     0, 0, ""},
	    {"line without colon", "version: STSv1\nmode none\nmax_age: 1\n", -1, 0, 0, 0,
	     ""},
	    {"leading space", "version: STSv1\n mode: none\nmax_age: 1\n", -1, 0, 0, 0,
	     ""},
	    {"control octet", "version: STSv1\nmode: none\x01\nmax_age: 1\n", -1, 0, 0, 0,
	     ""},
	    {"bare CR inside", "version: STSv1\rmode: none\nmax_age: 1\n", -1, 0, 0, 0,
	     ""},
	    {"html", "<html><body>hello</body></html>\n", -1, 0, 0, 0, ""},
	    {"empty", "", -1, 0, 0, 0, ""},
	};
	struct mtasts_policy p, q;
	char err[128], out[MTASTS_POLICY_MAX];

	for (size_t i = 0; i < NELEM(rows); i++) {
		int rc = mtasts_policy_parse(rows[i].text, strlen(rows[i].text), &p, err,
		                             sizeof(err));
		EXPECT_INT(rows[i].name, "rc", rc, rows[i].rc);
		if (rc != 0) {
			if (err[0] == '\0')
				UNIT_FAIL("%s: no reason given", rows[i].name);
			continue;
		}
		EXPECT_INT(rows[i].name, "mode", p.mode, rows[i].mode);
		EXPECT_INT(rows[i].name, "max_age", p.max_age, rows[i].max_age);
		EXPECT_INT(rows[i].name, "nmx", p.nmx, rows[i].nmx);
		if (p.nmx > 0)
			EXPECT_STR(rows[i].name, "mx[0]", p.mx[0], rows[i].mx0);
		/* the cache's form reads back the same */
		int n = mtasts_policy_format(&p, out, sizeof(out));
		EXPECT_INT(rows[i].name, "format ok", n > 0, 1);
		EXPECT_INT(rows[i].name, "reparse",
		           mtasts_policy_parse(out, (size_t)n, &q, err, sizeof(err)), 0);
		EXPECT_INT(rows[i].name, "same", memcmp(&p, &q, sizeof(p)), 0);
	}
	UNIT_END();
}

static void
test_policy_bounds(void **state)
{
	static char text[MTASTS_POLICY_MAX + 2];
	struct mtasts_policy p;
	char err[128];
	size_t o = 0;

	/* MTASTS_MX_MAX patterns pass, one more does not */
	o += (size_t)snprintf(text, sizeof(text),
	                      "version: STSv1\nmode: enforce\nmax_age: 1\n");
	for (int i = 0; i < MTASTS_MX_MAX; i++)
		o +=
		    (size_t)snprintf(text + o, sizeof(text) - o, "mx: mx%d.example\n", i);
	EXPECT_INT("32 mx", "rc", mtasts_policy_parse(text, o, &p, err, sizeof(err)), 0);
	EXPECT_INT("32 mx", "nmx", p.nmx, MTASTS_MX_MAX);
	o += (size_t)snprintf(text + o, sizeof(text) - o, "mx: one-more.example\n");
	EXPECT_INT("33 mx", "rc", mtasts_policy_parse(text, o, &p, err, sizeof(err)), -1);
	/* a file longer than the limit is refused before it is read */
	memset(text, '\n', sizeof(text));
	memcpy(text, "version: STSv1\nmode: none\nmax_age: 1\n", 37);
	EXPECT_INT("64 KiB", "rc",
	           mtasts_policy_parse(text, MTASTS_POLICY_MAX, &p, err, sizeof(err)), 0);
	EXPECT_INT("64 KiB + 1", "rc",
	           mtasts_policy_parse(text, MTASTS_POLICY_MAX + 1, &p, err, sizeof(err)),
	           -1);
	UNIT_END();
}

static void
test_mx_match(void **state)
{
	static const struct {
		const char *host;
		int want;
	} rows[] = {
	    {"mail.example.com", 1},
	    {"MAIL.Example.Com", 1},
	    {"mail.example.com.", 1},
	    {"other.example.com", 0},
	    {"example.com", 0},
	    {"mx1.example.net", 1},
	    {"MX2.EXAMPLE.NET.", 1},
	    {"a.b.example.net", 0}, /* "*" is one label */
	    {"example.net", 0},
	    {".example.net", 0},
	    {"mx1.example.net.evil", 0},
	    {"mail.example.com.evil", 0},
	    {"", 0},
	};
	struct mtasts_policy p;
	char err[128];
	const char *text = "version: STSv1\nmode: enforce\nmx: mail.example.com\n"
	                   "mx: *.example.net\nmax_age: 86400\n";

	assert_int_equal(mtasts_policy_parse(text, strlen(text), &p, err, sizeof(err)),
	                 0);
	for (size_t i = 0; i < NELEM(rows); i++)
		EXPECT_INT(rows[i].host, "match", mtasts_mx_match(&p, rows[i].host),
		           rows[i].want);
	/* a name longer than any domain matches nothing */
	char longname[600];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	EXPECT_INT("long", "match", mtasts_mx_match(&p, longname), 0);
	UNIT_END();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_txt),      cmocka_unit_test(test_txt_answer),
	    cmocka_unit_test(test_policy),   cmocka_unit_test(test_policy_bounds),
	    cmocka_unit_test(test_mx_match),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
