/* SPDX-License-Identifier: ISC */
/*
 * promtext.h - the Prometheus text exposition format, version 0.0.4: a
 * growable output buffer, label values escaped as the format says, exact
 * decimal values of scaled integers, and histograms rendered from their
 * per-bucket counts. No I/O: the caller sends the buffer.
 *
 * https://prometheus.io/docs/instrumenting/exposition_formats/
 */
#ifndef MOAT_PROMTEXT_H
#define MOAT_PROMTEXT_H

#include <stddef.h>
#include <stdint.h>

#define PROMTEXT_VALUE_MAX 48 /* a rendered value, NUL included */

struct promtext {
	char *buf; /* NUL-terminated */
	size_t len, cap;
};

void promtext_init(struct promtext *pt);
void promtext_free(struct promtext *pt);
void promtext_printf(struct promtext *pt, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * promtext_escape_label - src as a label value (without its quotes): "\"
 * becomes "\\", '"' becomes "\"", a line feed "\n", and any other control
 * octet (promtext_control) '?'. At most dstsz - 1 octets are written,
 * never half an escape; returns the length written.
 */
size_t promtext_escape_label(char *dst, size_t dstsz, const char *src);
/* promtext_control - c is a control octet other than a line feed (or DEL):
 * the exposition format has no escape for it */
int promtext_control(char c);

/*
 * promtext_value - v / scale as an exact decimal ("0.0015", "3", "-2.5");
 * scale is 1 or a power of ten. Returns buf.
 */
char *promtext_value(char *buf, size_t bufsz, int64_t v, int64_t scale);

/* promtext_family - the "# HELP" and "# TYPE" lines of a family (help is
 * escaped: backslash and line feed) */
void promtext_family(struct promtext *pt, const char *name, const char *type,
                     const char *help);

/*
 * promtext_histogram - NAME_bucket{le="..."} lines, cumulative, then
 * NAME_sum and NAME_count. bounds are the nbounds upper bounds, ascending,
 * in units of 1/scale; counts has nbounds + 1 per-bucket (not cumulative)
 * counts, the last for what lies above every bound; sum is in 1/scale too.
 * The +Inf bucket and _count are the total of counts.
 */
void promtext_histogram(struct promtext *pt, const char *name, const int64_t *bounds,
                        size_t nbounds, const uint64_t *counts, int64_t sum,
                        int64_t scale);

#endif
