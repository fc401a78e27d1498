/* SPDX-License-Identifier: ISC */
/*
 * test_tls_sni.c - tls_sni_match(): which certificate name serves which
 * server_name (src/smtp/tls_sni.c). One table of { pattern, host, want }:
 * exact names, and the wildcard "*.rest" standing for one whole, non-empty
 * left-most label (RFC 6125 section 6.4.3), never two, never none, never
 * part of a label. Both sides arrive lowered; the callback lowers the host.
 */
#include "smtp/tls.h"
#include "unit.h"

struct match_case {
	const char *pattern;
	const char *host;
	int want;
};

static const struct match_case matches[] = {
    /* exact */
    {"mx.example.net", "mx.example.net", 1},
    {"mx.example.net", "mx.example.ne", 0},
    {"mx.example.net", "mx.example.net.", 0},
    {"mx.example.net", "xmx.example.net", 0},
    {"mx.example.net", "", 0},
    {"example.net", "mx.example.net", 0},
    /* a wildcard: one label */
    {"*.example.net", "mx.example.net", 1},
    {"*.example.net", "a-b_c.example.net", 1},
    {"*.example.net", "a.b.example.net", 0},
    {"*.example.net", "example.net", 0},
    {"*.example.net", ".example.net", 0},
    {"*.example.net", "mx.example.org", 0},
    {"*.example.net", "mxexample.net", 0},
    {"*.example.net", "", 0},
    /* only "*." first is a wildcard; another '*' first matches nothing
     * (tls_sni.c does not even load such a name) */
    {"*", "mx", 0},
    {"*", "*", 0},
    {"*example.net", "mx.example.net", 0},
    {"*example.net", "*example.net", 0},
    /* a client that sends the wildcard itself names one label "*" */
    {"*.example.net", "*.example.net", 1},
};

static void
test_tls_sni_match(void **state)
{
	for (size_t i = 0; i < NELEM(matches); i++) {
		const struct match_case *c = &matches[i];
		char name[300];

		snprintf(name, sizeof(name), "%s vs %s", c->pattern, c->host);
		EXPECT_INT(name, "tls_sni_match", tls_sni_match(c->pattern, c->host),
		           c->want);
	}
	UNIT_END();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tls_sni_match),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
