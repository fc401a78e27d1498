/* SPDX-License-Identifier: ISC */
/*
 * msgfield.h - header fields a submission server writes (RFC 6409 §8):
 * Date (RFC 5322 §3.3, §3.6.1) and Message-ID (RFC 5322 §3.6.4), and the
 * shape of a header line, for the session that adds them to submitted
 * mail lacking them (session_submit.c).
 */
#ifndef MOAT_MSGFIELD_H
#define MOAT_MSGFIELD_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* a date-time: "Mon, 07 Dec 2026 17:42:11 +0100", and its NUL */
#define MSGFIELD_DATE_MAX 32

/* msgfield_date_tm - tm, gmtoff seconds east of UTC, as an RFC 5322
 * date-time with English names whatever the locale; its length, or 0 if
 * bufsz is short */
size_t msgfield_date_tm(const struct tm *tm, long gmtoff, char *buf, size_t bufsz);
/* msgfield_date - t in the local time zone, as msgfield_date_tm() */
size_t msgfield_date(time_t t, char *buf, size_t bufsz);

/*
 * msgfield_msgid - "<QID.RANDOM@HOST>": unique by the queue id (unique on
 * this host) and 64 random bits (other hosts of the same name, a queue id
 * seen again after the spool is made anew). A host octet that is not
 * atext or '.' is written '-', so the id stays a dot-atom. Its length, or
 * 0 if bufsz is short.
 */
size_t msgfield_msgid(const char *qid, uint64_t random, const char *host, char *buf,
                      size_t bufsz);

/* what a line of a header section is (RFC 5322 §2.2, §3.2.2) */
enum msgfield_line {
	MSGFIELD_FIELD, /* a field name, optional WSP (§4.5.3 obs), ':' */
	MSGFIELD_CONT,  /* folded: the field before it goes on */
	MSGFIELD_OTHER  /* neither: the header section ended before it */
};
enum msgfield_line msgfield_line_kind(const char *line, size_t len);

/* msgfield_name_is - a field line whose name is name (without case) */
int msgfield_name_is(const char *line, size_t len, const char *name);

#endif
