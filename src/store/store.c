/* SPDX-License-Identifier: ISC */
/*
 * store.c - the store's front: picks the backend named in the config,
 * checks every request, and runs the queue of requests from the event loop
 * so that no callback ever fires inside the call that asked for it.
 *
 * API: store.h. Backends: store_backend.h (store_lmdb.c today).
 *
 * Requests wait in one FIFO per process; a user-triggered libevent event
 * (event_active) runs the whole FIFO on the next loop pass, handing the
 * backend each stretch of valid requests at once (LMDB commits a stretch
 * of writes once). A callback that
 * issues more requests appends them; they run after it returns, never
 * inside it. A request refused here (key too long, bad bucket) is still
 * queued and answered STORE_ERROR from the loop, so callers see one
 * behaviour whatever happens.
 *
 * SECURITY: the key, value and bucket lengths are checked here, before any
 * copy, so backends only ever see bounded, NUL-terminated keys.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "metrics/metrics.h"
#include "store/store_backend.h"

struct store {
	const struct store_backend *backend;
	void *be;
	struct event_base *base;
	struct event_base *own_base; /* made for tools that have no loop */
	struct event *run_ev;
	struct store_req *head, **tail;
	int depth;   /* store_run_queue() calls on the stack */
	int closing; /* store_close() was called from a callback */
	store_clock *clock;
	void *clock_arg;
};

static const struct store_backend *const store_backends[] = {
    &store_lmdb_backend,
    &store_redis_backend,
};

/* store_config_defaults - backend "lmdb", 256 MiB map, flush every second */
void
store_config_defaults(struct store_config *conf)
{
	memset(conf, 0, sizeof(*conf));
	strlcpy(conf->backend, "lmdb", sizeof(conf->backend));
	strlcpy(conf->path, "/var/db/moat/store", sizeof(conf->path));
	conf->map_size = (size_t)256 << 20;
	conf->sync_ms = 1000;
}

/* store_real_clock - CLOCK_REALTIME in ms: expiry is shared between processes */
static int64_t
store_real_clock(void *arg)
{
	return clock_real_ms();
}

/* store_now - the store's clock, in milliseconds */
int64_t
store_now(struct store *st)
{
	return st->clock(st->clock_arg);
}

static void store_run_queue(struct store *st);
static void store_free(struct store *st);

/* store_run_cb - the event loop's turn: run what is queued */
static void
store_run_cb(evutil_socket_t fd, short what, void *arg)
{
	store_run_queue(arg);
}

/* store_open - pick the backend, make the queue, open this process's handle */
struct store *
store_open(const struct store_config *conf, struct event_base *base)
{
	const struct store_backend *backend = NULL;
	struct store *st;

	for (size_t i = 0; i < sizeof(store_backends) / sizeof(store_backends[0]); i++)
		if (strcmp(conf->backend, store_backends[i]->name) == 0)
			backend = store_backends[i];
	if (backend == NULL) {
		log_warnx("store: unknown backend %s", log_escape_str(conf->backend));
		return NULL;
	}
	st = xcalloc(1, sizeof(*st));
	st->backend = backend;
	st->tail = &st->head;
	st->clock = conf->clock != NULL ? conf->clock : store_real_clock;
	st->clock_arg = conf->clock_arg;
	if (base == NULL && (base = st->own_base = event_base_new()) == NULL) {
		log_warnx("store: event_base_new failed");
		goto fail;
	}
	st->base = base;
	if ((st->run_ev = event_new(base, -1, 0, store_run_cb, st)) == NULL) {
		log_warnx("store: event_new failed");
		goto fail;
	}
	if ((st->be = backend->open(st, conf, base)) == NULL)
		goto fail;
	return st;
fail:
	store_free(st);
	return NULL;
}

/* store_free - release the front's own resources */
static void
store_free(struct store *st)
{
	if (st->run_ev != NULL)
		event_free(st->run_ev);
	if (st->own_base != NULL)
		event_base_free(st->own_base);
	free(st);
}

/* store_info - the backend's state for moatctl stats ("" if it has none) */
void
store_info(struct store *st, char *buf, size_t bufsz)
{
	buf[0] = '\0';
	if (st->backend->info != NULL)
		st->backend->info(st->be, buf, bufsz);
}

/* store_close - run what is queued, close the backend, free everything */
void
store_close(struct store *st)
{
	if (st == NULL)
		return;
	if (st->depth > 0) {
		/* Called from a callback: the outermost queue run finishes the job. */
		st->closing = 1;
		return;
	}
	while (st->head != NULL)
		store_run_queue(st);
	st->backend->close(st->be);
	store_free(st);
}

/* store_run_queue - take the queue as it is now and run it in order */
static void
store_run_queue(struct store *st)
{
	struct store_req *req, *next;

	req = st->head;
	st->head = NULL;
	st->tail = &st->head;
	st->depth++;
	while (req != NULL) {
		if (req->invalid) {
			next = req->next;
			req->next = NULL;
			store_reply_status(req, STORE_ERROR);
			store_req_free(req);
			req = next;
			continue;
		}
		/* The valid requests up to the next refused one go to the backend
		 * together: it may share one transaction among them. */
		struct store_req **end = &req->next;

		while (*end != NULL && !(*end)->invalid)
			end = &(*end)->next;
		next = *end;
		*end = NULL;
		st->backend->run(st->be, req);
		req = next;
	}
	st->depth--;
	if (st->depth == 0 && st->closing) {
		st->closing = 0;
		store_close(st);
	}
}

/* store_wait - for the sync wrappers: run the queue until *done is set */
void
store_wait(struct store *st, const int *done)
{
	while (!*done && st->head != NULL)
		store_run_queue(st);
	/* A network backend answers later, from the loop. */
	while (!*done)
		if (event_base_loop(st->base, EVLOOP_ONCE) == -1)
			break;
}

/* store_req_new - a request for key, refused (invalid) if the key is too long */
static struct store_req *
store_req_new(struct store *st, enum store_op op, const char *key, void *arg)
{
	struct store_req *req = xcalloc(1, sizeof(*req));

	req->st = st;
	req->op = op;
	req->arg = arg;
	req->t0_us = clock_mono_us();
	req->keylen = strnlen(key, STORE_KEY_MAX + 1);
	/* Only scan (a prefix) and purge (no key) may have an empty key. */
	if (req->keylen > STORE_KEY_MAX ||
	    (req->keylen == 0 && op != STORE_OP_SCAN && op != STORE_OP_PURGE)) {
		req->invalid = 1;
		req->keylen = 0;
	} else
		memcpy(req->key, key, req->keylen);
	return req;
}

/* store_submit - append req to the queue and ask the loop for a turn */
static void
store_submit(struct store *st, struct store_req *req)
{
	*st->tail = req;
	st->tail = &req->next;
	event_active(st->run_ev, 0, 0);
}

/* store_req_free - free a request and its value copy; an answered
 * single-key operation's latency is counted (scans and sweeps are the
 * control process's and the master's, not the screening's) */
void
store_req_free(struct store_req *req)
{
	if (req->op != STORE_OP_SCAN && req->op != STORE_OP_PURGE &&
	    req->op != STORE_OP_DEL_MATCH)
		metrics_observe(M_STORE_SECONDS, clock_mono_us() - req->t0_us);
	free(req->val);
	free(req);
}

/* store_reply_status - answer a request with a status and nothing else */
void
store_reply_status(struct store_req *req, enum store_status status)
{
	static const struct store_take_result none;

	switch (req->op) {
	case STORE_OP_GET:
		store_reply_get(req, status, NULL, 0, 0);
		break;
	case STORE_OP_INCR:
	case STORE_OP_PURGE:
	case STORE_OP_COUNT:
	case STORE_OP_DEL_MATCH:
		store_reply_int(req, status, 0);
		break;
	case STORE_OP_TAKE:
		store_reply_take(req, status, &none);
		break;
	default:
		if (req->cb.done != NULL)
			req->cb.done(status, req->arg);
	}
}

/* store_reply_int - answer incr or purge */
void
store_reply_int(struct store_req *req, enum store_status status, int64_t value)
{
	if (req->cb.num != NULL)
		req->cb.num(status, value, req->arg);
}

/* store_reply_get - answer get; val is valid during the callback only */
void
store_reply_get(struct store_req *req, enum store_status status, const void *val,
                size_t len, int64_t expires_ms)
{
	if (req->cb.get != NULL)
		req->cb.get(status, val, len, store_expires_time(expires_ms), req->arg);
}

/* store_reply_take - answer take */
void
store_reply_take(struct store_req *req, enum store_status status,
                 const struct store_take_result *res)
{
	if (req->cb.take != NULL)
		req->cb.take(status, res, req->arg);
}

/* store_get - queue a get */
void
store_get(struct store *st, const char *key, store_get_cb *cb, void *arg)
{
	struct store_req *req = store_req_new(st, STORE_OP_GET, key, arg);

	req->cb.get = cb;
	store_submit(st, req);
}

/* store_put - queue a put; the value is copied now */
void
store_put(struct store *st, const char *key, const void *val, size_t len, uint32_t ttl,
          store_done_cb *cb, void *arg)
{
	struct store_req *req = store_req_new(st, STORE_OP_PUT, key, arg);

	req->cb.done = cb;
	req->ttl = ttl;
	if (len > STORE_VALUE_MAX || (val == NULL && len > 0))
		req->invalid = 1;
	else {
		req->val = xmalloc(len);
		if (len > 0)
			memcpy(req->val, val, len);
		req->len = len;
	}
	store_submit(st, req);
}

/* store_incr - queue an atomic add */
void
store_incr(struct store *st, const char *key, int64_t delta, uint32_t ttl, unsigned flags,
           store_int_cb *cb, void *arg)
{
	struct store_req *req = store_req_new(st, STORE_OP_INCR, key, arg);

	req->cb.num = cb;
	req->delta = delta;
	req->ttl = ttl;
	req->flags = flags;
	store_submit(st, req);
}

struct counter_add {
	uint64_t *sent;
	uint64_t delta;
};

/* counter_added - the store's answer; a failed addition is sent again later */
static void
counter_added(enum store_status status, int64_t value, void *arg)
{
	struct counter_add *a = arg;

	if (status != STORE_OK)
		*a->sent -= a->delta;
	free(a);
}

void
store_counter_flush(struct store *st, const char *key, uint64_t count, uint64_t *sent)
{
	struct counter_add *a;

	if (count == *sent)
		return;
	a = xmalloc(sizeof(*a));
	a->sent = sent;
	a->delta = count - *sent;
	*sent = count;
	store_incr(st, key, (int64_t)a->delta, 0, STORE_TTL_KEEP, counter_added, a);
}

static void
metric_flush_one(const char *key, uint64_t count, uint64_t *sent, void *arg)
{
	store_counter_flush(arg, key, count, sent);
}

void
store_metrics_flush(struct store *st)
{
	if (st != NULL)
		metrics_flush(metric_flush_one, st);
}

/* store_del - queue a delete */
void
store_del(struct store *st, const char *key, store_done_cb *cb, void *arg)
{
	struct store_req *req = store_req_new(st, STORE_OP_DEL, key, arg);

	req->cb.done = cb;
	store_submit(st, req);
}

/* store_take - queue a token-bucket take */
void
store_take(struct store *st, const char *key, const struct store_bucket *b, uint32_t cost,
           store_take_cb *cb, void *arg)
{
	struct store_req *req = store_req_new(st, STORE_OP_TAKE, key, arg);

	req->cb.take = cb;
	req->bucket = *b;
	req->cost = cost;
	if (!store_bucket_valid(b))
		req->invalid = 1;
	store_submit(st, req);
}

/* store_scan - queue a prefix scan */
void
store_scan(struct store *st, const char *prefix, store_scan_each *each,
           store_done_cb *done, void *arg)
{
	struct store_req *req = store_req_new(st, STORE_OP_SCAN, prefix, arg);

	req->each = each;
	req->cb.done = done;
	if (each == NULL)
		req->invalid = 1;
	store_submit(st, req);
}

/* store_count - queue a change of one share of a summed counter */
void
store_count(struct store *st, const char *key, size_t prefixlen, int64_t delta,
            int64_t max, uint32_t ttl, store_int_cb *cb, void *arg)
{
	struct store_req *req = store_req_new(st, STORE_OP_COUNT, key, arg);

	req->cb.num = cb;
	req->delta = delta;
	req->max = max;
	req->ttl = ttl;
	req->prefixlen = prefixlen;
	/* the share must be longer than the counter's name */
	if (prefixlen == 0 || prefixlen >= req->keylen || max < 0)
		req->invalid = 1;
	store_submit(st, req);
}

/* store_del_match - queue a delete by prefix and suffix */
void
store_del_match(struct store *st, const char *prefix, const char *suffix,
                store_int_cb *cb, void *arg)
{
	struct store_req *req = store_req_new(st, STORE_OP_DEL_MATCH, prefix, arg);
	size_t n = strnlen(suffix, STORE_KEY_MAX + 1);

	req->cb.num = cb;
	if (n > STORE_KEY_MAX)
		req->invalid = 1;
	else {
		req->val = xmalloc(n + 1);
		memcpy(req->val, suffix, n + 1);
		req->len = n;
	}
	store_submit(st, req);
}

/* store_purge - queue a purge of expired entries */
void
store_purge(struct store *st, store_int_cb *cb, void *arg)
{
	struct store_req *req = store_req_new(st, STORE_OP_PURGE, "", arg);

	req->cb.num = cb;
	store_submit(st, req);
}
