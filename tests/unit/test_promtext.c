/* SPDX-License-Identifier: ISC */
/*
 * test_promtext.c - the Prometheus text format of src/metrics/: label
 * values escaped (backslash, double quote, line feed; never half an escape
 * when cut), scaled integers as exact decimals, histograms made cumulative
 * with +Inf, _sum and _count, and a whole rendering of stored counters
 * (labelled, histogram, "stat:" and gauges; malformed keys left out).
 */
#include "metrics/metrics.h"
#include "metrics/promtext.h"
#include "unit.h"

struct escape_case {
	const char *name, *in;
	size_t dstsz;
	const char *want;
};

static const struct escape_case escapes[] = {
    {"plain", "access-list", 64, "access-list"},
    {"empty", "", 64, ""},
    {"quote", "say \"hi\"", 64, "say \\\"hi\\\""},
    {"backslash", "a\\b", 64, "a\\\\b"},
    {"line feed", "a\nb", 64, "a\\nb"},
    {"all three", "\\\"\n", 64, "\\\\\\\"\\n"},
    {"utf-8 kept", "caf\xc3\xa9", 64, "caf\xc3\xa9"},
    {"controls become ?",
     "a\rb\tc\x01"
     "d\x7f",
     64, "a?b?c?d?"},
    {"cut before an escape", "ab\"c", 4, "ab"},
    {"cut at the end", "abcdef", 4, "abc"},
    {"escape fits exactly", "a\"", 4, "a\\\""},
    {"one octet", "abc", 1, ""},
};

static void
test_escape_label(void **state)
{
	for (size_t i = 0; i < NELEM(escapes); i++) {
		const struct escape_case *c = &escapes[i];
		char out[64];
		size_t n = promtext_escape_label(out, c->dstsz, c->in);
		EXPECT_STR(c->name, "escaped", out, c->want);
		EXPECT_INT(c->name, "length", n, strlen(c->want));
	}
	UNIT_END();
}

struct value_case {
	int64_t v, scale;
	const char *want;
};

static const struct value_case values[] = {
    {0, 1, "0"},
    {42, 1, "42"},
    {-7, 1, "-7"},
    {0, 1000000, "0"},
    {500, 1000000, "0.0005"},
    {1500, 1000000, "0.0015"},
    {2500000, 1000000, "2.5"},
    {10000000, 1000000, "10"},
    {1, 1000000, "0.000001"},
    {-2500000, 1000000, "-2.5"},
    {123456789, 1000, "123456.789"},
    {INT64_MAX, 1, "9223372036854775807"},
};

static void
test_value(void **state)
{
	for (size_t i = 0; i < NELEM(values); i++) {
		char row[64], out[PROMTEXT_VALUE_MAX];
		snprintf(row, sizeof(row), "%lld/%lld", (long long)values[i].v,
		         (long long)values[i].scale);
		EXPECT_STR(row, "value",
		           promtext_value(out, sizeof(out), values[i].v, values[i].scale),
		           values[i].want);
	}
	UNIT_END();
}

static void
test_histogram(void **state)
{
	static const int64_t bounds[] = {1000, 5000, 1000000};
	/* 2 at or below 1 ms, 0 to 5 ms, 3 to 1 s, 1 above */
	static const uint64_t counts[] = {2, 0, 3, 1};
	struct promtext pt;

	promtext_init(&pt);
	promtext_histogram(&pt, "moat_x_seconds", bounds, 3, counts, 4501000, 1000000);
	EXPECT_STR("histogram", "text", pt.buf,
	           "moat_x_seconds_bucket{le=\"0.001\"} 2\n"
	           "moat_x_seconds_bucket{le=\"0.005\"} 2\n"
	           "moat_x_seconds_bucket{le=\"1\"} 5\n"
	           "moat_x_seconds_bucket{le=\"+Inf\"} 6\n"
	           "moat_x_seconds_sum 4.501\n"
	           "moat_x_seconds_count 6\n");
	promtext_free(&pt);

	static const uint64_t none[] = {0, 0, 0, 0};
	promtext_init(&pt);
	promtext_histogram(&pt, "moat_y", bounds, 3, none, 0, 1);
	EXPECT_STR("empty histogram", "text", pt.buf,
	           "moat_y_bucket{le=\"1000\"} 0\n"
	           "moat_y_bucket{le=\"5000\"} 0\n"
	           "moat_y_bucket{le=\"1000000\"} 0\n"
	           "moat_y_bucket{le=\"+Inf\"} 0\n"
	           "moat_y_sum 0\n"
	           "moat_y_count 0\n");
	promtext_free(&pt);
	UNIT_END();
}

static void
test_family(void **state)
{
	struct promtext pt;

	promtext_init(&pt);
	promtext_family(&pt, "moat_a_total", "counter", "a \\ b\nc");
	EXPECT_STR("family", "text", pt.buf,
	           "# HELP moat_a_total a \\\\ b\\nc\n# TYPE moat_a_total counter\n");
	promtext_free(&pt);
	UNIT_END();
}

/* grow - a long output grows the buffer and keeps everything */
static void
test_grow(void **state)
{
	struct promtext pt;

	promtext_init(&pt);
	for (int i = 0; i < 2000; i++)
		promtext_printf(&pt, "line %04d\n", i);
	EXPECT_INT("grow", "length", pt.len, 2000 * 10);
	EXPECT_INT("grow", "strlen", strlen(pt.buf), 2000 * 10);
	EXPECT_MEM("grow", "last line", pt.buf + pt.len - 10, 10, "line 1999\n", 10);
	promtext_free(&pt);
	UNIT_END();
}

/* has - the rendering holds this line */
static void
expect_line(const char *text, const char *line, int want)
{
	const char *p = text;
	size_t n = strlen(line);
	int found = 0;

	while ((p = strstr(p, line)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[n] == '\n') {
			found = 1;
			break;
		}
		p += n;
	}
	if (found != want)
		UNIT_FAIL("render: line \"%s\" %s", line, want ? "missing" : "present");
}

static void
test_render(void **state)
{
	struct metrics_snapshot s;
	struct promtext pt;

	memset(&s, 0, sizeof(s));
	metrics_snapshot_add(&s, "stat:messages", 7);
	metrics_snapshot_add(&s, "stat:sessions", 9);
	metrics_snapshot_add(
	    &s, "metric:moat_sessions_refused_total{stage=\"connect\",rule=\"ban\"}", 2);
	metrics_snapshot_add(
	    &s, "metric:moat_deliveries_total{transport=\"maildir\",result=\"sent\"}", 5);
	/* commit latency: 0.4 ms, 0.4 ms and 3 ms, in the per-bucket form */
	metrics_snapshot_add(&s, "metric:moat_commit_duration_seconds:0", 2);
	metrics_snapshot_add(&s, "metric:moat_commit_duration_seconds:3", 1);
	metrics_snapshot_add(&s, "metric:moat_commit_duration_seconds:sum", 3800);
	/* what a shared store might hold and must not reach the page */
	metrics_snapshot_add(&s, "metric:moat_deliveries_total{broken", 1);
	metrics_snapshot_add(&s, "metric:moat_deliveries_total{a=\"\n\"}", 1);
	/* a control octet in a stored value (fuzz_metrics found a CR passed) */
	metrics_snapshot_add(&s, "metric:moat_deliveries_total{transport=\"a\r\"}", 1);
	metrics_snapshot_add(&s, "metric:moat_commit_duration_seconds:99", 1);
	metrics_snapshot_add(&s, "metric:unknown_total", 1);
	metrics_snapshot_add(&s, "other:x", 1);
	metrics_snapshot_add(&s, "stat:negative", -5);
	s.gauges[M_QUEUE_MESSAGES] = 3;
	s.gauges[M_BANS] = 1;

	promtext_init(&pt);
	metrics_render(&s, &pt);
	expect_line(pt.buf, "# TYPE moat_messages_accepted_total counter", 1);
	expect_line(pt.buf, "moat_messages_accepted_total 7", 1);
	expect_line(pt.buf, "moat_sessions_accepted_total 9", 1);
	expect_line(pt.buf, "moat_attack_bans_total 0", 1);
	expect_line(pt.buf,
	            "moat_sessions_refused_total{stage=\"connect\",rule=\"ban\"} 2", 1);
	expect_line(pt.buf,
	            "moat_deliveries_total{transport=\"maildir\",result=\"sent\"} 5", 1);
	expect_line(pt.buf, "moat_deliveries_total{broken 1", 0);
	if (strchr(pt.buf, '\r') != NULL)
		UNIT_FAIL("render: %s", "a stored CR reached the page");
	expect_line(pt.buf, "# TYPE moat_commit_duration_seconds histogram", 1);
	expect_line(pt.buf, "moat_commit_duration_seconds_bucket{le=\"0.0005\"} 2", 1);
	expect_line(pt.buf, "moat_commit_duration_seconds_bucket{le=\"0.0025\"} 2", 1);
	expect_line(pt.buf, "moat_commit_duration_seconds_bucket{le=\"0.005\"} 3", 1);
	expect_line(pt.buf, "moat_commit_duration_seconds_bucket{le=\"+Inf\"} 3", 1);
	expect_line(pt.buf, "moat_commit_duration_seconds_sum 0.0038", 1);
	expect_line(pt.buf, "moat_commit_duration_seconds_count 3", 1);
	expect_line(pt.buf, "moat_queue_messages 3", 1);
	expect_line(pt.buf, "moat_bans 1", 1);
	expect_line(pt.buf, "moat_stress 0", 1);
	if (strstr(pt.buf, "unknown_total") != NULL || strstr(pt.buf, "other:") != NULL)
		UNIT_FAIL("render: %s", "an unknown key reached the page");
	/* every family once, in table order */
	for (size_t m = 0; m < M_N; m++) {
		char line[200];
		snprintf(line, sizeof(line), "# TYPE %s ", metric_families[m].name);
		const char *p = strstr(pt.buf, line);
		if (p == NULL || strstr(p + 1, line) != NULL)
			UNIT_FAIL("render: %s not exactly once", metric_families[m].name);
	}
	promtext_free(&pt);
	metrics_snapshot_free(&s);
	UNIT_END();
}

/* the table: counters end in _total, others do not; histograms have buckets */
static void
test_table(void **state)
{
	for (size_t m = 0; m < M_N; m++) {
		const struct metric_family *f = &metric_families[m];
		size_t n = strlen(f->name);
		int total = n > 6 && strcmp(f->name + n - 6, "_total") == 0;
		EXPECT_INT(f->name, "ends in _total", total, f->type == MT_COUNTER);
		EXPECT_INT(f->name, "moat_ prefix", strncmp(f->name, "moat_", 5), 0);
		if (f->type == MT_HISTOGRAM) {
			EXPECT_INT(f->name, "has buckets", f->nbounds > 0, 1);
			for (size_t i = 1; i < f->nbounds; i++)
				EXPECT_INT(f->name, "ascending",
				           f->bounds[i] > f->bounds[i - 1], 1);
		}
		if (f->source == MS_STAT)
			EXPECT_INT(f->name, "names its stat", f->stat != NULL, 1);
	}
	UNIT_END();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_escape_label), cmocka_unit_test(test_value),
	    cmocka_unit_test(test_histogram),    cmocka_unit_test(test_family),
	    cmocka_unit_test(test_grow),         cmocka_unit_test(test_render),
	    cmocka_unit_test(test_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
