/* SPDX-License-Identifier: ISC */
/*
 * main.c - moatctl: administer moat.
 *
 *   moatctl [-c FILE] user add NAME   set NAME's password (from stdin)
 *   moatctl [-c FILE] COMMAND [ARGS]  ask the running daemon (ctl.c)
 *
 * Commands that need the running daemon talk to it over its control socket
 * (run_dir/moatd.sock); commands on files work without it. Exit status: 0
 * done, 1 failed (the daemon's error), 2 usage, 3 the daemon is not there.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <readpassphrase.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/authdb.h"
#include "common/log.h"
#include "conf/conf.h"
#include "moatctl/ctl.h"
#include "moatctl/migrate.h"
#include "moatctl/traps.h"

#define DEFAULT_CONF "/etc/moat/moat.conf"

static void __attribute__((noreturn)) usage(void)
{
	fprintf(stderr,
	        "usage: moatctl [-c file] command [args]\n"
	        "commands:\n"
	        "  %-33s %s\n  %-33s %s\n  %-33s %s\n  %-33s %s\n",
	        "user add NAME", "set NAME's password, read from standard input",
	        "store migrate", "copy state_dir's LMDB stores into the Redis store",
	        "trap decode ADDRESS", "who harvested a trap address, and when",
	        "bait page --for IP", "a bait page with trap addresses for IP");
	ctl_usage(stderr);
	exit(2);
}

/* read_password - one line from stdin; with a terminal, prompt without echo */
static int
read_password(char *buf, size_t bufsz)
{
	if (isatty(STDIN_FILENO)) {
		char again[1024];
		if (readpassphrase("Password: ", buf, bufsz, RPP_REQUIRE_TTY) == NULL ||
		    readpassphrase("Again: ", again, sizeof(again), RPP_REQUIRE_TTY) ==
		        NULL)
			return -1;
		int same = strcmp(buf, again) == 0;
		explicit_bzero(again, sizeof(again));
		if (!same) {
			fprintf(stderr, "moatctl: passwords differ\n");
			return -1;
		}
		return 0;
	}
	if (fgets(buf, (int)bufsz, stdin) == NULL)
		return -1;
	buf[strcspn(buf, "\r\n")] = '\0';
	return 0;
}

static int
user_add(struct moat_conf *conf, const char *name)
{
	char pass[1024];
	char *hash;
	struct stat st;

	if (conf->auth_password_file == NULL) {
		fprintf(stderr, "moatctl: %s has no auth { password_file } to write\n",
		        conf->path);
		return 1;
	}
	/* a name the file can hold: not empty, no ':' or line end, and not a
	 * comment ('#' starts one) */
	if (name[0] == '\0' || name[0] == '#' || strlen(name) > 255 ||
	    strpbrk(name, ": \t\r\n") != NULL) {
		fprintf(stderr, "moatctl: \"%s\" is not a valid user name\n", name);
		return 1;
	}
	if (read_password(pass, sizeof(pass)) == -1 || pass[0] == '\0') {
		fprintf(stderr, "moatctl: no password given\n");
		return 1;
	}
	hash = passwd_hash(pass);
	explicit_bzero(pass, sizeof(pass));
	if (hash == NULL) {
		fprintf(stderr, "moatctl: cannot hash the password\n");
		return 1;
	}
	/* A new file: readable by the daemon's group only. */
	if (stat(conf->auth_password_file, &st) == -1) {
		int fd =
		    open(conf->auth_password_file, O_WRONLY | O_CREAT | O_EXCL, 0640);
		if (fd == -1) {
			fprintf(stderr, "moatctl: %s: %s\n", conf->auth_password_file,
			        strerror(errno));
			free(hash);
			return 1;
		}
		if (geteuid() == 0 && fchown(fd, 0, conf->gid) == -1)
			fprintf(stderr, "moatctl: chown %s: %s\n",
			        conf->auth_password_file, strerror(errno));
		close(fd);
	}
	if (passwd_file_set(conf->auth_password_file, name, hash) == -1) {
		fprintf(stderr, "moatctl: %s: %s\n", conf->auth_password_file,
		        strerror(errno));
		free(hash);
		return 1;
	}
	free(hash);
	printf("password set for %s in %s\n", name, conf->auth_password_file);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *path = DEFAULT_CONF;
	struct moat_conf *conf;
	int ch, ret;

	/* "+": options end at the command, whose own words may start with '-' */
	while ((ch = getopt(argc, argv, "+c:")) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage();
	log_init("moatctl", 1, 0);
	if ((conf = conf_load(path)) == NULL)
		return 1;
	if (argc == 3 && strcmp(argv[0], "user") == 0 && strcmp(argv[1], "add") == 0)
		ret = user_add(conf, argv[2]);
	else if (argc == 2 && strcmp(argv[0], "store") == 0 &&
	         strcmp(argv[1], "migrate") == 0)
		ret = store_migrate_cmd(conf);
	else if (argc >= 2 && strcmp(argv[0], "trap") == 0 &&
	         strcmp(argv[1], "decode") == 0) {
		if (argc != 3)
			usage();
		ret = trap_decode_cmd(conf, argv[2]);
	} else if (argc >= 2 && strcmp(argv[0], "bait") == 0 &&
	           strcmp(argv[1], "page") == 0) {
		if (argc != 4 || strcmp(argv[2], "--for") != 0)
			usage();
		ret = bait_page_cmd(conf, argv[3]);
	} else
		ret = ctl_command(conf, argc, argv);
	conf_free(conf);
	return ret;
}
