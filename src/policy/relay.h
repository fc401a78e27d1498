/* SPDX-License-Identifier: ISC */
/*
 * relay.h - the relay decision (RFC 2505 §2.1): deny by default.
 *
 * relay_check_rcpt() judges one RCPT TO address. A recipient at a local
 * domain must exist (a user, an alias, the catch-all; conf/aliases.c, with
 * an address extension allowed); any other destination needs a client that may relay
 * (trusted network or authenticated). The decision is made on the final
 * destination: source routes are ignored, and from strangers local parts
 * with '%', '!' or a quoted '@' are refused outright; for clients that may
 * relay they are resolved to the address they really name.
 */
#ifndef MOAT_RELAY_H
#define MOAT_RELAY_H

#include "common/mailaddr.h"
#include "policy/verdict.h"

struct moat_conf;
struct domain_conf;

struct rcpt_dest {
	char addr[MAILADDR_FMT_MAX];     /* the final destination, formatted */
	const struct domain_conf *local; /* local domain, or NULL when relayed */
	int unknown;                     /* refused: a local domain without this user */
	/* a local domain that lists no such user but has a recipient lookup:
	 * the refusal stands only if the lookup does not know the address
	 * either (and catchall says if the domain's catch-all takes it then);
	 * addr and local are set */
	int lookup;
	int catchall;
	/* an SRS address of ours (a bounce to a forwarded message's sender):
	 * the original address it goes to; "" for none */
	char srs[MAILADDR_FMT_MAX];
};

void relay_check_rcpt(const struct moat_conf *conf, const struct mailaddr *to,
                      int may_relay, struct rcpt_dest *dest, struct verdict *v);

/* relay_resolve - the final destination of a trick address (trusted use) */
int relay_resolve(const struct moat_conf *conf, const struct mailaddr *in,
                  struct mailaddr *out);

#endif
