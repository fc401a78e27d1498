/* SPDX-License-Identifier: ISC */
/*
 * test_netaddr.c - netaddr_private(): the address space delivery refuses
 * without relay_to_private (src/deliver/mx.c). One table of { address,
 * want }: this host, loopback, RFC 1918, link-local and unique local space
 * in every spelling netaddr_parse() folds (IPv4-mapped), and the global
 * and documentation space around their edges, which is not private.
 */
#include "common/netaddr.h"
#include "unit.h"

struct private_case {
	const char *addr;
	int want;
};

static const struct private_case privates[] = {
    /* this host: connect() to 0.0.0.0 or :: reaches the local machine */
    {"0.0.0.0", 1},
    {"0.255.255.255", 1},
    {"::", 1},
    /* loopback */
    {"127.0.0.1", 1},
    {"127.255.255.254", 1},
    {"::1", 1},
    {"::ffff:127.0.0.1", 1},
    /* RFC 1918, with their edges */
    {"10.0.0.0", 1},
    {"10.77.0.25", 1},
    {"10.255.255.255", 1},
    {"9.255.255.255", 0},
    {"11.0.0.0", 0},
    {"172.16.0.1", 1},
    {"172.31.255.255", 1},
    {"172.15.255.255", 0},
    {"172.32.0.0", 0},
    {"192.168.1.1", 1},
    {"192.167.255.255", 0},
    {"192.169.0.0", 0},
    {"::ffff:10.1.2.3", 1},
    {"::ffff:192.168.0.1", 1},
    /* link-local */
    {"169.254.169.254", 1},
    {"169.255.0.1", 0},
    {"fe80::1", 1},
    {"febf:ffff::1", 1},
    {"fec0::1", 0},
    /* unique local, and the deprecated IPv4-compatible form */
    {"fc00::1", 1},
    {"fd77::25", 1},
    {"fbff:ffff::1", 0},
    {"fe00::1", 0},
    {"::10.0.0.1", 1},
    /* global and other special space that delivery may reach */
    {"11.22.55.25", 0},
    {"192.0.2.1", 0},
    {"203.0.113.9", 0},
    {"100.64.0.1", 0},
    {"2a01:ffff::25", 0},
    {"2001:db8::1", 0},
    {"::ffff:203.0.113.9", 0},
};

static void
test_netaddr_private(void **state)
{
	for (size_t i = 0; i < NELEM(privates); i++) {
		const struct private_case *c = &privates[i];
		struct netaddr na;

		if (netaddr_parse(&na, c->addr) == -1) {
			UNIT_FAIL("%s: does not parse", c->addr);
			continue;
		}
		EXPECT_INT(c->addr, "netaddr_private", netaddr_private(&na), c->want);
	}
	UNIT_END();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_netaddr_private),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
