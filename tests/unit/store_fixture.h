/* SPDX-License-Identifier: ISC */
/*
 * store_fixture.h - the store under test, shared by test_store.c and
 * test_store_env.c: a fresh LMDB directory per test, a clock the test
 * moves (T0 onwards), and its removal.
 */
#ifndef MOAT_STORE_FIXTURE_H
#define MOAT_STORE_FIXTURE_H

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <event2/event.h>

#include "common/log.h"
#include "store/store.h"
#include "store/store_backend.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define T0       INT64_C(1700000000000) /* the test clock starts here, in ms */
#define T0S      ((time_t)(T0 / 1000))

static int64_t test_clock_ms = T0;

static inline int64_t
test_clock(void *arg)
{
	return test_clock_ms;
}

struct fixture {
	char dir[64];
	struct store_config conf;
	struct store *st;
};

/* fixture_conf - a config for dir with the test clock */
static inline void
fixture_conf(struct fixture *f, size_t map_size)
{
	store_config_defaults(&f->conf);
	strlcpy(f->conf.path, f->dir, sizeof(f->conf.path));
	f->conf.map_size = map_size;
	f->conf.clock = test_clock;
}

static inline int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strlcpy(f->dir, "/tmp/test_store.XXXXXX", sizeof(f->dir));
	assert_non_null(mkdtemp(f->dir));
	fixture_conf(f, (size_t)16 << 20);
	test_clock_ms = T0;
	f->st = store_open(&f->conf, NULL);
	assert_non_null(f->st);
	*state = f;
	return 0;
}

static inline void
rm_store_dir(const char *dir)
{
	char p[128];

	snprintf(p, sizeof(p), "%s/data.mdb", dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/lock.mdb", dir);
	unlink(p);
	rmdir(dir);
}

static inline int
teardown(void **state)
{
	struct fixture *f = *state;

	store_close(f->st);
	rm_store_dir(f->dir);
	free(f);
	return 0;
}

/* swap_store - close the fixture's handle: one env per directory and process */
static inline void
swap_store(struct fixture *f)
{
	store_close(f->st);
	f->st = NULL;
}

#endif
