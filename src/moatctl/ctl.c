/* SPDX-License-Identifier: ISC */
/*
 * ctl.c - moatctl commands for the running daemon (control socket).
 */
#include <stdio.h>

#include "conf/conf.h"
#include "moatctl/ctl.h"

int
ctl_command(struct moat_conf *conf, int argc, char **argv)
{
	fprintf(stderr, "moatctl: unknown command \"%s\"\n", argv[0]);
	return 2;
}
