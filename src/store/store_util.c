/* SPDX-License-Identifier: ISC */
/*
 * store_util.c - the parts of the store every backend computes the same
 * way: counters as decimal text, expiry in seconds, and the token bucket.
 *
 * The bucket is GCRA (the "generic cell rate algorithm" of ATM networks):
 * instead of a token count and a refill time, the key holds one number, the
 * theoretical arrival time tat at which the bucket is full again. Taking n
 * tokens pushes tat by n * refill_ms; it is refused if tat would run more
 * than capacity * refill_ms ahead of now. One value and one expiry (tat
 * itself) make it a single read-modify-write, easy to keep atomic in an
 * LMDB write transaction or a Redis script.
 *
 * SECURITY: stored text is parsed strictly (digits, optional '-', no
 * overflow); a value that is not a counter is an error, never undefined.
 */
#include <stdint.h>
#include <stdio.h>

#include "store/store_backend.h"

/* store_int_parse - strict decimal int64; 0 on success, -1 if not a counter */
int
store_int_parse(const void *val, size_t len, int64_t *out)
{
	const unsigned char *p = val;
	uint64_t v = 0, max = INT64_MAX;
	size_t i = 0;
	int neg = 0;

	if (len == 0 || len > STORE_INT_TEXT)
		return -1;
	if (p[0] == '-') {
		neg = 1;
		max = (uint64_t)INT64_MAX + 1;
		if (++i == len)
			return -1;
	}
	for (; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		if (v > (max - (p[i] - '0')) / 10)
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	if (neg)
		*out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
	else
		*out = (int64_t)v;
	return 0;
}

/* store_int_format - v as decimal text in buf; returns its length */
size_t
store_int_format(char *buf, size_t bufsz, int64_t v)
{
	int n = snprintf(buf, bufsz, "%lld", (long long)v);

	if (n < 0 || (size_t)n >= bufsz)
		return 0;
	return (size_t)n;
}

/* store_expires_time - expiry in whole seconds, rounded up; 0 stays "never" */
time_t
store_expires_time(int64_t expires_ms)
{
	if (expires_ms <= 0)
		return 0;
	return (time_t)((expires_ms + 999) / 1000);
}

/* store_bucket_valid - 1 if the bucket's limits are within bounds */
int
store_bucket_valid(const struct store_bucket *b)
{
	return b->capacity >= 1 && b->capacity <= STORE_BUCKET_MAX && b->refill_ms >= 1 &&
	       b->refill_ms <= STORE_REFILL_MAX;
}

/*
 * store_bucket_take - GCRA step at time now for a bucket whose stored tat is
 * given (now, or less, for a full bucket). Fills res; returns 1 and sets
 * *new_tat when the caller must store new_tat (with expiry new_tat), 0 when
 * nothing changes. The bounds of store_bucket_valid() keep every product
 * below 2^47, so nothing here overflows.
 */
int
store_bucket_take(const struct store_bucket *b, uint32_t cost, int64_t now, int64_t tat,
                  struct store_take_result *res, int64_t *new_tat)
{
	int64_t t = b->refill_ms, limit = (int64_t)b->capacity * t;
	int64_t used, need;

	/* Time already "owed": 0 for a full bucket, limit for an empty one. A
	 * capacity lowered since the last take can leave more; treat it as empty. */
	used = tat > now ? tat - now : 0;
	if (used > limit)
		used = limit;
	res->remaining = (uint32_t)((limit - used) / t);
	if (cost > b->capacity) {
		res->allowed = 0;
		res->wait_ms = UINT32_MAX;
		return 0;
	}
	need = used + (int64_t)cost * t;
	if (need > limit) {
		res->allowed = 0;
		res->wait_ms =
		    need - limit > UINT32_MAX ? UINT32_MAX : (uint32_t)(need - limit);
		return 0;
	}
	res->allowed = 1;
	res->wait_ms = 0;
	res->remaining = (uint32_t)((limit - need) / t);
	*new_tat = now + need;
	return cost > 0;
}
