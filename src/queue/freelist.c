/* SPDX-License-Identifier: ISC */
/*
 * freelist.c - recycling queue files through spool/free/ (freelist.h).
 *
 * The worker learns the free files by reading the directory (getdents64
 * into a fixed buffer); it reads again when its list is used up, at once if
 * the last read found files, after a pause if free/ was empty, so a worker
 * whose queue runner is not finishing anything does not spin on readdir.
 * The runner cannot see what the workers take, so its count only grows;
 * when it reaches the bound the runner counts free/ again (at most every
 * 10 ms: a getdents64 of at most FREELIST_MAX names).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "queue/envelope.h"
#include "queue/freelist.h"

#define NAMES_MAX     256
#define RESCAN_BUSY   1   /* ms: free/ had files last time */
#define RESCAN_EMPTY  100 /* ms: free/ was empty last time */
#define RECOUNT_EVERY 10  /* ms: the runner's recount, while free/ seems full */

struct freelist {
	int dirfd;
	char names[NAMES_MAX][QID_LEN + 1];
	size_t n, next;
	long long scan_after; /* ms, CLOCK_MONOTONIC */
	size_t estimate;      /* the runner's idea of how many files free/ holds */
	long long counted_at;
};

/* list - read free/: the first NAMES_MAX names into fl->names (if names), the
 * count of every file; -1 on error */
static long
list(struct freelist *fl, int names)
{
	char buf[32768];
	long count = 0;
	long nread;

	if (names)
		fl->n = fl->next = 0;
	if (lseek(fl->dirfd, 0, SEEK_SET) == -1)
		return -1;
	while ((nread = getdents64(fl->dirfd, buf, sizeof(buf))) > 0) {
		for (long off = 0; off < nread;) {
			struct dirent64 *de = (struct dirent64 *)(buf + off);
			off += de->d_reclen;
			/* Only names moat gave: a queue id. */
			if (!qid_valid(de->d_name, strlen(de->d_name)))
				continue;
			count++;
			if (names && fl->n < NAMES_MAX)
				strlcpy(fl->names[fl->n++], de->d_name, QID_LEN + 1);
		}
	}
	return nread == -1 ? -1 : count;
}

struct freelist *
freelist_open(const char *spool_dir)
{
	char path[4096];
	struct freelist *fl;
	int fd;

	snprintf(path, sizeof(path), "%s/free", spool_dir);
	if (mkdir(path, 0700) == -1 && errno != EEXIST) {
		log_warn("spool: mkdir %s", log_escape_str(path));
		return NULL;
	}
	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		log_warn("spool: %s", log_escape_str(path));
		return NULL;
	}
	fl = xcalloc(1, sizeof(*fl));
	fl->dirfd = fd;
	fl->estimate = FREELIST_MAX; /* unknown until counted */
	fl->counted_at = clock_mono_ms() - RECOUNT_EVERY;
	return fl;
}

void
freelist_close(struct freelist *fl)
{
	if (fl == NULL)
		return;
	close(fl->dirfd);
	free(fl);
}

int
freelist_take(struct freelist *fl, char name[QID_LEN + 1], off_t *old_size)
{
	for (;;) {
		if (fl->next == fl->n) {
			long long now = clock_mono_ms();
			if (now < fl->scan_after)
				return -1;
			long got = list(fl, 1);
			fl->scan_after = now + (got > 0 ? RESCAN_BUSY : RESCAN_EMPTY);
			if (got <= 0)
				return -1;
		}
		const char *cand = fl->names[fl->next++];
		struct stat st, named;
		int fd = openat(fl->dirfd, cand, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
		if (fd == -1)
			continue; /* taken and renamed into queue/ meanwhile */
		/*
		 * Locked by another worker: skip it. Locked by us, but renamed
		 * away between our open and our lock (its owner finished it):
		 * the name no longer leads to this file, skip it too.
		 */
		if (flock(fd, LOCK_EX | LOCK_NB) == -1 || fstat(fd, &st) == -1 ||
		    !S_ISREG(st.st_mode) || fstatat(fl->dirfd, cand, &named, 0) == -1 ||
		    named.st_ino != st.st_ino || named.st_dev != st.st_dev) {
			close(fd);
			continue;
		}
		memcpy(name, cand, QID_LEN + 1);
		*old_size = st.st_size;
		return fd;
	}
}

int
freelist_dirfd(const struct freelist *fl)
{
	return fl->dirfd;
}

int
freelist_put(struct freelist *fl, int queue_dirfd, const char *id, off_t size)
{
	if (fl != NULL && size <= FREELIST_FILE_MAX && fl->estimate >= FREELIST_MAX) {
		long long now = clock_mono_ms();
		if (now - fl->counted_at >= RECOUNT_EVERY) {
			long count = list(fl, 0);
			fl->estimate = count < 0 ? FREELIST_MAX : (size_t)count;
			fl->counted_at = now;
		}
	}
	if (fl != NULL && size <= FREELIST_FILE_MAX && fl->estimate < FREELIST_MAX) {
		if (renameat(queue_dirfd, id, fl->dirfd, id) == 0) {
			fl->estimate++;
			return 0;
		}
		if (errno == ENOENT)
			return -1;
	}
	return unlinkat(queue_dirfd, id, 0);
}
