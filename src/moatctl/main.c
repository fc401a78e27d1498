/* SPDX-License-Identifier: ISC */
/*
 * main.c - moatctl: control a running moatd (grows with the control socket).
 */
#include <stdio.h>

int
main(int argc, char **argv)
{
	fprintf(stderr, "usage: moatctl command ...\n");
	return 2;
}
