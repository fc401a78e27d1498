/* SPDX-License-Identifier: ISC */
/*
 * main.c - moat-probe: open-relay tester (see doc/moat-probe.1).
 */
#include <stdio.h>

int
main(int argc, char **argv)
{
	fprintf(stderr, "usage: moat-probe [options] host[:port]\n");
	return 2;
}
