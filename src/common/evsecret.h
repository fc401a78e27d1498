/* SPDX-License-Identifier: ISC */
/*
 * evsecret.h - taking a line that may hold a secret (an AUTH command, a
 * SASL response) off a libevent buffer without leaving a copy behind:
 * libevent frees or reuses a buffer's memory without clearing it, so a
 * password read with evbuffer_remove() would stay in the heap.
 */
#ifndef MOAT_EVSECRET_H
#define MOAT_EVSECRET_H

#include <stddef.h>

struct evbuffer;

/*
 * evbuffer_remove_secret - as evbuffer_remove(in, out, len) for the first
 * len octets (which must be there), and those octets are zeroed where in
 * kept them before they are drained. 0, or -1 (nothing taken).
 */
int evbuffer_remove_secret(struct evbuffer *in, void *out, size_t len);

#endif
