/* SPDX-License-Identifier: ISC */
/*
 * test_conf_path.c - relative paths in moat.conf are taken from the file's
 * directory, not from the working directory: conf_path_at() (tidied:
 * "." and ".." taken lexically, never above "/"), conf_dir_of(), and
 * conf_load() of a file whose paths are relative, from another directory.
 */
#include <errno.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/conf.h"
#include "unit.h"

static void
test_path_at(void **state)
{
	static const struct {
		const char *name, *dir, *p, *want;
	} rows[] = {
	    {"relative", "/etc/moat", "signatures.conf", "/etc/moat/signatures.conf"},
	    {"below", "/etc/moat", "lists/access", "/etc/moat/lists/access"},
	    {"parent", "/w/moat/etc", "../var/spool", "/w/moat/var/spool"},
	    {"two up", "/w/moat/etc", "../../var", "/w/var"},
	    {"dot", "/etc/moat", "./users", "/etc/moat/users"},
	    {"never above /", "/etc", "../../../x", "/x"},
	    {"dir is /", "/", "moat.conf", "/moat.conf"},
	    {"absolute", "/etc/moat", "/var/spool/moat", "/var/spool/moat"},
	    {"absolute tidied", "/etc/moat", "/var//spool/./moat/", "/var/spool/moat"},
	    {"absolute up", "/etc/moat", "/var/lib/../spool", "/var/spool"},
	    {"inside by name only", "/etc/moat", "a/../../x", "/etc/x"},
	    {"root", "/etc/moat", "/", "/"},
	    {"dotdot name", "/etc/moat", "..x/y", "/etc/moat/..x/y"},
	};

	for (size_t i = 0; i < NELEM(rows); i++) {
		char *got = conf_path_at(rows[i].dir, rows[i].p, strlen(rows[i].p));
		EXPECT_STR(rows[i].name, "path", got, rows[i].want);
		free(got);
	}
	/* only the first n bytes of p count */
	char *got = conf_path_at("/etc/moat", "users\"trailing", 5);
	EXPECT_STR("length", "path", got, "/etc/moat/users");
	free(got);
	UNIT_END();
}

static char base[64];

static void
put(const char *rel, const char *text)
{
	char p[256];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", base, rel);
	if ((f = fopen(p, "w")) == NULL || fputs(text, f) == EOF || fclose(f) != 0)
		fail_msg("write %s: %s", p, strerror(errno));
}

static void
test_load_relative(void **state)
{
	char etc[128], other[128], cwd[PATH_MAX], want[256], conf_text[1024];
	struct moat_conf *c;

	strlcpy(base, "/tmp/moat-confpath-XXXXXX", sizeof(base));
	if (mkdtemp(base) == NULL)
		fail_msg("mkdtemp: %s", strerror(errno));
	snprintf(etc, sizeof(etc), "%s/etc", base);
	snprintf(other, sizeof(other), "%s/elsewhere", base);
	if (mkdir(etc, 0755) == -1 || mkdir(other, 0755) == -1)
		fail_msg("mkdir: %s", strerror(errno));
	put("etc/users", "alice\nbob\n");
	put("etc/access", "192.0.2.1 deny\n");
	put("etc/aliases", "info: alice\n");
	snprintf(conf_text, sizeof(conf_text),
	         "user = \"nobody\"\n"
	         "spool_dir = \"../var/spool\"\n"
	         "mail_dir = \"../var/mail\"\n"
	         "run_dir = \"../var/run\"\n"
	         "state_dir = \"/srv/state\"\n"
	         "listen \"mx\" { address = \"127.0.0.1:2525\" }\n"
	         "domain \"example.test\" {\n"
	         "\tusers_file = \"users\"\n"
	         "\taliases_file = \"aliases\"\n"
	         "}\n"
	         "screen { client_access = \"./access\" }\n");
	put("etc/moat.conf", conf_text);

	/* loaded from elsewhere, by a relative path to the file */
	if (getcwd(cwd, sizeof(cwd)) == NULL || chdir(other) == -1)
		fail_msg("chdir: %s", strerror(errno));
	c = conf_load("../etc/moat.conf");
	if (chdir(cwd) == -1)
		fail_msg("chdir back: %s", strerror(errno));
	if (c == NULL)
		fail_msg("conf_load refused the file (its errors are above)");

	EXPECT_STR("dir", "conf->dir", c->dir, etc);
	EXPECT_STR("path", "conf->path", c->path, "../etc/moat.conf");
	snprintf(want, sizeof(want), "%s/var/spool", base);
	EXPECT_STR("spool_dir", "spool_dir", c->spool_dir, want);
	snprintf(want, sizeof(want), "%s/var/mail", base);
	EXPECT_STR("mail_dir", "mail_dir", c->mail_dir, want);
	snprintf(want, sizeof(want), "%s/var/run", base);
	EXPECT_STR("run_dir", "run_dir", c->run_dir, want);
	EXPECT_STR("absolute", "state_dir", c->state_dir, "/srv/state");
	snprintf(want, sizeof(want), "%s/access", etc);
	EXPECT_STR("access list", "client_access", c->screen.client_access, want);
	snprintf(want, sizeof(want), "%s/aliases", etc);
	EXPECT_STR("aliases", "aliases_file", c->domains[0].aliases_file, want);
	/* the users file was read from etc/, not from the working directory */
	EXPECT_INT("users_file", "users", c->domains[0].nusers, 2);
	conf_free(c);

	/* the compiled-in defaults are the installed places */
	put("etc/moat.conf", "listen \"mx\" { address = \"127.0.0.1:2525\" }\n"
	                     "domain \"example.test\" { users = {\"a\"} }\n");
	snprintf(want, sizeof(want), "%s/etc/moat.conf", base);
	if ((c = conf_load(want)) == NULL)
		fail_msg("conf_load refused the minimal file");
	EXPECT_STR("default", "spool_dir", c->spool_dir, CONF_DEFAULT_SPOOL_DIR);
	EXPECT_STR("default", "mail_dir", c->mail_dir, CONF_DEFAULT_MAIL_DIR);
	EXPECT_STR("default", "run_dir", c->run_dir, CONF_DEFAULT_RUN_DIR);
	EXPECT_STR("default", "state_dir", c->state_dir, CONF_DEFAULT_STATE_DIR);
	conf_free(c);

	const char *names[] = {"etc/moat.conf", "etc/users", "etc/access",
	                       "etc/aliases",   "etc",       "elsewhere"};
	for (size_t i = 0; i < NELEM(names); i++) {
		char p[256];
		snprintf(p, sizeof(p), "%s/%s", base, names[i]);
		if (unlink(p) == -1)
			rmdir(p);
	}
	rmdir(base);
	UNIT_END();
}

static void
test_dir_of(void **state)
{
	char cwd[PATH_MAX], *got;

	got = conf_dir_of("/etc/moat.conf");
	EXPECT_STR("in /etc", "dir", got, "/etc");
	free(got);
	got = conf_dir_of("/moat.conf");
	EXPECT_STR("in /", "dir", got, "/");
	free(got);
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		fail_msg("getcwd: %s", strerror(errno));
	got = conf_dir_of("moat.conf");
	EXPECT_STR("bare name", "dir", got, cwd);
	free(got);
	UNIT_END();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_path_at),
	    cmocka_unit_test(test_dir_of),
	    cmocka_unit_test(test_load_relative),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
