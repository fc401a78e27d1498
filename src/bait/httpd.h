/* SPDX-License-Identifier: ISC */
/*
 * httpd.h - the bait web server (libevent's evhttp): every page is a bait
 * page minted for its visitor, sent after bait_pace_ms; /robots.txt keeps
 * honest crawlers out. Each visit is recorded for `moatctl traps`. It runs
 * in a process of its own (moatd/bait, master.c).
 */
#ifndef MOAT_BAITD_H
#define MOAT_BAITD_H

struct event_base;
struct moat_conf;
struct store;
struct trap_secret;
struct baitd;

/* baitd_new - serve on the listening socket fd */
struct baitd *baitd_new(struct event_base *base, const struct moat_conf *conf,
                        const struct trap_secret *secret, struct store *st, int fd);
/* baitd_drain - accept no more; leave the loop once the held pages are out */
void baitd_drain(struct baitd *b);
void baitd_free(struct baitd *b);

#endif
