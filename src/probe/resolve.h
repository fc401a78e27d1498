/* SPDX-License-Identifier: ISC */
/*
 * resolve.h - turn target host names into addresses before any test runs.
 *
 * resolve_hosts() looks up A (then AAAA) for every host not yet resolved,
 * through the c-ares resolver (dns/resolver.c) and the given server (or the
 * system's), and calls done(arg) when all answers are in. A name that does
 * not resolve gets conn_code 0 and resolved 0: the caller reports it.
 */
#ifndef MOAT_PROBE_RESOLVE_H
#define MOAT_PROBE_RESOLVE_H

#include "probe/probe.h"

struct event_base;

/* resolve_hosts - returns the number of lookups started (0: done at once) */
int resolve_hosts(struct event_base *base, const char *dns, struct probe_host *hosts,
                  size_t n, void (*done)(void *arg), void *arg);
/* resolve_free - release the resolver once done() ran */
void resolve_free(void);

#endif
