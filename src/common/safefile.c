/* SPDX-License-Identifier: ISC */
/*
 * safefile.c - open files and directories as root without trusting what the
 * unprivileged run user can change (see safefile.h).
 *
 * The walk starts at "/" and holds an O_PATH descriptor of the directory it
 * has reached; each component is opened from it with O_NOFOLLOW, so a name
 * is looked up once and every check is made on what was actually opened.
 * A link is read with readlinkat() and spliced into the rest of the path,
 * if the distrusted user could not have put it there: neither the link nor
 * the directory holding it may be changeable by that user (in a sticky
 * directory such as /tmp, only the user's own entries are).
 * SECURITY: the paths come from root's configuration; the tree under them
 * may be the run user's, who may swap any name it can write at any moment.
 * Opening blocks on nothing (O_NONBLOCK: a planted FIFO cannot hang root).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/safefile.h"

#define SAFE_GROUPS_MAX 64
#define SAFE_LINKS_MAX  32 /* links followed in one path (the kernel's 40) */

static struct {
	int active;
	char name[64];
	uid_t uid;
	gid_t groups[SAFE_GROUPS_MAX];
	int ngroups;
} distrust;

void
safe_distrust(const char *user, uid_t uid, gid_t gid)
{
	memset(&distrust, 0, sizeof(distrust));
	if (user == NULL)
		return;
	distrust.active = 1;
	strlcpy(distrust.name, user, sizeof(distrust.name));
	distrust.uid = uid;
	/* Every group the user can have: a process of it elsewhere may. */
	distrust.ngroups = SAFE_GROUPS_MAX;
	if (getgrouplist(user, gid, distrust.groups, &distrust.ngroups) == -1 ||
	    distrust.ngroups < 1) {
		distrust.groups[0] = gid;
		distrust.ngroups = 1;
	}
}

const char *
safe_distrusted(void)
{
	return distrust.active ? distrust.name : NULL;
}

static int
in_groups(gid_t g)
{
	for (int i = 0; i < distrust.ngroups; i++)
		if (distrust.groups[i] == g)
			return 1;
	return 0;
}

int
safe_user_can_write(const struct stat *st)
{
	if (!distrust.active)
		return 0;
	if (st->st_uid == distrust.uid) /* an owner can chmod */
		return 1;
	if ((st->st_mode & S_IWGRP) && in_groups(st->st_gid))
		return 1;
	return (st->st_mode & S_IWOTH) != 0;
}

/*
 * controls - could the user have put entry (NULL: a name not there yet)
 * into dir, or swap it? In a sticky directory only its own entries.
 */
static int
controls(const struct stat *dir, const struct stat *entry)
{
	if (!safe_user_can_write(dir))
		return 0;
	if (!(dir->st_mode & S_ISVTX) || dir->st_uid == distrust.uid)
		return 1;
	return entry == NULL || entry->st_uid == distrust.uid;
}

struct walk {
	int flags;
	mode_t mkparents; /* make missing directories on the way, or 0 */
	int dirfd;        /* O_PATH: the directory reached */
	struct stat dir;
	char where[PATH_MAX]; /* its path, for messages ("" is "/") */
	char rest[PATH_MAX];  /* still to resolve */
	int links;
	char *err;
	size_t errsz;
};

static int __attribute__((format(printf, 2, 3)))
fail(struct walk *w, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(w->err, w->errsz, fmt, ap);
	va_end(ap);
	errno = saved;
	return -1;
}

static const char *
here(const struct walk *w)
{
	return w->where[0] ? w->where : "/";
}

/* set_root - (re)start at "/" */
static int
set_root(struct walk *w)
{
	int fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);

	if (fd == -1 || fstat(fd, &w->dir) == -1) {
		if (fd != -1)
			close(fd);
		return fail(w, "/: %s", strerror(errno));
	}
	if (w->dirfd != -1)
		close(w->dirfd);
	w->dirfd = fd;
	w->where[0] = '\0';
	return 0;
}

static int
walk_init(struct walk *w, const char *path, int flags, char *err, size_t errsz)
{
	memset(w, 0, sizeof(*w));
	w->flags = flags;
	w->dirfd = -1;
	w->err = err;
	w->errsz = errsz;
	if (path[0] != '/') {
		errno = EINVAL;
		return fail(w, "\"%s\" is not an absolute path", path);
	}
	if (strlcpy(w->rest, path, sizeof(w->rest)) >= sizeof(w->rest)) {
		errno = ENAMETOOLONG;
		return fail(w, "%s: path too long", path);
	}
	return set_root(w);
}

static void
walk_done(struct walk *w)
{
	if (w->dirfd != -1)
		close(w->dirfd);
	w->dirfd = -1;
}

/* next - take the next component of rest into comp; 0 when none is left */
static int
next(struct walk *w, char *comp, size_t compsz)
{
	char *p = w->rest, *e;
	size_t n;

	while (*p == '/')
		p++;
	if (*p == '\0') {
		w->rest[0] = '\0';
		return 0;
	}
	e = strchr(p, '/');
	n = e ? (size_t)(e - p) : strlen(p);
	if (n >= compsz)
		n = compsz - 1; /* longer than NAME_MAX: openat says so */
	memcpy(comp, p, n);
	comp[n] = '\0';
	memmove(w->rest, p + n, strlen(p + n) + 1);
	return 1;
}

static int
rest_empty(const struct walk *w)
{
	for (const char *p = w->rest; *p; p++)
		if (*p != '/')
			return 0;
	return 1;
}

/*
 * follow - name in the current directory is a link: splice its target into
 * rest, if the user could not have made it
 */
static int
follow(struct walk *w, const char *name)
{
	char target[PATH_MAX], joined[PATH_MAX];
	struct stat lst;
	ssize_t n;

	if (fstatat(w->dirfd, name, &lst, AT_SYMLINK_NOFOLLOW) == -1)
		return fail(w, "%s/%s: %s", w->where, name, strerror(errno));
	n = readlinkat(w->dirfd, name, target, sizeof(target) - 1);
	if (n < 0)
		return fail(w, "%s/%s: %s", w->where, name, strerror(errno));
	target[n] = '\0';
	if ((w->flags & SAFE_NOLINK) && rest_empty(w)) {
		errno = ELOOP;
		return fail(w, "%s/%s is a symbolic link (to %s)", w->where, name,
		            target);
	}
	if (controls(&w->dir, &lst) || (distrust.active && lst.st_uid == distrust.uid)) {
		errno = ELOOP;
		return fail(w,
		            "%s/%s is a symbolic link (to %s) that user %s could have "
		            "made; not following it",
		            w->where, name, target, distrust.name);
	}
	if (++w->links > SAFE_LINKS_MAX) {
		errno = ELOOP;
		return fail(w, "%s/%s: too many symbolic links", w->where, name);
	}
	if ((size_t)snprintf(joined, sizeof(joined), "%s/%s", target, w->rest) >=
	    sizeof(joined)) {
		errno = ENAMETOOLONG;
		return fail(w, "%s/%s: path too long", w->where, name);
	}
	strlcpy(w->rest, joined, sizeof(w->rest));
	return target[0] == '/' ? set_root(w) : 0;
}

/* enter - make the directory fd (with st) named comp the current one */
static int
enter(struct walk *w, int fd, const struct stat *st, const char *comp)
{
	if (strcmp(comp, "..") == 0) {
		char *slash = strrchr(w->where, '/');
		if (slash != NULL)
			*slash = '\0';
	} else if (strlcat(w->where, "/", sizeof(w->where)) >= sizeof(w->where) ||
	           strlcat(w->where, comp, sizeof(w->where)) >= sizeof(w->where)) {
		close(fd);
		errno = ENAMETOOLONG;
		return fail(w, "%s: path too long", here(w));
	}
	close(w->dirfd);
	w->dirfd = fd;
	w->dir = *st;
	return 0;
}

/*
 * walk - resolve every component of rest but the last, which goes to last
 * ("." when the path names "/")
 */
static int
walk(struct walk *w, char *last, size_t lastsz)
{
	char comp[NAME_MAX + 2];
	struct stat st;
	int fd;

	for (;;) {
		if (!next(w, comp, sizeof(comp))) {
			strlcpy(last, ".", lastsz);
			return 0;
		}
		if (rest_empty(w)) {
			strlcpy(last, comp, lastsz);
			return 0;
		}
		if (strcmp(comp, ".") == 0)
			continue;
		fd = openat(w->dirfd, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd == -1 && errno == ENOENT && w->mkparents != 0) {
			if (mkdirat(w->dirfd, comp, w->mkparents) == -1 &&
			    errno != EEXIST)
				return fail(w, "mkdir %s/%s: %s", w->where, comp,
				            strerror(errno));
			fd = openat(w->dirfd, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		}
		if (fd == -1)
			return fail(w, "%s/%s: %s", w->where, comp, strerror(errno));
		if (fstat(fd, &st) == -1) {
			close(fd);
			return fail(w, "%s/%s: %s", w->where, comp, strerror(errno));
		}
		if (S_ISLNK(st.st_mode)) {
			close(fd);
			if (follow(w, comp) == -1)
				return -1;
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			close(fd);
			errno = ENOTDIR;
			return fail(w, "%s/%s is not a directory", w->where, comp);
		}
		/* ".." cannot be swapped; anything else the user controls can. */
		if ((w->flags & SAFE_STRICT) && strcmp(comp, "..") != 0 &&
		    controls(&w->dir, &st)) {
			close(fd);
			errno = EPERM;
			return fail(w, "%s can be written by user %s", here(w),
			            distrust.name);
		}
		if (enter(w, fd, &st, comp) == -1)
			return -1;
	}
}

/* check_file - what safe_open() opened, on its descriptor */
static int
check_file(struct walk *w, const char *path, const struct stat *st)
{
	if (!S_ISREG(st->st_mode)) {
		errno = EINVAL;
		return fail(w, "%s is not a regular file", path);
	}
	if ((w->flags & SAFE_STRICT) && controls(&w->dir, st)) {
		errno = EPERM;
		return fail(w, "%s can be written by user %s", here(w), distrust.name);
	}
	if (safe_user_can_write(st)) {
		errno = EPERM;
		return fail(w, "%s can be changed by user %s", path, distrust.name);
	}
	if (w->flags & SAFE_SECRET) {
		if (st->st_uid != 0 && st->st_uid != geteuid()) {
			errno = EPERM;
			return fail(w, "%s belongs to uid %u, not root", path,
			            (unsigned)st->st_uid);
		}
		if (st->st_mode & (S_IWGRP | S_IWOTH)) {
			errno = EPERM;
			return fail(w, "%s can be written by other users (mode %04o)",
			            path, (unsigned)(st->st_mode & 07777));
		}
	}
	return 0;
}

int
safe_open(const char *path, int flags, struct stat *st, char *err, size_t errsz)
{
	struct walk w;
	char last[NAME_MAX + 2];
	int fd = -1;

	if (walk_init(&w, path, flags, err, errsz) == -1)
		goto fail;
	for (;;) {
		if (walk(&w, last, sizeof(last)) == -1)
			goto fail;
		fd = openat(w.dirfd, last,
		            O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
		if (fd != -1)
			break;
		if (errno != ELOOP) {
			fail(&w, "%s: %s", path, strerror(errno));
			goto fail;
		}
		if (follow(&w, last) == -1)
			goto fail;
	}
	if (fstat(fd, st) == -1) {
		fail(&w, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (check_file(&w, path, st) == -1)
		goto fail;
	/* Blocking again: reads of a regular file never wait anyway. */
	(void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	walk_done(&w);
	return fd;
fail:
	if (fd != -1) {
		int saved = errno;
		close(fd);
		errno = saved;
	}
	walk_done(&w);
	return -1;
}

int
safe_dir(const char *path, int flags, mode_t mkmode, int *created, char *err,
         size_t errsz)
{
	struct walk w;
	char last[NAME_MAX + 2];
	struct stat st;
	int fd = -1, made = 0;

	if (created != NULL)
		*created = 0;
	if (walk_init(&w, path, flags, err, errsz) == -1)
		goto fail;
	w.mkparents = mkmode != 0 ? 0755 : 0;
	for (;;) {
		if (walk(&w, last, sizeof(last)) == -1)
			goto fail;
		if (mkmode != 0 && strcmp(last, ".") != 0) {
			if (mkdirat(w.dirfd, last, mkmode) == 0)
				made = 1;
			else if (errno != EEXIST) {
				fail(&w, "mkdir %s: %s", path, strerror(errno));
				goto fail;
			}
		}
		fd = openat(w.dirfd, last,
		            O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd != -1)
			break;
		if (errno != ELOOP && errno != ENOTDIR) {
			fail(&w, "%s: %s", path, strerror(errno));
			goto fail;
		}
		/* A link, or something that is no directory at all. */
		if (fstatat(w.dirfd, last, &st, AT_SYMLINK_NOFOLLOW) == -1 ||
		    !S_ISLNK(st.st_mode)) {
			errno = ENOTDIR;
			fail(&w, "%s is not a directory", path);
			goto fail;
		}
		made = 0;
		if (follow(&w, last) == -1)
			goto fail;
	}
	if (fstat(fd, &st) == -1) {
		fail(&w, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if ((flags & SAFE_STRICT) && strcmp(last, ".") != 0 && controls(&w.dir, &st)) {
		errno = EPERM;
		fail(&w, "%s can be written by user %s", here(&w), distrust.name);
		goto fail;
	}
	/* The mode asked for, whatever the umask took away. */
	if (made && fchmod(fd, mkmode) == -1) {
		fail(&w, "chmod %s: %s", path, strerror(errno));
		goto fail;
	}
	if (created != NULL)
		*created = made;
	walk_done(&w);
	return fd;
fail:
	if (fd != -1) {
		int saved = errno;
		close(fd);
		errno = saved;
	}
	walk_done(&w);
	return -1;
}

int
safe_parent(const char *path, int flags, char *name, size_t namesz, char *err,
            size_t errsz)
{
	struct walk w;
	int fd;

	if (walk_init(&w, path, flags, err, errsz) == -1 ||
	    walk(&w, name, namesz) == -1) {
		walk_done(&w);
		return -1;
	}
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
		walk_done(&w);
		errno = EINVAL;
		return fail(&w, "%s names a directory", path);
	}
	if ((flags & SAFE_STRICT) && controls(&w.dir, NULL)) {
		walk_done(&w);
		errno = EPERM;
		return fail(&w, "%s can be written by user %s", here(&w), distrust.name);
	}
	fd = w.dirfd;
	w.dirfd = -1;
	return fd;
}
