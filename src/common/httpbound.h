/* SPDX-License-Identifier: ISC */
/*
 * httpbound.h - the bounds of an evhttp server that faces strangers: at
 * most conns_max connections open (past that the listener waits), each
 * for at most deadline seconds in all (evhttp's own timeout restarts with
 * every octet), and a listener that pauses when accept fails for want of
 * descriptors. The bait web server and the metrics endpoint use it; the
 * caller sets evhttp's own limits (header and body sizes, methods).
 */
#ifndef MOAT_HTTPBOUND_H
#define MOAT_HTTPBOUND_H

struct event_base;
struct evhttp;
struct httpbound;

/*
 * httpbound_new - serve http on the listening socket fd, bounded as above;
 * name is for log lines ("bait", "metrics"). Installs http's bufferevent
 * callback. NULL if evhttp cannot take the socket.
 */
struct httpbound *httpbound_new(struct event_base *base, struct evhttp *http, int fd,
                                int conns_max, long deadline, const char *name);
/* httpbound_stop - accept no more (reload): the listener is closed */
void httpbound_stop(struct httpbound *hb);
/* httpbound_free - after evhttp_free(): the connections' last references go */
void httpbound_free(struct httpbound *hb);

#endif
