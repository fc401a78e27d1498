/* SPDX-License-Identifier: ISC */
/*
 * sweep.h - the state-store keys of processes that are gone (sweep.c).
 */
#ifndef MOAT_SWEEP_H
#define MOAT_SWEEP_H

#include <sys/types.h>

struct moat_conf;

/* sweep_all - at start, before any worker: every process's keys go */
void sweep_all(const struct moat_conf *c);
/* sweep_process - a worker was reaped: its keys go (in a child, now) */
void sweep_process(const struct moat_conf *c, pid_t gone);

#endif
