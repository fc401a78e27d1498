/* SPDX-License-Identifier: ISC */
/*
 * fileio.h - whole reads and writes on a descriptor, and mkdir -p.
 *
 * write(2), pwrite(2) and pread(2) may move fewer octets than asked (a
 * signal, a short read at the end of a file); these loop until all of it
 * is done and return 0, or -1 with errno set. A write or read that moves
 * nothing counts as an error (EIO), so none of them can spin.
 * mkdir_p() makes every missing directory of a path (mkdir -p).
 */
#ifndef MOAT_FILEIO_H
#define MOAT_FILEIO_H

#include <stddef.h>
#include <sys/types.h>

/* write_all - n octets from p at the descriptor's offset */
int write_all(int fd, const void *p, size_t n);
/* pwrite_all - n octets from p at off */
int pwrite_all(int fd, const void *p, size_t n, off_t off);
/* pread_all - exactly n octets at off into p; EIO if the file is shorter */
int pread_all(int fd, void *p, size_t n, off_t off);
/*
 * mkdir_p - path and every missing directory above it: the parents with
 * mode parent_mode, path itself with mode (both before the umask). An
 * existing directory is no error. -1 with errno set on error.
 */
int mkdir_p(const char *path, mode_t parent_mode, mode_t mode);

#endif
