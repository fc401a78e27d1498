/* SPDX-License-Identifier: ISC */
/*
 * proxyproto.h - the PROXY protocol header (HAProxy's proxy-protocol.txt,
 * versions 1 and 2) that a load balancer sends before the client's first
 * byte: the client's real address and port.
 *
 * proxyproto_parse() reads the start of a connection and says whether a
 * whole header is there, how long it is, and what it says.
 */
#ifndef MOAT_PROXYPROTO_H
#define MOAT_PROXYPROTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

/* proxy-protocol.txt §2.1: a v1 line is at most 107 octets, CRLF included */
#define PROXY_V1_MAX 107
/* A v2 header may carry TLVs up to 64 kB; we skip them, but within this
 * bound: a load balancer's few TLVs (ALPN, authority, SSL, unique id) fit
 * well inside it, and a header past it is refused. */
#define PROXY_V2_MAX 1024
/* the most octets a caller must be ready to hold */
#define PROXY_HEADER_MAX PROXY_V2_MAX

struct proxy_header {
	int version; /* 1 or 2 */
	/* no client address in it (v2 LOCAL, a health check; v1 UNKNOWN; v2
	 * AF_UNSPEC): the connection is the proxy's own */
	int local;
	struct sockaddr_storage src; /* the client, when !local */
	struct sockaddr_storage dst; /* the address the client connected to */
};

/*
 * proxyproto_parse - the first n octets of a connection. Returns the
 * header's length (> 0) when a whole, valid header is there (h filled in),
 * 0 when every octet so far may start one and more are needed, -1 when it
 * is not one or is broken (*why: a short constant reason). A return of 0
 * means all n octets belong to the header: a reader may consume them.
 */
ssize_t proxyproto_parse(const uint8_t *buf, size_t n, struct proxy_header *h,
                         const char **why);

#endif
