/* SPDX-License-Identifier: ISC */
/*
 * test_store_env.c - the state store's environment (src/store/): data
 * survives a reopen, unsafe directories are refused, a tiny map fills up
 * without harm (also halfway through writes that share a transaction), an
 * inherited store is refused in the child; and the summed counters
 * (store_count, store_del_match) the session counts are made of.
 */
#include "store_fixture.h"

static void
test_reopen(void **state)
{
	struct fixture *f = *state;
	char buf[16];
	size_t len;
	time_t exp;
	int64_t v;

	assert_int_equal(store_put_sync(f->st, "ban:1.2.3.4", "why", 3, 3600), STORE_OK);
	assert_int_equal(store_incr_sync(f->st, "rate:r", 5, 0, 0, &v), STORE_OK);
	store_close(f->st);
	f->st = store_open(&f->conf, NULL);
	assert_non_null(f->st);
	assert_int_equal(
	    store_get_sync(f->st, "ban:1.2.3.4", buf, sizeof(buf), &len, &exp), STORE_OK);
	assert_int_equal(len, 3);
	assert_memory_equal(buf, "why", 3);
	assert_int_equal(exp, T0S + 3600);
	assert_int_equal(store_incr_sync(f->st, "rate:r", 1, 0, 0, &v), STORE_OK);
	assert_int_equal(v, 6);
	/* A short buffer gets a prefix and the full length. */
	assert_int_equal(store_get_sync(f->st, "ban:1.2.3.4", buf, 2, &len, NULL),
	                 STORE_OK);
	assert_int_equal(len, 3);
	assert_memory_equal(buf, "wh", 2);
}

/* Files are private to the run user. */
static void
test_permissions(void **state)
{
	struct fixture *f = *state;
	static const char *const files[] = {"data.mdb", "lock.mdb"};
	char p[128];
	struct stat sb;

	for (size_t i = 0; i < NELEM(files); i++) {
		snprintf(p, sizeof(p), "%s/%s", f->dir, files[i]);
		assert_int_equal(stat(p, &sb), 0);
		if ((sb.st_mode & 0777) != 0600)
			fail_msg("%s: mode %o", files[i], (unsigned)(sb.st_mode & 0777));
	}
}

/* A tiny map fills up: errors, never a crash; expired entries make room. */
static void
test_map_full(void **state)
{
	struct fixture *f = *state;
	char key[32], val[1024];
	int i, full = -1;

	store_close(f->st);
	rm_store_dir(f->dir);
	assert_int_equal(mkdir(f->dir, 0700), 0);
	fixture_conf(f, 64 * 1024);
	f->st = store_open(&f->conf, NULL);
	assert_non_null(f->st);
	memset(val, 'v', sizeof(val));
	for (i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "cache:%04d", i);
		if (store_put_sync(f->st, key, val, sizeof(val), 10) != STORE_OK) {
			full = i;
			break;
		}
	}
	assert_true(full > 0);
	/* Full of live data: still an error, reads still work. */
	assert_int_equal(store_put_sync(f->st, "cache:more", val, sizeof(val), 10),
	                 STORE_ERROR);
	assert_int_equal(store_get_sync(f->st, "cache:0000", NULL, 0, NULL, NULL),
	                 STORE_OK);
	/* Once they expire, a put purges and succeeds, and the space is reused
	 * (not quite all of it: LMDB's free list takes a page). */
	test_clock_ms += 10000;
	assert_int_equal(store_put_sync(f->st, "cache:more", val, sizeof(val), 10),
	                 STORE_OK);
	for (i = 0; i < full / 2; i++) {
		snprintf(key, sizeof(key), "cache:%04d", i);
		assert_int_equal(store_put_sync(f->st, key, val, sizeof(val), 10),
		                 STORE_OK);
	}
}

/* Writes queued in one loop pass share a transaction; when it cannot commit
 * (the map fills up halfway), each runs alone: those that fit succeed, in
 * order, and only the rest fail. */
struct group {
	int n;
	enum store_status seen[200];
};

static void
group_done(enum store_status status, void *arg)
{
	struct group *g = arg;

	g->seen[g->n++] = status;
}

static void
test_group_partly_full(void **state)
{
	struct fixture *f = *state;
	struct event_base *base = event_base_new();
	struct group g = {0};
	char key[32], val[1024];
	int ok = 0;

	assert_non_null(base);
	store_close(f->st);
	f->st = NULL;
	rm_store_dir(f->dir);
	assert_int_equal(mkdir(f->dir, 0700), 0);
	fixture_conf(f, 64 * 1024);
	f->st = store_open(&f->conf, base);
	assert_non_null(f->st);
	memset(val, 'v', sizeof(val));
	for (int i = 0; i < (int)NELEM(g.seen); i++) {
		snprintf(key, sizeof(key), "cache:%04d", i);
		store_put(f->st, key, val, sizeof(val), 0, group_done, &g);
	}
	assert_int_equal(event_base_dispatch(base), 1);
	assert_int_equal(g.n, (int)NELEM(g.seen));
	while (ok < g.n && g.seen[ok] == STORE_OK)
		ok++;
	/* some fit, not all, and none after the first that did not */
	assert_true(ok > 0 && ok < g.n);
	for (int i = ok; i < g.n; i++)
		assert_int_equal(g.seen[i], STORE_ERROR);
	snprintf(key, sizeof(key), "cache:%04d", ok - 1);
	assert_int_equal(store_get_sync(f->st, key, NULL, 0, NULL, NULL), STORE_OK);
	snprintf(key, sizeof(key), "cache:%04d", ok);
	assert_int_equal(store_get_sync(f->st, key, NULL, 0, NULL, NULL),
	                 STORE_NOT_FOUND);
	store_close(f->st);
	f->st = NULL;
	event_base_free(base);
	assert_non_null(f->st = store_open(&f->conf, NULL));
}

/* An env inherited over fork() is refused in the child (the parent's reader
 * slots and locks are not the child's); the parent's stays usable. */
static void
test_inherited_store_refused(void **state)
{
	struct fixture *f = *state;
	int status;
	pid_t pid;

	/* no syncer thread: fork with no other thread running */
	store_close(f->st);
	f->conf.sync_ms = 0;
	assert_non_null(f->st = store_open(&f->conf, NULL));
	assert_int_equal(store_put_sync(f->st, "ban:x", "1", 1, 0), STORE_OK);
	if ((pid = fork()) == 0) {
		int refused =
		    store_get_sync(f->st, "ban:x", NULL, 0, NULL, NULL) == STORE_ERROR;
		_exit(refused ? 0 : 1);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(store_get_sync(f->st, "ban:x", NULL, 0, NULL, NULL), STORE_OK);
}

/* Unsafe or wrong configurations are refused at open, with NULL. */
static void
test_open_refused(void **state)
{
	struct fixture *f = *state;
	struct store_config c = f->conf;
	char file[128];
	int fd;

	assert_null(store_open(&c, NULL)); /* already open in this process */
	swap_store(f);
	strlcpy(c.backend, "nosuch", sizeof(c.backend));
	assert_null(store_open(&c, NULL));
	c = f->conf;
	strlcpy(c.path, "/nonexistent/moat/store", sizeof(c.path));
	assert_null(store_open(&c, NULL));
	snprintf(file, sizeof(file), "%s/plainfile", f->dir);
	assert_true((fd = open(file, O_CREAT | O_WRONLY, 0600)) >= 0);
	close(fd);
	strlcpy(c.path, file, sizeof(c.path));
	assert_null(store_open(&c, NULL));
	unlink(file);
	c = f->conf;
	assert_int_equal(chmod(f->dir, 0777), 0);
	assert_null(store_open(&c, NULL));
	assert_int_equal(chmod(f->dir, 0700), 0);
	if (geteuid() == 0) {
		assert_int_equal(chown(f->dir, 65534, 65534), 0);
		assert_null(store_open(&c, NULL));
		assert_int_equal(chown(f->dir, 0, 0), 0);
	}
	assert_non_null(f->st = store_open(&c, NULL));
}

/* Summed counters (store_count) and deletes by prefix and suffix. */
struct counted {
	int done;
	enum store_status st;
	int64_t v;
};

static void
counted_cb(enum store_status st, int64_t v, void *arg)
{
	struct counted *c = arg;
	c->done = 1;
	c->st = st;
	c->v = v;
}

static int64_t
count_sync(struct store *st, const char *key, size_t plen, int64_t delta, int64_t max,
           uint32_t secs)
{
	struct counted c = {0};

	store_count(st, key, plen, delta, max, secs, counted_cb, &c);
	store_wait(st, &c.done);
	assert_int_equal(c.st, STORE_OK);
	return c.v;
}

static void
test_count(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *name, *key;
		int64_t delta, max, want;
	} rows[] = {
	    {"first share", "conc:a#w1", 1, 3, 1},
	    {"second holder", "conc:a#w2", 1, 3, 2},
	    {"another client apart", "conc:b#w1", 1, 3, 1},
	    {"up to the limit", "conc:a#w1", 1, 3, 3},
	    {"past it: refused, what it would be", "conc:a#w2", 1, 3, 4},
	    {"refused changed nothing", "conc:a#w2", 1, 0, 4},
	    {"given back", "conc:a#w2", -1, 0, 3},
	    {"given back to zero: share gone", "conc:a#w2", -1, 0, 2},
	    {"never below zero", "conc:a#w2", -1, 0, 2},
	};
	int64_t n = 0;

	for (size_t i = 0; i < NELEM(rows); i++) {
		const char *hash = strchr(rows[i].key, '#');
		int64_t got =
		    count_sync(f->st, rows[i].key, (size_t)(hash - rows[i].key) + 1,
		               rows[i].delta, rows[i].max, 60);
		if (got != rows[i].want)
			fail_msg("%s: got %lld, want %lld", rows[i].name, (long long)got,
			         (long long)rows[i].want);
	}
	/* a share that expired is not counted */
	test_clock_ms += 61000;
	assert_int_equal(count_sync(f->st, "conc:a#w3", 7, 1, 0, 60), 1);
	/* the share of holder w1 goes, the others stay */
	assert_int_equal(count_sync(f->st, "conc:c#w1", 7, 1, 0, 0), 1);
	assert_int_equal(count_sync(f->st, "conc:c#w2", 7, 1, 0, 0), 2);
	assert_int_equal(store_put_sync(f->st, "other#w1", "1", 1, 0), STORE_OK);
	assert_int_equal(store_del_match_sync(f->st, "conc:", "#w1", &n), STORE_OK);
	/* conc:a#w1 (expired, still there), conc:b#w1, conc:c#w1 */
	assert_int_equal(n, 3);
	assert_int_equal(count_sync(f->st, "conc:c#w2", 7, 0, 0, 0), 1);
	assert_int_equal(store_get_sync(f->st, "other#w1", NULL, 0, NULL, NULL),
	                 STORE_OK);
	/* everything under a prefix */
	assert_int_equal(store_del_match_sync(f->st, "conc:", "", &n), STORE_OK);
	assert_int_equal(n, 2); /* conc:a#w3, conc:c#w2 */
	assert_int_equal(count_sync(f->st, "conc:c#w2", 7, 0, 0, 0), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_count, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_permissions, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_map_full, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_group_partly_full, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_inherited_store_refused, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_open_refused, setup, teardown),
	};

	log_init("test_store_env", 1, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
