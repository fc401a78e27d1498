/* SPDX-License-Identifier: ISC */
/*
 * netaddr.c - IPv4/IPv6 addresses, CIDR blocks, endpoints.
 * SECURITY: input is bounded text (config, DNS names) or kernel sockaddrs.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "common/netaddr.h"

static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* netaddr_fold - turn ::ffff:a.b.c.d into a.b.c.d */
static void
netaddr_fold(struct netaddr *na)
{
	if (na->family == AF_INET6 && memcmp(na->addr, v4mapped, 12) == 0) {
		na->family = AF_INET;
		memmove(na->addr, na->addr + 12, 4);
		memset(na->addr + 4, 0, 12);
	}
}

int
netaddr_from_sockaddr(struct netaddr *na, const struct sockaddr *sa)
{
	memset(na, 0, sizeof(*na));
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
		na->family = AF_INET;
		memcpy(na->addr, &sin->sin_addr, 4);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
		na->family = AF_INET6;
		memcpy(na->addr, &sin6->sin6_addr, 16);
		netaddr_fold(na);
		return 0;
	}
	return -1;
}

int
netaddr_parse(struct netaddr *na, const char *s)
{
	memset(na, 0, sizeof(*na));
	if (inet_pton(AF_INET, s, na->addr) == 1) {
		na->family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, na->addr) == 1) {
		na->family = AF_INET6;
		netaddr_fold(na);
		return 0;
	}
	return -1;
}

const char *
netaddr_str(const struct netaddr *na, char *buf, size_t bufsz)
{
	if (inet_ntop(na->family, na->addr, buf, bufsz) == NULL)
		snprintf(buf, bufsz, "?");
	return buf;
}

int
netaddr_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)sa)->sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	return 0;
}

int
netaddr_equal(const struct netaddr *a, const struct netaddr *b)
{
	size_t len = a->family == AF_INET ? 4 : 16;
	return a->family == b->family && memcmp(a->addr, b->addr, len) == 0;
}

void
netaddr_mask(struct netaddr *na, int prefix)
{
	int bits = na->family == AF_INET ? 32 : 128;
	for (int i = 0; i < bits / 8; i++) {
		int keep = prefix - i * 8;
		if (keep >= 8)
			continue;
		na->addr[i] &= keep <= 0 ? 0 : (uint8_t)(0xff << (8 - keep));
	}
}

int
cidr_parse(struct cidr *c, const char *s)
{
	char buf[NETADDR_STRLEN + 8];
	const char *slash;
	int max;

	if (strlcpy(buf, s, sizeof(buf)) >= sizeof(buf))
		return -1;
	slash = strchr(s, '/');
	if (slash != NULL)
		buf[slash - s] = '\0';
	if (netaddr_parse(&c->net, buf) == -1)
		return -1;
	max = c->net.family == AF_INET ? 32 : 128;
	c->prefix = max;
	if (slash != NULL) {
		const char *err = NULL;
		/* An IPv4-mapped block written in IPv6 form keeps its meaning. */
		int v6written = strchr(buf, ':') != NULL;
		int plen = (int)strtonum(slash + 1, 0, v6written ? 128 : max, &err);
		if (err != NULL)
			return -1;
		if (v6written && c->net.family == AF_INET) {
			if (plen < 96)
				return -1;
			plen -= 96;
		}
		c->prefix = plen;
	}
	netaddr_mask(&c->net, c->prefix);
	return 0;
}

int
cidr_match(const struct cidr *c, const struct netaddr *na)
{
	struct netaddr tmp;

	if (c->net.family != na->family)
		return 0;
	tmp = *na;
	netaddr_mask(&tmp, c->prefix);
	return netaddr_equal(&tmp, &c->net);
}

/* RFC 6890 special-purpose blocks (and their later updates). */
static const char *special_v4[] = {
    "0.0.0.0/8",      "10.0.0.0/8",         "100.64.0.0/10",   "169.254.0.0/16",
    "172.16.0.0/12",  "192.0.0.0/24",       "192.0.2.0/24",    "192.88.99.0/24",
    "192.168.0.0/16", "198.18.0.0/15",      "198.51.100.0/24", "203.0.113.0/24",
    "240.0.0.0/4",    "255.255.255.255/32",
};
static const char *special_v6[] = {
    "::/128",        "64:ff9b::/96", "100::/64", "2001::/23",
    "2001:db8::/32", "2002::/16",    "fc00::/7", "fe80::/10",
};

enum netaddr_class
netaddr_special(const struct netaddr *na)
{
	struct cidr c;
	size_t i;

	if (na->family == AF_INET && na->addr[0] == 127)
		return NA_LOOPBACK;
	if (na->family == AF_INET6) {
		static const uint8_t lo6[16] = {[15] = 1};
		if (memcmp(na->addr, lo6, 16) == 0)
			return NA_LOOPBACK;
		for (i = 0; i < sizeof(special_v6) / sizeof(special_v6[0]); i++)
			if (cidr_parse(&c, special_v6[i]) == 0 && cidr_match(&c, na))
				return NA_SPECIAL;
		return NA_GLOBAL;
	}
	for (i = 0; i < sizeof(special_v4) / sizeof(special_v4[0]); i++)
		if (cidr_parse(&c, special_v4[i]) == 0 && cidr_match(&c, na))
			return NA_SPECIAL;
	return NA_GLOBAL;
}

/*
 * Where delivery does not go unless relay_to_private says so: this host
 * (0.0.0.0/8 and :: reach it as surely as loopback does), loopback,
 * RFC 1918, link-local (RFC 3927, RFC 4291 §2.5.6), unique local
 * (RFC 4193). ::/96 holds ::, ::1 and the deprecated IPv4-compatible
 * forms (RFC 4291 §2.5.5.1); IPv4-mapped ones were folded to IPv4.
 */
static const char *private_v4[] = {
    "0.0.0.0/8",     "127.0.0.0/8",    "10.0.0.0/8",
    "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16",
};
static const char *private_v6[] = {"::/96", "fe80::/10", "fc00::/7"};

int
netaddr_private(const struct netaddr *na)
{
	const char **list = na->family == AF_INET ? private_v4 : private_v6;
	size_t n = na->family == AF_INET ? sizeof(private_v4) / sizeof(private_v4[0])
	                                 : sizeof(private_v6) / sizeof(private_v6[0]);
	struct cidr c;

	for (size_t i = 0; i < n; i++)
		if (cidr_parse(&c, list[i]) == 0 && cidr_match(&c, na))
			return 1;
	return 0;
}

int
endpoint_parse(const char *s, int default_port, struct sockaddr_storage *ss,
               socklen_t *sslen, int allow_unix)
{
	char host[NETADDR_STRLEN + 2];
	const char *portstr = NULL, *err = NULL;
	int port = default_port;

	memset(ss, 0, sizeof(*ss));
	if (strncmp(s, "unix:", 5) == 0) {
		struct sockaddr_un *sun = (struct sockaddr_un *)ss;
		if (!allow_unix || s[5] != '/')
			return -1;
		sun->sun_family = AF_UNIX;
		if (strlcpy(sun->sun_path, s + 5, sizeof(sun->sun_path)) >=
		    sizeof(sun->sun_path))
			return -1;
		*sslen = sizeof(*sun);
		return 0;
	}
	if (s[0] == '[') {
		const char *end = strchr(s, ']');
		if (end == NULL || (size_t)(end - s - 1) >= sizeof(host))
			return -1;
		memcpy(host, s + 1, end - s - 1);
		host[end - s - 1] = '\0';
		if (end[1] == ':')
			portstr = end + 2;
		else if (end[1] != '\0')
			return -1;
	} else {
		const char *colon = strrchr(s, ':');
		/* More than one colon without brackets: a bare IPv6 address. */
		if (colon != NULL && strchr(s, ':') == colon) {
			if ((size_t)(colon - s) >= sizeof(host))
				return -1;
			memcpy(host, s, colon - s);
			host[colon - s] = '\0';
			portstr = colon + 1;
		} else if (strlcpy(host, s, sizeof(host)) >= sizeof(host))
			return -1;
	}
	if (portstr != NULL) {
		port = (int)strtonum(portstr, 1, 65535, &err);
		if (err != NULL)
			return -1;
	}
	if (port <= 0)
		return -1;

	struct netaddr na;
	if (netaddr_parse(&na, host) == -1)
		return -1;
	if (na.family == AF_INET && strchr(host, ':') == NULL) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		memcpy(&sin->sin_addr, na.addr, 4);
		*sslen = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			return -1;
		*sslen = sizeof(*sin6);
	}
	return 0;
}

int
nexthop_parse(const char *s, int default_port, char *host, size_t hostsz, int *port,
              int allow_unix)
{
	const char *colon, *err = NULL;
	size_t hlen;

	*port = default_port;
	if (strncmp(s, "unix:", 5) == 0) {
		if (!allow_unix || s[5] != '/' ||
		    strlen(s + 5) >= sizeof(((struct sockaddr_un *)0)->sun_path) ||
		    strlcpy(host, s, hostsz) >= hostsz)
			return -1;
		*port = 0;
		return 0;
	}
	if (s[0] == '[') {
		const char *end = strchr(s, ']');
		if (end == NULL)
			return -1;
		hlen = (size_t)(end - s - 1);
		colon = end[1] == ':' ? end + 1 : NULL;
		if (end[1] != '\0' && colon == NULL)
			return -1;
		s++;
	} else {
		colon = strrchr(s, ':');
		if (colon != NULL && strchr(s, ':') != colon)
			return -1; /* an IPv6 address needs brackets here */
		hlen = colon ? (size_t)(colon - s) : strlen(s);
	}
	if (hlen == 0 || hlen >= hostsz)
		return -1;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (colon != NULL) {
		*port = (int)strtonum(colon + 1, 1, 65535, &err);
		if (err != NULL)
			return -1;
	}
	struct netaddr na;
	if (netaddr_parse(&na, host) == 0)
		return 0;
	/* otherwise a host name: letters, digits, hyphens, dots */
	for (size_t i = 0; i < hlen; i++) {
		char c = host[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '.'))
			return -1;
	}
	return 0;
}

void
netaddr_client_key(const struct netaddr *na, char *buf, size_t bufsz)
{
	struct netaddr k = *na;
	char s[NETADDR_STRLEN];

	/* One IPv6 host holds a whole /64: count the /64 (RFC 2505 §2.8). */
	if (k.family == AF_INET6) {
		netaddr_mask(&k, 64);
		snprintf(buf, bufsz, "%s/64", netaddr_str(&k, s, sizeof(s)));
	} else
		snprintf(buf, bufsz, "%s", netaddr_str(&k, s, sizeof(s)));
}
