/* SPDX-License-Identifier: ISC */
/*
 * submit.h - moat-sendmail's SMTP client on the local submission socket
 * (run_dir/submit.sock): blocking, one command and its reply at a time.
 */
#ifndef MOAT_SM_SUBMIT_H
#define MOAT_SM_SUBMIT_H

#include <stddef.h>

#define SM_REPLY_LINE_MAX 1024 /* RFC 5321 §4.5.3.1.5 says 512 */
#define SM_REPLY_LINES    100  /* lines of one reply at most */
#define SM_TIMEOUT        300  /* seconds for any read or write */

struct sm_smtp {
	int fd;
	int verbose; /* the dialogue on standard error */
	char rbuf[4096];
	size_t rlen, roff;
	int code;                         /* the last reply's */
	char text[SM_REPLY_LINE_MAX];     /* and its last line, as sent */
	int ext_size, ext_8bit, ext_utf8; /* what EHLO offered */
};

/* sm_smtp_connect - connect to the unix socket path; -1 with errno */
int sm_smtp_connect(struct sm_smtp *c, const char *path);
/* sm_smtp_reply - read a whole reply; its code, or -1 (the connection
 * broke, timed out, or the reply is malformed: errno EPROTO) */
int sm_smtp_reply(struct sm_smtp *c);
/* sm_smtp_cmd - send one command line (CRLF added) and read its reply;
 * the code, or -1; an EHLO's reply sets the ext_ flags */
int sm_smtp_cmd(struct sm_smtp *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* sm_smtp_data - the message (lines ending CRLF) dot-stuffed, and the
 * final "."; 0, or -1 */
int sm_smtp_data(struct sm_smtp *c, const char *msg, size_t len);
/* sm_smtp_write - n octets as they are; 0, or -1 */
int sm_smtp_write(struct sm_smtp *c, const void *p, size_t n);
void sm_smtp_close(struct sm_smtp *c);

#endif
