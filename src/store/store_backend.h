/* SPDX-License-Identifier: ISC */
/*
 * store_backend.h - what a store backend implements and what the core gives
 * it; private to src/store/.
 *
 * The core (store.c) validates each request, queues it and hands the queue
 * to the backend's run() from the event loop, as a list linked by next, in
 * order. run() performs each request, answers it through store_reply_*()
 * exactly once (at once or, for a network backend, later from the loop) and
 * then calls store_req_free(); it may group requests (one transaction), as
 * long as each sees the effects of those before it and answers follow the
 * order of the list. store_util.c holds
 * the pieces every backend shares: counter text, the token-bucket arithmetic.
 *
 * SECURITY: keys reaching a backend are NUL-terminated and at most
 * STORE_KEY_MAX bytes, values at most STORE_VALUE_MAX (checked in store.c).
 */
#ifndef MOAT_STORE_BACKEND_H
#define MOAT_STORE_BACKEND_H

#include "store/store.h"

enum store_op {
	STORE_OP_GET,
	STORE_OP_PUT,
	STORE_OP_INCR,
	STORE_OP_DEL,
	STORE_OP_TAKE,
	STORE_OP_SCAN,
	STORE_OP_PURGE,
	STORE_OP_COUNT,    /* a share of a counter summed over a prefix */
	STORE_OP_DEL_MATCH /* delete by prefix (key) and suffix (val) */
};

struct store_req {
	struct store_req *next;
	struct store *st;
	enum store_op op;
	int invalid;                 /* refused by the core: answered STORE_ERROR */
	char key[STORE_KEY_MAX + 1]; /* the key, or the scan prefix */
	size_t keylen;
	void *val; /* put: a private copy */
	size_t len;
	uint32_t ttl;
	unsigned flags;
	int64_t delta;
	int64_t max;      /* count: the sum not to pass; 0: no limit */
	size_t prefixlen; /* count: the key's first prefixlen octets are the sum's */
	struct store_bucket bucket;
	uint32_t cost;
	store_scan_each *each;
	int64_t t0_us; /* when it was asked (the store latency metric) */
	union {
		store_done_cb *done; /* put, del, scan */
		store_int_cb *num;   /* incr, purge */
		store_get_cb *get;
		store_take_cb *take;
	} cb;
	void *arg;
};

struct store_backend {
	const char *name;
	/* open - this process's handle, or NULL (logged) */
	void *(*open)(struct store *st, const struct store_config *conf,
	              struct event_base *base);
	/* run - perform the requests of list in order, answer each once, free
	 * each; re-entered only from a callback (a sync call) */
	void (*run)(void *be, struct store_req *list);
	/* close - flush and free; no request is pending */
	void (*close)(void *be);
	/* info - " key=value..." of the backend's state, or NULL: nothing to say */
	void (*info)(void *be, char *buf, size_t bufsz);
};

extern const struct store_backend store_lmdb_backend;
extern const struct store_backend store_redis_backend;

/* store.c */
void store_req_free(struct store_req *req);
void store_reply_status(struct store_req *req, enum store_status status);
void store_reply_int(struct store_req *req, enum store_status status, int64_t value);
void store_reply_get(struct store_req *req, enum store_status status, const void *val,
                     size_t len, int64_t expires_ms);
void store_reply_take(struct store_req *req, enum store_status status,
                      const struct store_take_result *res);
void store_wait(struct store *st, const int *done);

/* store_util.c */
#define STORE_INT_TEXT 24 /* "-9223372036854775808" and a NUL, rounded up */
int store_int_parse(const void *val, size_t len, int64_t *out);
size_t store_int_format(char *buf, size_t bufsz, int64_t v);
time_t store_expires_time(int64_t expires_ms);
int store_bucket_valid(const struct store_bucket *b);
int store_bucket_take(const struct store_bucket *b, uint32_t cost, int64_t now,
                      int64_t tat, struct store_take_result *res, int64_t *new_tat);

#endif
