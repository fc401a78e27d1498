/* SPDX-License-Identifier: ISC */
/*
 * authfail.h - one password-guessing budget per client, shared by every
 * worker and session through the store.
 *
 * Before a password is checked the session takes a failure slot
 * ("authfail:KEY", counted over auth_failure_window). Past
 * auth_failures_max slots, or while the client is banned
 * ("authban:KEY", auth_ban_time), no password is checked at all, a correct
 * one included. A check that succeeds (or fails for our own trouble) gives
 * its slot back; a failure keeps it, and the one that spends the budget
 * bans the client. The ban refuses AUTH and the submission ports (ban.c),
 * never port 25. IPv6 clients count per /64. The store's trouble lets the
 * check go on (fail open; the per-session delay still slows guessing).
 */
#ifndef MOAT_AUTHFAIL_H
#define MOAT_AUTHFAIL_H

#include <stdint.h>

#include "common/netaddr.h"

struct policy;
struct authfail_req;

/* cb(arg, check, slot): check the password (slot: what to hand back to
 * authfail_result()), or not (the budget is spent, or a ban holds) */
typedef void authfail_cb(void *arg, int check, int64_t slot);

/* authfail_take - ask for a slot; cb runs later, from the event loop */
struct authfail_req *authfail_take(struct policy *p, const struct netaddr *addr,
                                   authfail_cb *cb, void *arg);
/* authfail_cancel - the session is gone: cb will not run, a slot taken is
 * given back */
void authfail_cancel(struct authfail_req *r);
/* authfail_result - the check is done: failed keeps the slot (and bans at
 * the last); 1 if the client is banned now */
int authfail_result(struct policy *p, const struct netaddr *addr, int64_t slot,
                    int failed);

#endif
