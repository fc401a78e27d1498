/* SPDX-License-Identifier: ISC */
/*
 * test_proxyproto.c - what a load balancer tells us about the client:
 * the PROXY header (src/smtp/proxyproto.c) and X-Forwarded-For
 * (src/bait/forwarded.c).
 *
 * PROXY: v1 and v2, good forms give their length, client address and port
 * (or "local": LOCAL, UNKNOWN, AF_UNSPEC); broken ones (bad spacing,
 * fields, ports, families, family lengths, TLVs, versions, commands,
 * over-long) are refused; a header cut anywhere asks for more, and every
 * octet of such a cut start belongs to the header.
 * X-Forwarded-For: the last element, one address, or nothing.
 */
#include <arpa/inet.h>

#include "bait/forwarded.h"
#include "common/netaddr.h"
#include "smtp/proxyproto.h"
#include "unit.h"

static const struct {
	const char *name;
	const char *spec; /* unit_expand()ed */
	size_t speclen;
	long want; /* proxyproto_parse() */
	int local;
	const char *src; /* when want > 0 and !local */
	int port;
	int version;
} rows[] = {
    {"v1 tcp4", B("PROXY TCP4 127.0.0.5 127.0.0.1 40000 25\r\nEHLO x\r\n"), 41, 0,
     "127.0.0.5", 40000, 1},
    {"v1 tcp6", B("PROXY TCP6 2001:db8::5 2001:db8::1 1 65535\r\n"), 44, 0, "2001:db8::5",
     1, 1},
    {"v1 tcp6 mapped", B("PROXY TCP6 ::ffff:127.0.0.5 ::1 0 25\r\n"), 38, 0, "127.0.0.5",
     0, 1},
    {"v1 unknown", B("PROXY UNKNOWN\r\n"), 15, 1, "", 0, 1},
    {"v1 unknown, addresses", B("PROXY UNKNOWN ffff:f::f ffff:f::f 65535 65535\r\n"), 47,
     1, "", 0, 1},
    {"v1 107 octets", B("PROXY UNKNOWN {91*x}\r\n"), 107, 1, "", 0, 1},
    {"v1 108 octets", B("PROXY UNKNOWN {92*x}\r\n"), -1, 0, "", 0, 0},
    {"v1 no CRLF in 107", B("PROXY UNKNOWN {120*x}"), -1, 0, "", 0, 0},
    {"v1 cut", B("PROXY TCP4 127.0.0.5"), 0, 0, "", 0, 0},
    {"v1 cut in PROXY", B("PROX"), 0, 0, "", 0, 0},
    {"v1 cut after CR", B("PROXY UNKNOWN\r"), 0, 0, "", 0, 0},
    {"v1 bare LF", B("PROXY TCP4 127.0.0.5 127.0.0.1 40000 25\nEHLO x\r\n"), -1, 0, "", 0,
     0},
    {"v1 CR without LF", B("PROXY TCP4 127.0.0.5 127.0.0.1 40000 25\rX"), -1, 0, "", 0,
     0},
    {"v1 NUL",
     B("PROXY TCP4 127.0.0.5"
       "\x00"
       " 127.0.0.1 40000 25\r\n"),
     -1, 0, "", 0, 0},
    {"v1 8-bit",
     B("PROXY TCP4 127.0.0.5"
       "\xc3"
       "\xa9"
       " 127.0.0.1 40000 25\r\n"),
     -1, 0, "", 0, 0},
    {"v1 tcp4 with v6", B("PROXY TCP4 ::1 ::1 1 2\r\n"), -1, 0, "", 0, 0},
    {"v1 tcp6 with v4", B("PROXY TCP6 127.0.0.1 127.0.0.1 1 2\r\n"), -1, 0, "", 0, 0},
    {"v1 port too big", B("PROXY TCP4 127.0.0.5 127.0.0.1 65536 25\r\n"), -1, 0, "", 0,
     0},
    {"v1 port leading zero", B("PROXY TCP4 127.0.0.5 127.0.0.1 040000 25\r\n"), -1, 0, "",
     0, 0},
    {"v1 port sign", B("PROXY TCP4 127.0.0.5 127.0.0.1 -1 25\r\n"), -1, 0, "", 0, 0},
    {"v1 two spaces", B("PROXY TCP4  127.0.0.5 127.0.0.1 40000 25\r\n"), -1, 0, "", 0, 0},
    {"v1 seven fields", B("PROXY TCP4 127.0.0.5 127.0.0.1 40000 25 x\r\n"), -1, 0, "", 0,
     0},
    {"v1 five fields", B("PROXY TCP4 127.0.0.5 127.0.0.1 40000\r\n"), -1, 0, "", 0, 0},
    {"v1 trailing space", B("PROXY TCP4 127.0.0.5 127.0.0.1 40000 25 \r\n"), -1, 0, "", 0,
     0},
    {"v1 TCP5", B("PROXY TCP5 127.0.0.5 127.0.0.1 40000 25\r\n"), -1, 0, "", 0, 0},
    {"v1 lower case", B("proxy TCP4 127.0.0.5 127.0.0.1 40000 25\r\n"), -1, 0, "", 0, 0},
    {"v1 no space", B("PROXY\r\n"), -1, 0, "", 0, 0},
    {"smtp", B("EHLO x\r\n"), -1, 0, "", 0, 0},
    {"empty", B(""), 0, 0, "", 0, 0},
    {"v2 tcp4",
     B("\r\n\r\n"
       "\x00"
       "\r\nQUIT\n!"
       "\x11"
       "\x00"
       "\x0c"
       "\x7f"
       "\x00"
       "\x00"
       "\x05"
       "\x7f"
       "\x00"
       "\x00"
       "\x01"
       "\x9c"
       "@"
       "\x00"
       "\x19"
       "EHLO x\r\n"),
     28, 0, "127.0.0.5", 40000, 2},
    {"v2 tcp6",
     B("\r\n\r\n"
       "\x00"
       "\r\nQUIT\n!!"
       "\x00"
       "$ "
       "\x01"
       "\r"
       "\xb8"
       "{11*"
       "\x00"
       "}"
       "\x05"
       " "
       "\x01"
       "\r"
       "\xb8"
       "{11*"
       "\x00"
       "}"
       "\x01"
       "\x9c"
       "A"
       "\x01"
       "\xd1"
       ""),
     52, 0, "2001:db8::5", 40001, 2},
    {"v2 local",
     B("\r\n\r\n"
       "\x00"
       "\r\nQUIT\n "
       "\x00"
       "\x00"
       "\x00"
       ""),
     16, 1, "", 0, 2},
    {"v2 local, addresses",
     B("\r\n\r\n"
       "\x00"
       "\r\nQUIT\n "
       "\x11"
       "\x00"
       "\x0c"
       "\x7f"
       "\x00"
       "\x00"
       "\x05"
       "\x7f"
       "\x00"
       "\x00"
       "\x01"
       "\x9c"
       "@"
       "\x00"
       "\x19"
       ""),
     28, 1, "", 0, 2},
    {"v2 local, any family",
     B("\r\n\r\n"
       "\x00"
       "\r\nQUIT\n 1"
       "\x00"
       "\xd8"
       "{216*x}"),
     232, 1, "", 0, 2},
    {"v2 unspec",
     B("\r\n\r\n"
       "\x00"
       "\r\nQUIT\n!"
       "\x00"
       "\x00"
       "\x00"
       ""),
     16, 1, "", 0, 2},
    {"v2 tcp4, TLVs",
     B("\r\n\r\n"
       "\x00"
       "\r\nQUIT\n!"
       "\x11"
       "\x00"
       "\x14"
       "\x7f"
       "\x00"
       "\x00"
       "\x05"
       "\x7f"
       "\x00"
       "\x00"
       "\x01"
       "\x9c"
       "@"
       "\x00"
       "\x19"
       "\x01"
       "\x00"
       "\x02"
       "h2"
       "\x04"
       "\x00"
       "\x00"
       ""),
     36, 0, "127.0.0.5", 40000, 2},
    {"v2 TLV past end",
     B("\r\n\r\n"
       "\x00"
       "\r\nQUIT\n!"
       "\x11"
       "\x00"
       "\x11"
       "\x7f"
       "\x00"
       "\x00"
       "\x05"
       "\x7f"
       "\x00"
       "\x00"
       "\x01"
       "\x9c"
       "@"
       "\x00"
       "\x19"
       "\x01"
       "\x00"
       "\x05"
       "h2"),
     -1, 0, "", 0, 0},
    {"v2 TLV cut short",
     B("\r\n\r\n"
       "\x00"
       "\r\nQUIT\n!"
       "\x11"
       "\x00"
       "\x0e"
       "\x7f"
       "\x00"
       "\x00"
       "\x05"
       "\x7f"
       "\x00"
       "\x00"
       "\x01"
       "\x9c"
       "@"
       "\x00"
       "\x19"
       "\x01"
       "\x00"
       ""),
     -1, 0, "", 0, 0},
    {"v2 tcp4 short",
     B("\r\n\r\n"
       "\x00"
       "\r\nQUIT\n!"
       "\x11"
       "\x00"
       "\x08"
       "\x7f"
       "\x00"
       "\x00"
       "\x05"
       "\x7f"
       "\x00"
       "\x00"
       "\x01"
       ""),
     -1, 0, "", 0, 0},
    {"v2 tcp6 with v4 length",
     B("\r\n\r\n"
       "\x00"
       "\r\nQUIT\n!!"
       "\x00"
       "\x0c"
       "\x7f"
       "\x00"
       "\x00"
       "\x05"
       "\x7f"
       "\x00"
       "\x00"
       "\x01"
       "\x9c"
       "@"
       "\x00"
       "\x19"
       ""),
     -1, 0, "", 0, 0},
    {"v2 version 1",
     B("\r\n\r\n"
       "\x00"
       "\r\nQUIT\n"
       "\x11"
       "\x11"
       "\x00"
       "\x0c"
       "\x7f"
       "\x00"
       "\x00"
       "\x05"
       "\x7f"
       "\x00"
       "\x00"
       "\x01"
       "\x9c"
       "@"
       "\x00"
       "\x19"
       ""),
     -1, 0, "", 0, 0},
    {"v2 command 2",
     B("\r\n\r\n"
       "\x00"
       "\r\nQUIT\n\""
       "\x11"
       "\x00"
       "\x0c"
       "\x7f"
       "\x00"
       "\x00"
       "\x05"
       "\x7f"
       "\x00"
       "\x00"
       "\x01"
       "\x9c"
       "@"
       "\x00"
       "\x19"
       ""),
     -1, 0, "", 0, 0},
    {"v2 udp",
     B("\r\n\r\n"
       "\x00"
       "\r\nQUIT\n!"
       "\x12"
       "\x00"
       "\x0c"
       "\x7f"
       "\x00"
       "\x00"
       "\x05"
       "\x7f"
       "\x00"
       "\x00"
       "\x01"
       "\x9c"
       "@"
       "\x00"
       "\x19"
       ""),
     -1, 0, "", 0, 0},
    {"v2 unix",
     B("\r\n\r\n"
       "\x00"
       "\r\nQUIT\n!1"
       "\x00"
       "\xd8"
       "{216*x}"),
     -1, 0, "", 0, 0},
    {"v2 inet, unspec protocol",
     B("\r\n\r\n"
       "\x00"
       "\r\nQUIT\n!"
       "\x10"
       "\x00"
       "\x0c"
       "\x7f"
       "\x00"
       "\x00"
       "\x05"
       "\x7f"
       "\x00"
       "\x00"
       "\x01"
       "\x9c"
       "@"
       "\x00"
       "\x19"
       ""),
     -1, 0, "", 0, 0},
    {"v2 too long",
     B("\r\n\r\n"
       "\x00"
       "\r\nQUIT\n!"
       "\x11"
       "\x10"
       "\x00"
       ""),
     -1, 0, "", 0, 0},
    {"v2 longest",
     B("\r\n\r\n"
       "\x00"
       "\r\nQUIT\n!"
       "\x11"
       "\x03"
       "\xf0"
       "\x7f"
       "\x00"
       "\x00"
       "\x05"
       "\x7f"
       "\x00"
       "\x00"
       "\x01"
       "\x9c"
       "@"
       "\x00"
       "\x19"
       "\x04"
       "\x03"
       "\xe1"
       "{993*"
       "\x00"
       "}"),
     1024, 0, "127.0.0.5", 40000, 2},
    {"v2 one past longest",
     B("\r\n\r\n"
       "\x00"
       "\r\nQUIT\n!"
       "\x11"
       "\x03"
       "\xf1"
       "\x7f"
       "\x00"
       "\x00"
       "\x05"
       "\x7f"
       "\x00"
       "\x00"
       "\x01"
       "\x9c"
       "@"
       "\x00"
       "\x19"
       "\x04"
       "\x03"
       "\xe2"
       "{994*"
       "\x00"
       "}"),
     -1, 0, "", 0, 0},
    {"v2 signature only",
     B("\r\n\r\n"
       "\x00"
       "\r\nQUIT\n"),
     0, 0, "", 0, 0},
    {"v2 head only",
     B("\r\n\r\n"
       "\x00"
       "\r\nQUIT\n!"
       "\x11"
       "\x00"
       "\x0c"
       ""),
     0, 0, "", 0, 0},
    {"v2 addresses cut",
     B("\r\n\r\n"
       "\x00"
       "\r\nQUIT\n!"
       "\x11"
       "\x00"
       "\x0c"
       "\x7f"
       "\x00"
       "\x00"
       "\x05"
       "\x7f"
       "\x00"
       ""),
     0, 0, "", 0, 0},
    {"v2 bad signature",
     B("\r\n\r\n"
       "\x00"
       "\r\nQUIT\r!"
       "\x11"
       "\x00"
       "\x0c"
       "\x7f"
       "\x00"
       "\x00"
       "\x05"
       "\x7f"
       "\x00"
       "\x00"
       "\x01"
       "\x9c"
       "@"
       "\x00"
       "\x19"
       ""),
     -1, 0, "", 0, 0},
    {"empty lines", B("\r\n\r\nEHLO x\r\n"), -1, 0, "", 0, 0},
};

static void
test_proxy_header(void **state)
{
	static char in[4096];

	for (size_t i = 0; i < NELEM(rows); i++) {
		size_t n = unit_expand(rows[i].spec, rows[i].speclen, in, sizeof(in));
		struct proxy_header h;
		const char *why = NULL;
		ssize_t got = proxyproto_parse((const uint8_t *)in, n, &h, &why);

		EXPECT_INT(rows[i].name, "length", got, rows[i].want);
		if (got == -1 && (why == NULL || why[0] == '\0'))
			UNIT_FAIL("%s: refused without a reason", rows[i].name);
		if (got <= 0)
			continue;
		EXPECT_INT(rows[i].name, "version", h.version, rows[i].version);
		EXPECT_INT(rows[i].name, "local", h.local, rows[i].local);
		if (!rows[i].local) {
			struct netaddr na;
			char addr[NETADDR_STRLEN];
			EXPECT_INT(rows[i].name, "family",
			           netaddr_from_sockaddr(&na, (struct sockaddr *)&h.src),
			           0);
			EXPECT_STR(rows[i].name, "source",
			           netaddr_str(&na, addr, sizeof(addr)), rows[i].src);
			EXPECT_INT(rows[i].name, "port",
			           netaddr_port((struct sockaddr *)&h.src), rows[i].port);
		}
		/* every cut start of it asks for more: those octets are all
		 * the header's, and a reader may take them */
		for (size_t cut = 0; cut < (size_t)got; cut++)
			EXPECT_INT(rows[i].name, "a cut start",
			           proxyproto_parse((const uint8_t *)in, cut, &h, &why),
			           0);
	}
	UNIT_END();
}

static void
test_forwarded_for(void **state)
{
	static const struct {
		const char *value;
		int rc;
		const char *want;
	} fw[] = {
	    {"127.0.0.5", 0, "127.0.0.5"},
	    {"203.0.113.9, 127.0.0.5", 0, "127.0.0.5"},
	    {"203.0.113.9,127.0.0.6", 0, "127.0.0.6"},
	    {" 127.0.0.5\t", 0, "127.0.0.5"},
	    {"10.0.0.1, 2001:db8::5", 0, "2001:db8::5"},
	    {"::ffff:127.0.0.5", 0, "127.0.0.5"},
	    {"127.0.0.5, ", -1, ""},
	    {"127.0.0.5, unknown", -1, ""},
	    {"[2001:db8::5]", -1, ""},
	    {"127.0.0.5:8080", -1, ""},
	    {"127.0.0.5 127.0.0.6", -1, ""},
	    {"", -1, ""},
	    {"1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa:bbbb", -1, ""},
	};
	char addr[NETADDR_STRLEN];

	for (size_t i = 0; i < NELEM(fw); i++) {
		struct netaddr na;
		int rc = forwarded_last(fw[i].value, &na);
		EXPECT_INT(fw[i].value, "rc", rc, fw[i].rc);
		if (rc == 0)
			EXPECT_STR(fw[i].value, "address",
			           netaddr_str(&na, addr, sizeof(addr)), fw[i].want);
	}
	UNIT_END();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_proxy_header),
	    cmocka_unit_test(test_forwarded_for),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
