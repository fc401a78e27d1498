/* SPDX-License-Identifier: ISC */
/*
 * fuzz_sendmail.c - libFuzzer target for moat-sendmail's header section
 * reader and address list parser (src/sendmail/headers.c), which read
 * what any local user pipes into sendmail -t.
 *
 * The input is a message, fed line by line as moat-sendmail feeds it,
 * with -t on. Every address found must be bounded, free of control
 * characters (so none ends an SMTP command), and read back by the parser
 * as itself alone; the section sent must hold no Bcc field, keep its
 * bound, and differ from what was read only by the folds of long lines. The whole input
 * is also read as one address list.
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

/* has_cc - "cc" in any case: a Bcc field may be there (it is not sent) */
static int
has_cc(const char *s, size_t n)
{
	for (size_t i = 0; i + 1 < n; i++)
		if ((s[i] == 'c' || s[i] == 'C') && (s[i + 1] == 'c' || s[i + 1] == 'C'))
			return 1;
	return 0;
}

/*
 * check_unfolded - what is sent is what was read (an mbox From line left
 * out), LF as CRLF, but for the CRLFs folding put before white space
 */
static void
check_unfolded(const char *s, size_t size, const struct sm_headers *h)
{
	const char *o = h->out.p;
	size_t i = 0, j = 0;

	if (size >= 5 && memcmp(s, "From ", 5) == 0) {
		const char *nl = memchr(s, '\n', size);
		i = nl ? (size_t)(nl - s) + 1 : size;
	}
	while (j < h->out.len) {
		if (o[j] == '\r') {
			REQUIRE(j + 1 < h->out.len && o[j + 1] == '\n');
			j += 2;
			if (i < size && s[i] == '\n')
				i++;       /* a line end of the input */
			else if (i < size) /* a fold of ours: white space follows */
				REQUIRE(j < h->out.len && (o[j] == ' ' || o[j] == '\t'));
			else /* the input's last line, without its LF */
				REQUIRE(j == h->out.len);
			continue;
		}
		REQUIRE(i < size && s[i] == o[j]);
		i++;
		j++;
	}
	/* and every line sent that has white space to fold at is short */
	for (size_t a = 0; a < h->out.len;) {
		const char *e = memmem(o + a, h->out.len - a, "\r\n", 2);
		size_t len = (size_t)(e - (o + a));
		if (len > SM_LINE_MAX)
			for (size_t k = a + 2; k <= a + SM_LINE_MAX; k++)
				REQUIRE(o[k] != ' ' && o[k] != '\t');
		a += len + 2;
	}
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
	/* folding adds a CRLF per line of at least two octets */
	REQUIRE(h.out.len <= 2 * SM_HEADERS_MAX + 2);
	/* no Bcc field at the start of any line of what is sent */
	for (size_t i = 0; i < h.out.len; i++)
		if (i == 0 || h.out.p[i - 1] == '\n')
			REQUIRE(!(h.out.len - i >= 4 &&
			          strncasecmp(h.out.p + i, "bcc:", 4) == 0));
	if (!has_cc(s, size) && memchr(s, '\r', size) == NULL)
		check_unfolded(s, size, &h);
done:
	sm_headers_free(&h);
	return 0;
}
