/* SPDX-License-Identifier: ISC */
/*
 * fuzz_reply.c - libFuzzer target for the SMTP client's reply parser
 * (src/smtp/client_reply.c): what a server sends, possibly a hostile one.
 *
 * Input: byte 0 chooses the size of the pieces the bytes arrive in (0: one
 * octet at a time); the rest is the server's byte stream, read all at once
 * (the reference) and in pieces, as a socket would deliver it. check() and
 * LLVMFuzzerTestOneInput() say what is checked. Seeds: corpus/reply/.
 */
#include <event2/buffer.h>

#include "fuzz.h"
#include "smtp/client.h"
#include "smtp/client_reply.h"

/*
 * check - the invariants of one reply, and of what is parsed out of it: a
 * code of 200-599, 1 to SMTP_CLIENT_REPLY_LINES lines, text shorter than
 * SMTP_CLIENT_TEXT_MAX with no control octet but tab and the line
 * separators; EHLO extensions bounded, findable, with no separator in them;
 * SIZE and smtp_reply_first() in bounds.
 */
static void
check(const struct smtp_reply *r)
{
	struct smtp_ext exts[SMTP_CLIENT_EXT_MAX];
	size_t len = strlen(r->text), nl = 0, n;
	char first[8];

	REQUIRE(r->code >= 200 && r->code <= 599);
	REQUIRE(!r->local && r->index == 0);
	REQUIRE(r->nlines >= 1 && r->nlines <= SMTP_CLIENT_REPLY_LINES);
	REQUIRE(len < SMTP_CLIENT_TEXT_MAX);
	for (size_t i = 0; i < len; i++) {
		unsigned char b = (unsigned char)r->text[i];
		REQUIRE(b >= 0x20 || b == '\t' || b == '\n');
		REQUIRE(b != 0x7f);
		nl += b == '\n';
	}
	REQUIRE(nl <= r->nlines - 1);

	n = smtp_reply_ehlo(r, exts, SMTP_CLIENT_EXT_MAX);
	REQUIRE(n <= SMTP_CLIENT_EXT_MAX && n <= nl);
	for (size_t i = 0; i < n; i++) {
		size_t kl = strlen(exts[i].kw);
		REQUIRE(kl > 0 && kl < sizeof(exts[i].kw));
		REQUIRE(strpbrk(exts[i].kw, " \n") == NULL);
		REQUIRE(strlen(exts[i].param) < sizeof(exts[i].param));
		REQUIRE(strchr(exts[i].param, '\n') == NULL);
		REQUIRE(smtp_ext_find(exts, n, exts[i].kw) != NULL);
	}
	REQUIRE(smtp_ext_size(exts, n) >= -1);
	REQUIRE(smtp_ext_size(exts, n) == -1 || smtp_ext_find(exts, n, "SIZE") != NULL);

	smtp_reply_first(r, first, sizeof(first));
	REQUIRE(strlen(first) < sizeof(first) && strchr(first, '\n') == NULL);
	REQUIRE(strncmp(first, r->text, strlen(first)) == 0);
	REQUIRE(smtp_reply_first(r, first, 0) == first);
}

/* run - feed in[0..len) step octets at a time; the replies, serialized into
 * seen; returns the status the reading ended with */
static enum smtp_reply_status
run(const unsigned char *in, size_t len, size_t step, struct evbuffer *seen)
{
	struct evbuffer *buf = evbuffer_new();
	struct smtp_reply_reader rr;
	struct smtp_reply r;
	enum smtp_reply_status st = SMTP_REPLY_MORE;

	REQUIRE(buf != NULL);
	memset(&rr, 0, sizeof(rr));
	for (size_t pos = 0; pos < len && st == SMTP_REPLY_MORE;) {
		size_t n = len - pos < step ? len - pos : step;
		evbuffer_add(buf, in + pos, n);
		pos += n;
		while ((st = smtp_reply_read(&rr, buf, &r)) == SMTP_REPLY_DONE) {
			check(&r);
			evbuffer_add_printf(seen, "%d %zu ", r.code, r.nlines);
			evbuffer_add(seen, r.text, strlen(r.text) + 1);
		}
	}
	evbuffer_free(buf);
	return st;
}

/*
 * Both readings give the same replies and end the same way, except that the
 * pieces may see an over-long line sooner: a line of exactly
 * SMTP_CLIENT_LINE_MAX octets is refused while its CRLF has not arrived
 * (client.c did so before the split too).
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct evbuffer *ref, *cut;
	enum smtp_reply_status st_ref, st_cut;
	size_t nref, ncut;

	if (size < 1)
		return 0;
	ref = evbuffer_new();
	cut = evbuffer_new();
	REQUIRE(ref != NULL && cut != NULL);
	st_ref = run(data + 1, size - 1, size, ref);
	st_cut = run(data + 1, size - 1, data[0] ? data[0] : 1, cut);
	REQUIRE(st_ref != SMTP_REPLY_DONE && st_cut != SMTP_REPLY_DONE);

	nref = evbuffer_get_length(ref);
	ncut = evbuffer_get_length(cut);
	if (st_cut == st_ref)
		REQUIRE(ncut == nref);
	else
		REQUIRE(st_cut == SMTP_REPLY_TOO_LONG && ncut <= nref);
	REQUIRE(ncut == 0 ||
	        memcmp(evbuffer_pullup(cut, -1), evbuffer_pullup(ref, -1), ncut) == 0);
	evbuffer_free(ref);
	evbuffer_free(cut);
	return 0;
}
