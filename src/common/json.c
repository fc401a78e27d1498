/* SPDX-License-Identifier: ISC */
/*
 * json.c - a JSON string from any octets (json.h tells the escaping).
 * SECURITY: the input is client text (addresses, HELO, replies of peers):
 * every octet outside printable ASCII, '"' and '\\' is escaped, and the
 * output never passes dstsz.
 */
#include <string.h>

#include "common/json.h"

/* esc_len - what octet c takes inside a JSON string */
static size_t
esc_len(unsigned char c)
{
	if (c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t')
		return 2;
	return c < 0x20 || c > 0x7e ? JSON_ESCAPE_MAX : 1;
}

size_t
json_quote(char *dst, size_t dstsz, size_t off, const char *src, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)src;
	/* past the octets: "...", the closing quote and the NUL */
	const size_t tail = 3 + 1 + 1;
	size_t o = off, i, full = 0;
	int fits;

	if (off >= dstsz || dstsz - off < 1 + tail) {
		if (off < dstsz)
			dst[off] = '\0';
		return off;
	}
	if (src == NULL)
		len = 0;
	/* Whole, the value needs no room for "...". */
	for (i = 0; i < len; i++)
		full += esc_len(s[i]);
	fits = off + 1 + full + 1 < dstsz;
	dst[o++] = '"';
	for (i = 0; i < len; i++) {
		unsigned char c = s[i];
		size_t l = esc_len(c);
		if (!fits && o + l + tail > dstsz)
			break;
		if (l == 1) {
			dst[o++] = (char)c;
			continue;
		}
		dst[o++] = '\\';
		if (l == 2)
			dst[o++] = c == '\n'   ? 'n'
			           : c == '\r' ? 'r'
			           : c == '\t' ? 't'
			                       : (char)c;
		else {
			memcpy(dst + o, "u00", 3);
			o += 3;
			dst[o++] = hex[c >> 4];
			dst[o++] = hex[c & 0xf];
		}
	}
	if (i < len) {
		memcpy(dst + o, "...", 3);
		o += 3;
	}
	dst[o++] = '"';
	dst[o] = '\0';
	return o;
}
