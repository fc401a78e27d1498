/* SPDX-License-Identifier: ISC */
/*
 * test_tlsa.c - the DNS answer reader DANE trusts (src/dns/tlsa.c): the AD
 * bit of a header, and TLSA records out of an answer section. Messages are
 * built here record by record (a question for _25._tcp.mx.test, then the
 * rows' records), so each row says in words what it holds: usable and
 * unusable records (RFC 7672 §3.1), records tlsa_parse() must skip (other
 * types, other classes), and malformed messages it must refuse (truncated
 * data, short TLSA data, counts larger than the message, bad names).
 */
#include "dns/tlsa.h"
#include "unit.h"

#define MSG_MAX 8192

struct msg {
	unsigned char b[MSG_MAX];
	size_t len;
	unsigned an;
};

static void
put(struct msg *m, const void *p, size_t n)
{
	if (m->len + n > MSG_MAX)
		fail_msg("test message too long");
	memcpy(m->b + m->len, p, n);
	m->len += n;
}

static void
put16(struct msg *m, unsigned v)
{
	unsigned char b[2] = {(unsigned char)(v >> 8), (unsigned char)v};
	put(m, b, 2);
}

/* msg_start - a response header (flags3: RA, AD) and the TLSA question */
static void
msg_start(struct msg *m, unsigned flags3)
{
	static const unsigned char q[] = "\003_25\004_tcp\002mx\004test";
	unsigned char h[12] = {0x12, 0x34, 0x81, (unsigned char)flags3, 0, 1, 0, 0, 0,
	                       0,    0,    0};

	memset(m, 0, sizeof(*m));
	put(m, h, sizeof(h));
	put(m, q, sizeof(q)); /* with its final root label */
	put16(m, DNS_TYPE_TLSA);
	put16(m, 1);
}

/* msg_rr - a record named by a pointer to the question's name */
static void
msg_rr(struct msg *m, unsigned type, unsigned class, const unsigned char *rdata,
       size_t rdlen)
{
	put16(m, 0xc00c);
	put16(m, type);
	put16(m, class);
	put16(m, 0);
	put16(m, 300);
	put16(m, (unsigned)rdlen);
	put(m, rdata, rdlen);
	m->an++;
	m->b[6] = (unsigned char)(m->an >> 8);
	m->b[7] = (unsigned char)m->an;
}

/* msg_tlsa - a TLSA record: usage, selector, mtype and dlen octets of data */
static void
msg_tlsa(struct msg *m, unsigned usage, unsigned selector, unsigned mtype, size_t dlen)
{
	unsigned char rd[3 + 300];

	rd[0] = (unsigned char)usage;
	rd[1] = (unsigned char)selector;
	rd[2] = (unsigned char)mtype;
	for (size_t i = 0; i < dlen && i < 300; i++)
		rd[3 + i] = (unsigned char)(0xa0 + i);
	msg_rr(m, DNS_TYPE_TLSA, 1, rd, 3 + dlen);
}

struct row {
	const char *name;
	void (*build)(struct msg *m);
	int want;          /* tlsa_parse() */
	int want_usable;   /* of those, tlsa_usable() */
	size_t first_dlen; /* the first record's data length */
};

static void
b_ee_sha256(struct msg *m)
{
	msg_tlsa(m, 3, 1, 1, 32);
}
static void
b_ta_sha256_cert(struct msg *m)
{
	msg_tlsa(m, 2, 0, 1, 32);
}
static void
b_full_data(struct msg *m)
{
	msg_tlsa(m, 2, 1, 0, 91);
}
static void
b_sha512(struct msg *m)
{
	msg_tlsa(m, 3, 1, 2, 64);
}
static void
b_wrong_digest_lengths(struct msg *m)
{
	msg_tlsa(m, 3, 1, 2, 32);
	msg_tlsa(m, 3, 1, 1, 64);
	msg_tlsa(m, 3, 1, 1, 31);
}
static void
b_pkix_usages(struct msg *m)
{
	msg_tlsa(m, 0, 0, 1, 32);
	msg_tlsa(m, 1, 1, 1, 32);
}
static void
b_unknown_fields(struct msg *m)
{
	msg_tlsa(m, 4, 1, 1, 32);
	msg_tlsa(m, 3, 2, 1, 32);
	msg_tlsa(m, 3, 1, 3, 32);
	msg_tlsa(m, 255, 255, 255, 1);
}
static void
b_mixed(struct msg *m)
{
	msg_tlsa(m, 1, 1, 1, 32);
	msg_tlsa(m, 3, 1, 1, 32);
	msg_tlsa(m, 2, 0, 2, 64);
}
static void
b_cname_first(struct msg *m)
{
	static const unsigned char target[] = "\002mx\005other\004test";
	msg_rr(m, 5, 1, target, sizeof(target));
	msg_tlsa(m, 3, 0, 1, 32);
}
static void
b_other_class(struct msg *m)
{
	msg_tlsa(m, 3, 1, 1, 32);
	/* the same record in class CH: not ours */
	m->b[m->len - 35 - 8] = 0;
	m->b[m->len - 35 - 7] = 3;
}
static void
b_rrsig_beside(struct msg *m)
{
	unsigned char sig[40] = {0, 52};
	msg_tlsa(m, 3, 1, 1, 32);
	msg_rr(m, 46, 1, sig, sizeof(sig));
}
static void
b_no_answers(struct msg *m)
{
}
static void
b_many(struct msg *m)
{
	for (int i = 0; i < TLSA_RR_MAX + 5; i++)
		msg_tlsa(m, 3, 1, 1, 32);
}
static void
b_no_data(struct msg *m)
{
	msg_tlsa(m, 3, 1, 1, 0);
}
static void
b_rdata_past_end(struct msg *m)
{
	msg_tlsa(m, 3, 1, 1, 32);
	m->len -= 5;
}
static void
b_count_too_large(struct msg *m)
{
	msg_tlsa(m, 3, 1, 1, 32);
	m->b[7] = 2;
}
static void
b_header_only(struct msg *m)
{
	m->len = 11;
}
static void
b_bad_label_type(struct msg *m)
{
	msg_tlsa(m, 3, 1, 1, 32);
	m->b[12] = 0x44; /* the question name's first label: type 01 */
}
static void
b_pointer_cut(struct msg *m)
{
	put16(m, 0xc00c);
	m->len--; /* one octet of the pointer */
	m->b[7] = 1;
}
static void
b_name_too_long(struct msg *m)
{
	unsigned char label[64];

	/* an answer whose name has five 63-octet labels: 320 octets */
	m->b[7] = 1;
	label[0] = 63;
	memset(label + 1, 'a', 63);
	for (int i = 0; i < 5; i++)
		put(m, label, sizeof(label));
	put(m, "", 1);
	put16(m, DNS_TYPE_TLSA);
	put16(m, 1);
	put16(m, 0);
	put16(m, 0);
	put16(m, 4);
	put(m, "\003\001\001\000", 4);
}

static const struct row rows[] = {
    {"DANE-EE SPKI SHA2-256", b_ee_sha256, 1, 1, 32},
    {"DANE-TA Cert SHA2-256", b_ta_sha256_cert, 1, 1, 32},
    {"DANE-TA SPKI full data", b_full_data, 1, 1, 91},
    {"DANE-EE SHA2-512", b_sha512, 1, 1, 64},
    {"digests of the wrong length", b_wrong_digest_lengths, 3, 0, 32},
    {"PKIX-TA and PKIX-EE (RFC 7672 §3.1.3)", b_pkix_usages, 2, 0, 32},
    {"unknown usage, selector, matching type", b_unknown_fields, 4, 0, 32},
    {"one usable among unusable", b_mixed, 3, 2, 32},
    {"CNAME before the TLSA", b_cname_first, 1, 1, 32},
    {"class CH is not IN", b_other_class, 0, 0, 0},
    {"RRSIG beside the TLSA", b_rrsig_beside, 1, 1, 32},
    {"no answers", b_no_answers, 0, 0, 0},
    {"more than TLSA_RR_MAX", b_many, TLSA_RR_MAX, TLSA_RR_MAX, 32},
    {"no association data", b_no_data, -1, 0, 0},
    {"RDATA past the end", b_rdata_past_end, -1, 0, 0},
    {"ANCOUNT larger than the message", b_count_too_large, -1, 0, 0},
    {"shorter than a header", b_header_only, -1, 0, 0},
    {"label type 01", b_bad_label_type, -1, 0, 0},
    {"compression pointer cut", b_pointer_cut, -1, 0, 0},
    {"name over 255 octets", b_name_too_long, -1, 0, 0},
};

static void
test_tlsa_parse(void **state)
{
	for (size_t i = 0; i < NELEM(rows); i++) {
		const struct row *r = &rows[i];
		struct tlsa_rr rr[TLSA_RR_MAX + 8];
		struct msg m;
		int n, usable = 0;

		msg_start(&m, 0xa0);
		r->build(&m);
		/* exactly the message's length: ASan sees a read past it */
		unsigned char *copy = malloc(m.len > 0 ? m.len : 1);
		memcpy(copy, m.b, m.len);
		n = tlsa_parse(copy, m.len, rr, NELEM(rr));
		EXPECT_INT(r->name, "tlsa_parse", n, r->want);
		for (int j = 0; j < n; j++) {
			usable += tlsa_usable(&rr[j]);
			if (rr[j].data < copy || rr[j].data + rr[j].len > copy + m.len)
				UNIT_FAIL("%s: record %d points outside the message",
				          r->name, j);
		}
		EXPECT_INT(r->name, "usable", usable, r->want_usable);
		if (n > 0) {
			EXPECT_INT(r->name, "first data length", rr[0].len,
			           r->first_dlen);
			EXPECT_INT(r->name, "first data octet", rr[0].data[0], 0xa0);
		}
		free(copy);
	}
	UNIT_END();
}

static void
test_tlsa_fields(void **state)
{
	struct tlsa_rr rr[2];
	struct msg m;

	msg_start(&m, 0xa0);
	msg_tlsa(&m, 2, 0, 1, 32);
	msg_tlsa(&m, 3, 1, 2, 64);
	/* max counts: one record asked for, one given */
	EXPECT_INT("max 1", "tlsa_parse", tlsa_parse(m.b, m.len, rr, 1), 1);
	EXPECT_INT("max 2", "tlsa_parse", tlsa_parse(m.b, m.len, rr, 2), 2);
	EXPECT_INT("2 0 1", "usage", rr[0].usage, 2);
	EXPECT_INT("2 0 1", "selector", rr[0].selector, 0);
	EXPECT_INT("2 0 1", "mtype", rr[0].mtype, 1);
	EXPECT_INT("3 1 2", "usage", rr[1].usage, 3);
	EXPECT_INT("3 1 2", "selector", rr[1].selector, 1);
	EXPECT_INT("3 1 2", "mtype", rr[1].mtype, 2);
	EXPECT_INT("3 1 2", "len", rr[1].len, 64);
	EXPECT_INT("3 1 2", "last octet", rr[1].data[63], 0xa0 + 63);
	UNIT_END();
}

static void
test_ad_bit(void **state)
{
	static const struct {
		const char *name;
		unsigned char flags2, flags3;
		size_t len;
		int want;
	} cases[] = {
	    {"response, AD", 0x81, 0xa0, 12, 1},
	    {"response, AD only", 0x80, 0x20, 12, 1},
	    {"response, no AD", 0x81, 0x80, 12, 0},
	    {"response, CD but no AD", 0x81, 0x90, 12, 0},
	    {"a query with AD (not an answer)", 0x01, 0x20, 12, 0},
	    {"shorter than a header", 0x81, 0xa0, 11, 0},
	};
	for (size_t i = 0; i < NELEM(cases); i++) {
		unsigned char h[12] = {0x12, 0x34, cases[i].flags2, cases[i].flags3};
		EXPECT_INT(cases[i].name, "dns_answer_ad", dns_answer_ad(h, cases[i].len),
		           cases[i].want);
	}
	EXPECT_INT("NULL", "dns_answer_ad", dns_answer_ad(NULL, 0), 0);
	UNIT_END();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_tlsa_parse),
	    cmocka_unit_test(test_tlsa_fields),
	    cmocka_unit_test(test_ad_bit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
