/* SPDX-License-Identifier: ISC */
/*
 * fuzz_sendmail.c - libFuzzer target for moat-sendmail's header section
 * reader and address list parser (src/sendmail/headers.c), which read
 * what any local user pipes into sendmail -t.
 *
 * The input is a message, fed line by line as moat-sendmail feeds it,
 * with -t on. Every address found must be bounded, free of control
 * characters (so none ends an SMTP command), and read back by the parser
 * as itself alone; the section sent must hold no Bcc field and keep its
 * bound. The whole input is also read as one address list.
 */
#include <strings.h>

#include "fuzz.h"
#include "sendmail/headers.h"

static int
count_cb(void *arg, const char *addr, size_t len)
{
	size_t *n = arg;
	(void)addr;
	(void)len;
	(*n)++;
	return 0;
}

struct one {
	const char *want;
	size_t wlen, n;
};

static int
same_cb(void *arg, const char *addr, size_t len)
{
	struct one *o = arg;
	REQUIRE(len == o->wlen && memcmp(addr, o->want, len) == 0);
	o->n++;
	return 0;
}

/* check_addr - what holds for every address the parser gives */
static void
check_addr(const char *a, size_t len)
{
	char err[96];
	struct one o = {a, len, 0};

	REQUIRE(len > 0 && len <= SM_ADDR_MAX);
	for (size_t i = 0; i < len; i++)
		REQUIRE(((unsigned char)a[i] >= 0x20 && a[i] != 0x7f) || a[i] == '\t');
	REQUIRE(sm_addrlist_parse(a, len, same_cb, &o, err, sizeof(err)) == 0);
	REQUIRE(o.n == 1);
}

static int
check_cb(void *arg, const char *addr, size_t len)
{
	(void)arg;
	check_addr(addr, len);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct sm_headers h;
	char err[96];
	size_t off = 0, n = 0;
	int ended = 0;

	(void)sm_addrlist_parse(s, size, check_cb, NULL, err, sizeof(err));
	(void)sm_addrlist_parse(s, size, count_cb, &n, err, sizeof(err));

	memset(&h, 0, sizeof(h));
	h.want_rcpts = 1;
	while (off < size && !ended) {
		const char *nl = memchr(s + off, '\n', size - off);
		size_t len = nl ? (size_t)(nl - (s + off)) : size - off;
		enum sm_hdr_status st = sm_headers_line(&h, s + off, len);
		if (st == SM_HDR_ERROR)
			goto done;
		if (st == SM_HDR_END)
			ended = 1;
		off += len + (nl != NULL);
	}
	if (sm_headers_end(&h) == -1)
		goto done;
	REQUIRE(h.rcpts.n <= SM_RCPTS_MAX);
	for (size_t i = 0; i < h.rcpts.n; i++)
		check_addr(h.rcpts.v[i], strlen(h.rcpts.v[i]));
	REQUIRE(h.out.len <= SM_HEADERS_MAX + 2);
	/* no Bcc field at the start of any line of what is sent */
	for (size_t i = 0; i < h.out.len; i++)
		if (i == 0 || h.out.p[i - 1] == '\n')
			REQUIRE(!(h.out.len - i >= 4 &&
			          strncasecmp(h.out.p + i, "bcc:", 4) == 0));
done:
	sm_headers_free(&h);
	return 0;
}
