/* SPDX-License-Identifier: ISC */
/*
 * evsecret.c - a secret's line off a libevent buffer, wiped where it was
 * (evsecret.h).
 * SECURITY: the octets are the client's (its password, encoded); they are
 * copied once into the caller's buffer, which the caller wipes, and zeroed
 * in the evbuffer's own memory before libevent can free or reuse it.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "common/evsecret.h"
#include "common/xmalloc.h"

int
evbuffer_remove_secret(struct evbuffer *in, void *out, size_t len)
{
	struct evbuffer_iovec one[8], *vec = one;
	int n;

	if (evbuffer_copyout(in, out, len) != (ev_ssize_t)len)
		return -1;
	/* The extents the len octets occupy: a line may span several of the
	 * buffer's chains. */
	n = evbuffer_peek(in, (ev_ssize_t)len, NULL, NULL, 0);
	if (n > (int)(sizeof(one) / sizeof(one[0])))
		vec = xreallocarray(NULL, (size_t)n, sizeof(*vec));
	n = evbuffer_peek(in, (ev_ssize_t)len, NULL, vec, n);
	size_t left = len;
	for (int i = 0; i < n && left > 0; i++) {
		size_t k = vec[i].iov_len < left ? vec[i].iov_len : left;
		explicit_bzero(vec[i].iov_base, k);
		left -= k;
	}
	if (vec != one)
		free(vec);
	return evbuffer_drain(in, len);
}
