/* SPDX-License-Identifier: ISC */
/*
 * fuzz_bait.c - libFuzzer target for what the bait web server (src/bait/
 * httpd.c) makes of a request: the page and the trap addresses on it.
 *
 * evhttp parses the request; handle() then uses only two things from it:
 * the URI, compared with "/robots.txt" and nothing more (the links on a page
 * are random, not derived from the path), and the peer's address, which
 * becomes a netaddr (netaddr_from_sockaddr()), a log string, the trap
 * store's client key and, through bait_page() and trap_mint(), the page.
 * That is the path fuzzed here, from the sockaddr on.
 *
 * Input: byte 0 (bit 0: IPv6, bit 1: IPv4-mapped IPv6), byte 1 the number
 * of addresses (1-50, as bait_addresses), 4 octets of time, then the
 * address, port, flow label and scope id; what is missing is zero.
 * Checked: the address prints and parses back, its client key fits the
 * trap store's buffer; the page is 7-bit text with the asked number of
 * addresses, each at the bait domain, shown as it is linked, and each one
 * verifies as minted for this client at now, now - 1, ...; the links to
 * more pages are /people/XXXXXXXX.html.
 */
#include <arpa/inet.h>
#include <netinet/in.h>

#include "bait/page.h"
#include "bait/trapaddr.h"
#include "fuzz.h"

#define DOMAIN "example.test"

/* take - the next n octets of the input into out, zeros past its end */
static void
take(const uint8_t **p, const uint8_t *end, void *out, size_t n)
{
	size_t have = (size_t)(end - *p) < n ? (size_t)(end - *p) : n;

	memset(out, 0, n);
	memcpy(out, *p, have);
	*p += have;
}

static void
check_addr(const struct netaddr *na)
{
	char ip[NETADDR_STRLEN], key[80];
	struct netaddr back;

	REQUIRE(na->family == AF_INET || na->family == AF_INET6);
	netaddr_str(na, ip, sizeof(ip));
	REQUIRE(netaddr_parse(&back, ip) == 0 && netaddr_equal(&back, na));
	/* trapstore.c keys its records by this, in a buffer of 80 */
	netaddr_client_key(na, key, sizeof(key));
	REQUIRE(strlen(key) + 1 < sizeof(key));
}

/* check_page - every address on the page is a trap for this client */
static void
check_page(const struct trap_secret *s, const char *page, const struct netaddr *na,
           time_t now, int naddrs)
{
	const char *p = page, *q;
	int found = 0, links = 0;

	for (q = page; *q != '\0'; q++)
		REQUIRE((*q >= 0x20 && *q < 0x7f) || *q == '\n');
	while ((p = strstr(p, "<a href=\"mailto:")) != NULL) {
		char local[80], shown[200];
		struct netaddr h;
		time_t when;
		size_t n;

		p += strlen("<a href=\"mailto:");
		q = strchr(p, '@');
		REQUIRE(q != NULL && (size_t)(q - p) < sizeof(local));
		n = (size_t)(q - p);
		memcpy(local, p, n);
		local[n] = '\0';
		snprintf(shown, sizeof(shown), "@%s\">%s@%s</a>", DOMAIN, local, DOMAIN);
		REQUIRE(strncmp(q, shown, strlen(shown)) == 0);
		REQUIRE(trap_verify(s, local, 0, now, &h, &when) == 1);
		REQUIRE(netaddr_equal(&h, na) && when == now - found);
		found++;
		p = q;
	}
	REQUIRE(found == naddrs);
	for (p = page; (p = strstr(p, "<a href=\"/people/")) != NULL; links++) {
		p += strlen("<a href=\"/people/");
		for (int i = 0; i < 8; i++)
			REQUIRE((p[i] >= '0' && p[i] <= '9') ||
			        (p[i] >= 'a' && p[i] <= 'f'));
		REQUIRE(strncmp(p + 8, ".html\">", 7) == 0);
	}
	REQUIRE(links == 3);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct trap_secret s = {.key = "fuzzing secret, 32 bytes long..",
	                                     .len = 32};
	const uint8_t *p = data, *end = data + size;
	struct sockaddr_storage ss;
	struct netaddr na;
	uint8_t flags = 0, count = 0, t[4];
	time_t now;
	char *page;
	int naddrs;

	take(&p, end, &flags, 1);
	take(&p, end, &count, 1);
	take(&p, end, t, 4);
	naddrs = 1 + count % 50;
	/* the clock, not the client, gives the time: any 32-bit time after
	 * the page's earliest address */
	now = (time_t)((uint32_t)t[0] << 24 | (uint32_t)t[1] << 16 | (uint32_t)t[2] << 8 |
	               t[3]);
	if (now < 50)
		now += 50;

	memset(&ss, 0, sizeof(ss));
	if (flags & 3) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		sin6->sin6_family = AF_INET6;
		take(&p, end, &sin6->sin6_addr, 16);
		if (flags & 2) {
			memset(sin6->sin6_addr.s6_addr, 0, 10);
			memset(sin6->sin6_addr.s6_addr + 10, 0xff, 2);
		}
		take(&p, end, &sin6->sin6_port, 2);
		take(&p, end, &sin6->sin6_flowinfo, 4);
		take(&p, end, &sin6->sin6_scope_id, 4);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		sin->sin_family = AF_INET;
		take(&p, end, &sin->sin_addr, 4);
		take(&p, end, &sin->sin_port, 2);
	}
	REQUIRE(netaddr_from_sockaddr(&na, (const struct sockaddr *)&ss) == 0);
	/* IPv4-mapped addresses are one client with their IPv4 form */
	if ((flags & 3) != 1)
		REQUIRE(na.family == AF_INET);
	check_addr(&na);

	page = bait_page(&s, &na, now, DOMAIN, naddrs);
	REQUIRE(page != NULL);
	check_page(&s, page, &na, now, naddrs);
	free(page);
	return 0;
}
