/* SPDX-License-Identifier: ISC */
/*
 * store.h - the one interface to moat's shared state: greylist triplets,
 * rate limits, bans, the verdict cache. Which backend sits behind it (LMDB
 * now, Redis later) is chosen by store_config.backend and known only inside
 * src/store/.
 *
 * API: store_open() in each process, after fork and on that process's event
 * loop; store_get/put/incr/del/take/scan/purge() are asynchronous: they
 * return at once and call their callback later from the event loop, never
 * from inside the call, in the order the operations were issued. The
 * store_*_sync() variants (store_sync.c) are for command-line tools.
 *
 * Keys are NUL-terminated strings of at most STORE_KEY_MAX bytes with a
 * conventional prefix ("grey:", "ban:", "rate:"); values are opaque bytes of
 * at most STORE_VALUE_MAX. An expired entry is invisible at once, before
 * store_purge() reclaims its space. Counters and buckets are stored as
 * decimal text, so a get on them reads the same on every backend.
 *
 * SECURITY: keys and values may be derived from remote input (addresses,
 * HELO names); their length is checked before anything is copied, and keys
 * longer than STORE_KEY_MAX are refused (callers hash long triplets).
 * Our own trouble (store down, disk or map full) is reported as STORE_ERROR,
 * which policy turns into a 4xx; nothing here is fatal after start-up.
 */
#ifndef MOAT_STORE_H
#define MOAT_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct event_base;
struct store;

#define STORE_KEY_MAX   400   /* bytes, without the NUL; below LMDB's 511 */
#define STORE_VALUE_MAX 65536 /* bytes */

enum store_status { STORE_OK = 0, STORE_NOT_FOUND, STORE_ERROR };

/* store_clock - milliseconds since the Unix epoch; tests substitute one */
typedef int64_t store_clock(void *arg);

struct store_config {
	char backend[16]; /* "lmdb" or "redis" */
	char path[1024];  /* lmdb: directory, made by the caller, owned by the run user */
	size_t map_size;  /* lmdb: bytes: the largest the database may grow */
	unsigned sync_ms; /* lmdb: flush to disk this often; 0 = on every commit */
	store_clock *clock; /* NULL = the real-time clock */
	void *clock_arg;
	/* redis: "host:port", "[v6]:port" or a unix socket path */
	char redis_address[256];
	char redis_password[256]; /* "" for none */
	int redis_db;
	char redis_prefix[64];     /* before every key: sites sharing a server */
	unsigned redis_timeout_ms; /* a command not answered by then fails */
};

/* Token bucket: holds up to capacity tokens, one more every refill_ms. */
struct store_bucket {
	uint32_t capacity;  /* 1 .. STORE_BUCKET_MAX */
	uint32_t refill_ms; /* 1 .. STORE_REFILL_MAX */
};
#define STORE_BUCKET_MAX 1000000
#define STORE_REFILL_MAX 86400000 /* one token a day at the slowest */

struct store_take_result {
	int allowed;        /* 1: the tokens were taken */
	uint32_t remaining; /* whole tokens left after this call */
	uint32_t wait_ms;   /* if denied: time until cost tokens are there */
};

/* Callbacks. Pointers passed to them are valid only during the call. */
typedef void store_done_cb(enum store_status, void *arg);
typedef void store_int_cb(enum store_status, int64_t value, void *arg);
typedef void store_get_cb(enum store_status, const void *val, size_t len, time_t expires,
                          void *arg);
typedef void store_take_cb(enum store_status, const struct store_take_result *,
                           void *arg);
/* store_scan_each - one live entry; return non-zero to stop the scan */
typedef int store_scan_each(const char *key, const void *val, size_t len, time_t expires,
                            void *arg);

/* incr flags */
#define STORE_TTL_KEEP    0x0 /* the TTL is set only when the counter is created */
#define STORE_TTL_REFRESH 0x1 /* every incr resets the expiry to now + ttl */

/* store_config_defaults - backend "lmdb", 256 MiB map, flush every second */
void store_config_defaults(struct store_config *conf);
struct moat_conf;
/*
 * store_host_tag - "" (LMDB: one host), or "@" and 8 hex digits of the
 * hostname's SHA-1 (Redis: hosts share the store): what makes a process's
 * name in the store ("wPID@TAG") unique among the hosts, and what selects
 * one host's keys when its master sweeps them.
 */
void store_host_tag(const struct moat_conf *c, char *buf, size_t bufsz);
/* "host:@TAG", refreshed every 3 s by each SMTP worker, lives this long: a
 * summed counter's shares of a host without it are not counted */
#define STORE_HOST_TTL 10
/* store_config_moat - the daemon's store: state_dir/store and its limits */
void store_config_moat(struct store_config *sc, const struct moat_conf *c);
/* store_config_lmdb - the LMDB store of state_dir (traps: its trap
 * bookkeeping's), whatever store says: what moatctl store migrate reads */
void store_config_lmdb(struct store_config *sc, const struct moat_conf *c, int traps);
/* store_config_traps - the trap bookkeeping's store: state_dir/traps, a
 * quarter of store_map_mb (at least 1 MiB), so it cannot crowd out the
 * screening keys */
void store_config_traps(struct store_config *sc, const struct moat_conf *c);

/*
 * store_open - open the store for this process on base (NULL: a private
 * loop, for tools). Call it in each process after fork, never before, and
 * as the user that owns conf->path. Returns NULL (logged) on failure.
 */
struct store *store_open(const struct store_config *conf, struct event_base *base);

/*
 * store_close - run the operations still queued (their callbacks fire),
 * flush to disk, free everything. Safe to call from a store callback.
 */
void store_close(struct store *st);

/* store_info - " key=value..." of the backend's state as this process sees
 * it (Redis: its connection, latency, failures), or "" */
void store_info(struct store *st, char *buf, size_t bufsz);

/* store_now - the store's clock, in milliseconds */
int64_t store_now(struct store *st);

/* store_get - value and expiry (0 = never) of key, or STORE_NOT_FOUND */
void store_get(struct store *st, const char *key, store_get_cb *cb, void *arg);

/* store_put - set key to val with a TTL in seconds (0 = no expiry); cb may be NULL */
void store_put(struct store *st, const char *key, const void *val, size_t len,
               uint32_t ttl, store_done_cb *cb, void *arg);

/*
 * store_incr - atomically add delta to the counter at key and report the new
 * value. A missing or expired counter starts at 0 with the given ttl (0 = no
 * expiry); flags say whether an existing counter's expiry is refreshed.
 * A value that is not a counter, or int64 overflow, gives STORE_ERROR.
 */
void store_incr(struct store *st, const char *key, int64_t delta, uint32_t ttl,
                unsigned flags, store_int_cb *cb, void *arg);

/*
 * store_counter_flush - add what a process's own counter gained since its
 * last flush (count - *sent) to the store counter key, and move *sent up to
 * count. Should the store fail the addition, *sent is moved back, so the
 * next flush sends it again and nothing is sent twice. Nothing is sent if
 * the counter did not grow. *sent must stay valid until the store has
 * answered (store_close() answers everything queued).
 */
void store_counter_flush(struct store *st, const char *key, uint64_t count,
                         uint64_t *sent);

/* store_metrics_flush - store_counter_flush() of every counter this
 * process's metrics hold (metrics/metrics.h): "metric:..." keys */
void store_metrics_flush(struct store *st);

/* store_del - remove key; STORE_NOT_FOUND if it had no live entry; cb may be NULL */
void store_del(struct store *st, const char *key, store_done_cb *cb, void *arg);

/*
 * store_take - take cost tokens from the bucket at key in one atomic step
 * (GCRA: the key holds the time at which the bucket is full again, and
 * expires then). cost 0 only looks. A cost above the capacity is denied with
 * wait_ms UINT32_MAX; an invalid bucket gives STORE_ERROR.
 */
void store_take(struct store *st, const char *key, const struct store_bucket *b,
                uint32_t cost, store_take_cb *cb, void *arg);

/*
 * store_scan - call each(...) for every live entry whose key starts with
 * prefix ("" for all), then done(). Order is unspecified.
 */
void store_scan(struct store *st, const char *prefix, store_scan_each *each,
                store_done_cb *done, void *arg);

/*
 * store_count - one holder's share of a counter that several hold: key is
 * the share ("conc:192.0.2.1#w1234"), its first prefixlen octets name the
 * counter ("conc:192.0.2.1#"); the counter is the sum of the live shares.
 * delta > 0 is added only if the sum stays at or below max (0: no limit):
 * cb gets the new sum, or, refused, the sum it would have been (> max), and
 * nothing changed. delta < 0 takes from the share (deleted at 0). The
 * share's expiry is set to now + ttl (0: none) by every addition.
 */
void store_count(struct store *st, const char *key, size_t prefixlen, int64_t delta,
                 int64_t max, uint32_t ttl, store_int_cb *cb, void *arg);

/*
 * store_del_match - delete every entry whose key starts with prefix and
 * ends with suffix ("" for any); cb gets how many. A holder's shares go
 * when it is gone: store_del_match(st, "conc:", "#w1234", ...).
 */
void store_del_match(struct store *st, const char *prefix, const char *suffix,
                     store_int_cb *cb, void *arg);

/* store_purge - reclaim expired entries; cb gets how many; cb may be NULL */
void store_purge(struct store *st, store_int_cb *cb, void *arg);

/*
 * Synchronous variants for command-line tools and tests: they return the
 * status and fill the out parameters. Not for code on a daemon's loop.
 * store_get_sync copies at most bufsz bytes and sets *len to the full length.
 */
enum store_status store_get_sync(struct store *st, const char *key, void *buf,
                                 size_t bufsz, size_t *len, time_t *expires);
enum store_status store_put_sync(struct store *st, const char *key, const void *val,
                                 size_t len, uint32_t ttl);
enum store_status store_incr_sync(struct store *st, const char *key, int64_t delta,
                                  uint32_t ttl, unsigned flags, int64_t *value);
enum store_status store_del_sync(struct store *st, const char *key);
enum store_status store_take_sync(struct store *st, const char *key,
                                  const struct store_bucket *b, uint32_t cost,
                                  struct store_take_result *res);
enum store_status store_scan_sync(struct store *st, const char *prefix,
                                  store_scan_each *each, void *arg);
enum store_status store_purge_sync(struct store *st, int64_t *purged);
enum store_status store_del_match_sync(struct store *st, const char *prefix,
                                       const char *suffix, int64_t *deleted);

#endif
