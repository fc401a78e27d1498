/* SPDX-License-Identifier: ISC */
/*
 * pathcheck.h - the configured paths root works with, checked against the
 * run user (pathcheck.c): `moatd -n`, every start and every reload.
 */
#ifndef MOAT_PATHCHECK_H
#define MOAT_PATHCHECK_H

struct moat_conf;

/*
 * pathcheck_conf - report each problem as one "file:line: key \"path\": why"
 * line through report; returns how many there were (0: all fine).
 */
int pathcheck_conf(const struct moat_conf *c, void (*report)(const char *line, void *arg),
                   void *arg);

#endif
