/* SPDX-License-Identifier: ISC */
/*
 * route.c - where a recipient goes: its local domain's transport (maildir,
 * lmtp:, smtp:), an address literal's host, the relayhost, or the MX hosts
 * of its domain.
 * SECURITY: recipients were validated at RCPT time; the domain part is a
 * valid domain or address literal. Where an MX lookup or a literal may
 * lead (never to private space without relay_to_private) is mx.c's check;
 * the operator's own next hops (relayhost, delivery =) are not limited.
 */
#include <stdio.h>
#include <string.h>

#include "common/netaddr.h"
#include "conf/conf.h"
#include "deliver/qmgr_int.h"

/* nexthop - spec's host and port; an SMTP one with nh, its TLS and AUTH,
 * tagged with where it is configured */
static struct dest *
nexthop(struct qmgr *q, const char *spec, int lmtp, int default_port,
        const struct nexthop_conf *nh, const char *tag)
{
	char host[256];
	int port;

	if (nexthop_parse(spec, default_port, host, sizeof(host), &port, lmtp) == -1)
		return NULL;
	/* A next hop with nothing but tls = may is what it always was: one
	 * destination per address, however many name it. */
	if (nh != NULL &&
	    (nh->tls != TLS_LEVEL_MAY || nh->implicit_tls || nh->auth_file != NULL ||
	     nh->ca_file != NULL || nh->tls_name != NULL))
		return dest_get_nexthop(q, host, port, nh, tag);
	return dest_get(q, DEST_HOST, lmtp, host, port);
}

struct dest *
route_rcpt(struct qmgr *q, const char *rcpt)
{
	const struct moat_conf *c = q->conf;
	const char *at = strrchr(rcpt, '@');
	const struct domain_conf *d;
	char lit[64];

	if (at == NULL)
		return NULL;
	if ((d = conf_domain_find(c, at + 1)) != NULL) {
		switch (d->delivery) {
		case DELIVER_MAILDIR:
			return dest_get(q, DEST_MAILDIR, 0, "maildir", 0);
		case DELIVER_LMTP:
			return nexthop(q, d->delivery_target, 1, 24, NULL, "");
		case DELIVER_SMTP:
			return nexthop(q, d->delivery_target, 0, 25, &d->nexthop,
			               d->name);
		}
		return NULL;
	}
	/* The relayhost takes everything not ours, address literals too. */
	if (c->relayhost != NULL)
		return nexthop(q, c->relayhost, 0, 25, &c->relayhost_tls, "relayhost");
	if (at[1] == '[') {
		/* An address literal names the host itself (RFC 5321 §4.1.3). */
		size_t n = strlen(at + 2);
		if (n < 2 || n - 1 >= sizeof(lit))
			return NULL;
		memcpy(lit, at + 2, n - 1);
		lit[n - 1] = '\0';
		const char *ip = strncmp(lit, "IPv6:", 5) == 0 ? lit + 5 : lit;
		return dest_get(q, DEST_LITERAL, 0, ip, (int)c->limits.mx_port);
	}
	return dest_get(q, DEST_MX, 0, at + 1, (int)c->limits.mx_port);
}
