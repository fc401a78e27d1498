/* SPDX-License-Identifier: ISC */
/*
 * dnscache.c - a bounded, hashed cache of raw DNS answers.
 *
 * At most max entries; when full, the oldest goes first (a FIFO is enough:
 * entries expire by TTL anyway). Keys are "type/name", names lower-cased.
 * SECURITY: answers are stored as received, read for their TTL by
 * libresolv's bounds-checked parser and parsed by c-ares on use;
 * sizes are bounded by c-ares (one UDP/TCP answer).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <ares.h>
#include <arpa/nameser.h>
#include <resolv.h>

#include "common/ascii.h"
#include "common/xmalloc.h"
#include "dns/dnscache.h"

#define BUCKETS 4096
#define KEY_MAX 300

struct entry {
	char key[KEY_MAX];
	int status;
	unsigned char *abuf;
	int alen;
	time_t expires;
	struct entry *hnext;
	TAILQ_ENTRY(entry) fifo;
};

struct dnscache {
	struct entry *b[BUCKETS];
	TAILQ_HEAD(, entry) fifo;
	size_t n, max;
};

static unsigned
hash(const char *k)
{
	unsigned h = 2166136261u;
	for (; *k; k++)
		h = (h ^ (unsigned char)*k) * 16777619u;
	return h % BUCKETS;
}

static int
make_key(char *key, const char *name, int type)
{
	int n = snprintf(key, KEY_MAX, "%d/%s", type, name);
	if (n < 0 || n >= KEY_MAX)
		return -1;
	ascii_lower(key);
	return 0;
}

struct dnscache *
dnscache_new(size_t max)
{
	struct dnscache *c = xcalloc(1, sizeof(*c));
	TAILQ_INIT(&c->fifo);
	c->max = max;
	return c;
}

static void
unlink_entry(struct dnscache *c, struct entry *e)
{
	struct entry **pp = &c->b[hash(e->key)];
	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	TAILQ_REMOVE(&c->fifo, e, fifo);
	free(e->abuf);
	free(e);
	c->n--;
}

void
dnscache_free(struct dnscache *c)
{
	struct entry *e;

	if (c == NULL)
		return;
	while ((e = TAILQ_FIRST(&c->fifo)) != NULL)
		unlink_entry(c, e);
	free(c);
}

static struct entry *
find(struct dnscache *c, const char *key)
{
	for (struct entry *e = c->b[hash(key)]; e; e = e->hnext)
		if (strcmp(e->key, key) == 0)
			return e;
	return NULL;
}

int
dnscache_get(struct dnscache *c, const char *name, int type, time_t now, int *status,
             unsigned char **abuf, int *alen)
{
	char key[KEY_MAX];
	struct entry *e;

	if (c == NULL || c->max == 0 || make_key(key, name, type) == -1 ||
	    (e = find(c, key)) == NULL)
		return 0;
	if (e->expires <= now) {
		unlink_entry(c, e);
		return 0;
	}
	*status = e->status;
	*alen = e->alen;
	*abuf = xmalloc(e->alen > 0 ? (size_t)e->alen : 1);
	if (e->alen > 0)
		memcpy(*abuf, e->abuf, (size_t)e->alen);
	return 1;
}

void
dnscache_put(struct dnscache *c, const char *name, int type, int status,
             const unsigned char *abuf, int alen, unsigned ttl, time_t now)
{
	char key[KEY_MAX];
	struct entry *e;

	if (c == NULL || c->max == 0 || ttl == 0 || make_key(key, name, type) == -1)
		return;
	if ((e = find(c, key)) != NULL)
		unlink_entry(c, e);
	while (c->n >= c->max && (e = TAILQ_FIRST(&c->fifo)) != NULL)
		unlink_entry(c, e);
	e = xcalloc(1, sizeof(*e));
	strlcpy(e->key, key, sizeof(e->key));
	e->status = status;
	e->alen = alen > 0 ? alen : 0;
	e->abuf = xmalloc(e->alen ? (size_t)e->alen : 1);
	if (e->alen)
		memcpy(e->abuf, abuf, (size_t)e->alen);
	e->expires = now + ttl;
	e->hnext = c->b[hash(key)];
	c->b[hash(key)] = e;
	TAILQ_INSERT_TAIL(&c->fifo, e, fifo);
	c->n++;
}

unsigned
dnscache_ttl(const unsigned char *abuf, int alen, int type, unsigned def)
{
	ns_msg msg;
	ns_rr rr;
	long min = -1;

	(void)type;
	/* Every record of the answer section counts, a CNAME on the way
	 * included: the answer is only as fresh as its oldest part. libresolv
	 * parses; c-ares 1.18 reads TTLs of A and AAAA answers only. */
	if (ns_initparse(abuf, alen, &msg) == -1)
		return def;
	for (int i = 0; i < ns_msg_count(msg, ns_s_an); i++) {
		if (ns_parserr(&msg, ns_s_an, i, &rr) == -1)
			return def;
		if (min < 0 || (long)ns_rr_ttl(rr) < min)
			min = (long)ns_rr_ttl(rr);
	}
	if (min < 0)
		return def;
	if (min < 1)
		return 1;
	return min > 86400 ? 86400 : (unsigned)min;
}
