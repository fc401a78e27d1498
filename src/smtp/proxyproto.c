/* SPDX-License-Identifier: ISC */
/*
 * proxyproto.c - the PROXY protocol header, versions 1 and 2, read
 * (HAProxy's doc/proxy-protocol.txt).
 *
 * v1 is one text line, "PROXY TCP4|TCP6 SRC DST SPORT DPORT\r\n" or
 * "PROXY UNKNOWN...\r\n", at most 107 octets (§2.1). v2 is a 16-octet head
 * (a 12-octet signature, version and command, family and protocol, length)
 * and that many octets of addresses and TLVs (§2.2); LOCAL (health checks)
 * and AF_UNSPEC carry no client; TCP over IPv4 and IPv6 are read, TLVs are
 * walked to check their lengths and are otherwise skipped.
 * SECURITY: untrusted data read directly from the network (the proxy's
 * first octets, or an attacker's who claims to be one). Every read is
 * checked against n first; a v1 line is bounded by PROXY_V1_MAX and holds
 * printable ASCII only; a v2 header by PROXY_V2_MAX. Addresses go through
 * inet_pton() on a bounded copy; ports are 1-5 digits, at most 65535.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "smtp/proxyproto.h"

static const uint8_t v2_sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                   0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

#define V1_FIELDS 6 /* PROXY, the family, two addresses, two ports */

/* fail - the one way out of a broken header */
static ssize_t
fail(const char **why, const char *reason)
{
	*why = reason;
	return -1;
}

/* v1_port - a decimal port without leading zeros (§2.1); -1 if none */
static int
v1_port(const char *s, size_t len)
{
	int v = 0;

	if (len == 0 || len > 5 || (len > 1 && s[0] == '0'))
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v <= 65535 ? v : -1;
}

/* v1_addr - an address of the family and its port into ss; 0 or -1 */
static int
v1_addr(int family, const char *a, size_t alen, const char *p, size_t plen,
        struct sockaddr_storage *ss)
{
	char text[INET6_ADDRSTRLEN];
	int port = v1_port(p, plen);

	if (port == -1 || alen == 0 || alen >= sizeof(text))
		return -1;
	memcpy(text, a, alen);
	text[alen] = '\0';
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		return inet_pton(AF_INET, text, &sin->sin_addr) == 1 ? 0 : -1;
	}
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons((uint16_t)port);
	return inet_pton(AF_INET6, text, &sin6->sin6_addr) == 1 ? 0 : -1;
}

/* parse_v1 - "PROXY ...\r\n" (§2.1) */
static ssize_t
parse_v1(const uint8_t *buf, size_t n, struct proxy_header *h, const char **why)
{
	const char *line = (const char *)buf;
	const char *f[V1_FIELDS] = {0};
	size_t flen[V1_FIELDS] = {0}, nf = 0, i, start = 0;

	if (memcmp(buf, "PROXY ", n < 6 ? n : 6) != 0)
		return fail(why, "not a PROXY header");
	for (i = 0; i < n; i++) {
		if (i + 2 > PROXY_V1_MAX)
			return fail(why, "v1 header longer than 107 octets");
		if (buf[i] == '\r')
			break;
		if (buf[i] < 0x20 || buf[i] > 0x7e)
			return fail(why, "v1 header with a control or 8-bit octet");
	}
	if (i + 1 >= n)
		return 0; /* no CR yet, or no octet after it */
	if (buf[i + 1] != '\n')
		return fail(why, "v1 header with a CR not followed by LF");
	/* the line up to its CR, in fields split by single spaces; a seventh
	 * field, or an empty one, makes it fail below */
	for (size_t j = 0; j <= i && nf <= V1_FIELDS; j++) {
		if (j < i && line[j] != ' ')
			continue;
		if (nf < V1_FIELDS) {
			f[nf] = line + start;
			flen[nf] = j - start;
		}
		nf++;
		start = j + 1;
	}
	h->version = 1;
	/* UNKNOWN: the proxy cannot tell; anything may follow (§2.1) */
	if (nf >= 2 && flen[1] == 7 && memcmp(f[1], "UNKNOWN", 7) == 0) {
		h->local = 1;
		return (ssize_t)i + 2;
	}
	if (nf < 2 || flen[1] != 4 ||
	    (memcmp(f[1], "TCP4", 4) != 0 && memcmp(f[1], "TCP6", 4) != 0))
		return fail(why, "v1 header neither TCP4, TCP6 nor UNKNOWN");
	if (nf != V1_FIELDS)
		return fail(why, "v1 header without its six fields");
	int family = f[1][3] == '4' ? AF_INET : AF_INET6;
	if (v1_addr(family, f[2], flen[2], f[4], flen[4], &h->src) == -1 ||
	    v1_addr(family, f[3], flen[3], f[5], flen[5], &h->dst) == -1)
		return fail(why, "v1 header with a bad address or port");
	return (ssize_t)i + 2;
}

/* v2_inet - TCP over IPv4 (alen 4) or IPv6 (alen 16): source and
 * destination addresses, then their ports */
static void
v2_inet(const uint8_t *p, size_t alen, struct proxy_header *h)
{
	uint16_t sport = (uint16_t)(p[2 * alen] << 8 | p[2 * alen + 1]);
	uint16_t dport = (uint16_t)(p[2 * alen + 2] << 8 | p[2 * alen + 3]);

	if (alen == 4) {
		struct sockaddr_in *s = (struct sockaddr_in *)&h->src;
		struct sockaddr_in *d = (struct sockaddr_in *)&h->dst;
		s->sin_family = d->sin_family = AF_INET;
		memcpy(&s->sin_addr, p, 4);
		memcpy(&d->sin_addr, p + 4, 4);
		s->sin_port = htons(sport);
		d->sin_port = htons(dport);
		return;
	}
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&h->src;
	struct sockaddr_in6 *d6 = (struct sockaddr_in6 *)&h->dst;
	s6->sin6_family = d6->sin6_family = AF_INET6;
	memcpy(&s6->sin6_addr, p, 16);
	memcpy(&d6->sin6_addr, p + 16, 16);
	s6->sin6_port = htons(sport);
	d6->sin6_port = htons(dport);
}

/* parse_v2 - the binary header (§2.2) */
static ssize_t
parse_v2(const uint8_t *buf, size_t n, struct proxy_header *h, const char **why)
{
	size_t len, total, alen, p;

	if (memcmp(buf, v2_sig, n < sizeof(v2_sig) ? n : sizeof(v2_sig)) != 0)
		return fail(why, "not a PROXY header");
	if (n < 16)
		return 0;
	if ((buf[12] >> 4) != 2)
		return fail(why, "v2 header of another version");
	if ((buf[12] & 0x0f) > 1)
		return fail(why, "v2 header neither LOCAL nor PROXY");
	len = (size_t)buf[14] << 8 | buf[15];
	total = 16 + len;
	if (total > PROXY_V2_MAX)
		return fail(why, "v2 header longer than we take");
	if (n < total)
		return 0;
	h->version = 2;
	/* LOCAL: the proxy's own connection; its family and addresses are
	 * to be ignored (§2.2). AF_UNSPEC: the proxy cannot tell. */
	if ((buf[12] & 0x0f) == 0 || buf[13] == 0x00) {
		h->local = 1;
		return (ssize_t)total;
	}
	switch (buf[13]) {
	case 0x11: /* AF_INET, STREAM */
		alen = 4;
		break;
	case 0x21: /* AF_INET6, STREAM */
		alen = 16;
		break;
	default:
		return fail(why, "v2 header not of TCP over IPv4 or IPv6");
	}
	if (len < 2 * alen + 4)
		return fail(why, "v2 header too short for its family");
	v2_inet(buf + 16, alen, h);
	/* the TLVs (§2.2.7): each must end within the header */
	for (p = 16 + 2 * alen + 4; p < total;) {
		if (total - p < 3)
			return fail(why, "v2 header with a TLV cut short");
		size_t tlen = (size_t)buf[p + 1] << 8 | buf[p + 2];
		if (tlen > total - p - 3)
			return fail(why, "v2 header with a TLV past its end");
		p += 3 + tlen;
	}
	return (ssize_t)total;
}

ssize_t
proxyproto_parse(const uint8_t *buf, size_t n, struct proxy_header *h, const char **why)
{
	memset(h, 0, sizeof(*h));
	*why = "";
	if (n == 0)
		return 0;
	if (buf[0] == 'P')
		return parse_v1(buf, n, h, why);
	if (buf[0] == v2_sig[0])
		return parse_v2(buf, n, h, why);
	return fail(why, "not a PROXY header");
}
