/* SPDX-License-Identifier: ISC */
/*
 * xmalloc.h - allocation that cannot fail: out of memory is a local,
 * unrecoverable condition, so these abort with fatal(). Every allocation
 * size driven by remote input is bounded by a configured limit first.
 */
#ifndef MOAT_XMALLOC_H
#define MOAT_XMALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xreallocarray(void *ptr, size_t nmemb, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
int xasprintf(char **ret, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
