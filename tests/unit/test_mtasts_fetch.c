/* SPDX-License-Identifier: ISC */
/*
 * test_mtasts_fetch.c - the bound on MTA-STS policy fetches at once
 * (src/deliver/mtasts_fetch.c, limits.mta_sts_fetches_max): past it,
 * fetches wait in order; a running one that ends, by its callback or by
 * mtasts_fetch_cancel(), lets the oldest waiting one start; a waiting one
 * cancelled leaves the running ones alone.
 *
 * The resolver asks a UDP socket of the test's own on 127.0.0.1 that never
 * answers, so a fetch that started stays in its DNS lookup for the test's
 * length; a name that is not a valid domain ends its fetch from the loop
 * at once, which is how a slot is given back through the callback.
 */
#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conf/conf.h"
#include "deliver/mtasts_fetch.h"
#include "dns/resolver.h"
#include "unit.h"

#define MAX_AT_ONCE 2

struct world {
	struct event_base *base;
	struct moat_conf conf;
	char server[32];
	char *servers[1];
	int silent_fd; /* the DNS server that never answers */
	struct resolver *res;
	struct mtasts_http *h;
};

/* ended - the callbacks that ran, by fetch number, and why */
static int ended[8];
static char ended_why[8][256];

static void
fetch_cb(void *arg, const char *body, size_t len, const char *why)
{
	int i = (int)(intptr_t)arg;

	ended[i]++;
	strlcpy(ended_why[i], why, sizeof(ended_why[i]));
	assert_null(body);
}

static void
world_start(struct world *w)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t slen = sizeof(sin);

	memset(w, 0, sizeof(*w));
	memset(ended, 0, sizeof(ended));
	w->silent_fd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(w->silent_fd >= 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(w->silent_fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(w->silent_fd, (struct sockaddr *)&sin, &slen), 0);
	snprintf(w->server, sizeof(w->server), "127.0.0.1:%u", ntohs(sin.sin_port));
	w->servers[0] = w->server;
	w->conf.dns_servers = w->servers;
	w->conf.ndns_servers = 1;
	w->conf.limits.dns_timeout_ms = 60000;
	w->conf.limits.dns_attempts = 1;
	w->conf.limits.dns_cache_max = 0;
	w->conf.limits.mta_sts_fetches_max = MAX_AT_ONCE;
	w->base = event_base_new();
	assert_non_null(w->base);
	w->res = resolver_new(w->base, &w->conf);
	w->h = mtasts_http_new(w->base, w->res, &w->conf);
	assert_non_null(w->h);
}

static void
world_stop(struct world *w)
{
	mtasts_http_free(w->h);
	resolver_free(w->res);
	event_base_free(w->base);
	close(w->silent_fd);
}

#define EXPECT_LOAD(what, want_running, want_waiting)                                    \
	do {                                                                             \
		size_t running_, waiting_;                                               \
		mtasts_http_load(w.h, &running_, &waiting_);                             \
		EXPECT_INT(what, "running", (int)running_, want_running);                \
		EXPECT_INT(what, "waiting", (int)waiting_, want_waiting);                \
	} while (0)

/* test_bound_cancel - cancelled fetches give their slots to waiting ones */
static void
test_bound_cancel(void **state)
{
	struct world w;
	struct mtasts_fetch *f[5];
	static const char *const domains[] = {"a.test", "b.test", "c.test", "d.test",
	                                      "e.test"};

	world_start(&w);
	for (int i = 0; i < 5; i++)
		f[i] = mtasts_fetch(w.h, domains[i], fetch_cb, (void *)(intptr_t)i);
	EXPECT_LOAD("five asked", MAX_AT_ONCE, 3);
	/* the loop turns: the running ones wait for DNS, the others for a slot */
	event_base_loop(w.base, EVLOOP_NONBLOCK);
	EXPECT_LOAD("after a turn of the loop", MAX_AT_ONCE, 3);
	mtasts_fetch_cancel(f[4]);
	EXPECT_LOAD("a waiting one cancelled", MAX_AT_ONCE, 2);
	mtasts_fetch_cancel(f[0]);
	EXPECT_LOAD("a running one cancelled", MAX_AT_ONCE, 1);
	mtasts_fetch_cancel(f[1]);
	EXPECT_LOAD("another running one cancelled", MAX_AT_ONCE, 0);
	mtasts_fetch_cancel(f[2]);
	EXPECT_LOAD("one left", 1, 0);
	event_base_loop(w.base, EVLOOP_NONBLOCK);
	for (int i = 0; i < 5; i++)
		EXPECT_INT(domains[i], "callbacks (none when cancelled)", ended[i], 0);
	/* f[3] still runs: mtasts_http_free() ends it without its callback */
	world_stop(&w);
	EXPECT_INT("d.test", "callbacks after the end", ended[3], 0);
	UNIT_END();
}

/* test_bound_callback - a fetch that ends by its callback gives its slot to
 * the oldest waiting one; the waiting ones' callbacks do not come early */
static void
test_bound_callback(void **state)
{
	struct world w;

	world_start(&w);
	/* "-x" cannot begin a label: that fetch fails from the loop */
	mtasts_fetch(w.h, "-x.test", fetch_cb, (void *)(intptr_t)0);
	mtasts_fetch(w.h, "a.test", fetch_cb, (void *)(intptr_t)1);
	mtasts_fetch(w.h, "-y.test", fetch_cb, (void *)(intptr_t)2);
	mtasts_fetch(w.h, "b.test", fetch_cb, (void *)(intptr_t)3);
	EXPECT_LOAD("four asked", MAX_AT_ONCE, 2);
	EXPECT_INT("-x.test", "callback inside mtasts_fetch()", ended[0], 0);
	/* -x.test ends; -y.test takes its slot and ends on the next turn;
	 * then b.test runs beside a.test */
	for (int i = 0; i < 4 && ended[2] == 0; i++)
		event_base_loop(w.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	EXPECT_INT("-x.test", "callbacks", ended[0], 1);
	EXPECT_INT("-y.test", "callbacks", ended[2], 1);
	if (strstr(ended_why[0], "not a valid name") == NULL)
		UNIT_FAIL("-x.test: why: %s", ended_why[0]);
	EXPECT_INT("a.test", "callbacks", ended[1], 0);
	EXPECT_INT("b.test", "callbacks", ended[3], 0);
	EXPECT_LOAD("the failed ones gone", MAX_AT_ONCE, 0);
	world_stop(&w);
	UNIT_END();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bound_cancel),
	    cmocka_unit_test(test_bound_callback),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
