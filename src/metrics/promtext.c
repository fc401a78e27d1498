/* SPDX-License-Identifier: ISC */
/*
 * promtext.c - the Prometheus text exposition format (promtext.h): the one
 * place label values are escaped and values are written.
 * SECURITY: label values may come from configuration or stored keys; they
 * are escaped here, so no value can end its quotes or its line.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xmalloc.h"
#include "metrics/promtext.h"

void
promtext_init(struct promtext *pt)
{
	pt->cap = 4096;
	pt->len = 0;
	pt->buf = xmalloc(pt->cap);
	pt->buf[0] = '\0';
}

void
promtext_free(struct promtext *pt)
{
	free(pt->buf);
	pt->buf = NULL;
	pt->len = pt->cap = 0;
}

void
promtext_printf(struct promtext *pt, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(pt->buf + pt->len, pt->cap - pt->len, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if ((size_t)n < pt->cap - pt->len) {
			pt->len += (size_t)n;
			return;
		}
		pt->cap = pt->cap * 2 > pt->len + (size_t)n + 1 ? pt->cap * 2
		                                                : pt->len + (size_t)n + 1;
		pt->buf = xreallocarray(pt->buf, pt->cap, 1);
	}
}

int
promtext_control(char c)
{
	return ((unsigned char)c < 0x20 && c != '\n') || c == 0x7f;
}

size_t
promtext_escape_label(char *dst, size_t dstsz, const char *src)
{
	size_t n = 0;

	if (dstsz == 0)
		return 0;
	for (; *src != '\0'; src++) {
		const char *esc = *src == '\\'   ? "\\\\"
		                  : *src == '"'  ? "\\\""
		                  : *src == '\n' ? "\\n"
		                                 : NULL;
		size_t need = esc != NULL ? 2 : 1;
		if (n + need >= dstsz)
			break;
		if (esc != NULL) {
			memcpy(dst + n, esc, 2);
		} else if (promtext_control(*src))
			dst[n] = '?'; /* the format has no escape for it; a CR would
			               * end the line for some readers */
		else
			dst[n] = *src;
		n += need;
	}
	dst[n] = '\0';
	return n;
}

char *
promtext_value(char *buf, size_t bufsz, int64_t v, int64_t scale)
{
	uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	uint64_t whole, frac;
	int digits = 0;

	if (scale <= 1) {
		snprintf(buf, bufsz, "%" PRId64, v);
		return buf;
	}
	for (int64_t s = scale; s > 1; s /= 10)
		digits++;
	whole = mag / (uint64_t)scale;
	frac = mag % (uint64_t)scale;
	if (frac == 0) {
		snprintf(buf, bufsz, "%s%" PRIu64, v < 0 ? "-" : "", whole);
		return buf;
	}
	/* the fraction without its trailing zeros */
	while (frac % 10 == 0) {
		frac /= 10;
		digits--;
	}
	snprintf(buf, bufsz, "%s%" PRIu64 ".%0*" PRIu64, v < 0 ? "-" : "", whole, digits,
	         frac);
	return buf;
}

void
promtext_family(struct promtext *pt, const char *name, const char *type, const char *help)
{
	promtext_printf(pt, "# HELP %s ", name);
	for (const char *p = help; *p != '\0'; p++) {
		if (*p == '\\')
			promtext_printf(pt, "\\\\");
		else if (*p == '\n')
			promtext_printf(pt, "\\n");
		else
			promtext_printf(pt, "%c", *p);
	}
	promtext_printf(pt, "\n# TYPE %s %s\n", name, type);
}

void
promtext_histogram(struct promtext *pt, const char *name, const int64_t *bounds,
                   size_t nbounds, const uint64_t *counts, int64_t sum, int64_t scale)
{
	char val[PROMTEXT_VALUE_MAX];
	uint64_t cum = 0;

	for (size_t i = 0; i < nbounds; i++) {
		cum += counts[i];
		promtext_printf(pt, "%s_bucket{le=\"%s\"} %" PRIu64 "\n", name,
		                promtext_value(val, sizeof(val), bounds[i], scale), cum);
	}
	cum += counts[nbounds];
	promtext_printf(pt, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, cum);
	promtext_printf(pt, "%s_sum %s\n", name,
	                promtext_value(val, sizeof(val), sum, scale));
	promtext_printf(pt, "%s_count %" PRIu64 "\n", name, cum);
}
