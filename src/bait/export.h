/* SPDX-License-Identifier: ISC */
/*
 * export.h - publish the bans (trap-derived and manual) as rbldnsd zone
 * data: PATH is an ip4set (IPv4 addresses) and PATH.v6 an ip6trie (IPv6
 * /64s), each entry answering 127.0.0.2 with its reason as TXT. Each file is
 * written aside, synced and renamed over the old one, so rbldnsd reloads a
 * whole file or nothing.
 */
#ifndef MOAT_EXPORT_H
#define MOAT_EXPORT_H

#include <stddef.h>

struct event_base;
struct moat_conf;
struct store;
struct export_timer;

/* export_rbldnsd - write the zone files; the number of entries or -1 */
/* export_done_cb - n entries written, or -1 and why */
typedef void export_done_cb(void *arg, int n, const char *err);
void export_rbldnsd(struct store *st, const char *path, export_done_cb *cb, void *arg);

/*
 * export_timer_new - write bait { export_file } now and every
 * bait_export_interval seconds (the control process); NULL when none is
 * configured
 */
struct export_timer *export_timer_new(struct event_base *base,
                                      const struct moat_conf *conf, struct store *st);
void export_timer_free(struct export_timer *t);

#endif
