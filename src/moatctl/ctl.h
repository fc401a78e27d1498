/* SPDX-License-Identifier: ISC */
/*
 * ctl.h - moatctl commands that talk to the running moatd.
 */
#ifndef MOAT_CTL_H
#define MOAT_CTL_H

struct moat_conf;

/* ctl_command - run argv against the daemon; the exit status */
int ctl_command(struct moat_conf *conf, int argc, char **argv);

#endif
