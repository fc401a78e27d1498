/* SPDX-License-Identifier: ISC */
/*
 * ctl.h - moatctl commands that talk to the running moatd over its control
 * socket (protocol: moatd/control.h).
 *
 * Exit statuses: 0 done, 1 the daemon answered with an error, 2 usage,
 * 3 the daemon could not be reached (or its reply was cut short).
 */
#ifndef MOAT_CTL_H
#define MOAT_CTL_H

#include <stdio.h>

struct moat_conf;

/* ctl_command - run argv against the daemon; the exit status */
int ctl_command(struct moat_conf *conf, int argc, char **argv);
/* ctl_usage - one line per daemon command, for the usage message */
void ctl_usage(FILE *f);

/* ctl_client.c: ctl_talk - send one request line, print the reply; exit status */
int ctl_talk(const struct moat_conf *conf, const char *line);

#endif
