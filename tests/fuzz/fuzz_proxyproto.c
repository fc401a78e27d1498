/* SPDX-License-Identifier: ISC */
/*
 * fuzz_proxyproto.c - libFuzzer target for what a load balancer (or one who
 * claims to be) sends first: the PROXY header (src/smtp/proxyproto.c), and
 * the bait server's X-Forwarded-For value (src/bait/forwarded.c).
 *
 * Input: the first octets of a connection. Checked: the length returned is
 * -1 (with a reason), 0 (more needed: only ever below PROXY_HEADER_MAX
 * octets) or a header within the input and its bounds; a v1 header ends
 * with CRLF within 107 octets; a client address is IPv4 or IPv6; the header
 * alone parses to the same length, and one octet less asks for more. The
 * same octets as a header value give one address or none. Seeds:
 * corpus/proxyproto/.
 */
#include <sys/socket.h>

#include "bait/forwarded.h"
#include "common/netaddr.h"
#include "fuzz.h"
#include "smtp/proxyproto.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxy_header h, again;
	const char *why = NULL;
	ssize_t n = proxyproto_parse(data, size, &h, &why);

	REQUIRE(n >= -1 && n <= (ssize_t)size && n <= PROXY_HEADER_MAX);
	REQUIRE(why != NULL);
	if (n == -1)
		REQUIRE(why[0] != '\0');
	if (n == 0)
		REQUIRE(size < PROXY_HEADER_MAX);
	if (n > 0) {
		REQUIRE(h.version == 1 || h.version == 2);
		if (h.version == 1)
			REQUIRE(n <= PROXY_V1_MAX && data[n - 2] == '\r' &&
			        data[n - 1] == '\n');
		else
			REQUIRE(n >= 16);
		if (!h.local)
			REQUIRE(
			    (h.src.ss_family == AF_INET || h.src.ss_family == AF_INET6) &&
			    h.dst.ss_family == h.src.ss_family);
		REQUIRE(proxyproto_parse(data, (size_t)n, &again, &why) == n);
		REQUIRE(again.local == h.local && again.version == h.version);
		REQUIRE(proxyproto_parse(data, (size_t)n - 1, &again, &why) == 0);
	}

	char *value = malloc(size + 1);
	struct netaddr na;
	memcpy(value, data, size);
	value[size] = '\0';
	if (forwarded_last(value, &na) == 0)
		REQUIRE(na.family == AF_INET || na.family == AF_INET6);
	free(value);
	return 0;
}
