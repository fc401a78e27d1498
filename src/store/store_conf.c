/* SPDX-License-Identifier: ISC */
/*
 * store_conf.c - the stores of moat.conf: state_dir/store (store_map_mb,
 * store_sync_ms) and the trap bookkeeping's state_dir/traps. Every process
 * that opens one (workers, queue runner, control, bait server, the
 * master's sweeper) takes it from here.
 * SECURITY: no input beyond the validated configuration.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/sha.h>

#include "conf/conf.h"
#include "store/store.h"

/* The trap bookkeeping's own store (state_dir/traps) gets a quarter of the
 * state store's map: bait pages fetched from many addresses (an IPv6 /64 is
 * cheap) fill it, and the screening keys must never lose their room. */
void
store_host_tag(const struct moat_conf *c, char *buf, size_t bufsz)
{
	unsigned char md[SHA_DIGEST_LENGTH];

	if (!c->store_redis) {
		buf[0] = '\0';
		return;
	}
	SHA1((const unsigned char *)c->hostname, strlen(c->hostname), md);
	snprintf(buf, bufsz, "@%02x%02x%02x%02x", md[0], md[1], md[2], md[3]);
}

/* redis - the Redis store of c, its keys under prefix + what */
static void
redis(struct store_config *sc, const struct moat_conf *c, const char *what)
{
	strlcpy(sc->backend, "redis", sizeof(sc->backend));
	strlcpy(sc->redis_address, c->redis_address, sizeof(sc->redis_address));
	if (c->redis_password != NULL)
		strlcpy(sc->redis_password, c->redis_password,
		        sizeof(sc->redis_password));
	sc->redis_db = c->redis_db;
	snprintf(sc->redis_prefix, sizeof(sc->redis_prefix), "%s%s", c->redis_prefix,
	         what);
	sc->redis_timeout_ms = c->redis_timeout_ms;
}

/* lmdb_traps, lmdb_moat - the LMDB stores under state_dir */
static void
lmdb_traps(struct store_config *sc, const struct moat_conf *c)
{
	long mb = c->limits.store_map_mb / 4;

	store_config_defaults(sc);
	snprintf(sc->path, sizeof(sc->path), "%s/traps", c->state_dir);
	sc->map_size = (size_t)(mb > 0 ? mb : 1) << 20;
	sc->sync_ms = (unsigned)c->limits.store_sync_ms;
}

static void
lmdb_moat(struct store_config *sc, const struct moat_conf *c)
{
	store_config_defaults(sc);
	snprintf(sc->path, sizeof(sc->path), "%s/store", c->state_dir);
	sc->map_size = (size_t)c->limits.store_map_mb << 20;
	sc->sync_ms = (unsigned)c->limits.store_sync_ms;
}

void
store_config_traps(struct store_config *sc, const struct moat_conf *c)
{
	lmdb_traps(sc, c);
	if (c->store_redis)
		redis(sc, c, "traps:");
}

void
store_config_moat(struct store_config *sc, const struct moat_conf *c)
{
	lmdb_moat(sc, c);
	if (c->store_redis)
		redis(sc, c, "");
}

void
store_config_lmdb(struct store_config *sc, const struct moat_conf *c, int traps)
{
	if (traps)
		lmdb_traps(sc, c);
	else
		lmdb_moat(sc, c);
}
