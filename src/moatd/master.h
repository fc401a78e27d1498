/* SPDX-License-Identifier: ISC */
/*
 * master.h - the moatd master: binds, forks the workers, supervises them.
 */
#ifndef MOAT_MASTER_H
#define MOAT_MASTER_H

struct moat_conf;

int master_run(struct moat_conf *conf, const char *conf_path);

#endif
