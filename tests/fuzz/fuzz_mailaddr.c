/* SPDX-License-Identifier: ISC */
/*
 * fuzz_mailaddr.c - libFuzzer target for the RFC 5321 path parser.
 *
 * The input is a path as it follows "MAIL FROM:" or "RCPT TO:", parsed under
 * each combination of options. A parsed address must keep its limits and its
 * flags must match its text; formatted by mailaddr_format() it must parse
 * back to the same mailbox (what goes to the queue is what the client named).
 * domain_valid() and local_is_dotstring() are checked against the parser.
 * With SMTPUTF8 allowed, UTF-8 in an accepted local part is well-formed and
 * flagged, and a domain is always kept in ASCII (A-labels).
 */
#include "common/mailaddr.h"
#include "fuzz.h"

static int
all_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return 0;
	return 1;
}

/* check_addr - what holds for every address the parser accepts */
static void
check_addr(const char *s, size_t n, unsigned opts, const struct mailaddr *a, size_t used)
{
	size_t llen = strnlen(a->local, sizeof(a->local));
	size_t dlen = strnlen(a->domain, sizeof(a->domain));

	REQUIRE(used >= 2 && used <= n && used <= MAILADDR_PATH_MAX);
	REQUIRE(s[0] == '<' && s[used - 1] == '>');
	REQUIRE(llen <= MAILADDR_LOCAL_MAX && dlen <= MAILADDR_DOMAIN_MAX);
	/* UTF-8 only when allowed, well-formed, flagged; a domain is always
	 * ASCII (U-labels are kept as A-labels) */
	REQUIRE(all_ascii(a->domain));
	REQUIRE(utf8_valid(a->local, llen));
	if (!(a->flags & MA_UTF8))
		REQUIRE(all_ascii(a->local));
	else
		REQUIRE(opts & MA_ALLOW_UTF8);
	if (a->flags & MA_NULL) {
		REQUIRE(opts & MA_ALLOW_NULL);
		REQUIRE(used == 2 && llen == 0 && dlen == 0 && a->flags == MA_NULL);
		return;
	}
	REQUIRE(llen > 0);
	REQUIRE(!(a->flags & MA_NODOMAIN) == (dlen > 0));
	if (a->flags & MA_NODOMAIN) {
		/* Only <postmaster> and bang paths, never after a route. */
		REQUIRE(opts & MA_ALLOW_NODOMAIN);
		REQUIRE(mailaddr_is_postmaster(a) || (a->flags & MA_BANG));
		REQUIRE(!(a->flags & MA_ROUTE));
	}
	/* The relay decision trusts these flags: they must match the text. */
	REQUIRE(!!(a->flags & MA_PERCENT) == (memchr(a->local, '%', llen) != NULL));
	REQUIRE(!!(a->flags & MA_BANG) == (memchr(a->local, '!', llen) != NULL));
	REQUIRE(!!(a->flags & MA_AT_IN_LOCAL) == (memchr(a->local, '@', llen) != NULL));
	REQUIRE(!!(a->flags & MA_LITERAL) == (a->domain[0] == '['));
	REQUIRE(!!(a->flags & MA_ROUTE) == (s[1] == '@'));
	if (a->flags & MA_LITERAL)
		REQUIRE(a->domain[dlen - 1] == ']');
	else if (dlen > 0)
		REQUIRE(domain_valid(a->domain, dlen));
	if (!(a->flags & MA_QUOTED))
		REQUIRE(local_is_dotstring(a->local, llen));
}

/* check_round_trip - format, parse again, compare */
static void
check_round_trip(unsigned opts, const struct mailaddr *a)
{
	char fmt[MAILADDR_FMT_MAX], again[MAILADDR_FMT_MAX + 2];
	struct mailaddr b;
	size_t n, used;
	int err;

	n = mailaddr_format(a, fmt, sizeof(fmt));
	REQUIRE(n < sizeof(fmt) && n == strlen(fmt));
	again[0] = '<';
	memcpy(again + 1, fmt, n);
	again[n + 1] = '>';
	err = mailaddr_parse_path(again, n + 2, opts, &b, &used);
	if (err != MAE_OK)
		fprintf(stderr, "reparse of <%s>: %s\n", fmt, mailaddr_strerror(err));
	REQUIRE(err == MAE_OK);
	REQUIRE(used == n + 2);
	REQUIRE(strcmp(a->local, b.local) == 0);
	REQUIRE(strcmp(a->domain, b.domain) == 0);
	/* MA_UTF8 tells of the wire form: a U-label domain comes back as its
	 * A-labels, flagged only if the local part is UTF-8 */
	REQUIRE((a->flags & ~(MA_ROUTE | MA_QUOTED | MA_UTF8)) ==
	        (b.flags & ~(MA_ROUTE | MA_QUOTED | MA_UTF8)));
	REQUIRE(!!(b.flags & MA_UTF8) == !all_ascii(b.local));
}

/* check_helpers - the exported predicates agree with the parser */
static void
check_helpers(const char *s, size_t n)
{
	struct mailaddr a;
	char path[MAILADDR_PATH_MAX + 16];
	size_t used;

	if (domain_valid(s, n) && n + 4 <= MAILADDR_PATH_MAX) {
		memcpy(path, "<u@", 3);
		memcpy(path + 3, s, n);
		path[n + 3] = '>';
		REQUIRE(mailaddr_parse_path(path, n + 4, 0, &a, &used) == MAE_OK);
		REQUIRE(used == n + 4 && strlen(a.domain) == n &&
		        memcmp(a.domain, s, n) == 0);
	}
	if (local_is_dotstring(s, n) && n <= MAILADDR_LOCAL_MAX) {
		path[0] = '<';
		memcpy(path + 1, s, n);
		memcpy(path + 1 + n, "@x>", 3);
		/* a UTF-8 dot-string parses where SMTPUTF8 allows it */
		REQUIRE(mailaddr_parse_path(path, n + 4, MA_ALLOW_UTF8, &a, &used) ==
		        MAE_OK);
		REQUIRE(strlen(a.local) == n && memcmp(a.local, s, n) == 0);
		REQUIRE(!(a.flags & MA_QUOTED));
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned optsets[] = {0,
	                                   MA_ALLOW_NULL,
	                                   MA_ALLOW_NODOMAIN,
	                                   MA_ALLOW_NULL | MA_ALLOW_NODOMAIN,
	                                   MA_ALLOW_UTF8,
	                                   MA_ALLOW_NULL | MA_ALLOW_UTF8,
	                                   MA_ALLOW_NODOMAIN | MA_ALLOW_UTF8};
	const char *s = (const char *)data;

	for (size_t i = 0; i < sizeof(optsets) / sizeof(optsets[0]); i++) {
		struct mailaddr a;
		size_t used = 0;
		int err = mailaddr_parse_path(s, size, optsets[i], &a, &used);

		REQUIRE(mailaddr_strerror(err) != NULL);
		if (err != MAE_OK)
			continue;
		check_addr(s, size, optsets[i], &a, used);
		check_round_trip(optsets[i], &a);
	}
	check_helpers(s, size);
	return 0;
}
