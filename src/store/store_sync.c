/* SPDX-License-Identifier: ISC */
/*
 * store_sync.c - blocking forms of the store operations, for moatctl and
 * tests: each queues the asynchronous operation and runs the queue (and, for
 * a network backend, the loop) until its callback has fired.
 *
 * API: store_*_sync() in store.h. They must not be used by code running on
 * a daemon's event loop, where a slow store would stall every session.
 *
 * SECURITY: store_get_sync never copies more than the caller's buffer size.
 * The answer lives in a heap context, so a callback that comes after a
 * failed wait frees it instead of writing into a stack that is gone.
 */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "store/store_backend.h"

struct sync_ctx {
	int done;
	int orphan; /* the caller gave up waiting: nobody reads the answer */
	enum store_status status;
	int64_t num;
	time_t expires;
	void *buf;
	size_t bufsz;
	size_t len;
	struct store_take_result take;
	store_scan_each *each;
	void *each_arg;
};

/* sync_ctx_new - a context for one call */
static struct sync_ctx *
sync_ctx_new(void)
{
	struct sync_ctx *c = xcalloc(1, sizeof(*c));

	c->status = STORE_ERROR;
	return c;
}

/* sync_arrived - 1 if the answer may be written; frees an orphan's context */
static int
sync_arrived(struct sync_ctx *c, enum store_status status)
{
	if (c->orphan) {
		free(c);
		return 0;
	}
	c->status = status;
	c->done = 1;
	return 1;
}

/* sync_finish - wait for the answer; returns its status, or STORE_ERROR */
static enum store_status
sync_finish(struct store *st, struct sync_ctx *c)
{
	enum store_status status;

	store_wait(st, &c->done);
	if (!c->done) {
		log_warnx("store: synchronous call could not run the event loop");
		c->orphan = 1;
		return STORE_ERROR;
	}
	status = c->status;
	free(c);
	return status;
}

static void
sync_done_cb(enum store_status status, void *arg)
{
	sync_arrived(arg, status);
}

static void
sync_int_cb(enum store_status status, int64_t value, void *arg)
{
	struct sync_ctx *c = arg;

	if (sync_arrived(c, status))
		c->num = value;
}

static void
sync_get_cb(enum store_status status, const void *val, size_t len, time_t expires,
            void *arg)
{
	struct sync_ctx *c = arg;

	if (!sync_arrived(c, status) || status != STORE_OK)
		return;
	c->len = len;
	c->expires = expires;
	if (c->bufsz > 0)
		memcpy(c->buf, val, len < c->bufsz ? len : c->bufsz);
}

static void
sync_take_cb(enum store_status status, const struct store_take_result *res, void *arg)
{
	struct sync_ctx *c = arg;

	if (sync_arrived(c, status))
		c->take = *res;
}

static int
sync_each_cb(const char *key, const void *val, size_t len, time_t expires, void *arg)
{
	struct sync_ctx *c = arg;

	if (c->orphan)
		return 1;
	return c->each(key, val, len, expires, c->each_arg);
}

/* store_get_sync - get into buf; *len is the full length of the value */
enum store_status
store_get_sync(struct store *st, const char *key, void *buf, size_t bufsz, size_t *len,
               time_t *expires)
{
	struct sync_ctx *c = sync_ctx_new();
	enum store_status status;
	size_t got;
	time_t exp;

	c->buf = buf;
	c->bufsz = buf != NULL ? bufsz : 0;
	store_get(st, key, sync_get_cb, c);
	store_wait(st, &c->done);
	if (!c->done) {
		/* Never let a late answer write into buf. */
		c->bufsz = 0;
		c->orphan = 1;
		log_warnx("store: synchronous call could not run the event loop");
		return STORE_ERROR;
	}
	status = c->status;
	got = c->len;
	exp = c->expires;
	free(c);
	if (len != NULL)
		*len = status == STORE_OK ? got : 0;
	if (expires != NULL)
		*expires = status == STORE_OK ? exp : 0;
	return status;
}

/* store_put_sync - put and wait */
enum store_status
store_put_sync(struct store *st, const char *key, const void *val, size_t len,
               uint32_t ttl)
{
	struct sync_ctx *c = sync_ctx_new();

	store_put(st, key, val, len, ttl, sync_done_cb, c);
	return sync_finish(st, c);
}

/* store_incr_sync - incr and wait; *value gets the new value */
enum store_status
store_incr_sync(struct store *st, const char *key, int64_t delta, uint32_t ttl,
                unsigned flags, int64_t *value)
{
	struct sync_ctx *c = sync_ctx_new();
	enum store_status status;

	store_incr(st, key, delta, ttl, flags, sync_int_cb, c);
	store_wait(st, &c->done);
	if (!c->done)
		return sync_finish(st, c);
	if (value != NULL)
		*value = c->num;
	status = c->status;
	free(c);
	return status;
}

/* store_del_sync - delete and wait */
enum store_status
store_del_sync(struct store *st, const char *key)
{
	struct sync_ctx *c = sync_ctx_new();

	store_del(st, key, sync_done_cb, c);
	return sync_finish(st, c);
}

/* store_take_sync - take and wait; *res gets the bucket's answer */
enum store_status
store_take_sync(struct store *st, const char *key, const struct store_bucket *b,
                uint32_t cost, struct store_take_result *res)
{
	struct sync_ctx *c = sync_ctx_new();
	enum store_status status;

	store_take(st, key, b, cost, sync_take_cb, c);
	store_wait(st, &c->done);
	if (!c->done)
		return sync_finish(st, c);
	if (res != NULL)
		*res = c->take;
	status = c->status;
	free(c);
	return status;
}

/* store_scan_sync - scan and wait; each() runs before this returns */
enum store_status
store_scan_sync(struct store *st, const char *prefix, store_scan_each *each, void *arg)
{
	struct sync_ctx *c = sync_ctx_new();

	c->each = each;
	c->each_arg = arg;
	store_scan(st, prefix, each != NULL ? sync_each_cb : NULL, sync_done_cb, c);
	return sync_finish(st, c);
}

/* store_purge_sync - purge and wait; *purged gets how many went */
enum store_status
store_purge_sync(struct store *st, int64_t *purged)
{
	struct sync_ctx *c = sync_ctx_new();
	enum store_status status;

	store_purge(st, sync_int_cb, c);
	store_wait(st, &c->done);
	if (!c->done)
		return sync_finish(st, c);
	if (purged != NULL)
		*purged = c->num;
	status = c->status;
	free(c);
	return status;
}

/* store_del_match_sync - delete by prefix and suffix and wait */
enum store_status
store_del_match_sync(struct store *st, const char *prefix, const char *suffix,
                     int64_t *deleted)
{
	struct sync_ctx *c = sync_ctx_new();
	enum store_status status;

	store_del_match(st, prefix, suffix, sync_int_cb, c);
	store_wait(st, &c->done);
	if (!c->done)
		return sync_finish(st, c);
	if (deleted != NULL)
		*deleted = c->num;
	status = c->status;
	free(c);
	return status;
}
