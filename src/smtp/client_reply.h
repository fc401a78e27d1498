/* SPDX-License-Identifier: ISC */
/*
 * client_reply.h - the SMTP client's reply parser (RFC 5321 §4.2): server
 * bytes into struct smtp_reply, and an EHLO reply into its extensions.
 * smtp_reply_read() takes whole CRLF-ended lines from a buffer until a reply
 * is complete (a reply may span calls); smtp_reply_ehlo() lists an EHLO
 * reply's keywords (§4.1.1.1), smtp_ext_find() and smtp_ext_size() look
 * them up; smtp_reply_first() (client.h) is here too.
 * SECURITY: parses untrusted network input, within the bounds of client.h
 * (SMTP_CLIENT_LINE_MAX, _REPLY_LINES, _TEXT_MAX); see client_reply.c.
 */
#ifndef MOAT_CLIENT_REPLY_H
#define MOAT_CLIENT_REPLY_H

#include <stddef.h>

#include "smtp/client.h"

struct evbuffer;

#define SMTP_EXT_KW_MAX    32  /* octets of an EHLO keyword, NUL included */
#define SMTP_EXT_PARAM_MAX 256 /* octets of its parameters kept, NUL included */

/* one EHLO extension: keyword and the text after it ("" if none) */
struct smtp_ext {
	char kw[SMTP_EXT_KW_MAX];
	char param[SMTP_EXT_PARAM_MAX];
};

/* a reply being read; all zeros to start */
struct smtp_reply_reader {
	struct smtp_reply cur;
	int open; /* cur holds the first lines of a reply */
};

enum smtp_reply_status {
	SMTP_REPLY_MORE = 0,  /* no complete reply in the buffer yet */
	SMTP_REPLY_DONE,      /* *out holds the next reply */
	SMTP_REPLY_TOO_LONG,  /* a line longer than SMTP_CLIENT_LINE_MAX */
	SMTP_REPLY_MALFORMED, /* not "ddd", "ddd text" or "ddd-text", a code that
	                       * changed within a reply, or too many lines */
};

/*
 * smtp_reply_read - consume lines from in until a reply is complete. Only
 * SMTP_REPLY_DONE fills *out; after TOO_LONG or MALFORMED the connection
 * is beyond repair (what is left in the buffer is undefined).
 */
enum smtp_reply_status smtp_reply_read(struct smtp_reply_reader *rr, struct evbuffer *in,
                                       struct smtp_reply *out);
/*
 * smtp_reply_ehlo - the extensions of a 250 reply to EHLO into exts (at
 * most max): one per line after the first; a keyword too long for
 * smtp_ext.kw is skipped, parameters are cut at SMTP_EXT_PARAM_MAX - 1.
 * Returns how many were stored.
 */
size_t smtp_reply_ehlo(const struct smtp_reply *r, struct smtp_ext *exts, size_t max);
/* smtp_ext_find - kw's parameters ("" if none), NULL if not listed */
const char *smtp_ext_find(const struct smtp_ext *exts, size_t n, const char *kw);
/* smtp_ext_size - the RFC 1870 SIZE limit; 0 if none or unreadable; -1 if no SIZE */
long long smtp_ext_size(const struct smtp_ext *exts, size_t n);

#endif
