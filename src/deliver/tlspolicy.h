/* SPDX-License-Identifier: ISC */
/*
 * tlspolicy.h - what TLS a delivery connection must reach, and what it did
 * reach. The levels mean what Postfix's smtp_tls_security_level means:
 * none (never STARTTLS), may (opportunistic, RFC 7435), encrypt (STARTTLS
 * required, certificate not checked), verify (chain against the CA store
 * and the reference name), dane (RFC 7672: the TLSA records of the MX).
 * A connection that cannot reach its level defers its jobs; it never falls
 * back to plain text.
 */
#ifndef MOAT_TLSPOLICY_H
#define MOAT_TLSPOLICY_H

enum tls_level {
	TLS_LEVEL_NONE = 0,
	TLS_LEVEL_MAY,
	TLS_LEVEL_ENCRYPT,
	TLS_LEVEL_VERIFY,
	TLS_LEVEL_DANE,
};

/* What a connection reached, for its log line and the counters. */
enum tls_reached {
	TLS_REACHED_NONE = 0,  /* plain text */
	TLS_REACHED_ENCRYPTED, /* TLS, peer not authenticated */
	TLS_REACHED_VERIFIED,  /* chain and name checked (CA store, MTA-STS) */
	TLS_REACHED_DANE,      /* authenticated by TLSA records (RFC 7672) */
};

#endif
