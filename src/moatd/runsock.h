/* SPDX-License-Identifier: ISC */
/*
 * runsock.h - the master's unix sockets in run_dir: the control socket
 * (moatd.sock) and the local submission socket (submit.sock).
 *
 * Both are bound by a name relative to run_dir's descriptor, so no path
 * the run user could redirect is looked up, with their mode from the bind
 * on (no chmod after it, no moment wider).
 */
#ifndef MOAT_RUNSOCK_H
#define MOAT_RUNSOCK_H

#include <sys/types.h>

/*
 * runsock_listen - a listening, non-blocking socket at name in dirfd, mode
 * mode; path is its full name for messages. A socket of ours that answers
 * belongs to a moatd still running: fatal. Anything else there is removed
 * first. Start-up only: failures are fatal.
 */
int runsock_listen(int dirfd, const char *name, const char *path, mode_t mode,
                   int backlog);
/* runsock_unlink - remove name at exit, if it still is a socket of ours */
void runsock_unlink(int dirfd, const char *name);

#endif
