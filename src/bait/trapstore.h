/* SPDX-License-Identifier: ISC */
/*
 * trapstore.h - what the traps learned, kept in the state store for
 * `moatctl traps` and the rbldnsd export:
 *   trap:h|H|first, trap:h|H|last   harvester H seen (page fetch or minted time)
 *   trap:h|H|mails                  mails that reached H's trap addresses
 *   trap:h|H|from|S                 sender S used one of H's addresses
 *   trap:s|S|hits, trap:s|S|last    sender S mailed traps ("TIME H ADDR")
 * H and S are client keys (the IP, or the /64 of an IPv6 client). They live
 * in the trap bookkeeping's own store (store_config_traps()) and expire
 * (trapstore_ttl()): bait pages fetched from many addresses must not fill
 * the state store the screening needs.
 */
#ifndef MOAT_TRAPSTORE_H
#define MOAT_TRAPSTORE_H

#include <time.h>

struct store;
struct netaddr;

/* trapstore_ttl - how long a record is kept: bait_max_age, or 30 days
 * when trap addresses never age (bait_max_age = 0) */
unsigned trapstore_ttl(long bait_max_age);
/* trapstore_seen - harvester h was seen at t (keeps the first and the last) */
void trapstore_seen(struct store *st, const struct netaddr *h, time_t t, unsigned ttl);
/* trapstore_hit - sender s mailed trap addr; h (NULL for a plain trap) harvested it */
void trapstore_hit(struct store *st, const struct netaddr *s, const struct netaddr *h,
                   time_t harvested, const char *addr, time_t now, unsigned ttl);

#endif
