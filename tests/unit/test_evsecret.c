/* SPDX-License-Identifier: ISC */
/*
 * test_evsecret.c - a secret's line taken off an evbuffer is zeroed where
 * the buffer kept it (src/common/evsecret.c): the session's AUTH lines.
 */
#include <event2/buffer.h>

#include "common/evsecret.h"
#include "unit.h"

static const char secret_line[] = "AUTH PLAIN AGFsaWNlAHMzY3JldA==\r\n";
static const char next_line[] = "NOOP\r\n";

/* in one chain: the line's octets, still in the chain after the drain
 * (the next line keeps the chain alive), are zeros */
static void
test_one_chain(void **state)
{
	struct evbuffer *in = evbuffer_new();
	char all[128], out[64];
	size_t len = sizeof(secret_line) - 1;
	struct evbuffer_iovec v;

	snprintf(all, sizeof(all), "%s%s", secret_line, next_line);
	assert_int_equal(evbuffer_add(in, all, strlen(all)), 0);
	assert_int_equal(evbuffer_peek(in, -1, NULL, &v, 1), 1);
	const unsigned char *kept = v.iov_base;

	assert_int_equal(evbuffer_remove_secret(in, out, len), 0);
	assert_memory_equal(out, secret_line, len);
	for (size_t i = 0; i < len; i++)
		assert_int_equal(kept[i], 0);
	/* what follows is untouched and next in line */
	assert_int_equal(evbuffer_get_length(in), sizeof(next_line) - 1);
	assert_memory_equal(kept + len, next_line, sizeof(next_line) - 1);
	assert_memory_equal(evbuffer_pullup(in, -1), next_line, sizeof(next_line) - 1);
	evbuffer_free(in);
	UNIT_END();
}

/* across chains (as the network splits a line): every extent is wiped */
static void
test_across_chains(void **state)
{
	struct evbuffer *in = evbuffer_new(), *part = evbuffer_new();
	char out[64];
	size_t len = sizeof(secret_line) - 1, cut = 9;
	struct evbuffer_iovec v[4];

	/* evbuffer_add_buffer() moves chains whole: two chains, the second
	 * holding the line's tail and the next line */
	assert_int_equal(evbuffer_add(in, secret_line, cut), 0);
	assert_int_equal(evbuffer_add(part, secret_line + cut, len - cut), 0);
	assert_int_equal(evbuffer_add(part, next_line, sizeof(next_line) - 1), 0);
	assert_int_equal(evbuffer_add_buffer(in, part), 0);
	int n = evbuffer_peek(in, -1, NULL, v, 4);
	assert_true(n >= 2);
	const unsigned char *tail = v[n - 1].iov_base;
	size_t tail_len = v[n - 1].iov_len;
	assert_int_equal(tail_len, len - cut + sizeof(next_line) - 1);

	assert_int_equal(evbuffer_remove_secret(in, out, len), 0);
	assert_memory_equal(out, secret_line, len);
	for (size_t i = 0; i < len - cut; i++)
		assert_int_equal(tail[i], 0);
	assert_memory_equal(evbuffer_pullup(in, -1), next_line, sizeof(next_line) - 1);
	evbuffer_free(in);
	evbuffer_free(part);
	UNIT_END();
}

/* a line not all there yet: nothing taken, nothing wiped */
static void
test_short(void **state)
{
	struct evbuffer *in = evbuffer_new();
	char out[64];

	assert_int_equal(evbuffer_add(in, secret_line, 10), 0);
	assert_int_equal(evbuffer_remove_secret(in, out, 20), -1);
	assert_int_equal(evbuffer_get_length(in), 10);
	assert_memory_equal(evbuffer_pullup(in, -1), secret_line, 10);
	evbuffer_free(in);
	UNIT_END();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_one_chain),
	    cmocka_unit_test(test_across_chains),
	    cmocka_unit_test(test_short),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
