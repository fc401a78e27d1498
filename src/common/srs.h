/* SPDX-License-Identifier: ISC */
/*
 * srs.h - the Sender Rewriting Scheme (Shevek's "SRS0"/"SRS1" addresses,
 * as libsrs2 and postsrsd write them), so that a message forwarded to a
 * remote address passes SPF there, and a bounce to the rewritten address
 * finds the original sender.
 *
 *   alice@remote.test  ->  SRS0=HHHH=TT=remote.test=alice@srs.example.org
 *   SRS0=...@relay.test  ->  SRS1=HHHH=relay.test==...@srs.example.org
 *
 * HHHH is the start of base64(HMAC-SHA1(secret, the lower-cased fields));
 * TT the day (base32, 1024 days round). The same secret and separator give
 * the same addresses as postsrsd, so either can undo the other's.
 */
#ifndef MOAT_SRS_H
#define MOAT_SRS_H

#include <stddef.h>
#include <time.h>

#define SRS_SECRETS_MAX 16
#define SRS_HASH_LEN    4
#define SRS_MAX_AGE     21 /* days a rewritten address is honoured (libsrs2) */

struct srs {
	const char *domain; /* of the rewritten addresses */
	char sep;           /* after "SRS0"/"SRS1": '=', '+' or '-' */
	int max_age;        /* days */
	size_t nsecrets;    /* the first signs; all are tried when checking */
	char *secrets[SRS_SECRETS_MAX];
};

enum srs_result {
	SRS_OK = 0,  /* rewritten (out holds the address) */
	SRS_NOT,     /* nothing to do: not SRS, or needs no rewrite */
	SRS_BAD,     /* SRS, but malformed, forged or expired */
	SRS_TOO_LONG /* the result does not fit */
};

/*
 * srs_forward - sender ("local@domain") rewritten at srs->domain for a
 * message forwarded at time now; SRS_NOT for the null sender, an address
 * without a domain, or one at srs->domain already
 */
enum srs_result srs_forward(const struct srs *srs, const char *sender, time_t now,
                            char *out, size_t outsz);

/*
 * srs_reverse - the address that local (a local part at srs->domain) was
 * made from: SRS0 gives the original sender, SRS1 the SRS0 address at the
 * host that made it. SRS_NOT if local is no SRS address, SRS_BAD if its
 * hash is wrong for every secret, its day too old or its form broken.
 */
enum srs_result srs_reverse(const struct srs *srs, const char *local, time_t now,
                            char *out, size_t outsz);

#endif
