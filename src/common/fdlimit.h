/* SPDX-License-Identifier: ISC */
/*
 * fdlimit.h - how many descriptors a process may have, and raising it.
 *
 * A session is a socket: sessions_max (and delivery_conns_max) need that
 * many descriptors and some to spare (FDLIMIT_SPARE: listeners, the store,
 * the spool, logs, DNS, auth). moatd raises RLIMIT_NOFILE at start, before
 * its children exist, so that they inherit it; the configuration check
 * refuses a setting that cannot fit.
 */
#ifndef MOAT_FDLIMIT_H
#define MOAT_FDLIMIT_H

#define FDLIMIT_SPARE 1024

/* fdlimit_reachable - the most RLIMIT_NOFILE can be made: the hard limit,
 * or with CAP_SYS_RESOURCE the kernel's fs.nr_open */
long fdlimit_reachable(void);
/* fdlimit_raise - make the soft limit at least need; 0, or -1 (logged) */
int fdlimit_raise(long need);

#endif
