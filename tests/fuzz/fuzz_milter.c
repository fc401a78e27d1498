/* SPDX-License-Identifier: ISC */
/*
 * fuzz_milter.c - libFuzzer target for what a milter sends
 * (src/milter/milter_proto.c) and for the header section the milters are
 * shown and that their modifications change (src/milter/milter_msg.c).
 *
 * Input: byte 0 splits the rest: the first part is a message's start (a
 * client's header section), the second a milter's byte stream, framed
 * packet by packet as milter_conn.c frames it; each packet is parsed as a
 * reply, and header modifications are applied to the message. Checked:
 * framing stays in bounds; a parsed reply code is 4xx/5xx with printable
 * text; header names are field names; the header fields shown to a milter
 * are terminated strings with a name; header counts follow the
 * modifications. Seeds: corpus/milter/.
 */
#include <arpa/inet.h>

#include "fuzz.h"
#include "milter/milter_msg.h"
#include "milter/milter_proto.h"

static void
check_headers(const struct mmsg *m)
{
	size_t n = mmsg_nheaders(m);

	for (size_t i = 0; i < n; i++) {
		const char *value = NULL;
		const char *name = mmsg_header(m, i, (int)(i & 1), &value);
		REQUIRE(name != NULL && value != NULL);
		REQUIRE(name[0] != '\0' && strchr(name, ':') == NULL);
		(void)strlen(value);
	}
	REQUIRE(mmsg_header(m, n, 0, &(const char *){NULL}) == NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t split, off = 0, body_off;
	struct mmsg *m;

	if (size < 1)
		return 0;
	split = size > 1 ? (size_t)data[0] * (size - 1) / 255 : 0;
	m = mmsg_from_headers((const char *)data + 1, split, &body_off);
	REQUIRE(body_off <= split);
	check_headers(m);

	const unsigned char *in = data + 1 + split;
	size_t len = size - 1 - split;
	while (off < len) {
		size_t plen, dlen, before = mmsg_nheaders(m);
		const unsigned char *d;
		struct milter_reply r;
		char cmd, err[160];
		int rc = milter_frame(in + off, len - off, &plen, &cmd, &d, &dlen);

		REQUIRE(rc >= -1 && rc <= 1);
		if (rc != 1)
			break;
		REQUIRE(plen >= 5 && plen <= len - off && d + dlen == in + off + plen);
		if (cmd == SMFIC_OPTNEG) {
			uint32_t v, a, p;
			(void)milter_optneg_parse(d, dlen, &v, &a, &p, err, sizeof(err));
		} else if (milter_reply_parse(cmd, d, dlen, &r, err, sizeof(err)) == 0) {
			if (r.cmd == SMFIR_REPLYCODE) {
				REQUIRE(r.code >= 400 && r.code <= 599);
				for (const char *t = r.text; *t; t++)
					REQUIRE(*t == '\n' || (*t >= 32 && *t <= 126));
			}
			if (r.cmd == SMFIR_ADDHEADER || r.cmd == SMFIR_INSHEADER ||
			    r.cmd == SMFIR_CHGHEADER) {
				REQUIRE(r.name[0] != '\0' && strchr(r.name, ':') == NULL);
				REQUIRE(mmsg_apply(m, &r, (int)(off & 1), err,
				                   sizeof(err)) == 0);
				if (r.cmd != SMFIR_CHGHEADER)
					REQUIRE(mmsg_nheaders(m) == before + 1);
				check_headers(m);
			}
		} else
			REQUIRE(strlen(err) < sizeof(err));
		off += plen;
	}
	mmsg_free(m);
	return 0;
}
