/* SPDX-License-Identifier: ISC */
/*
 * tlsa.c - the AD bit and the TLSA records of a raw DNS answer.
 *
 * A message is a 12-octet header, the question section (a name, type and
 * class per entry) and the answer section (name, type, class, TTL, RDLENGTH
 * and RDATA per record; RFC 1035 §4.1). Names are only skipped: a label is
 * at most 63 octets, a compression pointer (two octets, top bits 11) ends
 * the name, and the other two label types (01, 10) are refused.
 * SECURITY: untrusted network input; a cursor is never moved past the end
 * it was checked against; counts from the header are bounded by the bytes
 * actually present, not trusted.
 */
#include <string.h>

#include "dns/tlsa.h"

#define HDR_LEN    12
#define NAME_WIRE  255 /* RFC 1035 §3.1: octets of a name on the wire */
#define CLASS_IN   1
#define FLAG_QR    0x80 /* in octet 2 */
#define FLAG_AD    0x20 /* in octet 3 (RFC 4035 §3.2.3) */
#define TLSA_FIXED 3    /* usage, selector, matching type */

static unsigned
get16(const unsigned char *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

int
dns_answer_ad(const unsigned char *abuf, size_t alen)
{
	if (abuf == NULL || alen < HDR_LEN || !(abuf[2] & FLAG_QR))
		return 0;
	return (abuf[3] & FLAG_AD) != 0;
}

/* skip_name - the offset after the name at off, or 0 if it is malformed */
static size_t
skip_name(const unsigned char *m, size_t len, size_t off)
{
	size_t wire = 0;

	while (off < len) {
		unsigned l = m[off];
		if ((l & 0xc0) == 0xc0) /* a pointer ends the name */
			return off + 2 <= len ? off + 2 : 0;
		if ((l & 0xc0) != 0) /* RFC 6891 §5: extended label types are gone */
			return 0;
		wire += l + 1;
		if (wire > NAME_WIRE || off + 1 + l > len)
			return 0;
		off += 1 + l;
		if (l == 0)
			return off;
	}
	return 0;
}

int
tlsa_parse(const unsigned char *abuf, size_t alen, struct tlsa_rr *out, size_t max)
{
	size_t off = HDR_LEN, n = 0;
	unsigned qd, an;

	if (abuf == NULL || alen < HDR_LEN)
		return -1;
	if (max > TLSA_RR_MAX)
		max = TLSA_RR_MAX;
	qd = get16(abuf + 4);
	an = get16(abuf + 6);
	for (unsigned i = 0; i < qd; i++) {
		if ((off = skip_name(abuf, alen, off)) == 0 || alen - off < 4)
			return -1;
		off += 4; /* type, class */
	}
	for (unsigned i = 0; i < an; i++) {
		unsigned type, class, rdlen;
		if ((off = skip_name(abuf, alen, off)) == 0 || alen - off < 10)
			return -1;
		type = get16(abuf + off);
		class = get16(abuf + off + 2);
		rdlen = get16(abuf + off + 8);
		off += 10;
		if (alen - off < rdlen)
			return -1;
		if (type == DNS_TYPE_TLSA && class == CLASS_IN) {
			/* RFC 6698 §2.1: the association data is not empty */
			if (rdlen < TLSA_FIXED + 1)
				return -1;
			if (n < max) {
				out[n].usage = abuf[off];
				out[n].selector = abuf[off + 1];
				out[n].mtype = abuf[off + 2];
				out[n].len = rdlen - TLSA_FIXED;
				out[n].data = abuf + off + TLSA_FIXED;
				n++;
			}
		}
		off += rdlen;
	}
	return (int)n;
}

int
tlsa_usable(const struct tlsa_rr *rr)
{
	if (rr->usage != TLSA_DANE_TA && rr->usage != TLSA_DANE_EE)
		return 0;
	if (rr->selector > 1)
		return 0;
	switch (rr->mtype) {
	case 0:
		return rr->len > 0;
	case 1:
		return rr->len == 32;
	case 2:
		return rr->len == 64;
	default:
		return 0;
	}
}
