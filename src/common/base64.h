/* SPDX-License-Identifier: ISC */
/*
 * base64.h - strict RFC 4648 base64 for SASL (RFC 4954), via OpenSSL.
 *
 * base64_decode() accepts only canonical input: the alphabet, length a
 * multiple of 4, '=' only as final padding. No whitespace, no line breaks.
 * SECURITY: input is untrusted client text; the output size is checked
 * against the destination before decoding.
 */
#ifndef MOAT_BASE64_H
#define MOAT_BASE64_H

#include <stddef.h>

/* decode src[0..len) into dst; returns the decoded length or -1 */
int base64_decode(const char *src, size_t len, unsigned char *dst, size_t dstsz);
/* encode; dst needs 4 * ((len + 2) / 3) + 1 bytes; returns the length or -1 */
int base64_encode(const unsigned char *src, size_t len, char *dst, size_t dstsz);

#endif
