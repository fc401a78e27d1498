/* SPDX-License-Identifier: ISC */
/*
 * test_store.c - the state store (src/store/) on its LMDB backend.
 *
 * Scripts of { name, op, key, value, n, want } rows run against a store
 * whose clock the test moves: get/put/del, TTL expiry, incr and its TTL
 * flags, token buckets. Then: callbacks are deferred to the event loop and
 * keep their order, incr is exact across two processes, scan by prefix,
 * purge in chunks. The store's environment and the summed counters are
 * test_store_env.c's.
 */
#include "store_fixture.h"

#define NEVER (-1) /* want_x of an entry without expiry */

/* One step of a script; the row makers below fill in the fields they use. */
enum op { OP_GET, OP_PUT, OP_DEL, OP_INCR, OP_TAKE, OP_TICK };
struct step {
	const char *name;
	enum op op;
	const char *key;
	const char *val; /* put: value; get: want value */
	size_t len;
	int64_t n;      /* put/incr: ttl s; take: cost; tick: ms */
	int64_t d;      /* incr: delta; take: capacity */
	unsigned flags; /* incr flags; take: refill_ms */
	enum store_status want;
	int64_t want_n;   /* incr: value; take: remaining */
	int64_t want_x;   /* get: expiry - T0S (-1: never); take: wait_ms */
	int want_allowed; /* take */
};

/* run_steps - run a script against st, failing with the row's name */
static void
run_steps(struct store *st, const struct step *s, size_t n)
{
	char buf[256], key[STORE_KEY_MAX + 2];

	for (size_t i = 0; i < n; i++, s++) {
		enum store_status got = STORE_ERROR;
		const char *k = s->key;
		size_t len = 0;
		time_t exp = 0;
		int64_t v = 0;
		struct store_take_result tr = {0};
		struct store_bucket b = {(uint32_t)s->d, s->flags};

		/* "LONG" is one byte over the limit, "MAX" exactly at it. */
		if (k != NULL && (strcmp(k, "LONG") == 0 || strcmp(k, "MAX") == 0)) {
			size_t kl = STORE_KEY_MAX + (k[0] == 'L');

			memset(key, 'k', kl);
			key[kl] = '\0';
			k = key;
		}
		switch (s->op) {
		case OP_GET:
			got = store_get_sync(st, k, buf, sizeof(buf), &len, &exp);
			break;
		case OP_PUT:
			got = store_put_sync(st, k, s->val, s->len, (uint32_t)s->n);
			break;
		case OP_DEL:
			got = store_del_sync(st, k);
			break;
		case OP_INCR:
			got = store_incr_sync(st, k, s->d, (uint32_t)s->n, s->flags, &v);
			break;
		case OP_TAKE:
			got = store_take_sync(st, k, &b, (uint32_t)s->n, &tr);
			break;
		case OP_TICK:
			test_clock_ms += s->n;
			continue;
		}
		if (got != s->want)
			fail_msg("%s: status %d, want %d", s->name, got, s->want);
		if (got != STORE_OK)
			continue;
		if (s->op == OP_GET) {
			if (len != s->len || memcmp(buf, s->val, len) != 0)
				fail_msg("%s: value \"%.*s\" (%zu), want \"%s\"", s->name,
				         (int)len, buf, len, s->val);
			if (exp != (s->want_x == NEVER ? 0 : T0S + s->want_x))
				fail_msg("%s: expires %lld, want T0+%lld", s->name,
				         (long long)exp, (long long)s->want_x);
		}
		if (s->op == OP_INCR && v != s->want_n)
			fail_msg("%s: value %lld, want %lld", s->name, (long long)v,
			         (long long)s->want_n);
		if (s->op == OP_TAKE &&
		    (tr.allowed != s->want_allowed || tr.remaining != s->want_n ||
		     tr.wait_ms != (uint32_t)s->want_x))
			fail_msg("%s: allowed %d remaining %u wait %u, want %d %lld %lld",
			         s->name, tr.allowed, tr.remaining, tr.wait_ms,
			         s->want_allowed, (long long)s->want_n,
			         (long long)s->want_x);
	}
}

/* Row makers, one per operation, so that each table reads like a script. */
#define GET_OK(nm, k, v, exp)                                                            \
	{                                                                                \
		.name = nm, .op = OP_GET, .key = k, .val = v, .len = sizeof(v) - 1,      \
		.want = STORE_OK, .want_x = exp                                          \
	}
#define GET_NO(nm, k, st)                                                                \
	{                                                                                \
		.name = nm, .op = OP_GET, .key = k, .want = st                           \
	}
#define PUT(nm, k, v, ttl, st)                                                           \
	{                                                                                \
		.name = nm, .op = OP_PUT, .key = k, .val = v, .len = sizeof(v) - 1,      \
		.n = ttl, .want = st                                                     \
	}
#define DEL(nm, k, st)                                                                   \
	{                                                                                \
		.name = nm, .op = OP_DEL, .key = k, .want = st                           \
	}
#define INCR(nm, k, delta, ttl, fl, st, v)                                               \
	{                                                                                \
		.name = nm, .op = OP_INCR, .key = k, .d = delta, .n = ttl, .flags = fl,  \
		.want = st, .want_n = v                                                  \
	}
#define TAKE(nm, k, cost, cap, refill, st, ok, left, wait)                               \
	{                                                                                \
		.name = nm, .op = OP_TAKE, .key = k, .n = cost, .d = cap,                \
		.flags = refill, .want = st, .want_allowed = ok, .want_n = left,         \
		.want_x = wait                                                           \
	}
#define TICK(nm, ms)                                                                     \
	{                                                                                \
		.name = nm, .op = OP_TICK, .n = ms                                       \
	}

static const struct step basic[] = {
    GET_NO("get missing", "grey:a", STORE_NOT_FOUND),
    PUT("put", "grey:a", "one", 0, STORE_OK),
    GET_OK("get", "grey:a", "one", NEVER),
    PUT("put replaces", "grey:a", "two!", 0, STORE_OK),
    GET_OK("get replaced", "grey:a", "two!", NEVER),
    PUT("binary value", "grey:b", "a\0b\r\n", 0, STORE_OK),
    GET_OK("get binary", "grey:b", "a\0b\r\n", NEVER),
    PUT("empty value", "grey:c", "", 0, STORE_OK),
    GET_OK("get empty", "grey:c", "", NEVER),
    DEL("del", "grey:a", STORE_OK),
    GET_NO("get deleted", "grey:a", STORE_NOT_FOUND),
    DEL("del again", "grey:a", STORE_NOT_FOUND),
    GET_OK("other key kept", "grey:b", "a\0b\r\n", NEVER),
    PUT("key too long", "LONG", "x", 0, STORE_ERROR),
    GET_NO("get too long", "LONG", STORE_ERROR),
    DEL("del too long", "LONG", STORE_ERROR),
    PUT("empty key", "", "x", 0, STORE_ERROR),
    {.name = "value too long",
     .op = OP_PUT,
     .key = "grey:d",
     .len = STORE_VALUE_MAX + 1,
     .want = STORE_ERROR},
    PUT("longest key", "MAX", "x", 0, STORE_OK),
    GET_OK("get longest key", "MAX", "x", NEVER),
};

static const struct step ttl[] = {
    PUT("put ttl 10", "ban:1", "x", 10, STORE_OK),
    PUT("put no ttl", "ban:2", "y", 0, STORE_OK),
    GET_OK("live", "ban:1", "x", 10),
    TICK("almost", 9999),
    GET_OK("still live", "ban:1", "x", 10),
    TICK("expires", 1),
    GET_NO("gone at expiry", "ban:1", STORE_NOT_FOUND),
    DEL("del of expired", "ban:1", STORE_NOT_FOUND),
    GET_OK("no ttl stays", "ban:2", "y", NEVER),
    PUT("put over expired", "ban:1", "z", 5, STORE_OK),
    GET_OK("new expiry", "ban:1", "z", 15),
    PUT("put clears ttl", "ban:1", "w", 0, STORE_OK),
    GET_OK("no expiry now", "ban:1", "w", NEVER),
};

#define R STORE_TTL_REFRESH
static const struct step incr[] = {
    INCR("create", "rate:c", 1, 60, 0, STORE_OK, 1),
    INCR("add", "rate:c", 5, 60, 0, STORE_OK, 6),
    GET_OK("as text", "rate:c", "6", 60),
    INCR("negative", "rate:c", -10, 60, 0, STORE_OK, -4),
    TICK("later", 30000),
    INCR("keep ttl", "rate:c", 1, 60, 0, STORE_OK, -3),
    GET_OK("ttl kept", "rate:c", "-3", 60),
    INCR("refresh ttl", "rate:c", 1, 60, R, STORE_OK, -2),
    GET_OK("ttl moved", "rate:c", "-2", 90),
    TICK("to expiry", 60000),
    INCR("expired restarts", "rate:c", 7, 10, 0, STORE_OK, 7),
    GET_OK("fresh ttl", "rate:c", "7", 100),
    INCR("no ttl", "rate:n", 1, 0, 0, STORE_OK, 1),
    GET_OK("never expires", "rate:n", "1", NEVER),
    INCR("delta 0 reads", "rate:n", 0, 0, 0, STORE_OK, 1),
    PUT("not a counter", "rate:s", "12x", 0, STORE_OK),
    INCR("incr text", "rate:s", 1, 0, 0, STORE_ERROR, 0),
    GET_OK("text unchanged", "rate:s", "12x", NEVER),
    PUT("near max", "rate:m", "9223372036854775806", 0, STORE_OK),
    INCR("to max", "rate:m", 1, 0, 0, STORE_OK, INT64_MAX),
    INCR("overflow", "rate:m", 1, 0, 0, STORE_ERROR, 0),
    INCR("min", "rate:min", INT64_MIN, 0, 0, STORE_OK, INT64_MIN),
    INCR("underflow", "rate:min", -1, 0, 0, STORE_ERROR, 0),
    GET_OK("min as text", "rate:min", "-9223372036854775808", NEVER),
    INCR("too long", "LONG", 1, 0, 0, STORE_ERROR, 0),
};

/* A bucket of 3 tokens, one more every second, unless the row says otherwise. */
#define TAKE3(nm, cost, ok, left, wait)                                                  \
	TAKE(nm, "rate:b", cost, 3, 1000, STORE_OK, ok, left, wait)
static const struct step take[] = {
    TAKE3("first", 1, 1, 2, 0),
    TAKE3("second", 1, 1, 1, 0),
    TAKE3("third", 1, 1, 0, 0),
    TAKE3("empty", 1, 0, 0, 1000),
    TICK("half way", 500),
    TAKE3("still empty", 1, 0, 0, 500),
    TICK("refilled one", 500),
    TAKE3("one back", 1, 1, 0, 0),
    TAKE3("peek", 0, 1, 0, 0),
    GET_OK("stored tat", "rate:b", "1700000004000", 4),
    TAKE3("over capacity", 4, 0, 0, UINT32_MAX),
    TAKE3("two need 2s", 2, 0, 0, 2000),
    TICK("full again", 3000),
    GET_NO("key expired", "rate:b", STORE_NOT_FOUND),
    TAKE3("take two", 2, 1, 1, 0),
    TICK("long idle", 3600000),
    TAKE3("never over full", 1, 1, 2, 0),
    TAKE("capacity lowered", "rate:b", 1, 1, 1000, STORE_OK, 0, 0, 1000),
    TAKE("other key apart", "rate:o", 1, 1, 60000, STORE_OK, 1, 0, 0),
    TAKE("slow refill", "rate:o", 1, 1, 60000, STORE_OK, 0, 0, 60000),
    TAKE("zero capacity", "rate:z", 1, 0, 1000, STORE_ERROR, 0, 0, 0),
    TAKE("zero refill", "rate:z", 1, 1, 0, STORE_ERROR, 0, 0, 0),
    TAKE("huge capacity", "rate:z", 1, STORE_BUCKET_MAX + 1, 1, STORE_ERROR, 0, 0, 0),
    TAKE("slowest refill", "rate:z", 1, 1, STORE_REFILL_MAX + 1, STORE_ERROR, 0, 0, 0),
    PUT("text value", "rate:t", "abc", 0, STORE_OK),
    TAKE("take on text", "rate:t", 1, 1, 1000, STORE_ERROR, 0, 0, 0),
    TAKE("too long", "LONG", 1, 1, 1000, STORE_ERROR, 0, 0, 0),
};

static void
test_basic(void **state)
{
	struct fixture *f = *state;

	run_steps(f->st, basic, NELEM(basic));
}

static void
test_ttl(void **state)
{
	struct fixture *f = *state;

	run_steps(f->st, ttl, NELEM(ttl));
}

static void
test_incr(void **state)
{
	struct fixture *f = *state;

	run_steps(f->st, incr, NELEM(incr));
}

static void
test_take(void **state)
{
	struct fixture *f = *state;

	run_steps(f->st, take, NELEM(take));
}

/* store_int_parse rows: text, want ok, want value */
static void
test_int_parse(void **state)
{
	static const struct {
		const char *in;
		int ok;
		int64_t want;
	} rows[] = {
	    {"0", 1, 0},
	    {"42", 1, 42},
	    {"-7", 1, -7},
	    {"-0", 1, 0},
	    {"9223372036854775807", 1, INT64_MAX},
	    {"-9223372036854775808", 1, INT64_MIN},
	    {"9223372036854775808", 0, 0},
	    {"-9223372036854775809", 0, 0},
	    {"99999999999999999999", 0, 0},
	    {"", 0, 0},
	    {"-", 0, 0},
	    {"+1", 0, 0},
	    {" 1", 0, 0},
	    {"1 ", 0, 0},
	    {"1a", 0, 0},
	    {"00000000000000000000001", 1, 1},
	    {"0000000000000000000000001", 0, 0}, /* longer than any counter we write */
	};

	for (size_t i = 0; i < NELEM(rows); i++) {
		int64_t v = 0;
		int ok = store_int_parse(rows[i].in, strlen(rows[i].in), &v) == 0;

		if (ok != rows[i].ok || (ok && v != rows[i].want))
			fail_msg("\"%s\": ok %d value %lld, want %d %lld", rows[i].in, ok,
			         (long long)v, rows[i].ok, (long long)rows[i].want);
	}
}

/* Async: callbacks come from the loop, in order, never inside the call. */
struct order {
	int n;
	int seen[8];
	int in_call; /* set while a store_* call runs */
	struct store *st;
	int nested_done;
};

static void
order_done(enum store_status status, void *arg)
{
	struct order *o = arg;

	assert_false(o->in_call);
	o->seen[o->n++] = status == STORE_OK ? 1 : 100 + (int)status;
}

static void
order_int(enum store_status status, int64_t v, void *arg)
{
	struct order *o = arg;

	assert_false(o->in_call);
	o->seen[o->n++] = (int)v;
}

static void
nested_cb(enum store_status status, int64_t v, void *arg)
{
	struct order *o = arg;

	assert_int_equal(v, 40);
	o->nested_done = 1;
}

static void
order_get(enum store_status status, const void *val, size_t len, time_t exp, void *arg)
{
	struct order *o = arg;

	assert_false(o->in_call);
	assert_int_equal(status, STORE_OK);
	assert_int_equal(len, 2);
	assert_memory_equal(val, "10", 2);
	o->seen[o->n++] = 3;
	/* A request from a callback runs after this callback returns. */
	o->in_call = 1;
	store_incr(o->st, "rate:x", 30, 0, 0, nested_cb, o);
	o->in_call = 0;
	assert_false(o->nested_done);
}

static void
test_async(void **state)
{
	struct order o = {0};
	struct event_base *base = event_base_new();
	struct fixture *f = *state;
	struct store *st;
	static const int want[] = {1, 10, 3, 1, 101, 102};

	assert_non_null(base);
	swap_store(f);
	f->conf.sync_ms = 5;
	st = store_open(&f->conf, base);
	assert_non_null(st);
	o.st = st;
	o.in_call = 1;
	store_put(st, "rate:x", "9", 1, 0, order_done, &o);
	store_incr(st, "rate:x", 1, 0, 0, order_int, &o);
	store_get(st, "rate:x", order_get, &o);
	store_del(st, "rate:nothing", NULL, NULL);
	store_put(st, "rate:y", "y", 1, 0, order_done, &o);
	store_del(st, "rate:nothing", order_done, &o);
	store_del(st, "", order_done, &o); /* refused, answered from the loop */
	o.in_call = 0;
	assert_int_equal(o.n, 0);
	/* The loop runs the queue, the nested incr and the one-shot sync timer,
	 * then finds nothing left and returns 1: the store keeps no loop alive. */
	assert_int_equal(event_base_dispatch(base), 1);
	assert_int_equal(o.n, (int)NELEM(want));
	assert_memory_equal(o.seen, want, sizeof(want));
	assert_true(o.nested_done);
	store_close(st);
	event_base_free(base);
}

/* store_close from inside a callback waits for the queue run to end. */
static void
close_cb(enum store_status status, void *arg)
{
	struct order *o = arg;

	o->seen[o->n++] = (int)status;
	if (o->n == 1)
		store_close(o->st);
}

static void
test_close_in_callback(void **state)
{
	struct fixture *f = *state;
	struct event_base *base = event_base_new();
	struct order o = {0};

	assert_non_null(base);
	swap_store(f);
	o.st = store_open(&f->conf, base);
	assert_non_null(o.st);
	store_put(o.st, "ban:c", "1", 1, 0, close_cb, &o);
	store_put(o.st, "ban:d", "2", 1, 0, close_cb, &o);
	assert_true(event_base_loop(base, EVLOOP_NONBLOCK) >= 0);
	assert_int_equal(o.n, 2);
	event_base_free(base);
	assert_non_null(f->st = store_open(&f->conf, NULL));
	assert_int_equal(store_get_sync(f->st, "ban:d", NULL, 0, NULL, NULL), STORE_OK);
}

/* Two processes, 10,000 increments each: the total must be exact. */
#define INCR_EACH 10000

static void
incr_child(const struct store_config *conf, int go_fd)
{
	struct store *st;
	char c;
	int64_t v;
	int bad = 0;

	if (read(go_fd, &c, 1) != 1)
		_exit(2);
	if ((st = store_open(conf, NULL)) == NULL) /* after fork, as required */
		_exit(3);
	for (int i = 0; i < INCR_EACH; i++)
		if (store_incr_sync(st, "rate:shared", 1, 0, 0, &v) != STORE_OK)
			bad++;
	store_close(st);
	_exit(bad == 0 ? 0 : 4);
}

static void
test_incr_two_processes(void **state)
{
	struct fixture *f = *state;
	pid_t pid[2];
	int go[2], status;
	int64_t v = 0;

	/*
	 * No thread may run in a process that forks: the store's syncer thread
	 * could hold a lock of the allocator (ASan's, say) at that moment, and
	 * the child would inherit it locked. So the parent's store is closed
	 * for the fork and opened again after.
	 */
	store_close(f->st);
	f->st = NULL;
	assert_int_equal(pipe(go), 0);
	for (int i = 0; i < 2; i++) {
		pid[i] = fork();
		assert_true(pid[i] >= 0);
		if (pid[i] == 0) {
			close(go[1]);
			incr_child(&f->conf, go[0]);
		}
	}
	close(go[0]);
	assert_int_equal(write(go[1], "gg", 2), 2); /* start both at once */
	close(go[1]);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(waitpid(pid[i], &status, 0), pid[i]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	assert_non_null(f->st = store_open(&f->conf, NULL));
	assert_int_equal(store_incr_sync(f->st, "rate:shared", 0, 0, 0, &v), STORE_OK);
	assert_int_equal(v, 2 * INCR_EACH);
}

/* Scan */
struct seen {
	int n;
	int stop_after;
	char keys[8][32];
	time_t exp[8];
};

static int
scan_each(const char *key, const void *val, size_t len, time_t exp, void *arg)
{
	struct seen *s = arg;

	assert_true(s->n < 8);
	assert_int_equal(len, strlen(key));
	assert_memory_equal(val, key, len); /* the test stores the key as value */
	strlcpy(s->keys[s->n], key, sizeof(s->keys[0]));
	s->exp[s->n++] = exp;
	return s->stop_after > 0 && s->n >= s->stop_after;
}

static void
test_scan(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *key;
		uint32_t ttl;
	} keys[] = {
	    {"grey:b", 0}, {"grey:a", 100}, {"grey:c", 1},
	    {"grey", 0},   {"ban:x", 0},    {"greylist", 0},
	};
	static const struct {
		const char *prefix;
		int stop_after;
		const char *want; /* keys in order, space separated */
	} rows[] = {
	    {"grey:", 0, "grey:a grey:b"},
	    {"grey", 0, "grey grey:a grey:b greylist"},
	    {"", 0, "ban:x grey grey:a grey:b greylist"},
	    {"ban:", 0, "ban:x"},
	    {"nothing:", 0, ""},
	    {"zzz", 0, ""},
	    {"grey:", 1, "grey:a"},
	};

	for (size_t i = 0; i < NELEM(keys); i++)
		assert_int_equal(store_put_sync(f->st, keys[i].key, keys[i].key,
		                                strlen(keys[i].key), keys[i].ttl),
		                 STORE_OK);
	test_clock_ms += 1000; /* grey:c expires: scan must not show it */
	for (size_t i = 0; i < NELEM(rows); i++) {
		struct seen s = {.stop_after = rows[i].stop_after};
		char got[256] = "";

		assert_int_equal(store_scan_sync(f->st, rows[i].prefix, scan_each, &s),
		                 STORE_OK);
		for (int j = 0; j < s.n; j++) {
			if (j > 0)
				strlcat(got, " ", sizeof(got));
			strlcat(got, s.keys[j], sizeof(got));
			if (strcmp(s.keys[j], "grey:a") == 0 && s.exp[j] != T0S + 100)
				fail_msg("%s: grey:a expires %lld", rows[i].prefix,
				         (long long)s.exp[j]);
		}
		if (strcmp(got, rows[i].want) != 0)
			fail_msg("scan \"%s\": got \"%s\", want \"%s\"", rows[i].prefix,
			         got, rows[i].want);
	}
	assert_int_equal(store_scan_sync(f->st, "grey:", NULL, NULL), STORE_ERROR);
}

/* Purge: several chunks, expired and live keys interleaved. */
static int
count_each(const char *key, const void *val, size_t len, time_t exp, void *arg)
{
	(*(int *)arg)++;
	return 0;
}

static void
test_purge(void **state)
{
	struct fixture *f = *state;
	char key[32];
	int64_t purged = -1;
	int live = 0, want_live = 0, want_purged = 0;

	for (int i = 0; i < 3000; i++) {
		uint32_t t = i % 3 == 0 ? 0 : (i % 3 == 1 ? 1 : 3600);

		snprintf(key, sizeof(key), "grey:%05d", i);
		assert_int_equal(store_put_sync(f->st, key, "v", 1, t), STORE_OK);
		if (t == 1)
			want_purged++;
		else
			want_live++;
	}
	assert_int_equal(store_purge_sync(f->st, &purged), STORE_OK);
	assert_int_equal(purged, 0);
	test_clock_ms += 1000;
	/* Invisible before the purge. */
	assert_int_equal(store_get_sync(f->st, "grey:00001", NULL, 0, NULL, NULL),
	                 STORE_NOT_FOUND);
	assert_int_equal(store_scan_sync(f->st, "grey:", count_each, &live), STORE_OK);
	assert_int_equal(live, want_live);
	assert_int_equal(store_purge_sync(f->st, &purged), STORE_OK);
	assert_int_equal(purged, want_purged);
	assert_int_equal(store_purge_sync(f->st, &purged), STORE_OK);
	assert_int_equal(purged, 0);
	live = 0;
	assert_int_equal(store_scan_sync(f->st, "", count_each, &live), STORE_OK);
	assert_int_equal(live, want_live);
	assert_int_equal(store_get_sync(f->st, "grey:02999", NULL, 0, NULL, NULL),
	                 STORE_OK);
}

/* Restart survival: close, reopen, everything is there. */
int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_int_parse),
	    cmocka_unit_test_setup_teardown(test_basic, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ttl, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_incr, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_take, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_async, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_close_in_callback, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_incr_two_processes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_scan, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_purge, setup, teardown),
	};

	log_init("test_store", 1, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
