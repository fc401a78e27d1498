/* SPDX-License-Identifier: ISC */
/*
 * trapstore.c - record trap events in the store (see trapstore.h).
 * SECURITY: values are our own text plus the trap address, which is a
 * parsed, bounded RCPT address (printable ASCII).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bait/trapstore.h"
#include "common/netaddr.h"
#include "common/xmalloc.h"
#include "store/store.h"

#define TRAPSTORE_TTL_DEFAULT (30 * 86400)

struct minmax {
	struct store *st;
	char key[128];
	time_t t;
	int want_max;
	unsigned ttl;
};

unsigned
trapstore_ttl(long bait_max_age)
{
	return bait_max_age > 0 ? (unsigned)bait_max_age : TRAPSTORE_TTL_DEFAULT;
}

static void
minmax_got(enum store_status status, const void *val, size_t len, time_t expires,
           void *arg)
{
	struct minmax *m = arg;
	char buf[24];
	long long cur = 0;

	if (status == STORE_OK) {
		size_t n = len < sizeof(buf) - 1 ? len : sizeof(buf) - 1;
		memcpy(buf, val, n);
		buf[n] = '\0';
		cur = strtoll(buf, NULL, 10);
	}
	if (status == STORE_NOT_FOUND || (m->want_max ? m->t > cur : m->t < cur)) {
		int w = snprintf(buf, sizeof(buf), "%lld", (long long)m->t);
		store_put(m->st, m->key, buf, (size_t)w, m->ttl, NULL, NULL);
	}
	free(m);
}

static void
keep(struct store *st, const char *key, time_t t, int want_max, unsigned ttl)
{
	struct minmax *m = xcalloc(1, sizeof(*m));

	m->st = st;
	m->ttl = ttl;
	strlcpy(m->key, key, sizeof(m->key));
	m->t = t;
	m->want_max = want_max;
	store_get(st, key, minmax_got, m);
}

void
trapstore_seen(struct store *st, const struct netaddr *h, time_t t, unsigned ttl)
{
	char hk[80], key[128];

	if (st == NULL)
		return;
	netaddr_client_key(h, hk, sizeof(hk));
	snprintf(key, sizeof(key), "trap:h|%s|first", hk);
	keep(st, key, t, 0, ttl);
	snprintf(key, sizeof(key), "trap:h|%s|last", hk);
	keep(st, key, t, 1, ttl);
}

void
trapstore_hit(struct store *st, const struct netaddr *s, const struct netaddr *h,
              time_t harvested, const char *addr, time_t now, unsigned ttl)
{
	char sk[80], hk[80] = "-", key[200], val[400];
	int n;

	if (st == NULL)
		return;
	netaddr_client_key(s, sk, sizeof(sk));
	if (h != NULL) {
		netaddr_client_key(h, hk, sizeof(hk));
		trapstore_seen(st, h, harvested, ttl);
		snprintf(key, sizeof(key), "trap:h|%s|mails", hk);
		store_incr(st, key, 1, ttl, STORE_TTL_REFRESH, NULL, NULL);
		snprintf(key, sizeof(key), "trap:h|%s|from|%s", hk, sk);
		n = snprintf(val, sizeof(val), "%lld", (long long)now);
		store_put(st, key, val, (size_t)n, ttl, NULL, NULL);
	}
	snprintf(key, sizeof(key), "trap:s|%s|hits", sk);
	store_incr(st, key, 1, ttl, STORE_TTL_REFRESH, NULL, NULL);
	snprintf(key, sizeof(key), "trap:s|%s|last", sk);
	n = snprintf(val, sizeof(val), "%lld %s %s", (long long)now, hk, addr);
	if (n > 0)
		store_put(st, key, val,
		          (size_t)n < sizeof(val) ? (size_t)n : sizeof(val) - 1, ttl,
		          NULL, NULL);
}
