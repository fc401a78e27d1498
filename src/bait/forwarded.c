/* SPDX-License-Identifier: ISC */
/*
 * forwarded.c - the last address of an X-Forwarded-For header.
 *
 * Each proxy appends the address it got the request from, so only the last
 * element was written by our own proxy; anything before it is the client's
 * word. We take that one, or nothing.
 * SECURITY: the header value is untrusted (it comes from the client
 * through the proxy, which appends to it): only the text after the last
 * comma is looked at, at most NETADDR_STRLEN octets of it are copied, and
 * it must be an address inet_pton() reads, nothing else.
 */
#include <string.h>

#include "bait/forwarded.h"
#include "common/netaddr.h"

int
forwarded_last(const char *value, struct netaddr *na)
{
	const char *p = strrchr(value, ',');
	char text[NETADDR_STRLEN];
	size_t len;

	p = p != NULL ? p + 1 : value;
	while (*p == ' ' || *p == '\t')
		p++;
	len = strlen(p);
	while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
		len--;
	if (len == 0 || len >= sizeof(text))
		return -1;
	memcpy(text, p, len);
	text[len] = '\0';
	return netaddr_parse(na, text);
}
