/* SPDX-License-Identifier: ISC */
/*
 * store_redis_int.h - what the Redis backend's files share (store_redis.c:
 * the requests and their answers; store_redis_conn.c: the connection;
 * store_redis_scripts.c: the Lua scripts).
 */
#ifndef MOAT_STORE_REDIS_INT_H
#define MOAT_STORE_REDIS_INT_H

#include <stdint.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/event.h>
#include <hiredis/async.h>
#include <openssl/sha.h>

#include "store/store_backend.h"

enum redis_script { RS_INCR, RS_TAKE, RS_COUNT, RS_SCAN, RS_DEL_MATCH, RS_N };

extern const char *const redis_scripts[RS_N];

#define RETRY_MIN_MS 100
#define RETRY_MAX_MS 5000
#define KEY_ROOM     (STORE_KEY_MAX + 64 + 1) /* prefix + key */

struct slot;
TAILQ_HEAD(slots, slot);
struct redis_ev;

struct redis_be {
	struct store *st;
	struct event_base *base;
	struct store_config conf;
	redisAsyncContext *ac;
	int up;                   /* the set-up commands answered */
	struct event *retry_ev;   /* the next connection attempt */
	struct event *timeout_ev; /* the oldest command's deadline */
	unsigned retry_ms;
	char sha[RS_N][SHA_DIGEST_LENGTH * 2 + 1];
	struct slots pending; /* commands sent, oldest first */
	int64_t latency_us;   /* of the answers, smoothed (1/8 of each new one) */
	uint64_t errors;      /* requests answered STORE_ERROR for our trouble */
	time_t down_logged;
	int closing;
	struct redis_ev *ev; /* the connection's events (our adapter) */
	int batching;        /* in redis_run(): commands are written at its end */
};

/* One command in flight: its request, until answered (NULL after a
 * timeout answered it; the reply that comes later is dropped). */
struct slot {
	struct redis_be *r;
	struct store_req *req;
	int64_t deadline_ms;
	int64_t sent_us;
	/* get: GET's answer, kept until PTTL's comes */
	char *val;
	size_t vlen;
	enum { GOT_NOTHING, GOT_VALUE, GOT_NIL, GOT_BAD } got;
	TAILQ_ENTRY(slot) entry;
};

/* store_redis_conn.c: the connection, its events, its deadlines */
void redis_conn_open(struct redis_be *r);
void redis_conn_close(struct redis_be *r);
void redis_connect(struct redis_be *r);
void redis_flush(struct redis_be *r);
void redis_arm_timeout(struct redis_be *r);

/* store_redis.c: the answer of one request (x NULL: a failure) */
void redis_answer(struct redis_be *r, struct store_req *req, const redisReply *x,
                  const struct slot *s);

#endif
