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
	V_HTTP,  /* GET/POST/CONNECT...: a web client or proxy abuse */
	V_PROXY, /* a PROXY header where none is taken (session_proxy.c) */
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

/* DSN (RFC 3461): what the sender asked for */
#define DSN_RET_FULL       1
#define DSN_RET_HDRS       2
#define DSN_NOTIFY_NEVER   0x1
#define DSN_NOTIFY_SUCCESS 0x2
#define DSN_NOTIFY_FAILURE 0x4
#define DSN_NOTIFY_DELAY   0x8
#define DSN_ENVID_MAX      100 /* RFC 3461 §4.4 */
#define DSN_ORCPT_MAX      500 /* §4.2 */

struct mail_params {
	long long size; /* -1 when absent */
	enum body_type body;
	int has_auth;
	int smtputf8;                  /* SMTPUTF8 declared (RFC 6531) */
	int ret;                       /* 0, DSN_RET_FULL or DSN_RET_HDRS */
	char envid[DSN_ENVID_MAX + 1]; /* ENVID, xtext decoded; "" if none */
};

struct rcpt_params {
	unsigned notify;               /* DSN_NOTIFY_*; 0 if not given */
	char orcpt[DSN_ORCPT_MAX + 1]; /* "addr-type;original", decoded; "" */
};

/* parse errors beyond enum mailaddr_err */
enum {
	PE_PARAM_SYNTAX = 100, /* 501 5.5.4 */
	PE_PARAM_UNKNOWN,      /* 555 5.5.4 */
	PE_PARAM_DUP,          /* 501 5.5.4 */
	PE_KEYWORD,            /* "FROM:" / "TO:" missing: 501 5.5.2 */
};

#define PARSE_ALLOW_AUTH 0x1 /* AUTH= is allowed (RFC 4954 advertised) */
/* MAIL: SMTPUTF8 is offered (a UTF-8 sender then needs the parameter);
 * RCPT: the transaction declared it (UTF-8 recipients allowed) */
#define PARSE_ALLOW_UTF8 0x2

int smtp_parse_mail(const char *args, size_t len, unsigned opts, struct mailaddr *from,
                    struct mail_params *p);
/* smtp_parse_rcpt - rp may be NULL: DSN parameters are still checked */
int smtp_parse_rcpt(const char *args, size_t len, unsigned opts, struct mailaddr *to,
                    struct rcpt_params *rp);

/* xtext (RFC 3461 §4): decode in[0..len) into out; -1 if it is not xtext,
 * decodes to a control octet, or does not fit */
int xtext_decode(const char *in, size_t len, char *out, size_t outsz);
/* xtext_encode - s as xtext into out (cut to fit, never mid-escape) */
void xtext_encode(const char *s, char *out, size_t outsz);
/* dsn_notify_format - NOTIFY's value for bits ("SUCCESS,FAILURE") */
const char *dsn_notify_format(unsigned notify, char *buf, size_t sz);
const char *smtp_parse_strerror(int err);

/* smtp_helo_valid - 1..255 printable, non-space ASCII octets */
int smtp_helo_valid(const char *arg, size_t len);

#endif
