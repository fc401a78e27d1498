/* SPDX-License-Identifier: ISC */
/*
 * runsock.c - bind the master's unix sockets in run_dir by descriptor
 * (runsock.h): the control socket and the local submission socket.
 * SECURITY: no network input. Runs as root in a directory of root's
 * (privsep.c); a name planted there before it was root's is removed with
 * unlinkat(), which never follows a link.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "moatd/runsock.h"

/* glibc's bind and connect take a transparent union: wrap them */
static int
do_bind(int fd, const struct sockaddr *sa, socklen_t len)
{
	return bind(fd, sa, len);
}

static int
do_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	return connect(fd, sa, len);
}

/*
 * at_run_dir - bind or connect sock to name in dirfd: by a name relative
 * to the directory (a moment's fchdir), so no path the run user could
 * redirect is looked up. The master is single-threaded.
 */
static int
at_run_dir(int dirfd, const char *name, int sock,
           int (*op)(int, const struct sockaddr *, socklen_t))
{
	struct sockaddr_un sun;
	int cwd, r, saved;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	strlcpy(sun.sun_path, name, sizeof(sun.sun_path));
	if ((cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC)) == -1)
		return -1;
	if (fchdir(dirfd) == -1) {
		saved = errno;
		close(cwd);
		errno = saved;
		return -1;
	}
	r = op(sock, (struct sockaddr *)&sun, sizeof(sun));
	saved = errno;
	if (fchdir(cwd) == -1)
		fatal("master: back to the working directory");
	close(cwd);
	errno = saved;
	return r;
}

static const char *
kind_of(mode_t mode)
{
	return S_ISLNK(mode)    ? "symbolic link"
	       : S_ISREG(mode)  ? "file"
	       : S_ISSOCK(mode) ? "socket"
	       : S_ISDIR(mode)  ? "directory"
	                        : "special file";
}

int
runsock_listen(int dirfd, const char *name, const char *path, mode_t mode, int backlog)
{
	struct stat st;
	mode_t old;
	int fd;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (S_ISSOCK(st.st_mode) && st.st_uid == geteuid()) {
			/* Ours: one that answers belongs to a moatd still running. */
			if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
				fatal("master: socket");
			if (at_run_dir(dirfd, name, fd, do_connect) == 0)
				fatalx("master: %s answers: is moatd running already?",
				       path);
			close(fd);
		} else
			log_warnx("master: removed %s (a %s of uid %u, planted where a "
			          "socket of ours goes)",
			          path, kind_of(st.st_mode), (unsigned)st.st_uid);
		if (unlinkat(dirfd, name, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) == -1)
			fatal("master: remove %s", path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		fatal("master: socket");
	old = umask(~mode & 0777);
	if (at_run_dir(dirfd, name, fd, do_bind) == -1)
		fatal("master: bind %s", path);
	umask(old);
	if (listen(fd, backlog) == -1)
		fatal("master: listen %s", path);
	return fd;
}

void
runsock_unlink(int dirfd, const char *name)
{
	struct stat st;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISSOCK(st.st_mode) &&
	    st.st_uid == geteuid())
		(void)unlinkat(dirfd, name, 0);
}
