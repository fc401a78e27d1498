/* SPDX-License-Identifier: ISC */
/*
 * netaddr.h - IPv4/IPv6 addresses, CIDR blocks, host:port endpoints.
 *
 * netaddr_* convert between sockaddrs, text and a compact struct; IPv4-mapped
 * IPv6 addresses are folded to IPv4 so one rule matches both spellings.
 * cidr_parse()/cidr_match() implement address-block lists (trusted networks,
 * access lists). netaddr_special() classifies RFC 6890 special-use space,
 * which moat answers locally and never sends to DNS.
 * SECURITY: parses config text and client addresses; all input is bounded
 * strings handled by inet_pton().
 */
#ifndef MOAT_NETADDR_H
#define MOAT_NETADDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct netaddr {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16];
};

struct cidr {
	struct netaddr net;
	int prefix;
};

#define NETADDR_STRLEN 46 /* INET6_ADDRSTRLEN */

int netaddr_from_sockaddr(struct netaddr *na, const struct sockaddr *sa);
int netaddr_parse(struct netaddr *na, const char *s);
const char *netaddr_str(const struct netaddr *na, char *buf, size_t bufsz);
int netaddr_port(const struct sockaddr *sa);
int netaddr_equal(const struct netaddr *a, const struct netaddr *b);
/* Zero all bits after the first prefix bits (for /24 and /64 keys). */
void netaddr_mask(struct netaddr *na, int prefix);
/* netaddr_client_key - "ip", or "ipv6/64": one client for per-client
 * counters and bans (one IPv6 host holds a whole /64) */
void netaddr_client_key(const struct netaddr *na, char *buf, size_t bufsz);

int cidr_parse(struct cidr *c, const char *s);
int cidr_match(const struct cidr *c, const struct netaddr *na);

enum netaddr_class {
	NA_GLOBAL = 0,
	NA_LOOPBACK,
	NA_SPECIAL, /* other RFC 6890 special-use space */
};
enum netaddr_class netaddr_special(const struct netaddr *na);

/*
 * netaddr_private - 1 if na is this host, loopback, link-local, RFC 1918 or
 * unique local (fc00::/7) space: delivery found it in DNS or in an address
 * literal, and must not go there (relay_to_private). Give it folded
 * addresses (netaddr_parse/netaddr_from_sockaddr fold IPv4-mapped ones).
 */
int netaddr_private(const struct netaddr *na);

/*
 * endpoint_parse - "host:port", "[v6]:port", "unix:/path" (with allow_unix)
 * or a bare host with default_port; numeric hosts only. Returns 0 or -1.
 */
int endpoint_parse(const char *s, int default_port, struct sockaddr_storage *ss,
                   socklen_t *sslen, int allow_unix);

/*
 * nexthop_parse - a next hop: "unix:/path" (with allow_unix; host gets the
 * whole string, port 0), "[host]:port", "host:port" or "host", where host is
 * an IP address or a host name. Returns 0 or -1.
 */
int nexthop_parse(const char *s, int default_port, char *host, size_t hostsz, int *port,
                  int allow_unix);

#endif
