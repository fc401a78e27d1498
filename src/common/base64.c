/* SPDX-License-Identifier: ISC */
/*
 * base64.c - strict base64 around OpenSSL's EVP_DecodeBlock/EVP_EncodeBlock.
 *
 * SECURITY: untrusted data read directly from the network (AUTH lines).
 * EVP_DecodeBlock alone skips blanks and decodes padding as zero bytes, so
 * the input is validated here first and the padding subtracted after.
 */
#include <string.h>

#include <openssl/evp.h>

#include "common/base64.h"

static int
b64char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '+' || c == '/';
}

int
base64_decode(const char *src, size_t len, unsigned char *dst, size_t dstsz)
{
	size_t pad = 0, out;
	int n;

	if (len % 4 != 0 || len > 4 * ((size_t)1 << 20))
		return -1;
	if (len == 0)
		return 0;
	if (src[len - 1] == '=')
		pad++;
	if (src[len - 2] == '=')
		pad++;
	for (size_t i = 0; i < len - pad; i++)
		if (!b64char((unsigned char)src[i]))
			return -1;
	out = len / 4 * 3 - pad;
	/* EVP_DecodeBlock writes whole groups: room for the padding too. */
	if (out + pad > dstsz)
		return -1;
	n = EVP_DecodeBlock(dst, (const unsigned char *)src, (int)len);
	if (n < 0 || (size_t)n != out + pad)
		return -1;
	return (int)out;
}

int
base64_encode(const unsigned char *src, size_t len, char *dst, size_t dstsz)
{
	size_t need = 4 * ((len + 2) / 3) + 1;

	if (need > dstsz || len > ((size_t)1 << 20))
		return -1;
	return EVP_EncodeBlock((unsigned char *)dst, src, (int)len);
}
