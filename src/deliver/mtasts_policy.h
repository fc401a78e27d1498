/* SPDX-License-Identifier: ISC */
/*
 * mtasts_policy.h - MTA-STS (RFC 8461) texts: the "_mta-sts" TXT record
 * (§3.1) and the policy file (§3.2), and which MX hosts a policy allows
 * (§4.1).
 *
 * mtasts_txt_parse() takes one TXT record's text (its strings joined) and
 * gives its id; mtasts_policy_parse() reads a policy file into a struct;
 * mtasts_policy_format() writes one back in the same syntax (what the cache
 * keeps); mtasts_mx_match() says whether a policy names an MX host.
 * SECURITY: both texts come from the network (DNS, HTTPS): lengths are
 * bounded (MTASTS_POLICY_MAX, MTASTS_MX_MAX, MTASTS_ID_MAX), every read is
 * checked against the end of the input, and nothing in them is trusted
 * beyond what the grammar allows.
 */
#ifndef MOAT_MTASTS_POLICY_H
#define MOAT_MTASTS_POLICY_H

#include <stddef.h>

#define MTASTS_POLICY_MAX  65536    /* octets of a policy file (RFC 8461 §3.3) */
#define MTASTS_MX_MAX      32       /* mx lines kept; a policy with more is refused */
#define MTASTS_ID_MAX      32       /* sts-id: 1*32(ALPHA / DIGIT), §3.1 */
#define MTASTS_MAX_AGE_MAX 31557600 /* §3.2: a year, the most a policy lives */
#define MTASTS_PATTERN_MAX 255      /* a domain's length, RFC 5321 §4.5.3.1.2 */

enum mtasts_mode {
	MTASTS_NONE = 0, /* no policy in force: deliver as without one */
	MTASTS_TESTING,  /* check and log, deliver anyway */
	MTASTS_ENFORCE,  /* only matching MX hosts, only over verified TLS */
};

struct mtasts_policy {
	enum mtasts_mode mode;
	long max_age; /* seconds, 0 .. MTASTS_MAX_AGE_MAX */
	size_t nmx;
	/* lower case, without a trailing dot; "*.example.net" for a wildcard */
	char mx[MTASTS_MX_MAX][MTASTS_PATTERN_MAX + 1];
};

/*
 * mtasts_txt_parse - one TXT record: 0 and its id (NUL-terminated) if it is
 * a valid "v=STSv1; id=..." record; -1 if it does not start with
 * "v=STSv1;" (to be discarded, §3.1) or is otherwise invalid.
 */
int mtasts_txt_parse(const char *txt, size_t len, char id[MTASTS_ID_MAX + 1]);

/*
 * mtasts_txt_answer - a DNS answer to the TXT query for "_mta-sts.DOMAIN":
 * 0 and the id if exactly one of its records begins with "v=STSv1" and it
 * is valid; -1 otherwise, which means no policy is published (§3.1).
 */
int mtasts_txt_answer(const unsigned char *abuf, int alen, char id[MTASTS_ID_MAX + 1]);

/*
 * mtasts_policy_parse - a policy file (LF or CRLF lines of "key: value"):
 * 0 and *p, or -1 and a printable reason in err. version must be STSv1,
 * mode one of enforce|testing|none, max_age digits (larger than a year is
 * taken as a year); mx is required unless the mode is none. Unknown keys
 * are ignored; of a repeated key other than mx the first counts (§3.2).
 */
int mtasts_policy_parse(const char *buf, size_t len, struct mtasts_policy *p, char *err,
                        size_t errsz);

/* mtasts_policy_format - p as a policy file; its length, or -1 if bufsz is small */
int mtasts_policy_format(const struct mtasts_policy *p, char *buf, size_t bufsz);

/*
 * mtasts_mx_match - 1 if host (an MX host name, any case, a trailing dot
 * allowed) matches one of p's patterns: a name equal to it, or a wildcard
 * "*.rest" whose "*" stands for exactly one leftmost label (§4.1).
 */
int mtasts_mx_match(const struct mtasts_policy *p, const char *host);

/* mtasts_mode_name - "enforce", "testing", "none" */
const char *mtasts_mode_name(enum mtasts_mode m);

#endif
