/* SPDX-License-Identifier: ISC */
/*
 * main.c - moatd: parse the command line and the configuration, then hand
 * over to the master process.
 *
 *   moatd [-dnNv] [-c FILE]
 *     -c FILE  configuration (default /etc/moat/moat.conf)
 *     -n       check the configuration (and the paths root would work
 *              with: pathcheck.c) and exit
 *     -N       check it, then print its settings that differ from the
 *              defaults (conf_print.c) and exit
 *     -d       stay in the foreground, log to stderr
 *     -v       log debug lines too
 * Under systemd (NOTIFY_SOCKET set: Type=notify) moatd stays in the
 * foreground without -d, since systemd watches the process it started; it
 * still logs to syslog then.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "common/log.h"
#include "conf/conf.h"
#include "moatd/master.h"
#include "moatd/pathcheck.h"
#include "policy/policy.h"
#include "smtp/tls.h"

#define DEFAULT_CONF "/etc/moat/moat.conf"

/*
 * Freed memory that malloc keeps at the top of a heap before it gives it
 * back to the kernel. glibc's default (128 KiB, then adapted) had the SMTP
 * worker and the queue runner shrink and grow their heaps about once every
 * 20 messages at full speed; each shrink unmaps pages, which on a
 * multi-core machine interrupts the other CPUs to flush their TLBs. Memory
 * a burst used stays with the process instead, up to this much.
 * Setting it turns off glibc's adaptive mmap threshold, which would
 * otherwise have risen past libevent's buffer chains: below MALLOC_MMAP_MIN
 * an allocation comes from the heap. At glibc's fixed 128 KiB, each 64 KiB
 * piece of a large message (a 128 KiB chain: libevent rounds up) was an
 * mmap, 32 page faults that zero the pages, and an munmap.
 */
#define MALLOC_TRIM_KEEP (16 * 1024 * 1024)
#define MALLOC_MMAP_MIN  (4 * 1024 * 1024)

/* report_stderr - a pathcheck problem, "file:line: ..." */
static void
report_stderr(const char *line, void *arg)
{
	fprintf(stderr, "%s\n", line);
}

static void __attribute__((noreturn)) usage(void)
{
	fprintf(stderr, "usage: moatd [-dnNv] [-c file]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	const char *path = DEFAULT_CONF;
	int check = 0, print = 0, foreground = 0, verbose = 0, ch;
	struct moat_conf *conf;

	(void)mallopt(M_TRIM_THRESHOLD, MALLOC_TRIM_KEEP);
	(void)mallopt(M_MMAP_THRESHOLD, MALLOC_MMAP_MIN);
	while ((ch = getopt(argc, argv, "c:dnNv")) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'd':
			foreground = 1;
			break;
		case 'n':
			check = 1;
			break;
		case 'N':
			print = 1;
			break;
		case 'v':
			verbose = 1;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();

	if ((conf = conf_load(path)) == NULL)
		return 1;
	/* Before root touches any of them: -n and every start alike. */
	if (pathcheck_conf(conf, report_stderr, NULL) > 0) {
		conf_free(conf);
		return 1;
	}
	/* The access lists and the signatures file are policy's to read
	 * (conf keeps their paths): checked here, so that -n and a start report a broken
	 * one with its file and line, as a reload does (master.c). */
	if (policy_files_check(conf, stderr) == -1) {
		conf_free(conf);
		return 1;
	}
	/* The certificates, as a start and a reload load them: a key that is
	 * not its certificate's is found by -n too. One still to be made
	 * (tls { self_signed }) is the master's to make first. */
	if (conf->tls_cert_file != NULL &&
	    !(conf->tls_self_signed && access(conf->tls_cert_file, F_OK) == -1)) {
		char err[1600];
		SSL_CTX *tls = tls_server_load(conf, err, sizeof(err));
		if (tls == NULL) {
			fprintf(stderr, "%s\n", err);
			conf_free(conf);
			return 1;
		}
		SSL_CTX_free(tls);
	}
	if (print) {
		int rc = conf_print_changed(path, stdout);
		conf_free(conf);
		return rc == 0 ? 0 : 1;
	}
	if (check) {
		printf("configuration OK\n");
		conf_free(conf);
		return 0;
	}
	log_init("moatd", foreground, verbose);
	log_set_json(conf->log_json);
	if (!foreground && getenv("NOTIFY_SOCKET") == NULL && daemon(1, 0) == -1)
		fatal("daemon");
	return master_run(conf, path);
}
