/* SPDX-License-Identifier: ISC */
/*
 * test_metrics_record.c - what a process counts (src/metrics/
 * metrics_record.c) and how it reaches the store: the key of a labelled
 * counter (values escaped, NULL as "none", long values cut), the bucket an
 * observation falls in (bounds inclusive, above the last one the +Inf
 * bucket) and the sum, the flush's count/sent pairs (nothing new, nothing
 * sent), the cap on distinct counters ("other" beyond it, no count lost),
 * and the round trip through the store's keys to the rendered page.
 */
#include <inttypes.h>

#include "metrics/metrics.h"
#include "metrics/promtext.h"
#include "unit.h"

/* The store, as the flush sees it: key -> value added so far. */
#define FAKE_MAX 4096
static struct {
	char key[512];
	int64_t value;
} fake[FAKE_MAX];
static size_t nfake, nsent;

static int64_t *
fake_slot(const char *key)
{
	for (size_t i = 0; i < nfake; i++)
		if (strcmp(fake[i].key, key) == 0)
			return &fake[i].value;
	if (nfake == FAKE_MAX)
		fail_msg("fake store full");
	strlcpy(fake[nfake].key, key, sizeof(fake[nfake].key));
	fake[nfake].value = 0;
	return &fake[nfake++].value;
}

/* fake_add - what store_counter_flush() does, answered at once */
static void
fake_add(const char *key, uint64_t count, uint64_t *sent, void *arg)
{
	if (count == *sent)
		return;
	*fake_slot(key) += (int64_t)(count - *sent);
	*sent = count;
	nsent++;
}

static int64_t
stored(const char *key)
{
	for (size_t i = 0; i < nfake; i++)
		if (strcmp(fake[i].key, key) == 0)
			return fake[i].value;
	return -1;
}

struct key_case {
	const char *name;
	const char *values[3];
	const char *want; /* the store key */
};

static void
test_labelled_keys(void **state)
{
	static const struct key_case cases[] = {
	    {"plain",
	     {"maildir", "sent"},
	     "metric:moat_deliveries_total{transport=\"maildir\",result=\"sent\"}"},
	    {"NULL is none",
	     {NULL, "deferred"},
	     "metric:moat_deliveries_total{transport=\"none\",result=\"deferred\"}"},
	    {"escaped",
	     {"a\"b\\c\nd", "x"},
	     "metric:moat_deliveries_total{transport=\"a\\\"b\\\\c\\nd\",result=\"x\"}"},
	    {"cut at 64",
	     {"0123456789012345678901234567890123456789012345678901234567890123456789",
	      "y"},
	     "metric:moat_deliveries_total{transport="
	     "\"0123456789012345678901234567890123456789012345678901234567890123\","
	     "result=\"y\"}"},
	};

	for (size_t i = 0; i < NELEM(cases); i++) {
		metrics_count(M_DELIVERIES, cases[i].values);
		metrics_count(M_DELIVERIES, cases[i].values);
	}
	metrics_flush(fake_add, NULL);
	for (size_t i = 0; i < NELEM(cases); i++)
		EXPECT_INT(cases[i].name, "stored count", stored(cases[i].want), 2);
	/* nothing new: nothing sent */
	size_t before = nsent;
	metrics_flush(fake_add, NULL);
	EXPECT_INT("second flush", "additions", nsent - before, 0);
	/* one more: one addition of 1 */
	metrics_count(M_DELIVERIES, cases[0].values);
	metrics_flush(fake_add, NULL);
	EXPECT_INT("third flush", "additions", nsent - before, 1);
	EXPECT_INT("third flush", "stored", stored(cases[0].want), 3);
	UNIT_END();
}

struct observe_case {
	int64_t v;
	const char *bucket; /* the key that grows */
};

static void
test_histogram_buckets(void **state)
{
	static const struct observe_case cases[] = {
	    {0, "metric:moat_commit_duration_seconds:0"},
	    {500, "metric:moat_commit_duration_seconds:0"},
	    {501, "metric:moat_commit_duration_seconds:1"},
	    {1000, "metric:moat_commit_duration_seconds:1"},
	    {10000000, "metric:moat_commit_duration_seconds:13"},
	    {10000001, "metric:moat_commit_duration_seconds:14"},
	    {INT64_C(999999999999), "metric:moat_commit_duration_seconds:14"},
	};
	int64_t sum = 0;

	for (size_t i = 0; i < NELEM(cases); i++) {
		char row[64];
		snprintf(row, sizeof(row), "%" PRId64, cases[i].v);
		int64_t was = stored(cases[i].bucket);
		metrics_observe(M_COMMIT_SECONDS, cases[i].v);
		sum += cases[i].v;
		metrics_flush(fake_add, NULL);
		EXPECT_INT(row, "bucket", stored(cases[i].bucket),
		           (was < 0 ? 0 : was) + 1);
	}
	EXPECT_INT("sum", "stored", stored("metric:moat_commit_duration_seconds:sum"),
	           sum);
	UNIT_END();
}

/* many distinct rule names: past the cap they count as "other", none lost */
static void
test_cap(void **state)
{
	int64_t total = 0;
	size_t keys = 0;

	for (int i = 0; i < 3000; i++) {
		char rule[32];
		snprintf(rule, sizeof(rule), "rule-%d", i);
		const char *v[] = {"rcpt", rule};
		metrics_count(M_SESSIONS_REFUSED, v);
	}
	metrics_flush(fake_add, NULL);
	for (size_t i = 0; i < nfake; i++)
		if (strncmp(fake[i].key, "metric:moat_sessions_refused_total{", 35) ==
		    0) {
			total += fake[i].value;
			keys++;
		}
	EXPECT_INT("cap", "counted", total, 3000);
	EXPECT_INT("cap", "keys at most 2048 + other", keys <= 2049, 1);
	EXPECT_INT(
	    "cap", "other",
	    stored("metric:moat_sessions_refused_total{stage=\"other\",rule=\"other\"}") >
	        0,
	    1);
	UNIT_END();
}

/* the stored keys, read back as a scrape does, render as the page */
static void
test_round_trip(void **state)
{
	struct metrics_snapshot s;
	struct promtext pt;

	memset(&s, 0, sizeof(s));
	for (size_t i = 0; i < nfake; i++)
		metrics_snapshot_add(&s, fake[i].key, fake[i].value);
	promtext_init(&pt);
	metrics_render(&s, &pt);
	if (strstr(pt.buf,
	           "\nmoat_deliveries_total{transport=\"maildir\",result=\"sent\"} "
	           "3\n") == NULL)
		UNIT_FAIL("round trip: %s", "the maildir deliveries are not on the page");
	if (strstr(pt.buf, "\nmoat_deliveries_total{transport=\"a\\\"b\\\\c\\nd\","
	                   "result=\"x\"} 2\n") == NULL)
		UNIT_FAIL("round trip: %s", "the escaped label is not on the page");
	if (strstr(pt.buf, "\nmoat_commit_duration_seconds_count 7\n") == NULL ||
	    strstr(pt.buf, "\nmoat_commit_duration_seconds_bucket{le=\"0.0005\"} 2\n") ==
	        NULL ||
	    strstr(pt.buf, "\nmoat_commit_duration_seconds_bucket{le=\"10\"} 5\n") ==
	        NULL)
		UNIT_FAIL("round trip: %s", "the histogram is not on the page");
	promtext_free(&pt);
	metrics_snapshot_free(&s);
	UNIT_END();
}

int
main(void)
{
	/* in this order: each test builds on the counters of the one before */
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_labelled_keys),
	    cmocka_unit_test(test_histogram_buckets),
	    cmocka_unit_test(test_cap),
	    cmocka_unit_test(test_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
