/* SPDX-License-Identifier: ISC */
/*
 * main.c - moat-sendmail (and mailq): the sendmail(8) command of a moat
 * host. A local program's message goes to the running moatd over the local
 * submission socket (run_dir/submit.sock), where the user is known by its
 * uid (SO_PEERCRED); mailq lists the queue over the control socket.
 * moat-sendmail(8) tells the options and exit statuses.
 * SECURITY: any local user runs it, with any arguments and input: the
 * options, the message and its addresses are read by options.c and
 * headers.c with their bounds; it holds no privilege of its own (not
 * set-uid), so moatd, not this program, decides what the user may do.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "conf/conf.h"
#include "moatctl/ctl.h"
#include "moatd/control.h"
#include "sendmail/deliver.h"
#include "sendmail/options.h"
#include "sendmail/smconf.h"

static void
usage(void)
{
	fprintf(
	    stderr,
	    "usage: moat-sendmail [-t] [-i | -oi] [-f sender] [-F fullname] [-C file]\n"
	    "                     [-bm | -bs | -bp] [-v] [recipient ...]\n"
	    "       mailq [-C file]\n");
}

/* mailq - the queue, as moatctl queue list shows it: over the control
 * socket, which only root reaches (moat-sendmail(8), MAILQ) */
static int
mailq(const struct sm_conf *cf)
{
	struct moat_conf conf;
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", cf->run_dir, CONTROL_SOCKET_NAME);
	if (access(path, F_OK) == -1) {
		fprintf(stderr,
		        "mailq: cannot reach moatd at %s: %s (is moatd running?)\n", path,
		        strerror(errno));
		return EX_TEMPFAIL;
	}
	if (access(path, W_OK) == -1) {
		fprintf(
		    stderr,
		    "mailq: only root may list the queue (the control socket %s: %s)\n",
		    path, strerror(errno));
		return EX_NOPERM;
	}
	memset(&conf, 0, sizeof(conf));
	conf.run_dir = cf->run_dir;
	switch (ctl_talk(&conf, "queue list")) {
	case 0:
		return EX_OK;
	case 1:
		return EX_SOFTWARE;
	default:
		return EX_TEMPFAIL;
	}
}

int
main(int argc, char **argv)
{
	struct sm_opts o;
	struct sm_conf cf;
	char err[256], sock[4096];
	const char *path;
	int status;

	if (sm_options_parse(argc, argv, &o, err, sizeof(err)) == -1) {
		fprintf(stderr, "moat-sendmail: %s\n", err);
		usage();
		return EX_USAGE;
	}
	if (o.mode == SM_MODE_NOOP) {
		/* newaliases: moatd reads its aliases files at start and reload */
		fprintf(stderr, "moat-sendmail: nothing to do: moatd reads its aliases "
		                "files when it starts or reloads (moatctl reload)\n");
		return EX_OK;
	}
	path = sm_conf_path(o.config);
	if (sm_conf_read(path, &cf) == -1)
		return EX_CONFIG;
	if (o.mode == SM_MODE_QUEUE) {
		status = mailq(&cf);
		sm_conf_free(&cf);
		return status;
	}
	if (!cf.local_submission) {
		fprintf(stderr,
		        "moat-sendmail: %s: local_submission = false: moatd "
		        "takes no mail from local programs\n",
		        cf.path);
		sm_conf_free(&cf);
		return EX_UNAVAILABLE;
	}
	if ((size_t)snprintf(sock, sizeof(sock), "%s/%s", cf.run_dir,
	                     LOCAL_SUBMIT_SOCKET) >= sizeof(sock)) {
		fprintf(stderr, "moat-sendmail: %s: run_dir is too long\n", cf.path);
		sm_conf_free(&cf);
		return EX_CONFIG;
	}
	if (o.mode == SM_MODE_SMTP)
		status = sm_passthrough(&o, sock);
	else
		status = sm_deliver(&o, &cf, sock, stdin);
	sm_conf_free(&cf);
	return status;
}
