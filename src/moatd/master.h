/* SPDX-License-Identifier: ISC */
/*
 * master.h - the moatd master: binds, forks the workers, supervises them.
 */
#ifndef MOAT_MASTER_H
#define MOAT_MASTER_H

struct moat_conf;

int master_run(struct moat_conf *conf, const char *conf_path);
/* drop_privileges - become conf->user (no-op unless started as root) */
void drop_privileges(const struct moat_conf *conf);

#endif
