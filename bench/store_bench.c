/* SPDX-License-Identifier: ISC */
/*
 * store_bench.c - operations per second of the state store (src/store/):
 * put, get, incr and take through the synchronous wrappers, get and incr
 * through the asynchronous API on an event loop (batches of 1000 in
 * flight), and incr with an fsync on every commit for comparison.
 *
 * Build and run (after `make`):
 *   cc -O2 -std=c11 -D_GNU_SOURCE -Isrc $(pkg-config --cflags libbsd-overlay) \
 *     bench/store_bench.c build/release/libmoat.a -o build/release/store_bench \
 *     $(pkg-config --libs libbsd-overlay libevent) -llmdb
 *   build/release/store_bench [DIR | redis:HOST:PORT] [N]
 * DIR (default: a new directory under /var/tmp) must be on the disk under
 * test; redis:HOST:PORT measures the Redis backend instead (a server of
 * the caller's, on loopback; keys under "bench:"); N operations per test
 * (default 100000).
 *
 * SECURITY: a local tool; it makes and removes its own files only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/log.h"
#include "store/store.h"

#define BATCH 1000

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
report(const char *what, long n, double t0)
{
	double dt = now_s() - t0;

	printf("%-28s %9ld ops %8.3f s %12.0f ops/s %9.1f us/op\n", what, n, dt, n / dt,
	       dt / n * 1e6);
}

/* key - the i-th key under prefix, like a rate-limit key of an IPv4 client */
static const char *
key(char *buf, size_t sz, const char *prefix, long i)
{
	snprintf(buf, sz, "%s:10.%ld.%ld.%ld", prefix, (i >> 16) & 255, (i >> 8) & 255,
	         i & 255);
	return buf;
}

struct pending {
	long left;
	long errors;
};

static void
get_cb(enum store_status st, const void *val, size_t len, time_t exp, void *arg)
{
	struct pending *p = arg;

	p->errors += st != STORE_OK;
	p->left--;
}

static void
int_cb(enum store_status st, int64_t v, void *arg)
{
	struct pending *p = arg;

	p->errors += st != STORE_OK;
	p->left--;
}

/* async_run - n operations, BATCH in flight at a time, on base */
static void
async_run(struct store *st, struct event_base *base, const char *what, long n, int incr)
{
	struct pending p = {0};
	char k[64];
	double t0 = now_s();

	for (long i = 0; i < n;) {
		for (long j = 0; j < BATCH && i < n; j++, i++) {
			p.left++;
			if (incr)
				store_incr(st, key(k, sizeof(k), "rate:a", i), 1, 60, 0,
				           int_cb, &p);
			else
				store_get(st, key(k, sizeof(k), "grey", i), get_cb, &p);
		}
		while (p.left > 0)
			event_base_loop(base, EVLOOP_ONCE);
	}
	report(what, n, t0);
	if (p.errors > 0)
		printf("  %ld errors\n", p.errors);
}

int
main(int argc, char *argv[])
{
	char tmpl[] = "/var/tmp/store_bench.XXXXXX", k[64], buf[64], path[1100];
	const char *dir = argc > 1 ? argv[1] : NULL;
	long n = argc > 2 ? strtol(argv[2], NULL, 10) : 100000, nsync, errors = 0;
	struct store_bucket bucket = {100, 10};
	struct store_take_result tr;
	struct store_config conf;
	struct event_base *base;
	struct store *st;
	size_t len;
	int64_t v;
	double t0;

	log_init("store_bench", 1, 0);
	if (n <= 0 || n > 10000000)
		n = 100000;
	if (dir == NULL && (dir = mkdtemp(tmpl)) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	store_config_defaults(&conf);
	if (strncmp(dir, "redis:", 6) == 0) {
		strlcpy(conf.backend, "redis", sizeof(conf.backend));
		strlcpy(conf.redis_address, dir + 6, sizeof(conf.redis_address));
		strlcpy(conf.redis_prefix, "bench:", sizeof(conf.redis_prefix));
		conf.redis_timeout_ms = 5000;
	} else
		strlcpy(conf.path, dir, sizeof(conf.path));
	if ((base = event_base_new()) == NULL || (st = store_open(&conf, base)) == NULL)
		return 1;

	t0 = now_s();
	for (long i = 0; i < n; i++)
		errors += STORE_OK != store_put_sync(st, key(k, sizeof(k), "grey", i),
		                                     "0123456789abcdef", 16, 3600);
	report("put (sync wrapper)", n, t0);
	t0 = now_s();
	for (long i = 0; i < n; i++)
		errors += STORE_OK != store_get_sync(st, key(k, sizeof(k), "grey", i),
		                                     buf, sizeof(buf), &len, NULL);
	report("get (sync wrapper)", n, t0);
	t0 = now_s();
	for (long i = 0; i < n; i++)
		errors += STORE_OK != store_incr_sync(st, key(k, sizeof(k), "rate:s", i),
		                                      1, 60, 0, &v);
	report("incr (sync wrapper)", n, t0);
	t0 = now_s();
	for (long i = 0; i < n; i++)
		errors +=
		    STORE_OK != store_take_sync(st, key(k, sizeof(k), "rate:t", i % 256),
		                                &bucket, 1, &tr);
	report("take (sync wrapper)", n, t0);
	async_run(st, base, "get (async, loop)", n, 0);
	async_run(st, base, "incr (async, loop)", n, 1);
	store_close(st);
	if (errors > 0)
		printf("%ld errors in the sync tests\n", errors);

	if (strcmp(conf.backend, "redis") == 0) {
		event_base_free(base);
		return 0;
	}
	/* The same incr with an fsync per commit: what MDB_NOSYNC saves. */
	conf.sync_ms = 0;
	if ((st = store_open(&conf, base)) == NULL)
		return 1;
	nsync = n / 100 > 0 ? n / 100 : 1;
	t0 = now_s();
	for (long i = 0; i < nsync; i++)
		store_incr_sync(st, "rate:fsync", 1, 60, 0, &v);
	report("incr, fsync every commit", nsync, t0);
	store_close(st);
	event_base_free(base);

	if (argc <= 1) {
		snprintf(path, sizeof(path), "%s/data.mdb", dir);
		unlink(path);
		snprintf(path, sizeof(path), "%s/lock.mdb", dir);
		unlink(path);
		rmdir(dir);
	}
	return 0;
}
