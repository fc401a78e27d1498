/* SPDX-License-Identifier: ISC */
/*
 * migrate.c - moatctl store migrate: copy the LMDB stores of state_dir
 * (state_dir/store and state_dir/traps) into the Redis store the
 * configuration names, each entry with what is left of its lifetime. Run
 * it with moatd stopped, before starting it on Redis for the first time.
 * What belongs to running processes (session shares "conc:", "stress:",
 * heartbeats "host:") is left behind: it means nothing to a new run.
 * SECURITY: reads our own stores as the run user; writes to our Redis.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/xmalloc.h"
#include "conf/conf.h"
#include "moatctl/migrate.h"
#include "moatd/privsep.h"
#include "store/store.h"

struct entry {
	char *key;
	void *val;
	size_t len;
	time_t expires;
};

struct entries {
	struct entry *e;
	size_t n, cap;
};

static const char *const left_behind[] = {"conc:", "stress:", "host:"};

static int
collect(const char *key, const void *val, size_t len, time_t expires, void *arg)
{
	struct entries *es = arg;

	for (size_t i = 0; i < sizeof(left_behind) / sizeof(left_behind[0]); i++)
		if (strncmp(key, left_behind[i], strlen(left_behind[i])) == 0)
			return 0;
	if (es->n == es->cap) {
		es->cap = es->cap ? es->cap * 2 : 256;
		es->e = xreallocarray(es->e, es->cap, sizeof(*es->e));
	}
	es->e[es->n].key = xstrdup(key);
	es->e[es->n].val = xmalloc(len ? len : 1);
	memcpy(es->e[es->n].val, val, len);
	es->e[es->n].len = len;
	es->e[es->n].expires = expires;
	es->n++;
	return 0;
}

/* copy - one store's entries; -1 on trouble (said) */
static long
copy(const struct moat_conf *conf, int traps)
{
	struct store_config from, to;
	struct store *src, *dst;
	struct entries es = {NULL, 0, 0};
	time_t now = time(NULL);
	long copied = 0;

	store_config_lmdb(&from, conf, traps);
	store_config_traps(&to, conf);
	if (!traps)
		store_config_moat(&to, conf);
	if ((src = store_open(&from, NULL)) == NULL) {
		fprintf(stderr, "moatctl: cannot open %s\n", from.path);
		return -1;
	}
	if (store_scan_sync(src, "", collect, &es) != STORE_OK) {
		fprintf(stderr, "moatctl: cannot read %s\n", from.path);
		store_close(src);
		return -1;
	}
	store_close(src);
	if ((dst = store_open(&to, NULL)) == NULL) {
		fprintf(stderr, "moatctl: cannot open the Redis store\n");
		return -1;
	}
	for (size_t i = 0; i < es.n; i++) {
		struct entry *e = &es.e[i];
		uint32_t ttl = 0;
		if (e->expires != 0) {
			if (e->expires <= now)
				continue;
			ttl = (uint32_t)(e->expires - now);
		}
		if (store_put_sync(dst, e->key, e->val, e->len, ttl) != STORE_OK) {
			fprintf(stderr, "moatctl: Redis refused %s (is it reachable?)\n",
			        e->key);
			copied = -1;
			break;
		}
		copied++;
	}
	store_close(dst);
	for (size_t i = 0; i < es.n; i++) {
		free(es.e[i].key);
		free(es.e[i].val);
	}
	free(es.e);
	return copied;
}

int
store_migrate_cmd(const struct moat_conf *conf)
{
	long main_n, traps_n;

	if (!conf->store_redis) {
		fprintf(
		    stderr,
		    "moatctl: %s does not say store = \"redis\": nowhere to copy to\n",
		    conf->path);
		return 1;
	}
	/* the stores are the run user's: as root, become it first */
	drop_privileges(conf);
	if ((main_n = copy(conf, 0)) < 0 || (traps_n = copy(conf, 1)) < 0)
		return 1;
	printf("copied %ld entries of %s/store and %ld of %s/traps to redis %s\n", main_n,
	       conf->state_dir, traps_n, conf->state_dir, conf->redis_address);
	return 0;
}
