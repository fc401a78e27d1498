/* SPDX-License-Identifier: ISC */
/*
 * fuzz_tlsa.c - libFuzzer target for the DNS answer reader DANE trusts
 * (src/dns/tlsa.c): dns_answer_ad() and tlsa_parse(), fed what a resolver
 * could send.
 *
 * Input: a DNS message, copied to a buffer of exactly its length so ASan
 * sees any read past it. Checked: every record kept points inside the
 * message with at least one octet of data, at most TLSA_RR_MAX are kept
 * and at most the number asked for; the AD bit is the header's. When
 * libresolv's parser (ns_initparse/ns_parserr) reads the whole message and
 * finds no TLSA record too short to hold data, tlsa_parse() agrees with it
 * on the records of type TLSA and class IN in the answer section, in
 * order: the same count (up to the bound) and the same fields and data.
 */
#include <arpa/nameser.h>
#include <resolv.h>

#include "dns/tlsa.h"
#include "fuzz.h"

/* reference - libresolv's view: the TLSA/IN answers into ref (at most
 * max) and their total; -1 if it cannot read the message, or a TLSA
 * record is too short (tlsa_parse refuses those on its own terms) */
static int
reference(const unsigned char *m, size_t len, ns_rr *ref, size_t max)
{
	ns_msg msg;
	ns_rr rr;
	int n = 0;

	if (ns_initparse(m, (int)len, &msg) == -1)
		return -1;
	for (int i = 0; i < ns_msg_count(msg, ns_s_an); i++) {
		if (ns_parserr(&msg, ns_s_an, i, &rr) == -1)
			return -1;
		if (ns_rr_type(rr) != DNS_TYPE_TLSA || ns_rr_class(rr) != ns_c_in)
			continue;
		if (ns_rr_rdlen(rr) < 4)
			return -1;
		if ((size_t)n < max)
			ref[n] = rr;
		n++;
	}
	return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tlsa_rr out[TLSA_RR_MAX + 4];
	static ns_rr ref[TLSA_RR_MAX];
	unsigned char *m;
	size_t max;
	int n, nref;

	if (size < 1 || size > 65535)
		return 0;
	/* byte 0: how many records the caller has room for */
	max = data[0] % (TLSA_RR_MAX + 4);
	m = malloc(size - 1 > 0 ? size - 1 : 1);
	REQUIRE(m != NULL);
	memcpy(m, data + 1, size - 1);
	size--;

	REQUIRE(dns_answer_ad(m, size) ==
	        (size >= 12 && (m[2] & 0x80) != 0 && (m[3] & 0x20) != 0));
	n = tlsa_parse(m, size, out, max);
	REQUIRE(n >= -1 && n <= TLSA_RR_MAX && (n < 0 || (size_t)n <= max));
	for (int i = 0; i < n; i++) {
		REQUIRE(out[i].len >= 1);
		REQUIRE(out[i].data >= m + 15 && out[i].data + out[i].len <= m + size);
		(void)tlsa_usable(&out[i]);
	}
	nref = reference(m, size, ref, TLSA_RR_MAX);
	if (nref >= 0 && n >= 0) {
		size_t want = (size_t)nref < max ? (size_t)nref : max;
		if (want > TLSA_RR_MAX)
			want = TLSA_RR_MAX;
		REQUIRE((size_t)n == want);
		for (int i = 0; i < n; i++) {
			const unsigned char *rd = ns_rr_rdata(ref[i]);
			REQUIRE(out[i].usage == rd[0] && out[i].selector == rd[1] &&
			        out[i].mtype == rd[2]);
			REQUIRE(out[i].len == (size_t)ns_rr_rdlen(ref[i]) - 3);
			REQUIRE(out[i].data == rd + 3);
		}
	}
	free(m);
	return 0;
}
