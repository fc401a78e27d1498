/* SPDX-License-Identifier: ISC */
/*
 * metrics.h - moat's metrics: every family in one table (metrics_table.c),
 * what the processes count (metrics_record.c), and the exposition that the
 * control process serves on metrics_listen (metrics_render.c).
 *
 * Counting is cheap and local: metrics_count() and metrics_observe() add
 * to this process's own counters; once a second, on the same timer as the
 * "stat:NAME" counters, store_metrics_flush() adds what each one gained to
 * the store's "metric:..." counters (store_counter_flush). So the numbers are
 * the sum over every worker, every generation since the store was made:
 * they survive a reload (SIGHUP) and a restart (the store is on disk, or
 * Redis), and a crash loses at most the last second's counts.
 *
 * Store keys: a labelled counter is "metric:NAME{LABELS}" (LABELS as they
 * appear in the exposition, escaped once when counted); a histogram is
 * "metric:NAME:I" (the count of bucket I, not cumulative; I = nbounds for
 * above the last bound) and "metric:NAME:sum" (in 1/scale units).
 */
#ifndef MOAT_METRICS_H
#define MOAT_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct promtext;

enum metric_type { MT_COUNTER, MT_GAUGE, MT_HISTOGRAM };

/* Where a family's numbers come from. */
enum metric_source {
	MS_RECORDED, /* metrics_count() / metrics_observe(): "metric:" keys */
	MS_STAT,     /* a "stat:NAME" counter of moatctl stats */
	MS_GAUGE     /* read by the control process when it is scraped */
};

enum metric {
	M_SESSIONS_OPEN = 0,
	M_SESSIONS_ACCEPTED,
	M_SESSIONS_REFUSED,
	M_SESSIONS_PREEMPTED,
	M_SCREEN_VERDICTS,
	M_RCPTS_REJECTED,
	M_MESSAGES_ACCEPTED,
	M_MESSAGE_SIZE,
	M_COMMIT_SECONDS,
	M_DELIVERIES,
	M_DELIVERIES_TLS,
	M_MTA_STS_LOOKUPS,
	M_MTA_STS_FAILURES,
	M_QUEUE_MESSAGES,
	M_QUEUE_OLDEST,
	M_DNS_SECONDS,
	M_STORE_SECONDS,
	M_STORE_ALARMS,
	M_BANS,
	M_STRESS,
	M_STRESS_EPISODES,
	M_ATTACK_HITS,
	M_ATTACK_BANS,
	M_N
};

#define METRIC_LABELS_MAX 3
#define METRIC_BOUNDS_MAX 16

struct metric_family {
	const char *name; /* counters end in _total, as the format asks */
	enum metric_type type;
	enum metric_source source;
	const char *help;
	const char *stat;                      /* MS_STAT: NAME of "stat:NAME" */
	const char *labels[METRIC_LABELS_MAX]; /* MS_RECORDED counters; NULL ends */
	const int64_t *bounds;                 /* histograms: upper bounds ... */
	size_t nbounds;                        /* ... ascending, in 1/scale */
	int64_t scale;                         /* 1 (octets) or 1000000 (seconds) */
};

extern const struct metric_family metric_families[M_N];

/* ---- counting, in the SMTP workers and the queue runner ---- */

/*
 * metrics_count - add 1 to a labelled counter; values has one string per
 * label of the family (a NULL value is counted as "none"). Values longer
 * than METRIC_VALUE_MAX octets are cut.
 */
#define METRIC_VALUE_MAX 64
void metrics_count(enum metric m, const char *const *values);
/* metrics_observe - one observation of a histogram, in its 1/scale units */
void metrics_observe(enum metric m, int64_t v);
/*
 * metrics_flush - fn(key, count, sent, arg) for every counter: the store
 * adds count - *sent to key and moves *sent (store_metrics_flush() in
 * store.c, which sits above this folder). sent stays valid for the
 * process's life.
 */
typedef void metrics_flush_fn(const char *key, uint64_t count, uint64_t *sent, void *arg);
void metrics_flush(metrics_flush_fn *fn, void *arg);

/* ---- the exposition, in the control process ---- */

/* What the control process gathered for one scrape. */
struct metrics_snapshot {
	/* "stat:" and "metric:" entries: key without its prefix, and value */
	struct metrics_entry {
		char *key;
		int64_t value;
		int stat; /* from "stat:" (1) or "metric:" (0) */
	} * entries;
	size_t nentries, cap;
	int64_t gauges[M_N]; /* MS_GAUGE families */
};

/* metrics_snapshot_add - one stored counter (prefix "stat:" or "metric:") */
void metrics_snapshot_add(struct metrics_snapshot *s, const char *key, int64_t value);
void metrics_snapshot_free(struct metrics_snapshot *s);
/* metrics_render - the whole exposition of s into pt */
void metrics_render(struct metrics_snapshot *s, struct promtext *pt);

#endif
