/* SPDX-License-Identifier: ISC */
/*
 * test_log.c - held log lines (log_hold): nothing is written before the
 * flush, the wake hook runs once per empty-to-held, lines keep their order
 * and are never cut, a full buffer writes what it holds, and releasing the
 * hold flushes. stderr is pointed at a temporary file for each test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/log.h"

static int wakes;
static int saved_stderr = -1;
static FILE *capture;

static void
wake(void *arg)
{
	(void)arg;
	wakes++;
}

static int
setup(void **state)
{
	(void)state;
	wakes = 0;
	capture = tmpfile();
	if (capture == NULL)
		return -1;
	saved_stderr = dup(STDERR_FILENO);
	dup2(fileno(capture), STDERR_FILENO);
	log_init("test", 1, 0);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	log_hold(NULL, NULL);
	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	fclose(capture);
	return 0;
}

/* written - what reached stderr so far (static buffer) */
static const char *
written(void)
{
	static char buf[1 << 17];
	size_t n;

	fflush(capture);
	n = (size_t)pread(fileno(capture), buf, sizeof(buf) - 1, 0);
	buf[n == (size_t)-1 ? 0 : n] = '\0';
	return buf;
}

static int
count_lines(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void
test_unheld_lines_go_out_at_once(void **state)
{
	(void)state;
	log_info("one %d", 1);
	assert_non_null(strstr(written(), "test["));
	assert_non_null(strstr(written(), "]: one 1\n"));
	assert_int_equal(wakes, 0);
}

static void
test_held_lines_wait_for_flush(void **state)
{
	(void)state;
	log_hold(wake, NULL);
	log_info("first");
	log_warnx("second");
	log_info("third");
	assert_string_equal(written(), "");
	assert_int_equal(wakes, 1); /* once: the buffer was empty only before "first" */
	log_flush();
	const char *w = written();
	assert_int_equal(count_lines(w), 3);
	const char *a = strstr(w, "first"), *b = strstr(w, "second"),
	           *c = strstr(w, "third");
	assert_true(a != NULL && b != NULL && c != NULL && a < b && b < c);
	/* the next line after a flush wakes the loop again */
	log_info("fourth");
	assert_int_equal(wakes, 2);
	log_flush();
	assert_int_equal(count_lines(written()), 4);
}

static void
test_full_buffer_writes_whole_lines(void **state)
{
	(void)state;
	char big[1500];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	log_hold(wake, NULL);
	for (int i = 0; i < 40; i++) /* ~61 KiB: several buffers' worth */
		log_info("%03d %s", i, big);
	const char *w = written();
	/* Some went out without a flush, and only whole lines did. */
	assert_true(strlen(w) > 0);
	assert_int_equal(w[strlen(w) - 1], '\n');
	log_flush();
	w = written();
	assert_int_equal(count_lines(w), 40);
	char want[8];
	const char *p = w;
	for (int i = 0; i < 40; i++) {
		snprintf(want, sizeof(want), "%03d x", i);
		p = strstr(p, want);
		assert_non_null(p);
	}
}

static void
test_release_flushes(void **state)
{
	(void)state;
	log_hold(wake, NULL);
	log_info("held");
	assert_string_equal(written(), "");
	log_hold(NULL, NULL);
	assert_non_null(strstr(written(), "held\n"));
	log_info("direct");
	assert_non_null(strstr(written(), "direct\n"));
	assert_int_equal(wakes, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_unheld_lines_go_out_at_once, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_held_lines_wait_for_flush, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_full_buffer_writes_whole_lines, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_release_flushes, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
