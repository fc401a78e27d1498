/* SPDX-License-Identifier: ISC */
/*
 * headers.h - moat-sendmail's reader of a message's header section: what
 * -t takes its recipients from, and what tells which fields to add.
 *
 * Lines are fed one at a time, without their line end. The section as it
 * will be sent comes out in out (each line ending CRLF, a line over
 * SM_LINE_MAX folded at white space), less its Bcc fields; with want_rcpts, the addresses
 * of To, Cc and Bcc are collected (RFC 5322 §3.4 address lists: display names, groups,
 * comments, quoted strings). sm_addrlist_parse() is the address list reader alone, for
 * the recipients given on the command line too.
 */
#ifndef MOAT_SM_HEADERS_H
#define MOAT_SM_HEADERS_H

#include <stddef.h>

#define SM_ADDR_MAX    512     /* one address's octets */
#define SM_RCPTS_MAX   10000   /* recipients of one message */
#define SM_FIELD_MAX   65536   /* one field, folded lines together */
#define SM_HEADERS_MAX 1048576 /* the whole header section, as read */
#define SM_LINE_MAX    998     /* a line sent, without CRLF (RFC 5322 §2.1.1) */

/* a growable octet buffer */
struct sm_buf {
	char *p;
	size_t len, cap;
};
void sm_buf_add(struct sm_buf *b, const void *data, size_t len);
void sm_buf_free(struct sm_buf *b);

/* sm_addrlist_parse - call cb for each address of the list s[0..n): the
 * addr-spec alone (the angle-addr's, without its source route), comments
 * and white space outside quoted strings left out. 0, or -1 with err set
 * (an unclosed quote, comment or angle bracket, an address over
 * SM_ADDR_MAX, a control character, or cb's -1) */
typedef int (*sm_addr_cb)(void *arg, const char *addr, size_t len);
int sm_addrlist_parse(const char *s, size_t n, sm_addr_cb cb, void *arg, char *err,
                      size_t errsz);

/* sm_rcpts - a list of addresses, as -t and the command line give them */
struct sm_rcpts {
	char **v;
	size_t n, cap;
};
/* sm_rcpts_add - an sm_addr_cb: add a copy (-1 over SM_RCPTS_MAX) */
int sm_rcpts_add(void *rcpts, const char *addr, size_t len);
void sm_rcpts_free(struct sm_rcpts *r);

enum sm_hdr_status { SM_HDR_ERROR = -1, SM_HDR_END = 0, SM_HDR_MORE = 1 };

struct sm_headers {
	int want_rcpts;        /* -t: collect To, Cc, Bcc */
	struct sm_rcpts rcpts; /* what they named */
	struct sm_buf out;     /* the section to send, Bcc left out */
	int has_from, has_date, has_msgid;
	struct sm_buf field; /* the field being read, its folded lines */
	size_t nlines;       /* lines fed */
	char err[160];
};

/*
 * sm_headers_line - one line of the message: SM_HDR_MORE if it belongs to
 * the header section; SM_HDR_END if it does not (the empty line, or the
 * first body line of a message without one): the caller sends it as the
 * body's first line; SM_HDR_ERROR with err set (a field or section too
 * long, a bad address list in a recipient field).
 */
enum sm_hdr_status sm_headers_line(struct sm_headers *h, const char *line, size_t len);
/* sm_headers_end - the section is over (SM_HDR_END or the end of the
 * input): the last field is taken in. 0, or -1 with err set */
int sm_headers_end(struct sm_headers *h);
void sm_headers_free(struct sm_headers *h);

#endif
