/* SPDX-License-Identifier: ISC */
/*
 * forwarded.h - the client a web proxy names in X-Forwarded-For, for the
 * bait server behind a reverse proxy (bait.proxy_from).
 */
#ifndef MOAT_FORWARDED_H
#define MOAT_FORWARDED_H

struct netaddr;

/*
 * forwarded_last - the last address of an X-Forwarded-For value ("a, b,
 * c": c, the one our own proxy added). Returns 0 with na set, or -1 when
 * the last element is not one IPv4 or IPv6 address.
 */
int forwarded_last(const char *value, struct netaddr *na);

#endif
