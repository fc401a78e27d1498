/* SPDX-License-Identifier: ISC */
/*
 * ascii.h - lower-casing for protocol text: A-Z become a-z and every other
 * octet stays as it is, whatever the locale (tolower(3) may map other
 * octets under a non-C locale; domain names, local parts and keys compare
 * in ASCII only).
 *
 * ascii_tolower() one octet; ascii_lower() a string in place;
 * ascii_lower_copy() a bounded copy, truncated like strlcpy.
 * ascii_hexval() one hex digit's value.
 */
#ifndef MOAT_ASCII_H
#define MOAT_ASCII_H

#include <stddef.h>

/* ascii_tolower - c lowered if it is A-Z, else c */
int ascii_tolower(int c);
/* ascii_lower - lower s in place */
void ascii_lower(char *s);
/*
 * ascii_lower_copy - src lowered into dst: at most dstsz - 1 octets and a
 * NUL (nothing if dstsz is 0); returns strlen(src), so a result >= dstsz
 * means it was cut short.
 */
size_t ascii_lower_copy(char *dst, const char *src, size_t dstsz);

/* ascii_hexval - the value of hex digit c (either case), or -1; inline, so
 * that a user needs no more than this header (the fuzz targets link few
 * files) */
static inline int
ascii_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

#endif
