/* SPDX-License-Identifier: ISC */
/*
 * safefile.h - open files and directories as root without trusting what the
 * unprivileged run user can change.
 *
 * safe_distrust() names that user (moatd's run user) once per process.
 * Then safe_open(), safe_dir() and safe_parent() resolve a path one
 * component at a time by descriptor: a symbolic link is followed only where
 * the user could not have made it (root's /var/run -> /run and certbot's
 * live/ -> archive/ work, the run user's links never do), and SAFE_STRICT
 * refuses a path through any directory the user can write. What is opened
 * is checked on its descriptor. On failure: -1, errno set (ENOENT for a
 * missing file or directory), and a sentence in err.
 */
#ifndef MOAT_SAFEFILE_H
#define MOAT_SAFEFILE_H

#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#define SAFE_STRICT 0x01 /* no directory on the way may be the user's */
#define SAFE_SECRET 0x02 /* owned by root (or the caller), writable by nobody else */
#define SAFE_NOLINK 0x04 /* the last component may not be a link at all */

/* safe_distrust - the user root must not trust (NULL: nobody, the default) */
void safe_distrust(const char *user, uid_t uid, gid_t gid);
/* safe_distrusted - that user's name, or NULL */
const char *safe_distrusted(void);
/* safe_user_can_write - can the distrusted user change what st describes? */
int safe_user_can_write(const struct stat *st);

/*
 * safe_open - an existing regular file, opened for reading (O_CLOEXEC); it
 * must not be writable by the distrusted user. st gets its fstat.
 */
int safe_open(const char *path, int flags, struct stat *st, char *err, size_t errsz);

/*
 * safe_dir - a directory opened O_RDONLY|O_DIRECTORY. With mkmode != 0 it
 * is made when missing (mode mkmode exactly; missing parents 0755) and
 * *created says so. The caller checks owner and mode with fstat.
 */
int safe_dir(const char *path, int flags, mode_t mkmode, int *created, char *err,
             size_t errsz);

/*
 * safe_parent - an O_PATH descriptor of the directory holding path's last
 * component, which is copied to name: for openat(..., O_CREAT | O_EXCL |
 * O_NOFOLLOW). With SAFE_STRICT that directory is not the user's either.
 */
int safe_parent(const char *path, int flags, char *name, size_t namesz, char *err,
                size_t errsz);

#endif
