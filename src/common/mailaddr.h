/* SPDX-License-Identifier: ISC */
/*
 * mailaddr.h - RFC 5321 §4.1.2 paths: "<" [A-d-l ":"] Mailbox ">".
 *
 * mailaddr_parse_path() parses the path that follows "MAIL FROM:" or
 * "RCPT TO:" and records the features that relay tricks use (source route,
 * quoted local part, '%', '!', '@' inside quotes, address literal) as flags,
 * so the relay decision can judge the final destination.
 * mailaddr_format() writes an address back in transmittable form.
 * SECURITY: input is untrusted client text; every byte is checked against the
 * end pointer and the RFC 5321 §4.5.3.1 limits before it is copied.
 */
#ifndef MOAT_MAILADDR_H
#define MOAT_MAILADDR_H

#include <stddef.h>

#define MAILADDR_LOCAL_MAX  64  /* RFC 5321 §4.5.3.1.1 */
#define MAILADDR_DOMAIN_MAX 255 /* RFC 5321 §4.5.3.1.2 */
#define MAILADDR_PATH_MAX   256 /* RFC 5321 §4.5.3.1.3, brackets included */
/* A formatted address: quoted local part (escapes double it) + "@" + domain. */
#define MAILADDR_FMT_MAX (2 * MAILADDR_LOCAL_MAX + 3 + 1 + MAILADDR_DOMAIN_MAX + 1)

struct mailaddr {
	char local[MAILADDR_LOCAL_MAX + 1];   /* decoded: quotes and escapes removed */
	char domain[MAILADDR_DOMAIN_MAX + 1]; /* as written, "" when absent */
	unsigned flags;
};

/* flags */
#define MA_NULL        0x0001 /* the null path <> */
#define MA_ROUTE       0x0002 /* a source route was present (and is ignored) */
#define MA_QUOTED      0x0004 /* local part was a quoted-string */
#define MA_LITERAL     0x0008 /* domain is an address literal [..] */
#define MA_NODOMAIN    0x0010 /* no "@domain" (only <postmaster>, or a bang path) */
#define MA_PERCENT     0x0020 /* local part holds '%' */
#define MA_BANG        0x0040 /* local part holds '!' */
#define MA_AT_IN_LOCAL 0x0080 /* decoded local part holds '@' */
#define MA_UTF8                                                                          \
	0x0100 /* non-ASCII in it (SMTPUTF8); the domain is kept                         \
	          as A-labels */

/* options */
#define MA_ALLOW_NULL     0x01 /* MAIL FROM:<> */
#define MA_ALLOW_NODOMAIN 0x02 /* RCPT TO:<postmaster>, unqualified bang paths */
#define MA_ALLOW_UTF8     0x04 /* RFC 6531: UTF-8 local parts and U-labels */

enum mailaddr_err {
	MAE_OK = 0,
	MAE_SYNTAX,        /* not a path */
	MAE_PATH_TOO_LONG, /* path over 256 octets */
	MAE_LOCAL_TOO_LONG,
	MAE_DOMAIN,   /* bad domain syntax or length */
	MAE_8BIT,     /* non-ASCII without SMTPUTF8 */
	MAE_NODOMAIN, /* domain required */
	MAE_LITERAL,  /* unsupported or malformed address literal */
	MAE_NULL,     /* <> where not allowed */
};

int mailaddr_parse_path(const char *s, size_t len, unsigned opts, struct mailaddr *out,
                        size_t *consumed);
const char *mailaddr_strerror(int err);

/* mailaddr_format - "local@domain", local part quoted when needed; "" for <> */
size_t mailaddr_format(const struct mailaddr *a, char *buf, size_t bufsz);

/* domain_valid - RFC 5321 Domain (dot-separated LDH labels), no literal */
int domain_valid(const char *d, size_t len);
/* mailaddr_is_postmaster - local part "postmaster" in any case */
int mailaddr_is_postmaster(const struct mailaddr *a);
/* utf8_valid - s[0..n) is well-formed UTF-8 (no overlong form, no
 * surrogate, nothing above U+10FFFF) */
int utf8_valid(const char *s, size_t n);
/* domain_to_ascii - a domain with U-labels as A-labels (IDNA2008, libidn2)
 * into out; -1 if it is no valid IDN or does not fit */
int domain_to_ascii(const char *d, char *out, size_t outsz);

/* local_is_dotstring - true if the local part can go out unquoted
 * (well-formed UTF-8 counts as atext, RFC 6531: it only ever comes from a
 * client that said SMTPUTF8, or from the configuration) */
int local_is_dotstring(const char *l, size_t len);

#endif
