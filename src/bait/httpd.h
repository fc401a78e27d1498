/* SPDX-License-Identifier: ISC */
/*
 * httpd.h - the bait web server (libevent's evhttp): every page is a bait
 * page minted for its visitor, sent after bait_pace_ms; /robots.txt keeps
 * honest crawlers out. Each visit is recorded for `moatctl traps`. When an
 * export file is configured, the rbldnsd zone is rewritten periodically.
 */
#ifndef MOAT_BAITD_H
#define MOAT_BAITD_H

struct event_base;
struct moat_conf;
struct store;
struct trap_secret;
struct baitd;

/* baitd_new - serve on the listening socket fd (may be -1: export only) */
struct baitd *baitd_new(struct event_base *base, const struct moat_conf *conf,
                        const struct trap_secret *secret, struct store *st, int fd);
void baitd_free(struct baitd *b);

#endif
