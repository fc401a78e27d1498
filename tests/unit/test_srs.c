/* SPDX-License-Identifier: ISC */
/*
 * test_srs.c - SRS addresses (src/common/srs.c), against what postsrsd
 * 1.10 (Debian's) wrote with the same secret on the same day.
 *
 * Forward: SRS0 for an ordinary sender, SRS1 for an SRS0 or SRS1 one,
 * nothing for the null sender or our own domain. Reverse: each of those
 * undone, in any case, with the older secret too; refused when a byte of
 * the hash or the address changed, when the day is older than max_age,
 * or when the form is broken. The separators '+' and '-' round-trip.
 */
#include <time.h>

#include "common/srs.h"
#include "unit.h"

#define NOW ((time_t)1796644744) /* day stamp J2 */

static char sec0[] = "t0ps3cret", sec1[] = "oldsecret";
static struct srs srs = {.domain = "srs.example.org",
                         .sep = '=',
                         .max_age = SRS_MAX_AGE,
                         .nsecrets = 1,
                         .secrets = {sec0}};

static void
test_srs_forward(void **state)
{
	static const struct {
		const char *in, *out;
	} rows[] = {
	    /* postsrsd's own answers */
	    {"alice@remote.test", "SRS0=0YZL=J2=remote.test=alice@srs.example.org"},
	    {"Bob.Smith@Remote.Test",
	     "SRS0=jB8C=J2=Remote.Test=Bob.Smith@srs.example.org"},
	    {"SRS0=abcd=AB=other.test=carol@relay.test",
	     "SRS1=NtjP=relay.test==abcd=AB=other.test=carol@srs.example.org"},
	};
	char out[512];

	for (size_t i = 0; i < NELEM(rows); i++) {
		EXPECT_INT(rows[i].in, "result",
		           srs_forward(&srs, rows[i].in, NOW, out, sizeof(out)), SRS_OK);
		EXPECT_STR(rows[i].in, "address", out, rows[i].out);
	}
	/* an SRS1 sender keeps its first host and what that one rewrote */
	EXPECT_INT("srs1", "result",
	           srs_forward(&srs,
	                       "SRS1=NtjP=relay.test==abcd=AB=other.test=carol@mid.test",
	                       NOW, out, sizeof(out)),
	           SRS_OK);
	EXPECT_INT("srs1", "prefix", strncmp(out, "SRS1=", 5), 0);
	EXPECT_INT(
	    "srs1", "rest",
	    strcmp(out + 9, "=relay.test==abcd=AB=other.test=carol@srs.example.org"), 0);
	EXPECT_INT("null sender", "result", srs_forward(&srs, "", NOW, out, sizeof(out)),
	           SRS_NOT);
	EXPECT_INT("own domain", "result",
	           srs_forward(&srs, "x@SRS.example.org", NOW, out, sizeof(out)),
	           SRS_NOT);
	EXPECT_INT("no domain", "result",
	           srs_forward(&srs, "postmaster", NOW, out, sizeof(out)), SRS_NOT);
	EXPECT_INT("small", "result",
	           srs_forward(&srs, "alice@remote.test", NOW, out, 20), SRS_TOO_LONG);
	UNIT_END();
}

static void
test_srs_reverse(void **state)
{
	static const struct {
		const char *in, *out;
	} rows[] = {
	    {"SRS0=0YZL=J2=remote.test=alice", "alice@remote.test"},
	    {"srs0=0yzl=j2=remote.test=alice", "alice@remote.test"}, /* lower-cased */
	    {"SRS0=jB8C=J2=Remote.Test=Bob.Smith", "Bob.Smith@Remote.Test"},
	    {"SRS1=NtjP=relay.test==abcd=AB=other.test=carol",
	     "SRS0=abcd=AB=other.test=carol@relay.test"},
	};
	char out[512], addr[512], local[512];

	for (size_t i = 0; i < NELEM(rows); i++) {
		EXPECT_INT(rows[i].in, "result",
		           srs_reverse(&srs, rows[i].in, NOW, out, sizeof(out)), SRS_OK);
		EXPECT_STR(rows[i].in, "address", out, rows[i].out);
	}
	/* 21 days later still, 22 days later not */
	EXPECT_INT("21 days", "result",
	           srs_reverse(&srs, rows[0].in, NOW + 21 * 86400, out, sizeof(out)),
	           SRS_OK);
	EXPECT_INT("22 days", "result",
	           srs_reverse(&srs, rows[0].in, NOW + 22 * 86400, out, sizeof(out)),
	           SRS_BAD);
	/* forged: a changed hash, host or user */
	static const char *bad[] = {
	    "SRS0=0YZM=J2=remote.test=alice",
	    "SRS0=0YZL=J2=remote.test=alicf",
	    "SRS0=0YZL=J2=remote.tesu=alice",
	    "SRS0=0YZL=J3=remote.test=alice",
	    "SRS0=0YZ=J2=remote.test=alice",
	    "SRS0=0YZL=J2=remote.test=",
	    "SRS0=0YZL=J2=remote.test",
	    "SRS0=0YZL=J2==alice",
	    "SRS0=0YZL=J!=remote.test=alice",
	    "SRS1=NtjP=relay.test",
	    "SRS1=NtjP=relay.tesu==abcd=AB=other.test=carol",
	};
	for (size_t i = 0; i < NELEM(bad); i++)
		EXPECT_INT(bad[i], "result",
		           srs_reverse(&srs, bad[i], NOW, out, sizeof(out)), SRS_BAD);
	EXPECT_INT("not srs", "result", srs_reverse(&srs, "alice", NOW, out, sizeof(out)),
	           SRS_NOT);
	EXPECT_INT("srs2", "result", srs_reverse(&srs, "SRS2=x=y", NOW, out, sizeof(out)),
	           SRS_NOT);
	/* an address made with the old secret, after a new one came first */
	struct srs old = srs;
	old.secrets[0] = sec1;
	EXPECT_INT("old", "forward",
	           srs_forward(&old, "dave@remote.test", NOW, addr, sizeof(addr)),
	           SRS_OK);
	snprintf(local, sizeof(local), "%.*s", (int)(strrchr(addr, '@') - addr), addr);
	EXPECT_INT("old", "unknown secret",
	           srs_reverse(&srs, local, NOW, out, sizeof(out)), SRS_BAD);
	struct srs both = srs;
	both.secrets[1] = sec1;
	both.nsecrets = 2;
	EXPECT_INT("old", "second secret",
	           srs_reverse(&both, local, NOW, out, sizeof(out)), SRS_OK);
	EXPECT_STR("old", "address", out, "dave@remote.test");
	UNIT_END();
}

static void
test_srs_separators(void **state)
{
	static const char seps[] = {'=', '+', '-'};
	char addr[512], local[512], out[512];

	for (size_t i = 0; i < NELEM(seps); i++) {
		struct srs s = srs;
		char row[8];
		s.sep = seps[i];
		snprintf(row, sizeof(row), "sep %c", seps[i]);
		EXPECT_INT(row, "forward",
		           srs_forward(&s, "a.b=c@x.test", NOW, addr, sizeof(addr)),
		           SRS_OK);
		EXPECT_INT(row, "separator", addr[4], seps[i]);
		snprintf(local, sizeof(local), "%.*s", (int)(strrchr(addr, '@') - addr),
		         addr);
		/* any separator is read back, whatever ours is */
		EXPECT_INT(row, "reverse",
		           srs_reverse(&srs, local, NOW, out, sizeof(out)), SRS_OK);
		EXPECT_STR(row, "address", out, "a.b=c@x.test");
	}
	UNIT_END();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_srs_forward),
	    cmocka_unit_test(test_srs_reverse),
	    cmocka_unit_test(test_srs_separators),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
