/* SPDX-License-Identifier: ISC */
/*
 * authfail.h - failed logins per client address, and the ban that follows
 * too many of them (auth_failures_max within auth_failure_window bans the
 * address for auth_ban_time). IPv6 clients count per /64.
 */
#ifndef MOAT_AUTHFAIL_H
#define MOAT_AUTHFAIL_H

#include "common/netaddr.h"

struct moat_conf;
struct authfail;

struct authfail *authfail_new(const struct moat_conf *conf);
void authfail_free(struct authfail *af);
/* authfail_record - one more failure; returns 1 if the address is now banned */
int authfail_record(struct authfail *af, const struct netaddr *na);
int authfail_banned(struct authfail *af, const struct netaddr *na);

#endif
