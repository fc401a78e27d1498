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

/* may_raise_hard - CAP_SYS_RESOURCE is ours (root in a container may lack
 * it): the hard limit can go up to fs.nr_open */
static int
may_raise_hard(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	unsigned long long eff = 0;
	int found = 0;

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "CapEff: %llx", &eff) == 1) {
			found = 1;
			break;
		}
	fclose(f);
	return found && (eff & (1ULL << 24)) != 0; /* CAP_SYS_RESOURCE */
}

long
fdlimit_reachable(void)
{
	struct rlimit rl;

	if (may_raise_hard())
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
