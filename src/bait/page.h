/* SPDX-License-Identifier: ISC */
/*
 * page.h - bait pages: plausible HTML ("our team") with trap addresses
 * minted for the client that fetches the page, as mailto: links and plain
 * text, and links to further bait pages. The page asks honest robots not to
 * index it (meta noindex); robots.txt disallows the whole bait site.
 */
#ifndef MOAT_PAGE_H
#define MOAT_PAGE_H

#include <stddef.h>
#include <time.h>

#include "common/netaddr.h"

struct trap_secret;

/* bait_page - a new page (malloc'd, NUL-terminated) or NULL */
char *bait_page(const struct trap_secret *s, const struct netaddr *client, time_t now,
                const char *domain, int naddrs);

extern const char bait_robots_txt[];

#endif
