/* SPDX-License-Identifier: ISC */
/*
 * metrics_render.c - one scrape's exposition: the families of
 * metrics_table.c in table order, from the counters the control process
 * read from the store (struct metrics_snapshot) and the gauges it
 * measured. Histograms are stored per bucket and made cumulative here.
 * SECURITY: stored keys are ours, but a shared store (Redis) is read as
 * found: a "metric:" key is printed only if it belongs to a known family
 * and the rest is a well-formed label set (labels_valid()).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/xmalloc.h"
#include "metrics/metrics.h"
#include "metrics/promtext.h"

#define SNAPSHOT_MAX 100000 /* stored counters in one scrape */

void
metrics_snapshot_add(struct metrics_snapshot *s, const char *key, int64_t value)
{
	int stat = strncmp(key, "stat:", 5) == 0;

	if (!stat && strncmp(key, "metric:", 7) != 0)
		return;
	if (s->nentries >= SNAPSHOT_MAX)
		return;
	if (s->nentries == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		s->entries = xreallocarray(s->entries, s->cap, sizeof(*s->entries));
	}
	s->entries[s->nentries].key = xstrdup(key + (stat ? 5 : 7));
	s->entries[s->nentries].value = value < 0 ? 0 : value;
	s->entries[s->nentries].stat = stat;
	s->nentries++;
}

void
metrics_snapshot_free(struct metrics_snapshot *s)
{
	for (size_t i = 0; i < s->nentries; i++)
		free(s->entries[i].key);
	free(s->entries);
	s->entries = NULL;
	s->nentries = s->cap = 0;
}

static int
entry_cmp(const void *a, const void *b)
{
	const struct metrics_entry *x = a, *y = b;

	if (x->stat != y->stat)
		return x->stat - y->stat;
	return strcmp(x->key, y->key);
}

static const char *const type_names[] = {
    [MT_COUNTER] = "counter",
    [MT_GAUGE] = "gauge",
    [MT_HISTOGRAM] = "histogram",
};

/* stat_value - a "stat:NAME" counter of the snapshot, 0 if it has none */
static int64_t
stat_value(const struct metrics_snapshot *s, const char *name)
{
	for (size_t i = 0; i < s->nentries; i++)
		if (s->entries[i].stat && strcmp(s->entries[i].key, name) == 0)
			return s->entries[i].value;
	return 0;
}

/* label_char - may c start (first) or continue a label name? */
static int
label_char(char c, int first)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
	       (!first && c >= '0' && c <= '9');
}

/* labels_valid - s is a whole label set as the format has it:
 * {name="value",...} with values escaped (\\, \", \n only) and no
 * control octet (a shared store may hold keys anyone wrote) */
static int
labels_valid(const char *s)
{
	if (*s++ != '{')
		return 0;
	for (;;) {
		if (!label_char(*s, 1))
			return 0;
		while (label_char(*s, 0))
			s++;
		if (*s++ != '=' || *s++ != '"')
			return 0;
		for (; *s != '"'; s++) {
			if (*s == '\0' || *s == '\n' || promtext_control(*s))
				return 0;
			if (*s == '\\' && *++s != '\\' && *s != '"' && *s != 'n')
				return 0;
		}
		s++;
		if (*s == '}')
			return s[1] == '\0';
		if (*s++ != ',')
			return 0;
	}
}

/* render_labelled - every "NAME{...}" counter, in key order */
static void
render_labelled(const struct metrics_snapshot *s, const struct metric_family *f,
                struct promtext *pt)
{
	size_t nlen = strlen(f->name);

	for (size_t i = 0; i < s->nentries; i++) {
		const struct metrics_entry *e = &s->entries[i];
		if (e->stat || strncmp(e->key, f->name, nlen) != 0 ||
		    !labels_valid(e->key + nlen))
			continue;
		promtext_printf(pt, "%s %" PRId64 "\n", e->key, e->value);
	}
}

/* render_histogram - the "NAME:I" buckets and "NAME:sum", cumulative */
static void
render_histogram(const struct metrics_snapshot *s, const struct metric_family *f,
                 struct promtext *pt)
{
	uint64_t counts[METRIC_BOUNDS_MAX + 1] = {0};
	int64_t sum = 0;
	size_t nlen = strlen(f->name);

	for (size_t i = 0; i < s->nentries; i++) {
		const struct metrics_entry *e = &s->entries[i];
		const char *rest = e->key + nlen + 1;
		char *end;
		if (e->stat || strncmp(e->key, f->name, nlen) != 0 || e->key[nlen] != ':')
			continue;
		if (strcmp(rest, "sum") == 0) {
			sum = e->value;
			continue;
		}
		unsigned long idx = strtoul(rest, &end, 10);
		if (end != rest && *end == '\0' && idx <= f->nbounds)
			counts[idx] += (uint64_t)e->value;
	}
	promtext_histogram(pt, f->name, f->bounds, f->nbounds, counts, sum, f->scale);
}

void
metrics_render(struct metrics_snapshot *s, struct promtext *pt)
{
	if (s->nentries > 1)
		qsort(s->entries, s->nentries, sizeof(*s->entries), entry_cmp);
	for (size_t m = 0; m < M_N; m++) {
		const struct metric_family *f = &metric_families[m];

		promtext_family(pt, f->name, type_names[f->type], f->help);
		if (f->source == MS_GAUGE)
			promtext_printf(pt, "%s %" PRId64 "\n", f->name, s->gauges[m]);
		else if (f->source == MS_STAT)
			promtext_printf(pt, "%s %" PRId64 "\n", f->name,
			                stat_value(s, f->stat));
		else if (f->type == MT_HISTOGRAM)
			render_histogram(s, f, pt);
		else
			render_labelled(s, f, pt);
	}
}
