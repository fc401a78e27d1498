/* SPDX-License-Identifier: ISC */
/*
 * msgfield.c - Date and Message-ID as a submission server writes them, and
 * the shape of a header line (msgfield.h).
 * SECURITY: msgfield_line_kind() and msgfield_name_is() read a line of a
 * client's message: only its len octets, no NUL expected.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/msgfield.h"

/* RFC 5322 §3.3 spells them in English: strftime() would use the locale */
static const char *const days[7] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const months[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

size_t
msgfield_date_tm(const struct tm *tm, long gmtoff, char *buf, size_t bufsz)
{
	long off = gmtoff < 0 ? -gmtoff : gmtoff;
	int n;

	if (tm->tm_wday < 0 || tm->tm_wday > 6 || tm->tm_mon < 0 || tm->tm_mon > 11)
		return 0;
	/* zone = ("+" / "-") 4DIGIT: hours and minutes of the offset */
	n = snprintf(buf, bufsz, "%s, %02d %s %04d %02d:%02d:%02d %c%02ld%02ld",
	             days[tm->tm_wday], tm->tm_mday, months[tm->tm_mon],
	             tm->tm_year + 1900, tm->tm_hour, tm->tm_min, tm->tm_sec,
	             gmtoff < 0 ? '-' : '+', off / 3600 % 100, off % 3600 / 60);
	if (n < 0 || (size_t)n >= bufsz)
		return 0;
	return (size_t)n;
}

size_t
msgfield_date(time_t t, char *buf, size_t bufsz)
{
	struct tm tm;

	if (localtime_r(&t, &tm) == NULL)
		return 0;
	return msgfield_date_tm(&tm, tm.tm_gmtoff, buf, bufsz);
}

/* atext (RFC 5322 §3.2.3) */
static int
is_atext(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

size_t
msgfield_msgid(const char *qid, uint64_t random, const char *host, char *buf,
               size_t bufsz)
{
	int n = snprintf(buf, bufsz, "<%s.%016llx@", qid, (unsigned long long)random);
	size_t o, hl = strlen(host);

	if (n < 0 || (size_t)n >= bufsz)
		return 0;
	o = (size_t)n;
	if (o + hl + 2 > bufsz)
		return 0;
	for (size_t i = 0; i < hl; i++) {
		unsigned char c = (unsigned char)host[i];
		buf[o++] = (is_atext(c) || c == '.') ? (char)c : '-';
	}
	buf[o++] = '>';
	buf[o] = '\0';
	return o;
}

/* name_len - octets of the field name at the start of line, 0 if none:
 * printable US-ASCII but ':' (RFC 5322 §3.6.8 ftext) */
static size_t
name_len(const char *line, size_t len)
{
	size_t i = 0;

	while (i < len && (unsigned char)line[i] >= 33 && (unsigned char)line[i] <= 126 &&
	       line[i] != ':')
		i++;
	return i;
}

/* colon_after - the name is followed by WSP* and ':' (RFC 5322 §4.5.3) */
static int
colon_after(const char *line, size_t len, size_t i)
{
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	return i < len && line[i] == ':';
}

enum msgfield_line
msgfield_line_kind(const char *line, size_t len)
{
	size_t n;

	if (len > 0 && (line[0] == ' ' || line[0] == '\t'))
		return MSGFIELD_CONT;
	n = name_len(line, len);
	if (n > 0 && colon_after(line, len, n))
		return MSGFIELD_FIELD;
	return MSGFIELD_OTHER;
}

int
msgfield_name_is(const char *line, size_t len, const char *name)
{
	size_t n = name_len(line, len);

	return n == strlen(name) && strncasecmp(line, name, n) == 0 &&
	       colon_after(line, len, n);
}
