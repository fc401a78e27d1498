/* SPDX-License-Identifier: ISC */
/*
 * sweep.c - what a process that is gone left in the state store.
 *
 * A session count is the sum of the shares of the workers that hold the
 * sessions ("conc:KEY#wPID", policy/limits.c). A worker that dies (kill
 * -9, a crash, the OOM killer) cannot give its share back; nor can anyone
 * after a restart of moatd. So the master has the shares of a worker it
 * reaps deleted, and every share at start, before any worker runs: counts
 * never outlive the sessions they count. The master runs as root and does
 * not open the store (it lives in a directory the run user owns): a child
 * drops to the run user first and does the work.
 * SECURITY: no untrusted input; keys are our own prefixes and pids.
 */
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "conf/conf.h"
#include "moatd/privsep.h"
#include "moatd/sweep.h"
#include "store/store.h"

/* The keys that belong to a process: "PREFIX...#wPID" (session shares,
 * stress mode, and the open sessions of moat_sessions_open). */
static const char *const per_process[] = {"conc:", "stress:", "sessions:"};

/* sweep - in a child: delete the keys of pid (0: of every process) */
static void __attribute__((noreturn)) sweep(const struct moat_conf *c, pid_t pid)
{
	struct store_config sc;
	struct store *st;
	char suffix[48] = "", tag[16];
	int64_t n, total = 0;
	int bad = 0;

	drop_privileges(c);
	/* this host's keys only: with Redis, other hosts share the store */
	store_host_tag(c, tag, sizeof(tag));
	if (pid > 0)
		snprintf(suffix, sizeof(suffix), "#w%d%s", (int)pid, tag);
	else
		snprintf(suffix, sizeof(suffix), "%s", tag);
	store_config_moat(&sc, c);
	if ((st = store_open(&sc, NULL)) == NULL)
		_exit(1);
	for (size_t i = 0; i < sizeof(per_process) / sizeof(per_process[0]); i++) {
		if (store_del_match_sync(st, per_process[i], suffix, &n) != STORE_OK)
			bad = 1;
		else
			total += n;
	}
	store_close(st);
	if (total > 0)
		log_info("master: %lld session counts of %s given back", (long long)total,
		         pid > 0 ? "a process that is gone" : "an earlier run");
	log_flush();
	_exit(bad);
}

void
sweep_all(const struct moat_conf *c)
{
	pid_t pid;
	int status;

	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid == 0)
		sweep(c, 0);
	if (waitpid(pid, &status, 0) == -1 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		log_warnx("master: the session counts of an earlier run could not be "
		          "cleared");
}

void
sweep_process(const struct moat_conf *c, pid_t gone)
{
	pid_t pid;

	/* reaped with the other children (sigchld_cb ignores strangers) */
	if ((pid = fork()) == -1)
		log_warn("master: fork (sweep)");
	else if (pid == 0)
		sweep(c, gone);
}
