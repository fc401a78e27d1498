/* SPDX-License-Identifier: ISC */
/*
 * dnscache.h - answers kept for their TTL, so DNSBL scores, reverse names
 * and sender-domain checks of a busy client cost one lookup per TTL.
 * Positive answers live for their smallest TTL (bounded to 1..86400 s),
 * NXDOMAIN and NODATA for DNSCACHE_NEG_TTL; failures are never kept.
 */
#ifndef MOAT_DNSCACHE_H
#define MOAT_DNSCACHE_H

#include <stddef.h>
#include <time.h>

#define DNSCACHE_NEG_TTL 60

struct dnscache;

struct dnscache *dnscache_new(size_t max);
void dnscache_free(struct dnscache *c);
/* dnscache_get - 1 with a copy of the answer (*abuf, free it), or 0 */
int dnscache_get(struct dnscache *c, const char *name, int type, time_t now, int *status,
                 unsigned char **abuf, int *alen);
void dnscache_put(struct dnscache *c, const char *name, int type, int status,
                  const unsigned char *abuf, int alen, unsigned ttl, time_t now);
/* dnscache_ttl - the smallest TTL of an answer's records, or def */
unsigned dnscache_ttl(const unsigned char *abuf, int alen, int type, unsigned def);

#endif
