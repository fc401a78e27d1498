/* SPDX-License-Identifier: ISC */
/*
 * fdlimit.c - RLIMIT_NOFILE: how far it can go, and raising it (fdlimit.h).
 * SECURITY: no untrusted input; reads /proc/sys/fs/nr_open.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/fdlimit.h"
#include "common/log.h"

static long
nr_open(void)
{
	FILE *f = fopen("/proc/sys/fs/nr_open", "re");
	long n = 1048576; /* the kernel's default */

	if (f != NULL) {
		if (fscanf(f, "%ld", &n) != 1)
			n = 1048576;
		fclose(f);
	}
	return n;
}

long
fdlimit_reachable(void)
{
	struct rlimit rl;

	if (geteuid() == 0)
		return nr_open();
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return 1024;
	return rl.rlim_max == RLIM_INFINITY ? nr_open() : (long)rl.rlim_max;
}

int
fdlimit_raise(long need)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1) {
		log_warn("getrlimit");
		return -1;
	}
	if (rl.rlim_cur != RLIM_INFINITY && (long)rl.rlim_cur >= need)
		return 0;
	rl.rlim_cur = (rlim_t)need;
	if (rl.rlim_max != RLIM_INFINITY && (long)rl.rlim_max < need)
		rl.rlim_max = (rlim_t)need; /* root only; checked by conf */
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1) {
		log_warn("setrlimit RLIMIT_NOFILE %ld", need);
		return -1;
	}
	return 0;
}
