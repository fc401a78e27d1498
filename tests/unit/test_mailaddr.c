/* SPDX-License-Identifier: ISC */
/*
 * test_mailaddr.c - RFC 5321 path parser and formatter (src/common/mailaddr.c).
 *
 * Tables of { name, input, want }: valid and invalid paths, the §4.5.3.1
 * length limits, quoted strings, source routes, the flags the relay decision
 * relies on (%, !, quoted @, literals), options for <> and <postmaster>,
 * 8-bit refusal, and the format -> parse round trip.
 */
#include "common/mailaddr.h"
#include "unit.h"

#define ANY_NODOM MA_ALLOW_NODOMAIN
#define ANY_NULL  MA_ALLOW_NULL
#define WHOLE     0                /* want_consumed: the whole input */
#define NO_ADDR   NULL, NULL, 0, 0 /* an error row: no mailbox to compare */

struct path_case {
	const char *name;
	const char *in; /* may hold "{N*unit}", see unit_expand() */
	size_t len;
	unsigned opts;
	int want;
	const char *local; /* checked when want == MAE_OK */
	const char *domain;
	unsigned flags;
	size_t consumed;
};

static const struct path_case paths[] = {
    /* plain mailboxes */
    {"plain", B("<user@example.test>"), 0, MAE_OK, "user", "example.test", 0, WHOLE},
    {"case kept", B("<User@Example.TEST>"), 0, MAE_OK, "User", "Example.TEST", 0, WHOLE},
    {"dots", B("<first.last@sub.example.test>"), 0, MAE_OK, "first.last",
     "sub.example.test", 0, WHOLE},
    {"atext", B("<a#$&'*+-/=?^_`{|}~b@x.test>"), 0, MAE_OK, "a#$&'*+-/=?^_`{|}~b",
     "x.test", 0, WHOLE},
    {"one label", B("<u@x>"), 0, MAE_OK, "u", "x", 0, WHOLE},
    {"digits and hyphen", B("<u@123.a-b.test>"), 0, MAE_OK, "u", "123.a-b.test", 0,
     WHOLE},
    {"params follow", B("<u@x.test> SIZE=10"), 0, MAE_OK, "u", "x.test", 0, 10},

    /* the null path, <postmaster> and other domainless forms */
    {"null allowed", B("<>"), ANY_NULL, MAE_OK, "", "", MA_NULL, 2},
    {"null then params", B("<> BODY=8BITMIME"), ANY_NULL, MAE_OK, "", "", MA_NULL, 2},
    {"null refused", B("<>"), 0, MAE_NULL, NO_ADDR},
    {"null refused for rcpt", B("<>"), ANY_NODOM, MAE_NULL, NO_ADDR},
    {"postmaster", B("<postmaster>"), ANY_NODOM, MAE_OK, "postmaster", "", MA_NODOMAIN,
     WHOLE},
    {"PostMaster", B("<PostMaster>"), ANY_NODOM, MAE_OK, "PostMaster", "", MA_NODOMAIN,
     WHOLE},
    {"quoted postmaster", B("<\"postmaster\">"), ANY_NODOM, MAE_OK, "postmaster", "",
     MA_NODOMAIN | MA_QUOTED, WHOLE},
    {"postmaster needs option", B("<postmaster>"), 0, MAE_NODOMAIN, NO_ADDR},
    {"postmaster not for MAIL", B("<postmaster>"), ANY_NULL, MAE_NODOMAIN, NO_ADDR},
    {"postmaster after route", B("<@r.test:postmaster>"), ANY_NODOM, MAE_NODOMAIN,
     NO_ADDR},
    {"other user needs domain", B("<user>"), ANY_NODOM, MAE_NODOMAIN, NO_ADDR},
    {"postmasterx", B("<postmasterx>"), ANY_NODOM, MAE_NODOMAIN, NO_ADDR},
    {"bang path", B("<other!user>"), ANY_NODOM, MAE_OK, "other!user", "",
     MA_NODOMAIN | MA_BANG, WHOLE},
    {"bang path needs option", B("<other!user>"), 0, MAE_NODOMAIN, NO_ADDR},

    /* relay-trick flags */
    {"percent", B("<user%other.test@x.test>"), 0, MAE_OK, "user%other.test", "x.test",
     MA_PERCENT, WHOLE},
    {"bang", B("<other.test!user@x.test>"), 0, MAE_OK, "other.test!user", "x.test",
     MA_BANG, WHOLE},
    {"percent and bang", B("<a!b%c@x.test>"), 0, MAE_OK, "a!b%c", "x.test",
     MA_BANG | MA_PERCENT, WHOLE},
    {"quoted at", B("<\"user@other.test\"@x.test>"), 0, MAE_OK, "user@other.test",
     "x.test", MA_QUOTED | MA_AT_IN_LOCAL, WHOLE},
    {"escaped at", B("<\"user\\@other\"@x.test>"), 0, MAE_OK, "user@other", "x.test",
     MA_QUOTED | MA_AT_IN_LOCAL, WHOLE},
    {"quoted percent", B("<\"user%other\"@x.test>"), 0, MAE_OK, "user%other", "x.test",
     MA_QUOTED | MA_PERCENT, WHOLE},
    {"quoted bang", B("<\"other!user\"@x.test>"), 0, MAE_OK, "other!user", "x.test",
     MA_QUOTED | MA_BANG, WHOLE},

    /* quoted strings (RFC 5321 §4.1.2 Quoted-string, quoted-pairSMTP) */
    {"quoted space", B("<\"john doe\"@x.test>"), 0, MAE_OK, "john doe", "x.test",
     MA_QUOTED, WHOLE},
    {"escaped quote", B("<\"a\\\"b\"@x.test>"), 0, MAE_OK, "a\"b", "x.test", MA_QUOTED,
     WHOLE},
    {"escaped backslash", B("<\"a\\\\b\"@x.test>"), 0, MAE_OK, "a\\b", "x.test",
     MA_QUOTED, WHOLE},
    {"escaped ordinary", B("<\"\\a\\b\"@x.test>"), 0, MAE_OK, "ab", "x.test", MA_QUOTED,
     WHOLE},
    {"quoted dots", B("<\"a..b\"@x.test>"), 0, MAE_OK, "a..b", "x.test", MA_QUOTED,
     WHOLE},
    {"quoted angle", B("<\"a>b\"@x.test>"), 0, MAE_OK, "a>b", "x.test", MA_QUOTED, WHOLE},
    {"empty quoted", B("<\"\"@x.test>"), 0, MAE_SYNTAX, NO_ADDR},
    {"unterminated quote", B("<\"abc@x.test>"), 0, MAE_SYNTAX, NO_ADDR},
    {"backslash at end", B("<\"a\\"), 0, MAE_SYNTAX, NO_ADDR},
    {"tab in quotes", B("<\"a\tb\"@x.test>"), 0, MAE_SYNTAX, NO_ADDR},
    {"CR in quotes", B("<\"a\rb\"@x.test>"), 0, MAE_SYNTAX, NO_ADDR},
    {"escaped control",
     B("<\"a\\\x01"
       "b\"@x.test>"),
     0, MAE_SYNTAX, NO_ADDR},
    {"escaped DEL", B("<\"a\\\x7f\"@x.test>"), 0, MAE_SYNTAX, NO_ADDR},
    {"NUL in quotes", B("<\"a\0b\"@x.test>"), 0, MAE_SYNTAX, NO_ADDR},
    {"escaped NUL", B("<\"a\\\0b\"@x.test>"), 0, MAE_SYNTAX, NO_ADDR},
    {"quote inside atoms", B("<a\"b\"@x.test>"), 0, MAE_SYNTAX, NO_ADDR},

    /* source routes: syntax checked, then ignored (RFC 5321 §4.1.2, C.) */
    {"route", B("<@relay.test:user@x.test>"), 0, MAE_OK, "user", "x.test", MA_ROUTE,
     WHOLE},
    {"route of two", B("<@a.test,@b.test:user@x.test>"), 0, MAE_OK, "user", "x.test",
     MA_ROUTE, WHOLE},
    {"route and percent", B("<@x.test:u%o.test@x.test>"), 0, MAE_OK, "u%o.test", "x.test",
     MA_ROUTE | MA_PERCENT, WHOLE},
    {"route to literal", B("<@r.test:u@[192.0.2.1]>"), 0, MAE_OK, "u", "[192.0.2.1]",
     MA_ROUTE | MA_LITERAL, WHOLE},
    {"route literal hop", B("<@[192.0.2.1]:user@x.test>"), 0, MAE_SYNTAX, NO_ADDR},
    {"route no colon", B("<@a.test user@x.test>"), 0, MAE_SYNTAX, NO_ADDR},
    {"route empty hop", B("<@a.test,:u@x.test>"), 0, MAE_SYNTAX, NO_ADDR},
    {"route only", B("<@a.test:>"), 0, MAE_SYNTAX, NO_ADDR},
    {"route bad domain", B("<@-a.test:u@x.test>"), 0, MAE_DOMAIN, NO_ADDR},
    {"route 8-bit", B("<@r\xc3\xa9.test:u@x.test>"), 0, MAE_8BIT, NO_ADDR},
    {"at alone", B("<@>"), 0, MAE_DOMAIN, NO_ADDR},
    {"no local part", B("<@x.test>"), 0, MAE_SYNTAX, NO_ADDR},

    /* address literals (RFC 5321 §4.1.3) */
    {"IPv4 literal", B("<user@[192.0.2.1]>"), 0, MAE_OK, "user", "[192.0.2.1]",
     MA_LITERAL, WHOLE},
    {"IPv6 literal", B("<user@[IPv6:2001:db8::1]>"), 0, MAE_OK, "user",
     "[IPv6:2001:db8::1]", MA_LITERAL, WHOLE},
    {"IPv6 tag any case", B("<user@[ipv6:::1]>"), 0, MAE_OK, "user", "[ipv6:::1]",
     MA_LITERAL, WHOLE},
    {"IPv4-mapped IPv6", B("<u@[IPv6:::ffff:192.0.2.1]>"), 0, MAE_OK, "u",
     "[IPv6:::ffff:192.0.2.1]", MA_LITERAL, WHOLE},
    {"empty literal", B("<u@[]>"), 0, MAE_LITERAL, NO_ADDR},
    {"IPv4 octet 256", B("<u@[192.0.2.256]>"), 0, MAE_LITERAL, NO_ADDR},
    {"IPv4 three octets", B("<u@[192.0.2]>"), 0, MAE_LITERAL, NO_ADDR},
    {"IPv4 leading zero", B("<u@[192.0.2.01]>"), 0, MAE_LITERAL, NO_ADDR},
    {"IPv4 with space", B("<u@[192.0.2.1 ]>"), 0, MAE_LITERAL, NO_ADDR},
    {"IPv6 without tag", B("<u@[2001:db8::1]>"), 0, MAE_LITERAL, NO_ADDR},
    {"IPv6 bad digit", B("<u@[IPv6:2001:db8::g]>"), 0, MAE_LITERAL, NO_ADDR},
    {"IPv6 tag only", B("<u@[IPv6:]>"), 0, MAE_LITERAL, NO_ADDR},
    {"IPv6 zone", B("<u@[IPv6:fe80::1%eth0]>"), 0, MAE_LITERAL, NO_ADDR},
    {"general literal", B("<u@[x-tag:stuff]>"), 0, MAE_LITERAL, NO_ADDR},
    {"literal NUL", B("<u@[192.0.2.1\0]>"), 0, MAE_LITERAL, NO_ADDR},
    {"literal NUL and text", B("<u@[IPv6:::1\0junk]>"), 0, MAE_LITERAL, NO_ADDR},
    {"literal over 63", B("<u@[IPv6:{59*0}]>"), 0, MAE_LITERAL, NO_ADDR},
    {"unclosed literal", B("<u@[192.0.2.1>"), 0, MAE_SYNTAX, NO_ADDR},
    {"text after literal", B("<u@[192.0.2.1]x>"), 0, MAE_SYNTAX, NO_ADDR},

    /* not a path */
    {"empty", B(""), 0, MAE_SYNTAX, NO_ADDR},
    {"open only", B("<"), 0, MAE_SYNTAX, NO_ADDR},
    {"no brackets", B("user@x.test"), 0, MAE_SYNTAX, NO_ADDR},
    {"space first", B(" <user@x.test>"), 0, MAE_SYNTAX, NO_ADDR},
    {"no close", B("<user@x.test"), 0, MAE_SYNTAX, NO_ADDR},
    {"space before close", B("<user@x.test >"), 0, MAE_SYNTAX, NO_ADDR},
    {"space in local", B("<us er@x.test>"), 0, MAE_SYNTAX, NO_ADDR},
    {"two ats", B("<a@b@x.test>"), 0, MAE_SYNTAX, NO_ADDR},
    {"NUL in local", B("<us\0er@x.test>"), 0, MAE_SYNTAX, NO_ADDR},
    {"NUL in domain", B("<u@x\0.test>"), 0, MAE_SYNTAX, NO_ADDR},
    {"leading dot", B("<.user@x.test>"), 0, MAE_SYNTAX, NO_ADDR},
    {"trailing dot", B("<user.@x.test>"), 0, MAE_SYNTAX, NO_ADDR},
    {"double dot", B("<us..er@x.test>"), 0, MAE_SYNTAX, NO_ADDR},
    {"empty domain", B("<user@>"), 0, MAE_DOMAIN, NO_ADDR},
    {"domain double dot", B("<u@x..test>"), 0, MAE_DOMAIN, NO_ADDR},
    {"domain leading hyphen", B("<u@-x.test>"), 0, MAE_DOMAIN, NO_ADDR},
    {"domain trailing hyphen", B("<u@x-.test>"), 0, MAE_DOMAIN, NO_ADDR},
    {"domain trailing dot", B("<u@x.test.>"), 0, MAE_DOMAIN, NO_ADDR},
    {"domain leading dot", B("<u@.x.test>"), 0, MAE_DOMAIN, NO_ADDR},
    {"domain underscore", B("<u@x_y.test>"), 0, MAE_SYNTAX, NO_ADDR},

    /* 8-bit: refused without SMTPUTF8 (RFC 6531 is not offered) */
    {"8-bit local",
     B("<us\xc3\xa9"
       "r@x.test>"),
     0, MAE_8BIT, NO_ADDR},
    {"8-bit local first", B("<\xc3\xa9@x.test>"), 0, MAE_8BIT, NO_ADDR},
    {"8-bit domain",
     B("<u@ex\xc3\xa4"
       "mple.test>"),
     0, MAE_8BIT, NO_ADDR},
    {"8-bit domain first", B("<u@\xc3\xa9>"), 0, MAE_8BIT, NO_ADDR},
    {"8-bit quoted", B("<\"\xc3\xa9\"@x.test>"), 0, MAE_8BIT, NO_ADDR},
    {"8-bit escaped", B("<\"\\\xc3\"@x.test>"), 0, MAE_8BIT, NO_ADDR},

    /* with SMTPUTF8 (RFC 6531): UTF-8 local parts, U-labels kept as A-labels */
    {"utf8 local", B("<jos\xc3\xa9@exemple.test>"), MA_ALLOW_UTF8, MAE_OK, "jos\xc3\xa9",
     "exemple.test", MA_UTF8, WHOLE},
    {"utf8 domain",
     B("<u@b\xc3\xbc"
       "cher.test>"),
     MA_ALLOW_UTF8, MAE_OK, "u", "xn--bcher-kva.test", MA_UTF8, WHOLE},
    {"utf8 both", B("<\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.test>"),
     MA_ALLOW_UTF8, MAE_OK, "\xe7\x94\xa8\xe6\x88\xb7", "xn--fsqu00a.test", MA_UTF8,
     WHOLE},
    {"utf8 quoted", B("<\"a \xc3\xa9\"@x.test>"), MA_ALLOW_UTF8, MAE_OK, "a \xc3\xa9",
     "x.test", MA_UTF8 | MA_QUOTED, WHOLE},
    {"ascii with utf8 allowed", B("<u@x.test>"), MA_ALLOW_UTF8, MAE_OK, "u", "x.test", 0,
     WHOLE},
    {"utf8 truncated", B("<jos\xc3@x.test>"), MA_ALLOW_UTF8, MAE_SYNTAX, NO_ADDR},
    {"utf8 overlong", B("<\xc0\xafx@x.test>"), MA_ALLOW_UTF8, MAE_SYNTAX, NO_ADDR},
    {"utf8 surrogate", B("<u@\xed\xa0\x80.test>"), MA_ALLOW_UTF8, MAE_DOMAIN, NO_ADDR},
    {"utf8 bad idn", B("<u@\xe2\x98\x83-.test>"), MA_ALLOW_UTF8, MAE_DOMAIN, NO_ADDR},
    {"utf8 route ignored", B("<@r\xc3\xa9.test:u@x.test>"), MA_ALLOW_UTF8, MAE_8BIT,
     NO_ADDR},

    /* RFC 5321 §4.5.3.1: local 64, domain 255, path 256 octets */
    {"local 64", B("<{64*a}@x.test>"), 0, MAE_OK, "{64*a}", "x.test", 0, WHOLE},
    {"local 65", B("<{65*a}@x.test>"), 0, MAE_LOCAL_TOO_LONG, NO_ADDR},
    {"quoted local 64 sent", B("<\"{62*a}\"@x.test>"), 0, MAE_OK, "{62*a}", "x.test",
     MA_QUOTED, WHOLE},
    {"quoted local 65 sent", B("<\"{63*a}\"@x.test>"), 0, MAE_LOCAL_TOO_LONG, NO_ADDR},
    {"quoted local 65 decoded", B("<\"{65*a}\"@x.test>"), 0, MAE_LOCAL_TOO_LONG, NO_ADDR},
    {"escapes count as sent", B("<\"{31*\\\"}\"@x.test>"), 0, MAE_OK, "{31*\"}", "x.test",
     MA_QUOTED, WHOLE},
    {"escapes over 64 sent", B("<\"{32*\\a}\"@x.test>"), 0, MAE_LOCAL_TOO_LONG, NO_ADDR},
    {"label 63", B("<u@{63*a}.test>"), 0, MAE_OK, "u", "{63*a}.test", 0, WHOLE},
    {"label 64", B("<u@{64*a}.test>"), 0, MAE_DOMAIN, NO_ADDR},
    {"domain 252 path 256", B("<u@{63*a}.{63*b}.{63*c}.{60*d}>"), 0, MAE_OK, "u",
     "{63*a}.{63*b}.{63*c}.{60*d}", 0, WHOLE},
    {"domain 253 path 257", B("<u@{63*a}.{63*b}.{63*c}.{61*d}>"), 0, MAE_PATH_TOO_LONG,
     NO_ADDR},
    {"domain 255 path 259", B("<u@{63*a}.{63*b}.{63*c}.{63*d}>"), 0, MAE_PATH_TOO_LONG,
     NO_ADDR},
    {"domain 257", B("<u@{63*a}.{63*b}.{63*c}.{63*d}.e>"), 0, MAE_DOMAIN, NO_ADDR},
    {"local 64 path 256", B("<{64*l}@{63*a}.{63*b}.{61*c}>"), 0, MAE_OK, "{64*l}",
     "{63*a}.{63*b}.{61*c}", 0, WHOLE},
    {"local 64 path 257", B("<{64*l}@{63*a}.{63*b}.{62*c}>"), 0, MAE_PATH_TOO_LONG,
     NO_ADDR},
    {"route counts in path", B("<@r:{64*l}@{63*a}.{63*b}.{61*c}>"), 0, MAE_PATH_TOO_LONG,
     NO_ADDR},
};

static void
test_parse_path(void **state)
{
	for (size_t i = 0; i < NELEM(paths); i++) {
		const struct path_case *c = &paths[i];
		char in[1024], local[128], domain[512];
		size_t len = unit_expand(c->in, c->len, in, sizeof(in));
		size_t used = (size_t)-1;
		struct mailaddr a;
		int err;

		memset(&a, 0x5a, sizeof(a));
		err = mailaddr_parse_path(in, len, c->opts, &a, &used);
		EXPECT_INT(c->name, "error", err, c->want);
		if (c->want != MAE_OK)
			continue;
		unit_expand(c->local, strlen(c->local), local, sizeof(local));
		unit_expand(c->domain, strlen(c->domain), domain, sizeof(domain));
		EXPECT_STR(c->name, "local", a.local, local);
		EXPECT_STR(c->name, "domain", a.domain, domain);
		EXPECT_INT(c->name, "flags", a.flags, c->flags);
		EXPECT_INT(c->name, "consumed", used,
		           c->consumed == WHOLE ? len : c->consumed);
	}
	UNIT_END();
}

/* The path ends at its '>': a '>' inside quotes is not the end. */
static void
test_parse_path_stops_at_close(void **state)
{
	static const char in[] = "<\"a>b\"@x.test>rest";
	struct mailaddr a;
	size_t used = 0, scratch;

	assert_int_equal(mailaddr_parse_path(in, sizeof(in) - 1, 0, &a, &used), MAE_OK);
	assert_int_equal(used, sizeof("<\"a>b\"@x.test>") - 1);
	/* A length that cuts the path short is an error, never an overread. */
	for (size_t n = 0; n < used; n++)
		assert_int_not_equal(mailaddr_parse_path(in, n, 0, &a, &scratch), MAE_OK);
}

struct fmt_case {
	const char *name;
	const char *in;
	size_t len;
	unsigned opts;
	const char *want;
};

static const struct fmt_case fmts[] = {
    {"plain", B("<user@x.test>"), 0, "user@x.test"},
    {"case kept", B("<User@X.Test>"), 0, "User@X.Test"},
    {"null", B("<>"), ANY_NULL, ""},
    {"postmaster", B("<postmaster>"), ANY_NODOM, "postmaster"},
    {"bang path", B("<a!b>"), ANY_NODOM, "a!b"},
    {"route dropped", B("<@r.test,@s.test:u@x.test>"), 0, "u@x.test"},
    {"literal", B("<u@[192.0.2.1]>"), 0, "u@[192.0.2.1]"},
    {"IPv6 literal", B("<u@[IPv6:2001:db8::1]>"), 0, "u@[IPv6:2001:db8::1]"},
    {"needless quotes dropped", B("<\"a.b\"@x.test>"), 0, "a.b@x.test"},
    {"needless escapes dropped", B("<\"\\a\\b\"@x.test>"), 0, "ab@x.test"},
    {"space stays quoted", B("<\"john doe\"@x.test>"), 0, "\"john doe\"@x.test"},
    {"double dot stays quoted", B("<\"a..b\"@x.test>"), 0, "\"a..b\"@x.test"},
    {"leading dot stays quoted", B("<\".a\"@x.test>"), 0, "\".a\"@x.test"},
    {"quote escaped", B("<\"a\\\"b\"@x.test>"), 0, "\"a\\\"b\"@x.test"},
    {"backslash escaped", B("<\"a\\\\b\"@x.test>"), 0, "\"a\\\\b\"@x.test"},
    {"quoted at stays quoted", B("<\"u@o.test\"@x.test>"), 0, "\"u@o.test\"@x.test"},
    {"percent unquoted", B("<u%o.test@x.test>"), 0, "u%o.test@x.test"},
    {"all quotes", B("<\"{31*\\\"}\"@x.test>"), 0, "\"{31*\\\"}\"@x.test"},
};

/* Formatting gives the expected text, and that text parses back to the same
 * mailbox: what moat writes to the queue means what the client sent. */
static void
test_format_round_trip(void **state)
{
	for (size_t i = 0; i < NELEM(fmts); i++) {
		const struct fmt_case *c = &fmts[i];
		char in[512], want[512], buf[MAILADDR_FMT_MAX],
		    again[MAILADDR_FMT_MAX + 2];
		size_t len = unit_expand(c->in, c->len, in, sizeof(in));
		size_t wlen = unit_expand(c->want, strlen(c->want), want, sizeof(want));
		struct mailaddr a, b;
		size_t used, n;
		int err;

		if ((err = mailaddr_parse_path(in, len, c->opts, &a, &used)) != MAE_OK) {
			UNIT_FAIL("%s: parse error %d", c->name, err);
			continue;
		}
		n = mailaddr_format(&a, buf, sizeof(buf));
		EXPECT_MEM(c->name, "formatted", buf, strlen(buf), want, wlen);
		EXPECT_INT(c->name, "returned length", n, wlen);

		snprintf(again, sizeof(again), "<%s>", buf);
		err = mailaddr_parse_path(again, strlen(again), c->opts, &b, &used);
		if (err != MAE_OK) {
			UNIT_FAIL("%s: reparse error %d", c->name, err);
			continue;
		}
		EXPECT_STR(c->name, "reparsed local", b.local, a.local);
		EXPECT_STR(c->name, "reparsed domain", b.domain, a.domain);
		/* The relay decision's flags survive; only the route and the
		 * quoting style may change. */
		EXPECT_INT(c->name, "reparsed flags", b.flags & ~(MA_ROUTE | MA_QUOTED),
		           a.flags & ~(MA_ROUTE | MA_QUOTED));
	}
	UNIT_END();
}

/* The worst case (every local octet escaped, longest domain) fits
 * MAILADDR_FMT_MAX, and a short buffer truncates like snprintf. */
static void
test_format_bounds(void **state)
{
	struct mailaddr a;
	char buf[MAILADDR_FMT_MAX], small[5];

	memset(&a, 0, sizeof(a));
	memset(a.local, '"', MAILADDR_LOCAL_MAX);
	memset(a.domain, 'd', MAILADDR_DOMAIN_MAX);
	assert_int_equal(mailaddr_format(&a, buf, sizeof(buf)),
	                 2 * MAILADDR_LOCAL_MAX + 2 + 1 + MAILADDR_DOMAIN_MAX);
	assert_int_equal(strlen(buf),
	                 2 * MAILADDR_LOCAL_MAX + 2 + 1 + MAILADDR_DOMAIN_MAX);
	assert_memory_equal(buf, "\"\\\"\\\"", 5);
	assert_string_equal(buf + strlen(buf) - 3, "ddd");

	memset(&a, 0, sizeof(a));
	strlcpy(a.local, "user", sizeof(a.local));
	strlcpy(a.domain, "x.test", sizeof(a.domain));
	assert_int_equal(mailaddr_format(&a, small, sizeof(small)),
	                 strlen("user@x.test"));
	assert_string_equal(small, "user");
	a.flags = MA_NULL;
	assert_int_equal(mailaddr_format(&a, small, sizeof(small)), 0);
	assert_string_equal(small, "");
}

struct bytes_case {
	const char *name;
	const char *in;
	size_t len;
	int want;
};

static const struct bytes_case domains[] = {
    {"one label", B("x"), 1},
    {"two labels", B("x.test"), 1},
    {"hyphen inside", B("a-b.test"), 1},
    {"double hyphen", B("xn--bcher-kva.test"), 1},
    {"digits", B("1.2.3.4"), 1},
    {"upper case", B("EXAMPLE.TEST"), 1},
    {"empty", B(""), 0},
    {"dot", B("."), 0},
    {"leading dot", B(".x"), 0},
    {"trailing dot", B("x."), 0},
    {"double dot", B("x..test"), 0},
    {"leading hyphen", B("-x.test"), 0},
    {"trailing hyphen", B("x-"), 0},
    {"label ends in hyphen", B("x-.test"), 0},
    {"label starts with hyphen", B("x.-test"), 0},
    {"underscore", B("a_b.test"), 0},
    {"space", B("a b"), 0},
    {"literal", B("[192.0.2.1]"), 0},
    {"NUL", B("a\0b"), 0},
    {"8-bit",
     B("b\xc3\xbc"
       "cher.test"),
     0},
    {"label 63", B("{63*a}.test"), 1},
    {"label 64", B("{64*a}.test"), 0},
    {"total 255", B("{63*a}.{63*b}.{63*c}.{63*d}"), 1},
    {"total 256", B("{63*a}.{63*b}.{63*c}.{62*d}.e"), 0},
};

static void
test_domain_valid(void **state)
{
	for (size_t i = 0; i < NELEM(domains); i++) {
		char in[512];
		size_t len = unit_expand(domains[i].in, domains[i].len, in, sizeof(in));
		EXPECT_INT(domains[i].name, "domain_valid", domain_valid(in, len),
		           domains[i].want);
	}
	UNIT_END();
	/* The length is obeyed, not a NUL: "x." cut to "x" is valid. */
	assert_int_equal(domain_valid("x.", 1), 1);
	assert_int_equal(domain_valid("x-y", 2), 0);
}

static const struct bytes_case locals[] = {
    {"atom", B("user"), 1},
    {"dotted", B("first.last"), 1},
    {"specials", B("!#$%&'*+-/=?^_`{|}~"), 1},
    {"empty", B(""), 0},
    {"leading dot", B(".user"), 0},
    {"trailing dot", B("user."), 0},
    {"double dot", B("us..er"), 0},
    {"space", B("us er"), 0},
    {"quote", B("us\"er"), 0},
    {"at", B("us@er"), 0},
    {"backslash", B("us\\er"), 0},
    {"angle", B("us>er"), 0},
    {"NUL", B("us\0er"), 0},
    {"UTF-8", B("jos\xc3\xa9"), 1},
    {"bad UTF-8", B("jos\xc3"), 0},
    {"overlong", B("\xc0\xaf"), 0},
    {"surrogate", B("\xed\xa0\x80"), 0},
};

static void
test_local_is_dotstring(void **state)
{
	for (size_t i = 0; i < NELEM(locals); i++)
		EXPECT_INT(locals[i].name, "local_is_dotstring",
		           local_is_dotstring(locals[i].in, locals[i].len),
		           locals[i].want);
	UNIT_END();
}

static void
test_postmaster_and_strerror(void **state)
{
	struct mailaddr a;

	memset(&a, 0, sizeof(a));
	strlcpy(a.local, "pOsTmAsTeR", sizeof(a.local));
	assert_true(mailaddr_is_postmaster(&a));
	strlcpy(a.local, "postmaster2", sizeof(a.local));
	assert_false(mailaddr_is_postmaster(&a));

	/* Every error has its own text; the session quotes it to the client. */
	for (int e = MAE_OK; e <= MAE_NULL; e++) {
		assert_string_not_equal(mailaddr_strerror(e), "unknown error");
		for (int f = MAE_OK; f < e; f++)
			assert_string_not_equal(mailaddr_strerror(e),
			                        mailaddr_strerror(f));
	}
	assert_string_equal(mailaddr_strerror(-1), "unknown error");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_path),
	    cmocka_unit_test(test_parse_path_stops_at_close),
	    cmocka_unit_test(test_format_round_trip),
	    cmocka_unit_test(test_format_bounds),
	    cmocka_unit_test(test_domain_valid),
	    cmocka_unit_test(test_local_is_dotstring),
	    cmocka_unit_test(test_postmaster_and_strerror),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
