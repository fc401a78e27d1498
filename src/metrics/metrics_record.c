/* SPDX-License-Identifier: ISC */
/*
 * metrics_record.c - this process's share of the recorded metrics: a small
 * hash table of counters by store key, each with what the store has been
 * asked to add so far, flushed once a second (metrics.h).
 *
 * The table is the process's own and lives as long as the process: the
 * store keeps a pointer to each counter's "sent" until it has answered.
 * At most METRICS_KEYS_MAX keys: a label value the table has no room for
 * is counted as rule "other" (logged once), so no stream of new rule names
 * can make a worker hold unbounded memory.
 * SECURITY: label values (rule names, stages) are ours or the
 * administrator's; they are cut to METRIC_VALUE_MAX and escaped before
 * they become part of a key.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "metrics/metrics.h"
#include "metrics/promtext.h"

#define METRICS_KEYS_MAX 2048
#define METRICS_KEY_MAX  400 /* octets of a store key (STORE_KEY_MAX) */
#define METRICS_BUCKETS  256 /* hash chains */

struct mcounter {
	char *key; /* the store key, "metric:..." */
	uint64_t count, sent;
	struct mcounter *next;
};

static struct mcounter *chains[METRICS_BUCKETS];
static size_t ncounters;
static int full_logged;
/* a histogram's counters, found once: [bucket] and [nbounds + 1] = sum */
static struct mcounter *hist[M_N][METRIC_BOUNDS_MAX + 2];

static unsigned
hash(const char *s)
{
	unsigned h = 5381;

	while (*s != '\0')
		h = h * 33 + (unsigned char)*s++;
	return h % METRICS_BUCKETS;
}

/* counter - the counter of key, made on first use; NULL when full (past
 * the cap only with force: the few "other" counters) */
static struct mcounter *
counter(const char *key, int force)
{
	unsigned h = hash(key);
	struct mcounter *c;

	for (c = chains[h]; c != NULL; c = c->next)
		if (strcmp(c->key, key) == 0)
			return c;
	if (ncounters >= METRICS_KEYS_MAX && !force)
		return NULL;
	c = xcalloc(1, sizeof(*c));
	c->key = xstrdup(key);
	c->next = chains[h];
	chains[h] = c;
	ncounters++;
	return c;
}

/* labelled_key - "metric:NAME{l1="v1",...}" with values escaped; other: every
 * value "other" (the table is full) */
static void
labelled_key(char *key, size_t keysz, const struct metric_family *f,
             const char *const *values, int other)
{
	char cut[METRIC_VALUE_MAX + 1], esc[2 * METRIC_VALUE_MAX + 1];
	size_t n = (size_t)snprintf(key, keysz, "metric:%s{", f->name);

	for (size_t i = 0; i < METRIC_LABELS_MAX && f->labels[i] != NULL; i++) {
		const char *v = other ? "other" : values[i] != NULL ? values[i] : "none";
		strlcpy(cut, v, sizeof(cut));
		promtext_escape_label(esc, sizeof(esc), cut);
		if (n < keysz)
			n += (size_t)snprintf(key + n, keysz - n, "%s%s=\"%s\"",
			                      i > 0 ? "," : "", f->labels[i], esc);
	}
	if (n < keysz)
		snprintf(key + n, keysz - n, "}");
}

void
metrics_count(enum metric m, const char *const *values)
{
	const struct metric_family *f = &metric_families[m];
	char key[METRICS_KEY_MAX + 1];
	struct mcounter *c;

	labelled_key(key, sizeof(key), f, values, 0);
	if ((c = counter(key, 0)) == NULL) {
		if (!full_logged) {
			full_logged = 1;
			log_warnx("metrics: more than %d counters; new label values of "
			          "%s are counted as \"other\"",
			          METRICS_KEYS_MAX, f->name);
		}
		/* a family's "other" counter: one, made past the cap */
		labelled_key(key, sizeof(key), f, values, 1);
		c = counter(key, 1);
	}
	c->count++;
}

void
metrics_observe(enum metric m, int64_t v)
{
	const struct metric_family *f = &metric_families[m];
	char key[METRICS_KEY_MAX + 1];
	size_t i;

	for (i = 0; i < f->nbounds && v > f->bounds[i]; i++)
		;
	if (hist[m][i] == NULL) {
		snprintf(key, sizeof(key), "metric:%s:%zu", f->name, i);
		hist[m][i] = counter(key, 1);
	}
	if (hist[m][f->nbounds + 1] == NULL) {
		snprintf(key, sizeof(key), "metric:%s:sum", f->name);
		hist[m][f->nbounds + 1] = counter(key, 1);
	}
	hist[m][i]->count++;
	hist[m][f->nbounds + 1]->count += v > 0 ? (uint64_t)v : 0;
}

void
metrics_flush(metrics_flush_fn *fn, void *arg)
{
	for (size_t h = 0; h < METRICS_BUCKETS; h++)
		for (struct mcounter *c = chains[h]; c != NULL; c = c->next)
			fn(c->key, c->count, &c->sent, arg);
}
