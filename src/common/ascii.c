/* SPDX-License-Identifier: ISC */
/*
 * ascii.c - locale-free lower-casing (see ascii.h): A-Z only, so the
 * result never depends on setlocale() or on octets above 0x7f.
 * SECURITY: bounded by the NUL or by dstsz; no allocation.
 */
#include <string.h>

#include "common/ascii.h"

int
ascii_tolower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

void
ascii_lower(char *s)
{
	for (; *s != '\0'; s++)
		*s = (char)ascii_tolower((unsigned char)*s);
}

size_t
ascii_lower_copy(char *dst, const char *src, size_t dstsz)
{
	size_t i;

	if (dstsz == 0)
		return strlen(src);
	for (i = 0; src[i] != '\0' && i < dstsz - 1; i++)
		dst[i] = (char)ascii_tolower((unsigned char)src[i]);
	dst[i] = '\0';
	return i + strlen(src + i);
}
