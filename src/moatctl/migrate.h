/* SPDX-License-Identifier: ISC */
/*
 * migrate.h - moatctl store migrate (migrate.c).
 */
#ifndef MOAT_MIGRATE_H
#define MOAT_MIGRATE_H

struct moat_conf;

/* store_migrate_cmd - LMDB stores of state_dir into Redis; the exit code */
int store_migrate_cmd(const struct moat_conf *conf);

#endif
