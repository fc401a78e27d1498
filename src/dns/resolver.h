/* SPDX-License-Identifier: ISC */
/*
 * resolver.h - asynchronous DNS on the event loop (c-ares).
 *
 * dns_query() sends one query to the configured servers (never the search
 * list, never /etc/hosts) and calls back with the raw answer, which callers
 * parse with ares_parse_*_reply(). dns_rdns() does forward-confirmed reverse
 * DNS; loopback and RFC 6890 special-use addresses are answered locally and
 * never sent to DNS. A request can be cancelled: its callback is then never
 * called, so a session may go away while its lookups are in flight.
 * SECURITY: answers come from the network; they are parsed by c-ares, and
 * for DANE by dns/tlsa.c.
 */
#ifndef MOAT_RESOLVER_H
#define MOAT_RESOLVER_H

#include "common/netaddr.h"

struct event_base;
struct moat_conf;
struct resolver;
struct dns_req;
struct dns_rdns;

enum dns_status {
	DNS_OK = 0,
	DNS_NXDOMAIN, /* the name does not exist */
	DNS_NODATA,   /* the name exists, no record of this type */
	DNS_TEMPFAIL, /* timeout, SERVFAIL, refused, no servers: try later */
};

typedef void (*dns_query_cb)(void *arg, enum dns_status st, const unsigned char *abuf,
                             int alen);
typedef void (*dns_rdns_cb)(void *arg, enum dns_status st, const char *name);

struct resolver *resolver_new(struct event_base *base, const struct moat_conf *conf);
void resolver_free(struct resolver *r);

/*
 * dns_query - ask for name's records of type (a DNS RR type number: 1 A,
 * 12 PTR, 15 MX, 16 TXT, 28 AAAA). The callback always runs from the event
 * loop, never inside dns_query(), even when c-ares answers at once (a
 * ".onion" name, RFC 7686) or the cache does; the request returned stays
 * valid for dns_cancel() until its callback has run.
 */
struct dns_req *dns_query(struct resolver *r, const char *name, int type, dns_query_cb cb,
                          void *arg);
/*
 * dns_rdns - the forward-confirmed name of na: st DNS_OK with the name, or
 * DNS_NXDOMAIN/DNS_NODATA (no confirmed name), or DNS_TEMPFAIL. The callback
 * may run before dns_rdns() returns (local answers); NULL is returned then.
 */
struct dns_rdns *dns_rdns(struct resolver *r, const struct netaddr *na, dns_rdns_cb cb,
                          void *arg);
/*
 * dns_secure - abuf (an answer given to a dns_query callback) was
 * validated: its AD bit is set and the servers are trusted to validate
 * (dns_validating). Without dns_validating nothing is secure.
 */
int dns_secure(const struct resolver *r, const unsigned char *abuf, int alen);
/* resolver_validating - dns_validating is on: dns_secure() can say yes */
int resolver_validating(const struct resolver *r);
/* dns_rdns_cancel - the callback will not run (the lookup finishes quietly) */
void dns_rdns_cancel(struct dns_rdns *q);
void dns_cancel(struct dns_req *req);

/* dns_reverse_name - "4.3.2.1.in-addr.arpa" / nibble ip6.arpa, under suffix */
int dns_reverse_name(const struct netaddr *na, const char *suffix, char *buf,
                     size_t bufsz);

#endif
