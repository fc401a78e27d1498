/* SPDX-License-Identifier: ISC */
/*
 * authfail.c - failed-login counting per client network.
 *
 * Kept in the worker's memory: a hash of client networks with a failure
 * count, the start of its window and the end of its ban. The table has a
 * hard size; when it is full, new addresses are not tracked (their logins
 * are still slowed by the per-session delay).
 * SECURITY: keys are kernel-provided peer addresses; memory is bounded.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/xmalloc.h"
#include "conf/conf.h"
#include "policy/authfail.h"

#define AUTHFAIL_BUCKETS 4096
#define AUTHFAIL_MAX     65536

struct af_entry {
	struct netaddr net;
	int count;
	time_t window_start;
	time_t banned_until;
	struct af_entry *next;
};

struct authfail {
	const struct moat_conf *conf;
	struct af_entry *buckets[AUTHFAIL_BUCKETS];
	size_t n;
};

struct authfail *
authfail_new(const struct moat_conf *conf)
{
	struct authfail *af = xcalloc(1, sizeof(*af));
	af->conf = conf;
	return af;
}

void
authfail_free(struct authfail *af)
{
	if (af == NULL)
		return;
	for (int i = 0; i < AUTHFAIL_BUCKETS; i++) {
		struct af_entry *e = af->buckets[i], *next;
		for (; e != NULL; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(af);
}

static void
key(const struct netaddr *na, struct netaddr *k)
{
	*k = *na;
	if (k->family == AF_INET6)
		netaddr_mask(k, 64);
}

static unsigned
hash(const struct netaddr *k)
{
	unsigned h = 2166136261u;
	for (int i = 0; i < 16; i++)
		h = (h ^ k->addr[i]) * 16777619u;
	return h % AUTHFAIL_BUCKETS;
}

/* find - the entry for na; expired entries are dropped on the way */
static struct af_entry *
find(struct authfail *af, const struct netaddr *k, time_t now)
{
	struct af_entry **pp = &af->buckets[hash(k)], *e;
	long window = af->conf->limits.auth_failure_window;

	while ((e = *pp) != NULL) {
		if (e->banned_until <= now && e->window_start + window <= now) {
			*pp = e->next;
			free(e);
			af->n--;
			continue;
		}
		if (netaddr_equal(&e->net, k))
			return e;
		pp = &e->next;
	}
	return NULL;
}

int
authfail_record(struct authfail *af, const struct netaddr *na)
{
	struct netaddr k;
	time_t now = time(NULL);
	struct af_entry *e;

	key(na, &k);
	if ((e = find(af, &k, now)) == NULL) {
		if (af->n >= AUTHFAIL_MAX)
			return 0;
		e = xcalloc(1, sizeof(*e));
		e->net = k;
		e->window_start = now;
		e->next = af->buckets[hash(&k)];
		af->buckets[hash(&k)] = e;
		af->n++;
	}
	if (e->window_start + af->conf->limits.auth_failure_window <= now) {
		e->window_start = now;
		e->count = 0;
	}
	if (++e->count >= af->conf->limits.auth_failures_max)
		e->banned_until = now + af->conf->limits.auth_ban_time;
	return e->banned_until > now;
}

int
authfail_banned(struct authfail *af, const struct netaddr *na)
{
	struct netaddr k;
	time_t now = time(NULL);
	struct af_entry *e;

	key(na, &k);
	e = find(af, &k, now);
	return e != NULL && e->banned_until > now;
}
