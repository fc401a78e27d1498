/* SPDX-License-Identifier: ISC */
/*
 * store_conf.c - the store of moat.conf: state_dir/store, store_map_mb,
 * store_sync_ms. Every process that opens the daemon's store (workers,
 * queue runner, control, the master's sweeper) takes it from here.
 * SECURITY: no input beyond the validated configuration.
 */
#include <stdio.h>

#include "conf/conf.h"
#include "store/store.h"

void
store_config_moat(struct store_config *sc, const struct moat_conf *c)
{
	store_config_defaults(sc);
	snprintf(sc->path, sizeof(sc->path), "%s/store", c->state_dir);
	sc->map_size = (size_t)c->limits.store_map_mb << 20;
	sc->sync_ms = (unsigned)c->limits.store_sync_ms;
}
