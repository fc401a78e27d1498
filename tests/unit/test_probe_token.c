/* SPDX-License-Identifier: ISC */
/*
 * test_probe_token.c - moat-probe's signed tokens (src/probe/token.c) and
 * the battery's templates (src/probe/catalog.c).
 *
 * Tokens: made with one key, they verify with it and with no other; any
 * changed byte breaks them; token_scan() finds them inside message lines
 * and never reads past the given length. Catalog: every template expands
 * to the address it promises, for a name, an IPv4 and an IPv6 target.
 */
#include <time.h>

#include "probe/catalog.h"
#include "probe/token.h"
#include "unit.h"

static struct token_key key = {.key = "0123456789abcdef0123456789abcdef", .len = 32};
static struct token_key other = {.key = "fedcba9876543210fedcba9876543210", .len = 32};

static void
test_token_roundtrip(void **state)
{
	static const struct {
		const char *name, *id, *target;
	} rows[] = {
	    {"v4", "nmap-01", "192.0.2.7:25"},
	    {"v6", "pct-host-t", "[2001:db8::7]:2525"},
	    {"long id", "route-2hop-iplit-n", "127.0.0.1:65535"},
	};
	for (size_t i = 0; i < NELEM(rows); i++) {
		char tok[TOKEN_MAX];
		struct token t;

		EXPECT_INT(rows[i].name, "make",
		           token_make(&key, rows[i].id, rows[i].target, 1700000000, tok,
		                      sizeof(tok)),
		           0);
		EXPECT_INT(rows[i].name, "verify", token_verify(&key, tok, &t), 0);
		EXPECT_STR(rows[i].name, "id", t.id, rows[i].id);
		EXPECT_STR(rows[i].name, "target", t.target, rows[i].target);
		EXPECT_INT(rows[i].name, "when", t.when, 1700000000);
		EXPECT_INT(rows[i].name, "other key", token_verify(&other, tok, &t), -1);
		/* every single changed byte breaks it */
		for (size_t j = 0; tok[j] != '\0'; j++) {
			char bad[TOKEN_MAX];
			snprintf(bad, sizeof(bad), "%s", tok);
			bad[j] = bad[j] == 'a' ? 'b' : 'a';
			if (token_verify(&key, bad, &t) == 0)
				UNIT_FAIL("%s: byte %zu changed and still verifies",
				          rows[i].name, j);
		}
	}
	UNIT_END();
}

static void
test_token_rejects(void **state)
{
	static const char *const rows[] = {
	    "",
	    "mp1/",
	    "mp1/nmap-01/127.0.0.1:25/1700000000/",
	    "mp1/nmap-01/127.0.0.1:25/1700000000/0123456789abcdef0123456789abcdef",
	    "mp2/nmap-01/127.0.0.1:25/1700000000/0123456789abcdef0123456789abcdef",
	    "mp1/nmap-01/1700000000/0123456789abcdef0123456789abcdef",
	};
	struct token t;

	for (size_t i = 0; i < NELEM(rows); i++)
		EXPECT_INT(rows[i], "verify", token_verify(&key, rows[i], &t), -1);
	UNIT_END();
}

static void
test_token_scan(void **state)
{
	char tok[TOKEN_MAX], line[512], found[TOKEN_MAX];
	size_t pos = 0, n;

	token_make(&key, "bang-t", "127.0.0.1:2525", time(NULL), tok, sizeof(tok));
	snprintf(line, sizeof(line), "Subject: moat-probe relay test %s (again: %s)", tok,
	         tok);
	n = token_scan(line, strlen(line), &pos, found, sizeof(found));
	EXPECT_INT("scan", "length", n, strlen(tok));
	EXPECT_STR("scan", "first", found, tok);
	n = token_scan(line, strlen(line), &pos, found, sizeof(found));
	EXPECT_STR("scan", "second", found, tok);
	n = token_scan(line, strlen(line), &pos, found, sizeof(found));
	EXPECT_INT("scan", "no third", n, 0);
	/* a cut line: the scan stops at len, the half token fails to verify */
	pos = 0;
	n = token_scan(line, 40, &pos, found, sizeof(found));
	EXPECT_INT("cut", "found the piece", n > 0, 1);
	struct token t;
	EXPECT_INT("cut", "piece verifies", token_verify(&key, found, &t), -1);
	/* too long to be ours: skipped, not truncated into a buffer */
	char longline[600];
	memset(longline, 'a', sizeof(longline));
	memcpy(longline, "mp1/", 4);
	pos = 0;
	EXPECT_INT("long", "skipped",
	           token_scan(longline, sizeof(longline), &pos, found, sizeof(found)), 0);
	EXPECT_INT("long", "pos at end", pos, sizeof(longline));
	UNIT_END();
}

static void
test_catalog_expansion(void **state)
{
	struct catalog_params p = {
	    .sender = "moat-probe@probe.test",
	    .rcpt_local = "relaytest",
	    .relay_domain = "relay.test",
	    .relay_literal = "[192.0.2.9]",
	    .srvname = "mx.example.test",
	    .ip_literal = "[127.0.0.1]",
	    .domain = "example.test",
	};
	static const struct {
		const char *id, *from, *to;
	} want[] = {
	    {"nmap-01", "", "relaytest@relay.test"},
	    {"nmap-03", "antispam@mx.example.test", "relaytest@relay.test"},
	    {"nmap-05", "antispam@[127.0.0.1]", "relaytest%relay.test@[127.0.0.1]"},
	    {"nmap-10", "antispam@[127.0.0.1]", "\"relaytest@relay.test\"@[127.0.0.1]"},
	    {"nmap-12", "antispam@[127.0.0.1]", "@[127.0.0.1]:relaytest@relay.test"},
	    {"nmap-16", "antispam@[127.0.0.1]", "relay.test!relaytest@mx.example.test"},
	    {"from-local", "postmaster@example.test", "relaytest@relay.test"},
	    {"from-unqual", "moat-probe", "relaytest@relay.test"},
	    {"pct-local-t", "moat-probe@probe.test", "relaytest%relay.test@example.test"},
	    {"pct-local-n", "", "relaytest%relay.test@example.test"},
	    {"route-2hop-n", "", "@mx.example.test,@example.test:relaytest@relay.test"},
	    {"bang-2hop-t", "moat-probe@probe.test",
	     "mx.example.test!relay.test!relaytest"},
	    {"lit-ext-t", "moat-probe@probe.test", "relaytest@[192.0.2.9]"},
	    {"case-local-n", "", "relaytest%relay.test@EXAMPLE.TEST"},
	    {"dot-host-t", "moat-probe@probe.test",
	     "relaytest%relay.test@mx.example.test."},
	    {"dot-route-n", "", "@example.test.:relaytest@relay.test"},
	};
	struct probe_test *t;
	size_t n = catalog_build(&p, &t);

	EXPECT_INT("battery", "size", n, 92);
	for (size_t i = 0; i < NELEM(want); i++) {
		size_t j;
		for (j = 0; j < n && strcmp(t[j].id, want[i].id) != 0; j++)
			;
		if (j == n) {
			UNIT_FAIL("%s: missing", want[i].id);
			continue;
		}
		EXPECT_STR(want[i].id, "from", t[j].from, want[i].from);
		EXPECT_STR(want[i].id, "to", t[j].to, want[i].to);
	}
	free(t);
	p.pattern = "nmap-*";
	n = catalog_build(&p, &t);
	EXPECT_INT("pattern nmap-*", "size", n, 16);
	free(t);
	p.pattern = "nothing";
	n = catalog_build(&p, &t);
	EXPECT_INT("pattern nothing", "size", n, 0);
	free(t);
	UNIT_END();
}

static void
test_catalog_helpers(void **state)
{
	char buf[64];

	catalog_literal("192.0.2.1", buf, sizeof(buf));
	EXPECT_STR("v4", "literal", buf, "[192.0.2.1]");
	catalog_literal("2001:db8::1", buf, sizeof(buf));
	EXPECT_STR("v6", "literal", buf, "[IPv6:2001:db8::1]");
	EXPECT_INT("small", "literal", catalog_literal("192.0.2.1", buf, 8), -1);
	catalog_domain_of("mx.example.test", buf, sizeof(buf));
	EXPECT_STR("mx", "domain", buf, "example.test");
	catalog_domain_of("example.test", buf, sizeof(buf));
	EXPECT_STR("2 labels", "domain", buf, "example.test");
	catalog_domain_of("localhost", buf, sizeof(buf));
	EXPECT_STR("1 label", "domain", buf, "localhost");
	UNIT_END();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_token_roundtrip),
	    cmocka_unit_test(test_token_rejects),
	    cmocka_unit_test(test_token_scan),
	    cmocka_unit_test(test_catalog_expansion),
	    cmocka_unit_test(test_catalog_helpers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
