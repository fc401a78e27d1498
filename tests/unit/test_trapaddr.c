/* SPDX-License-Identifier: ISC */
/*
 * test_trapaddr.c - trap address mint/verify: round trips (IPv4, IPv6),
 * tampering (every character of every address), wrong secret, expiry,
 * RFC 5321 syntax of what we mint, base32 edge cases.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "bait/trapaddr.h"
#include "common/mailaddr.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static struct trap_secret
secret(unsigned char fill)
{
	struct trap_secret s;
	memset(&s, 0, sizeof(s));
	memset(s.key, fill, 32);
	s.len = 32;
	return s;
}

static const char *ips[] = {"127.0.0.5",   "192.0.2.77",
                            "0.0.0.0",     "255.255.255.255",
                            "2001:db8::1", "2001:db8:ffff:1:2:3:4:5",
                            "::1"};

static void
test_round_trip(void **state)
{
	struct trap_secret s = secret(7);
	time_t t = 1790000000;

	for (size_t i = 0; i < NELEM(ips); i++) {
		struct netaddr h, got;
		time_t when;
		char local[80], buf[200];
		struct mailaddr a;
		size_t used;

		assert_int_equal(netaddr_parse(&h, ips[i]), 0);
		int n = trap_mint(&s, &h, t + (time_t)i * 3600, local, sizeof(local));
		assert_true(n > 0 && n <= MAILADDR_LOCAL_MAX);
		/* valid RFC 5321 syntax, a dot-string, not quoted */
		snprintf(buf, sizeof(buf), "<%s@example.test>", local);
		assert_int_equal(mailaddr_parse_path(buf, strlen(buf), 0, &a, &used),
		                 MAE_OK);
		assert_false(a.flags & MA_QUOTED);
		assert_int_equal(trap_verify(&s, local, 0, t, &got, &when), 1);
		assert_true(netaddr_equal(&h, &got));
		assert_int_equal(when, t + (time_t)i * 3600);
		/* case does not matter (domains and many MTAs fold it) */
		for (char *p = local; *p; p++)
			if (*p >= 'a' && *p <= 'z')
				*p -= 32;
		assert_int_equal(trap_verify(&s, local, 0, t, &got, &when), 1);
	}
}

static void
test_tamper_every_character(void **state)
{
	struct trap_secret s = secret(9);
	const char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
	int forged = 0;

	for (size_t i = 0; i < NELEM(ips); i++) {
		struct netaddr h, got;
		time_t when;
		char local[80], bad[80];
		assert_int_equal(netaddr_parse(&h, ips[i]), 0);
		assert_true(trap_mint(&s, &h, 1790000000, local, sizeof(local)) > 0);
		size_t len = strlen(local);
		for (size_t k = 0; k < len; k++) {
			if (local[k] == '.')
				continue;
			for (size_t c = 0; c < sizeof(alphabet) - 1; c++) {
				if (alphabet[c] == local[k])
					continue;
				memcpy(bad, local, len + 1);
				bad[k] = alphabet[c];
				if (trap_verify(&s, bad, 0, 1790000000, &got, &when) ==
				    1) {
					/* only the padding bits of the last character may
					 * be free */
					assert_int_equal(k, len - 1);
					assert_true(netaddr_equal(&h, &got));
					forged++;
				}
			}
		}
		/* dropped and added characters */
		memcpy(bad, local, len + 1);
		bad[len - 1] = '\0';
		assert_int_equal(trap_verify(&s, bad, 0, 1790000000, &got, &when), 0);
		snprintf(bad, sizeof(bad), "%sa", local);
		assert_int_equal(trap_verify(&s, bad, 0, 1790000000, &got, &when), 0);
	}
	/* base32_decode refuses non-zero padding bits, so no variant passes */
	assert_int_equal(forged, 0);
}

static void
test_wrong_secret_and_plain_names(void **state)
{
	struct trap_secret s = secret(1), other = secret(2);
	struct netaddr h, got;
	time_t when;
	char local[80];
	const char *plain[] = {"alice",
	                       "laura.smith",
	                       "",
	                       ".",
	                       "laura.",
	                       "a.b.c",
	                       "laura.aaaaaaaaaaaaaaaaaaaaaaa",
	                       "x.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};

	assert_int_equal(netaddr_parse(&h, "198.51.100.9"), 0);
	assert_true(trap_mint(&s, &h, 1790000000, local, sizeof(local)) > 0);
	assert_int_equal(trap_verify(&other, local, 0, 1790000000, &got, &when), 0);
	for (size_t i = 0; i < NELEM(plain); i++)
		assert_int_equal(trap_verify(&s, plain[i], 0, 1790000000, &got, &when),
		                 0);
	/* a different first name in front of a genuine code */
	const char *dot = strchr(local, '.');
	char swapped[80];
	snprintf(swapped, sizeof(swapped), "%s%s",
	         strncmp(local, "zoe", 3) ? "zoe" : "tom", dot);
	assert_int_equal(trap_verify(&s, swapped, 0, 1790000000, &got, &when), 0);
}

static void
test_expiry(void **state)
{
	struct trap_secret s = secret(3);
	struct netaddr h, got;
	time_t when, t = 1790000000;
	char local[80];

	assert_int_equal(netaddr_parse(&h, "203.0.113.4"), 0);
	assert_true(trap_mint(&s, &h, t, local, sizeof(local)) > 0);
	assert_int_equal(trap_verify(&s, local, 3600, t + 3000, &got, &when), 1);
	assert_int_equal(trap_verify(&s, local, 3600, t + 7200, &got, &when), 0);
	assert_int_equal(trap_verify(&s, local, 0, t + 86400 * 3650, &got, &when), 1);
}

static void
test_base32(void **state)
{
	struct {
		const char *in, *want; /* RFC 4648 §10 vectors, lower case, no padding */
	} rows[] = {{"", ""},
	            {"f", "my"},
	            {"fo", "mzxq"},
	            {"foo", "mzxw6"},
	            {"foob", "mzxw6yq"},
	            {"fooba", "mzxw6ytb"},
	            {"foobar", "mzxw6ytboi"}};
	char enc[64];
	unsigned char dec[64];

	for (size_t i = 0; i < NELEM(rows); i++) {
		size_t n = strlen(rows[i].in);
		assert_int_equal(
		    base32_encode((const unsigned char *)rows[i].in, n, enc, sizeof(enc)),
		    strlen(rows[i].want));
		assert_string_equal(enc, rows[i].want);
		assert_int_equal(base32_decode(enc, strlen(enc), dec, sizeof(dec)),
		                 (int)n);
		assert_memory_equal(dec, rows[i].in, n);
	}
	assert_int_equal(base32_decode("mz!w6", 5, dec, sizeof(dec)), -1);
	assert_int_equal(base32_decode("m", 1, dec, sizeof(dec)), -1); /* 5 stray bits */
	assert_int_equal(base32_decode("mz", 2, dec, sizeof(dec)),
	                 -1); /* non-zero padding */
	assert_int_equal(base32_decode("mzxw6ytboi", 10, dec, 3), -1); /* too small */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_tamper_every_character),
	    cmocka_unit_test(test_wrong_secret_and_plain_names),
	    cmocka_unit_test(test_expiry),
	    cmocka_unit_test(test_base32),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
