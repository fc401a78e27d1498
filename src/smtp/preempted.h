/* SPDX-License-Identifier: ISC */
/*
 * preempted.h - the clients whose idle sessions a full house took back
 * lately, per worker (preempted.c). While the house stays full, such a
 * client that comes back is refused at accept instead of taking yet
 * another idle session's slot: connections that hold slots and come back
 * when dropped would otherwise take each other's slots for ever, each
 * through the whole connect screening.
 */
#ifndef MOAT_PREEMPTED_H
#define MOAT_PREEMPTED_H

#include <time.h>

#include "common/netaddr.h"

/* How long a preempted client is remembered. */
#define PREEMPTED_MEMORY 60

struct preempted;

struct preempted *preempted_new(void);
void preempted_free(struct preempted *p);
/* preempted_note - the session of client na was taken back at now */
void preempted_note(struct preempted *p, const struct netaddr *na, time_t now);
/* preempted_lately - was a session of na taken back within PREEMPTED_MEMORY? */
int preempted_lately(const struct preempted *p, const struct netaddr *na, time_t now);

#endif
