/* SPDX-License-Identifier: ISC */
/*
 * freelist.h - queue files are recycled, not created and removed.
 *
 * Creating a file and removing it are the dearest things a message costs the
 * filesystem: inode allocation (on ext4 without a journal it scans past every
 * inode freed in the last minute), freeing, and the directory updates. So
 * the queue runner renames a finished queue file into spool/free/, and the
 * SMTP worker takes one from there (rename into tmp/), overwrites it and cuts
 * it to length. Both processes keep their own view; a rename that finds the
 * file gone simply tries the next one.
 *
 * free/ is bounded (FREELIST_MAX files, each at most FREELIST_FILE_MAX
 * octets): past that a finished file is removed as before.
 */
#ifndef MOAT_FREELIST_H
#define MOAT_FREELIST_H

#include <sys/types.h>

#define FREELIST_MAX      512
#define FREELIST_FILE_MAX (128 * 1024) /* free/ holds at most 64 MiB */

struct freelist;

/* freelist_open - spool_dir/free (created if need be); NULL on error */
struct freelist *freelist_open(const char *spool_dir);
void freelist_close(struct freelist *fl);

/*
 * freelist_take - claim a free file under the name tmp_dirfd/id, opened
 * read-write, its current size in *old_size; -1 when there is none.
 */
int freelist_take(struct freelist *fl, int tmp_dirfd, const char *id, off_t *old_size);

/* freelist_put - queue_dirfd/id (size octets) is done with; -1 on error */
int freelist_put(struct freelist *fl, int queue_dirfd, const char *id, off_t size);

#endif
