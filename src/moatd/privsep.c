/* SPDX-License-Identifier: ISC */
/*
 * privsep.c - moatd's privileges, directories and chroots (see privsep.h).
 *
 * Root never works by name inside a tree the run user can write: the
 * master opens each configured directory with safe_dir() (a path the user
 * could have redirected is refused), then sets owner and mode with fchown()
 * and fchmod() on the descriptor. spool_dir is root's, so its
 * subdirectories are made and handed over by root from a directory nobody
 * else can change; inside mail_dir and state_dir, which are the user's, a
 * child that already is the user does the work (state_dir/store). A link
 * where a directory belongs is refused with a log line naming it; it is
 * never followed, and the master keeps running on what it had.
 * SECURITY: no network input. The tree under the configured directories may
 * be the run user's, who may have planted links, files or sockets in it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef MOAT_SANITIZE
#include <sanitizer/lsan_interface.h>
#endif

#include <openssl/ssl.h>

#include "common/log.h"
#include "common/safefile.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "moatd/privsep.h"
#include "smtp/tls.h"

/* What the SMTP workers need in the spool; nothing else goes in there. */
static const char *const spool_subdirs[] = {"tmp", "queue", "corrupt", "journal", "free"};

void
privsep_distrust(const struct moat_conf *c)
{
	if (c->drop_privileges)
		safe_distrust(c->user, c->uid, c->gid);
	else
		safe_distrust(NULL, 0, 0);
}

/* ---- privileges ---- */

void
drop_privileges(const struct moat_conf *c)
{
	if (!c->drop_privileges)
		return;
	/* From privsep_become_user(): root first, or setgroups() is refused. */
	if (geteuid() != 0 && setresuid(-1, 0, -1) == -1)
		fatal("cannot regain root to drop privileges");
	if (setgroups(1, &c->gid) == -1 || setresgid(c->gid, c->gid, c->gid) == -1 ||
	    setresuid(c->uid, c->uid, c->uid) == -1)
		fatal("cannot drop privileges to %s", c->user);
	if (setuid(0) != -1)
		fatalx("dropped privileges but could regain root");
#ifdef MOAT_SANITIZE
	/* LeakSanitizer inspects its own threads with ptrace, which setuid
	 * forbids; test builds only. */
	prctl(PR_SET_DUMPABLE, 1);
#endif
}

void
privsep_become_user(const struct moat_conf *c)
{
	if (!c->drop_privileges)
		return;
	/* Real ids stay root's: kill(2) and ptrace(2) from the user fail. */
	if (setgroups(1, &c->gid) == -1 || setresgid(-1, c->gid, -1) == -1 ||
	    setresuid(-1, c->uid, -1) == -1)
		fatal("cannot act as %s", c->user);
}

void
privsep_chroot(const struct moat_conf *c, int dirfd, const char *what)
{
	if (!c->drop_privileges)
		fatalx("%s: chroot = true needs moatd started as root", what);
	/* What glibc and OpenSSL would read on first use, read now. */
	tzset();
	OPENSSL_init_ssl(OPENSSL_INIT_LOAD_CONFIG, NULL);
	if (setresuid(-1, 0, -1) == -1 || setresgid(-1, 0, -1) == -1)
		fatal("%s: cannot regain root to chroot", what);
#ifdef MOAT_SANITIZE
	/* LeakSanitizer lists threads in /proc, which the chroot hides: the
	 * leak check of this process happens now (as root, who may read
	 * /proc/self/task), and not at its exit. Test builds only. */
	__lsan_do_leak_check();
#endif
	if (fchdir(dirfd) == -1 || chroot(".") == -1 || chdir("/") == -1)
		fatal("%s: chroot", what);
	drop_privileges(c);
}

char *
privsep_inside(const char *root, const char *path)
{
	size_t n = strlen(root);
	char *out;

	while (n > 1 && root[n - 1] == '/')
		n--;
	if (strncmp(path, root, n) != 0 || (path[n] != '/' && path[n] != '\0'))
		return NULL;
	xasprintf(&out, "/%s", path[n] == '/' ? path + n + 1 : "");
	return out;
}

/* ---- directories ---- */

/* is_empty - no entry but . and .. in the directory fd */
static int
is_empty(int fd)
{
	int dup = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = dup != -1 ? fdopendir(dup) : NULL;
	struct dirent *e;
	int empty = 1;

	if (d == NULL) {
		if (dup != -1)
			close(dup);
		return 0;
	}
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
			empty = 0;
			break;
		}
	closedir(d);
	return empty;
}

/*
 * root_dir - spool_dir or run_dir: root's, mode 0755, reached through
 * directories the user cannot write. One an older moatd gave the user is
 * taken back (its entries are checked after that, never before).
 */
static int
root_dir(const struct moat_conf *c, const char *key, const char *path)
{
	char err[1024];
	struct stat st;
	int fd;

	if ((fd = safe_dir(path, SAFE_STRICT, 0755, NULL, err, sizeof(err))) == -1) {
		log_warnx("master: %s \"%s\": %s", key, path, err);
		return -1;
	}
	if (fstat(fd, &st) == -1) {
		log_warn("master: %s", path);
		goto fail;
	}
	if (!c->drop_privileges)
		return fd;
	if (st.st_uid != 0 && st.st_uid != c->uid) {
		log_warnx("master: %s \"%s\" belongs to uid %u; it must be root's", key,
		          path, (unsigned)st.st_uid);
		goto fail;
	}
	if (st.st_uid != 0 || st.st_gid != 0 || (st.st_mode & 07777) != 0755) {
		if (fchown(fd, 0, 0) == -1 || fchmod(fd, 0755) == -1) {
			log_warn("master: %s: chown root", path);
			goto fail;
		}
		log_info("master: %s %s is root's now (mode 0755; it was uid %u, mode "
		         "%04o)",
		         key, path, (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
	}
	return fd;
fail:
	close(fd);
	return -1;
}

/*
 * user_dir - mail_dir or state_dir: the user's, mode 0700. An existing
 * root-owned one is handed over only when empty: a mistyped path must not
 * give the user a system directory.
 */
static int
user_dir(const struct moat_conf *c, const char *key, const char *path)
{
	char err[1024];
	struct stat st;
	int fd, created;

	if ((fd = safe_dir(path, 0, 0700, &created, err, sizeof(err))) == -1) {
		log_warnx("master: %s \"%s\": %s", key, path, err);
		return -1;
	}
	if (fstat(fd, &st) == -1) {
		log_warn("master: %s", path);
		goto fail;
	}
	if (c->drop_privileges && st.st_uid != c->uid) {
		if (st.st_uid != 0 || (!created && !is_empty(fd))) {
			log_warnx("master: %s \"%s\" belongs to uid %u, not to %s%s", key,
			          path, (unsigned)st.st_uid, c->user,
			          st.st_uid == 0 ? ", and is not empty: if it is the "
			                           "right one, chown -R it to that user"
			                         : "");
			goto fail;
		}
		if (fchown(fd, c->uid, c->gid) == -1) {
			log_warn("master: chown %s", path);
			goto fail;
		}
	}
	close(fd);
	return 0;
fail:
	close(fd);
	return -1;
}

/* no_link - say what stands at dirfd/name instead of a directory */
static void
no_dir(int dirfd, const char *dir, const char *name)
{
	char target[1024];
	struct stat st;
	ssize_t n;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode) &&
	    (n = readlinkat(dirfd, name, target, sizeof(target) - 1)) >= 0) {
		target[n] = '\0';
		log_warnx("master: %s/%s is a symbolic link (to %s): moatd follows no "
		          "link there; remove it",
		          dir, name, target);
	} else
		log_warnx("master: %s/%s is not a directory; remove it", dir, name);
}

/* spool_subdirs_prepare - the user's directories in root's spool_dir */
static int
spool_subdirs_prepare(const struct moat_conf *c, int spool)
{
	for (size_t i = 0; i < sizeof(spool_subdirs) / sizeof(spool_subdirs[0]); i++) {
		const char *name = spool_subdirs[i];
		struct stat st;
		int fd, made = mkdirat(spool, name, 0700) == 0;

		if (!made && errno != EEXIST) {
			log_warn("master: mkdir %s/%s", c->spool_dir, name);
			return -1;
		}
		fd = openat(spool, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd == -1) {
			no_dir(spool, c->spool_dir, name);
			return -1;
		}
		if (fstat(fd, &st) == -1 || (made && fchmod(fd, 0700) == -1) ||
		    (c->drop_privileges && (st.st_uid != c->uid || st.st_gid != c->gid) &&
		     fchown(fd, c->uid, c->gid) == -1)) {
			log_warn("master: %s/%s", c->spool_dir, name);
			close(fd);
			return -1;
		}
		close(fd);
	}
	return 0;
}

/* empty_dir - run_dir/empty: root's, 0555, nothing in it */
static int
empty_dir(const struct moat_conf *c, int run)
{
	struct stat st;
	int fd;

	if (mkdirat(run, "empty", 0555) == -1 && errno != EEXIST) {
		log_warn("master: mkdir %s/empty", c->run_dir);
		return -1;
	}
	fd = openat(run, "empty", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1) {
		no_dir(run, c->run_dir, "empty");
		return -1;
	}
	if (fstat(fd, &st) == -1 ||
	    ((st.st_uid != 0 || (st.st_mode & 07777) != 0555) &&
	     (fchown(fd, 0, 0) == -1 || fchmod(fd, 0555) == -1))) {
		log_warn("master: %s/empty", c->run_dir);
		close(fd);
		return -1;
	}
	if (!is_empty(fd)) {
		log_warnx("master: %s/empty is the bait server's chroot and must stay "
		          "empty; empty it",
		          c->run_dir);
		close(fd);
		return -1;
	}
	return fd;
}

/* self_signed - make the certificate `tls { self_signed }` asks for */
static int
self_signed(const struct moat_conf *c)
{
	char err[1024], dir[4096];
	char *slash;
	int fd;

	if (!c->tls_self_signed || access(c->tls_cert_file, F_OK) == 0 ||
	    access(c->tls_key_file, F_OK) == 0)
		return 0;
	strlcpy(dir, c->tls_key_file, sizeof(dir));
	if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
		*slash = '\0';
		/* root's: the key is made and read by root only */
		if ((fd = safe_dir(dir, SAFE_STRICT, 0700, NULL, err, sizeof(err))) ==
		    -1) {
			log_warnx("master: tls: %s", err);
			return -1;
		}
		close(fd);
	}
	if (tls_self_signed(c->tls_cert_file, c->tls_key_file, c->hostname, err,
	                    sizeof(err)) == -1) {
		log_warnx("master: tls: %s", err);
		return -1;
	}
	log_info("master: generated a self-signed certificate %s", c->tls_cert_file);
	return 0;
}

/* user_check - the stores' directories; what the user must reach (user only) */
static int
user_check(const struct moat_conf *c)
{
	static const char *const stores[] = {"store", "traps"};
	char path[4096];
	int state, ok = 1;

	if ((state = open(c->state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		log_warn("master: %s", c->state_dir);
		return -1;
	}
	for (size_t i = 0; ok && i < sizeof(stores) / sizeof(stores[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", c->state_dir, stores[i]);
		if (mkdirat(state, stores[i], 0700) == -1 && errno != EEXIST) {
			log_warn("master: mkdir %s", path);
			ok = 0;
		} else {
			int fd = openat(state, stores[i],
			                O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (fd == -1) {
				no_dir(state, c->state_dir, stores[i]);
				ok = 0;
			} else
				close(fd);
		}
	}
	close(state);
	const char *dirs[] = {c->mail_dir, c->state_dir};
	for (size_t i = 0; ok && i < sizeof(dirs) / sizeof(dirs[0]); i++)
		if (access(dirs[i], R_OK | W_OK | X_OK) == -1) {
			log_warn("master: %s: not accessible to user %s", dirs[i],
			         c->user);
			ok = 0;
		}
	for (size_t i = 0; ok && i < sizeof(spool_subdirs) / sizeof(spool_subdirs[0]);
	     i++) {
		snprintf(path, sizeof(path), "%s/%s", c->spool_dir, spool_subdirs[i]);
		if (access(path, R_OK | W_OK | X_OK) == -1) {
			log_warn("master: %s: not accessible to user %s", path, c->user);
			ok = 0;
		}
	}
	return ok ? 0 : -1;
}

/* as_user - run user_check() in a child that is the run user */
static int
as_user(const struct moat_conf *c)
{
	pid_t pid;
	int status;

	if (!c->drop_privileges)
		return user_check(c);
	if ((pid = fork()) == -1) {
		log_warn("master: fork");
		return -1;
	}
	if (pid == 0) {
		drop_privileges(c);
		log_flush();
		_exit(user_check(c) == -1 ? 1 : 0);
	}
	if (waitpid(pid, &status, 0) == -1 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		return -1;
	return 0;
}

int
privsep_prepare_dirs(const struct moat_conf *c, struct moat_dirs *d)
{
	d->spool = d->run = d->empty = -1;
	privsep_distrust(c);
	if ((d->spool = root_dir(c, "spool_dir", c->spool_dir)) == -1 ||
	    spool_subdirs_prepare(c, d->spool) == -1 ||
	    (d->run = root_dir(c, "run_dir", c->run_dir)) == -1 ||
	    (c->chroot && (d->empty = empty_dir(c, d->run)) == -1) ||
	    user_dir(c, "mail_dir", c->mail_dir) == -1 ||
	    user_dir(c, "state_dir", c->state_dir) == -1 || self_signed(c) == -1 ||
	    as_user(c) == -1) {
		privsep_close_dirs(d);
		return -1;
	}
	return 0;
}

void
privsep_close_dirs(struct moat_dirs *d)
{
	int *fds[] = {&d->spool, &d->run, &d->empty};

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (*fds[i] != -1)
			close(*fds[i]);
		*fds[i] = -1;
	}
}
