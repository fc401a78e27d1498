/* SPDX-License-Identifier: ISC */
/*
 * tlsa.h - what DANE needs from a raw DNS answer: the AD bit of its header
 * (RFC 4035 §3.2.3) and its TLSA records (RFC 6698 §2.1), which c-ares
 * does not parse.
 *
 * tlsa_parse() reads the answer section for records of type TLSA (52),
 * class IN, whatever their owner (a validating resolver that followed a
 * CNAME gives the chain from the question's name); tlsa_usable() says
 * which of them RFC 7672 lets an SMTP client use.
 * SECURITY: the answer comes from the network; every read is checked
 * against its end, names are skipped (never followed), at most
 * TLSA_RR_MAX records are kept and their data points into the answer.
 */
#ifndef MOAT_TLSA_H
#define MOAT_TLSA_H

#include <stddef.h>
#include <stdint.h>

#define DNS_TYPE_TLSA 52
#define TLSA_RR_MAX   32 /* records kept of one answer; more are ignored */

enum tlsa_usage {
	TLSA_PKIX_TA = 0, /* unusable for SMTP (RFC 7672 §3.1.3) */
	TLSA_PKIX_EE = 1, /* unusable for SMTP (RFC 7672 §3.1.3) */
	TLSA_DANE_TA = 2,
	TLSA_DANE_EE = 3,
};

struct tlsa_rr {
	uint8_t usage;             /* enum tlsa_usage, or an unknown value */
	uint8_t selector;          /* 0 the certificate, 1 its SubjectPublicKeyInfo */
	uint8_t mtype;             /* 0 the data itself, 1 SHA2-256, 2 SHA2-512 */
	size_t len;                /* of data: at least 1 */
	const unsigned char *data; /* into the answer */
};

/* dns_answer_ad - the AD bit of a DNS message's header; 0 if it is shorter
 * than a header or is not a response */
int dns_answer_ad(const unsigned char *abuf, size_t alen);

/*
 * tlsa_parse - the TLSA records of the answer section into out (at most
 * max, and at most TLSA_RR_MAX): their number, or -1 if the message is
 * malformed (truncated, a bad name, a TLSA record under 4 octets).
 */
int tlsa_parse(const unsigned char *abuf, size_t alen, struct tlsa_rr *out, size_t max);

/*
 * tlsa_usable - rr can authenticate an SMTP server: usage DANE-TA(2) or
 * DANE-EE(3) (RFC 7672 §3.1: PKIX-TA and PKIX-EE are unusable), a known
 * selector, and a known matching type whose data has the digest's length.
 */
int tlsa_usable(const struct tlsa_rr *rr);

#endif
