/* SPDX-License-Identifier: ISC */
/*
 * mx_int.h - a destination's resolution in progress, shared by mx.c (MX
 * records, addresses, MTA-STS) and mx_dane.c (the hosts' TLS levels,
 * DANE).
 */
#ifndef MOAT_MX_INT_H
#define MOAT_MX_INT_H

#include <stddef.h>

#include "common/mailaddr.h"
#include "deliver/qmgr_int.h"
#include "deliver/tlspolicy.h"
#include "dns/resolver.h"

struct dane_tlsa;
struct mtasts_policy;

#define MX_HOSTS_MAX 16
#define ADDRS_MAX    32
#define ADDR_TTL     60 /* seconds the address list is reused */

struct mxhost {
	char name[MAILADDR_DOMAIN_MAX + 1];
	int pref;
	int tiebreak;
	enum dns_status st4, st6;
	int insecure; /* an address answer was not validated */
	/* the target of its name's CNAME (a chain of one link), or "" */
	char cname[MAILADDR_DOMAIN_MAX + 1];
	struct dest_addr addrs[8];
	size_t naddrs;
	int sts;                /* the MTA-STS mode its addresses carry */
	enum tls_level tls;     /* for its addresses */
	struct dane_tlsa *tlsa; /* its usable TLSA records (a reference) */
	int tlsa_failed;        /* secure, and its TLSA lookup failed */
};

struct mxctx {
	struct dest *d;
	mx_cb cb;
	struct mxhost hosts[MX_HOSTS_MAX];
	size_t nhosts;
	int pending;
	int implicit;              /* no MX: the domain itself */
	int secure;                /* the MX answer (or its denial) was validated */
	struct mtasts_policy *sts; /* the domain's policy in force, or NULL */
};

/* mx_addrs_done - every address is known: the hosts' TLS levels (mx_dane.c),
 * then mx_hosts_done() */
void mx_addrs_done(struct mxctx *x);
/* mx_hosts_done - the list of addresses to try, and the callback */
void mx_hosts_done(struct mxctx *x);

#endif
