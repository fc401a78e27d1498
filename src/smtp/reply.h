/* SPDX-License-Identifier: ISC */
/*
 * reply.h - the words of an SMTP reply, and the log line of a refusal.
 *
 * reply_format() writes one reply line (RFC 5321 §4.2): code, separator
 * ('-' for a continuation, ' ' for the last line), the enhanced status code
 * (RFC 3463), the text cut to fit 512 octets, CRLF. Replies are 7-bit
 * (RFC 5321 §4.2): any other octet of the text goes out as '?'.
 * reply_log_refusal() logs the refusal made of the same values, one line,
 * so what the client heard and what the log says cannot differ. Every
 * refusal of the SMTP server, with or without a session, goes through both.
 */
#ifndef MOAT_REPLY_H
#define MOAT_REPLY_H

#include <stddef.h>

/* RFC 5321 §4.5.3.1.5: a reply line is at most 512 octets, CRLF included. */
#define REPLY_LINE_MAX 512

/* reply_format - one line into buf (REPLY_LINE_MAX + 1 octets); its length */
size_t reply_format(char *buf, int code, char sep, const char *enh, const char *text);

struct reply_who {
	const char *sid;  /* "-" before a session exists */
	const char *addr; /* the client's address, "-" when not known */
	int port;
};

/* reply_log_refusal - "smtp refuse sid=.. client=.. stage=.. rule=.. reply=.." */
void reply_log_refusal(const struct reply_who *who, const char *stage, const char *rule,
                       int code, const char *enh, const char *addr, const char *detail);

#endif
