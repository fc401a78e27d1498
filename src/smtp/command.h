/* SPDX-License-Identifier: ISC */
/*
 * command.h - parsing of SMTP command lines (RFC 5321 §4.1), no I/O.
 *
 * smtp_line_check() judges the framing of one line (CRLF only, no NUL),
 * smtp_verb_parse() finds the verb, smtp_parse_mail()/smtp_parse_rcpt()
 * parse the path and ESMTP parameters, smtp_helo_valid() checks a HELO name.
 * SECURITY: all input is untrusted client bytes of bounded length (the
 * session checks the line limit before calling); every read is checked
 * against the given length.
 */
#ifndef MOAT_COMMAND_H
#define MOAT_COMMAND_H

#include <stddef.h>

#include "common/mailaddr.h"

enum smtp_verb {
	V_UNKNOWN = 0,
	V_HELO,
	V_EHLO,
	V_MAIL,
	V_RCPT,
	V_DATA,
	V_RSET,
	V_NOOP,
	V_QUIT,
	V_HELP,
	V_VRFY,
	V_EXPN,
	V_ETRN,
	V_STARTTLS,
	V_AUTH,
	V_BDAT,
	V_HTTP, /* GET/POST/CONNECT...: a web client or proxy abuse */
	V_NVERBS
};

const char *smtp_verb_name(enum smtp_verb v);

enum line_status {
	LINE_OK = 0,
	LINE_BARE_LF, /* ends in LF without CR */
	LINE_BARE_CR, /* a CR not followed by LF */
	LINE_NUL,     /* holds a NUL byte */
};

/* smtp_line_check - line[0..len) must end in CRLF and hold no other CR/LF/NUL */
enum line_status smtp_line_check(const char *line, size_t len);

/*
 * smtp_verb_parse - the verb of a line without CRLF; *args points after the
 * verb and its separating space (or at the end), *argslen its length.
 */
enum smtp_verb smtp_verb_parse(const char *line, size_t len, const char **args,
                               size_t *argslen);

enum body_type { BODY_NONE = 0, BODY_7BIT, BODY_8BITMIME };

struct mail_params {
	long long size; /* -1 when absent */
	enum body_type body;
	int has_auth;
};

/* parse errors beyond enum mailaddr_err */
enum {
	PE_PARAM_SYNTAX = 100, /* 501 5.5.4 */
	PE_PARAM_UNKNOWN,      /* 555 5.5.4 */
	PE_PARAM_DUP,          /* 501 5.5.4 */
	PE_KEYWORD,            /* "FROM:" / "TO:" missing: 501 5.5.2 */
};

#define PARSE_ALLOW_AUTH 0x1 /* AUTH= is allowed (RFC 4954 advertised) */

int smtp_parse_mail(const char *args, size_t len, unsigned opts, struct mailaddr *from,
                    struct mail_params *p);
int smtp_parse_rcpt(const char *args, size_t len, struct mailaddr *to);
const char *smtp_parse_strerror(int err);

/* smtp_helo_valid - 1..255 printable, non-space ASCII octets */
int smtp_helo_valid(const char *arg, size_t len);

#endif
