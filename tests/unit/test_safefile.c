/* SPDX-License-Identifier: ISC */
/*
 * test_safefile.c - opening as root past what the run user controls: links
 * root made are followed, links the user made (or could have, in a
 * directory it can write) are not; SAFE_STRICT refuses the user's
 * directories, SAFE_SECRET files others could write; FIFOs never block;
 * directories are made with exact modes. Needs root (it chowns to a made-up
 * user); skipped otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/safefile.h"
#include "unit.h"

#define U 4242 /* the distrusted user: no such account needed */

static char base[64];

static void
mk(const char *rel, mode_t mode, uid_t uid)
{
	char p[256];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", base, rel);
	if ((fd = open(p, O_WRONLY | O_CREAT | O_EXCL, mode)) == -1 ||
	    write(fd, "data\n", 5) != 5 || fchmod(fd, mode) == -1 ||
	    fchown(fd, uid, 0) == -1)
		fail_msg("make %s: %s", p, strerror(errno));
	close(fd);
}

static void
mkd(const char *rel, mode_t mode, uid_t uid)
{
	char p[256];

	snprintf(p, sizeof(p), "%s/%s", base, rel);
	if (mkdir(p, mode) == -1 || chmod(p, mode) == -1 || chown(p, uid, 0) == -1)
		fail_msg("mkdir %s: %s", p, strerror(errno));
}

static void
ln(const char *target, const char *rel, uid_t uid)
{
	char p[256], t[256];

	snprintf(p, sizeof(p), "%s/%s", base, rel);
	if (target[0] == '@') /* absolute, under base */
		snprintf(t, sizeof(t), "%s/%s", base, target + 1);
	else
		strlcpy(t, target, sizeof(t));
	if (symlink(t, p) == -1 || lchown(p, uid, 0) == -1)
		fail_msg("symlink %s: %s", p, strerror(errno));
}

static int
setup(void **state)
{
	if (geteuid() != 0)
		return 0;
	strlcpy(base, "/tmp/moat-safefile-XXXXXX", sizeof(base));
	if (mkdtemp(base) == NULL || chmod(base, 0755) == -1)
		return -1;
	mkd("root", 0755, 0);
	mk("root/file", 0644, 0);
	mk("root/secret", 0600, 0);
	mk("root/gw", 0664, 0);
	mk("root/ufile", 0644, U);
	ln("file", "root/link", 0);
	ln("@root/file", "root/abslink", 0);
	ln("@root", "root/dirlink", 0);
	ln("file", "root/ulink", U);
	mkd("root/sub", 0755, 0);
	char fifo[256];
	snprintf(fifo, sizeof(fifo), "%s/root/fifo", base);
	if (mkfifo(fifo, 0644) == -1)
		return -1;
	mkd("user", 0755, U);
	mk("user/file", 0644, 0);
	ln("../root/file", "user/link", 0);
	ln("@root", "user/dlink", 0);
	mkd("sticky", 01777, 0);
	mk("sticky/rootfile", 0644, 0);
	mk("sticky/ufile", 0644, U);
	safe_distrust("moat-safefile-test", U, U);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	safe_distrust(NULL, 0, 0);
	if (base[0] == '\0')
		return 0;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", base);
	return system(cmd) == 0 ? 0 : -1;
}

/* want: NULL to succeed, else a piece of the error message */
static const struct open_row {
	const char *name, *path;
	int flags;
	const char *want;
} open_rows[] = {
    {"a plain file", "root/file", SAFE_STRICT, NULL},
    {"a secret", "root/secret", SAFE_STRICT | SAFE_SECRET, NULL},
    {"a group-writable secret", "root/gw", SAFE_SECRET, "written by other users"},
    {"root's link", "root/link", SAFE_STRICT, NULL},
    {"root's absolute link", "root/abslink", SAFE_STRICT, NULL},
    {"through root's link to a directory", "root/dirlink/file", SAFE_STRICT, NULL},
    {"through ..", "root/sub/../file", SAFE_STRICT, NULL},
    {"no link wanted", "root/link", SAFE_NOLINK, "is a symbolic link"},
    {"a FIFO does not block", "root/fifo", 0, "not a regular file"},
    {"the user's link", "root/ulink", 0, "could have made"},
    {"the user's file", "root/ufile", 0, "can be changed by user"},
    {"a file in the user's directory", "user/file", 0, NULL},
    {"strict: a file in the user's directory", "user/file", SAFE_STRICT,
     "user can be written by user"},
    {"root's link in the user's directory", "user/link", 0, "could have made"},
    {"through a link in the user's directory", "user/dlink/file", 0, "could have made"},
    {"sticky: root's file", "sticky/rootfile", SAFE_STRICT, NULL},
    {"sticky: the user's file", "sticky/ufile", 0, "can be changed by user"},
    {"a directory", "root/sub", 0, "not a regular file"},
    {"missing", "root/nothing", 0, "No such file"},
    {"a file on the way", "root/file/x", 0, "not a directory"},
};

static void
test_open(void **state)
{
	if (geteuid() != 0)
		skip();
	for (size_t i = 0; i < NELEM(open_rows); i++) {
		const struct open_row *r = &open_rows[i];
		char path[256], err[512] = "";
		struct stat st;
		snprintf(path, sizeof(path), "%s/%s", base, r->path);
		int fd = safe_open(path, r->flags, &st, err, sizeof(err));
		if (r->want == NULL) {
			if (fd == -1)
				UNIT_FAIL("%s: %s", r->name, err);
			else if (!S_ISREG(st.st_mode))
				UNIT_FAIL("%s: not a regular file", r->name);
		} else if (fd != -1) {
			UNIT_FAIL("%s: opened, want \"%s\"", r->name, r->want);
		} else if (strstr(err, r->want) == NULL) {
			UNIT_FAIL("%s: \"%s\", want \"%s\"", r->name, err, r->want);
		}
		if (fd != -1)
			close(fd);
	}
	char err[256];
	struct stat st;
	EXPECT_INT("relative", "fd", safe_open("root/file", 0, &st, err, sizeof(err)),
	           -1);
	EXPECT_INT("missing", "errno",
	           (safe_open("/nonexistent/x", 0, &st, err, sizeof(err)), errno),
	           ENOENT);
	UNIT_END();
}

static void
test_dir(void **state)
{
	char path[256], err[512];
	struct stat st;
	int fd, created;

	if (geteuid() != 0)
		skip();
	snprintf(path, sizeof(path), "%s/new/a/b", base);
	fd = safe_dir(path, SAFE_STRICT, 0700, &created, err, sizeof(err));
	if (fd == -1)
		fail_msg("make %s: %s", path, err);
	EXPECT_INT("new", "created", created, 1);
	EXPECT_INT("new", "mode", (fstat(fd, &st), st.st_mode & 07777), 0700);
	close(fd);
	snprintf(path, sizeof(path), "%s/new/a", base);
	EXPECT_INT("parent", "mode", (stat(path, &st), st.st_mode & 07777), 0755);
	snprintf(path, sizeof(path), "%s/new/a/b", base);
	fd = safe_dir(path, SAFE_STRICT, 0700, &created, err, sizeof(err));
	EXPECT_INT("again", "created", created, 0);
	close(fd);
	/* root's link to a directory is followed; a link in the user's is not */
	snprintf(path, sizeof(path), "%s/root/dirlink", base);
	fd = safe_dir(path, SAFE_STRICT, 0, NULL, err, sizeof(err));
	EXPECT_INT("root's link", "ok", fd >= 0, 1);
	close(fd);
	snprintf(path, sizeof(path), "%s/user/dlink", base);
	EXPECT_INT("user's dir link", "fd",
	           safe_dir(path, 0, 0700, NULL, err, sizeof(err)), -1);
	EXPECT_INT("user's dir link", "said so", strstr(err, "could have made") != NULL,
	           1);
	snprintf(path, sizeof(path), "%s/user/made", base);
	EXPECT_INT("strict in the user's", "fd",
	           safe_dir(path, SAFE_STRICT, 0700, NULL, err, sizeof(err)), -1);
	snprintf(path, sizeof(path), "%s/root/file", base);
	EXPECT_INT("a file", "fd", safe_dir(path, 0, 0700, NULL, err, sizeof(err)), -1);
	EXPECT_INT("a file", "said so", strstr(err, "not a directory") != NULL, 1);
	UNIT_END();
}

static void
test_parent(void **state)
{
	char path[256], name[64], err[512];
	int fd;

	if (geteuid() != 0)
		skip();
	snprintf(path, sizeof(path), "%s/root/dirlink/newfile", base);
	fd = safe_parent(path, SAFE_STRICT, name, sizeof(name), err, sizeof(err));
	EXPECT_INT("root's", "ok", fd >= 0, 1);
	EXPECT_STR("root's", "name", name, "newfile");
	if (fd != -1)
		close(fd);
	snprintf(path, sizeof(path), "%s/user/newfile", base);
	EXPECT_INT("user's", "fd",
	           safe_parent(path, SAFE_STRICT, name, sizeof(name), err, sizeof(err)),
	           -1);
	snprintf(path, sizeof(path), "%s/sticky/newfile", base);
	EXPECT_INT("sticky", "fd",
	           safe_parent(path, SAFE_STRICT, name, sizeof(name), err, sizeof(err)),
	           -1);
	UNIT_END();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_open),
	    cmocka_unit_test(test_dir),
	    cmocka_unit_test(test_parent),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
