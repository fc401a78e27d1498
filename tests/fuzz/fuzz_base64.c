/* SPDX-License-Identifier: ISC */
/*
 * fuzz_base64.c - libFuzzer target for base64_decode() (src/common/base64.c):
 * the AUTH responses of SMTP clients, and base64_encode() behind it.
 *
 * Input: byte 0 chooses the size of the destination (see dst_size()), the
 * rest is what the client sent. The decoder writes into a heap buffer of
 * exactly that size, so ASan sees any write past it. Checked: it accepts
 * exactly what a plain strict decoder written here accepts, with room for
 * the padding (EVP_DecodeBlock writes whole groups), and gives the same
 * octets; what it decoded encodes back to the input but for the unused low
 * bits of the last character before '=' (RFC 4648 §3.5). The same bytes,
 * taken as data, encode into a buffer of the documented size and decode
 * back to themselves; one octet less for the encoder is refused.
 */
#include "common/base64.h"
#include "fuzz.h"

static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* value - the 6 bits of c, or -1 outside the alphabet */
static int
value(unsigned char c)
{
	const char *p = c != '\0' ? strchr(alphabet, c) : NULL;
	return p != NULL ? (int)(p - alphabet) : -1;
}

/* reference - a strict RFC 4648 decoder: length a multiple of 4, '=' only as
 * one or two final pad characters; the length decoded, or -1 */
static long
reference(const char *s, size_t len, unsigned char *out, size_t *pad)
{
	size_t n = 0;

	*pad = 0;
	if (len % 4 != 0 || len > 4 * ((size_t)1 << 20))
		return -1;
	if (len >= 1 && s[len - 1] == '=')
		(*pad)++;
	if (len >= 2 && s[len - 2] == '=')
		(*pad)++;
	/* a '=' anywhere else is no data: "AB=C", "A===" and "====" fail */
	for (size_t i = 0; i < len; i += 4) {
		int v[4];
		for (size_t j = 0; j < 4; j++)
			v[j] = i + j >= len - *pad ? 0 : value((unsigned char)s[i + j]);
		for (size_t j = 0; j < 4; j++)
			if (v[j] < 0)
				return -1;
		unsigned long w = (unsigned long)v[0] << 18 | (unsigned long)v[1] << 12 |
		                  (unsigned long)v[2] << 6 | (unsigned long)v[3];
		out[n++] = (unsigned char)(w >> 16);
		out[n++] = (unsigned char)(w >> 8);
		out[n++] = (unsigned char)w;
	}
	return (long)(n - *pad);
}

/* dst_size - the destination: exact, short by 1-3, no room at all, or ample */
static size_t
dst_size(unsigned sel, size_t len)
{
	size_t whole = len / 4 * 3;

	switch (sel % 8) {
	case 0:
		return whole;
	case 1:
	case 2:
	case 3:
		return whole >= sel % 8 ? whole - sel % 8 : 0;
	case 4:
		return 0;
	case 5:
		return whole + 1;
	default:
		return whole + 64;
	}
}

static void
check_decode(const char *src, size_t len, unsigned sel)
{
	size_t dstsz = dst_size(sel, len), pad;
	unsigned char *dst = malloc(dstsz > 0 ? dstsz : 1);
	unsigned char *want = malloc(len / 4 * 3 + 1);
	long nref;
	int n;

	REQUIRE(dst != NULL && want != NULL);
	nref = reference(src, len, want, &pad);
	n = base64_decode(src, len, dstsz > 0 ? dst : NULL, dstsz);
	if (len == 0)
		REQUIRE(n == 0);
	else if (nref < 0 || (size_t)nref + pad > dstsz)
		REQUIRE(n == -1);
	else
		REQUIRE(n == nref && memcmp(dst, want, (size_t)n) == 0);

	if (n > 0) {
		size_t enclen = 4 * (((size_t)n + 2) / 3) + 1;
		char *enc = malloc(enclen);
		REQUIRE(enc != NULL);
		REQUIRE(base64_encode(dst, (size_t)n, enc, enclen) == (int)len);
		REQUIRE(strlen(enc) == len);
		/* Only the last data character may differ, and only in the bits
		 * the padding leaves unused: 2 with one '=', 4 with two. */
		for (size_t i = 0; i < len; i++) {
			if (enc[i] == src[i])
				continue;
			REQUIRE(pad > 0 && i == len - pad - 1);
			REQUIRE(value((unsigned char)enc[i]) >> (2 * pad) ==
			        value((unsigned char)src[i]) >> (2 * pad));
		}
		free(enc);
	}
	free(dst);
	free(want);
}

static void
check_round_trip(const unsigned char *data, size_t len)
{
	size_t enclen = 4 * ((len + 2) / 3) + 1, pad = (3 - len % 3) % 3;
	char *enc = malloc(enclen);
	unsigned char *dec = malloc(len + pad + 1);
	int n;

	REQUIRE(enc != NULL && dec != NULL);
	REQUIRE(base64_encode(data, len, enc, enclen - 1) == -1);
	n = base64_encode(data, len, enc, enclen);
	REQUIRE(n >= 0 && (size_t)n == enclen - 1 && strlen(enc) == (size_t)n);
	/* room for the decoded octets and the padding, as the API asks */
	REQUIRE(base64_decode(enc, (size_t)n, dec, len + pad) == (int)len);
	REQUIRE(len == 0 || memcmp(dec, data, len) == 0);
	free(enc);
	free(dec);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *src;

	if (size < 1)
		return 0;
	/* a copy of exactly the input's length: a read past it is seen */
	src = malloc(size - 1 > 0 ? size - 1 : 1);
	REQUIRE(src != NULL);
	memcpy(src, data + 1, size - 1);
	check_decode(src, size - 1, data[0]);
	check_round_trip(data + 1, size - 1);
	free(src);
	return 0;
}
