/* SPDX-License-Identifier: ISC */
/*
 * freelist.h - queue files are recycled, not created and removed.
 *
 * Creating a file and removing it are the dearest things a message costs the
 * filesystem: inode allocation (on ext4 without a journal it scans past every
 * inode freed in the last minute), freeing, and the directory updates. So
 * the queue runner renames a finished queue file into spool/free/, and an
 * SMTP worker's commit thread claims one there (an exclusive flock, then a check that the
 * name still leads to the file it locked), overwrites it in place, cuts it
 * to length and renames it into queue/ when the message is complete. Both
 * processes keep their own view of free/; a file that is gone or claimed by
 * another worker is skipped. A file in free/ is garbage by definition, so a
 * crash in the middle of a message leaves nothing to clean up.
 *
 * free/ is bounded (FREELIST_MAX files, each at most FREELIST_FILE_MAX
 * octets): past that a finished file is removed as before.
 */
#ifndef MOAT_FREELIST_H
#define MOAT_FREELIST_H

#include <sys/types.h>

#include "queue/envelope.h"

#define FREELIST_MAX      512
#define FREELIST_FILE_MAX (128 * 1024) /* free/ holds at most 64 MiB */

struct freelist;

/* freelist_open - spool_dir/free (created if need be); NULL on error */
struct freelist *freelist_open(const char *spool_dir);
void freelist_close(struct freelist *fl);

/*
 * freelist_take - claim a free file: opened read-write and locked, its name
 * in free/ in name, its current size in *old_size; -1 when there is none.
 * The claim lasts until the descriptor is closed.
 */
int freelist_take(struct freelist *fl, char name[QID_LEN + 1], off_t *old_size);
/* freelist_dirfd - free/, for renaming a claimed file into queue/ */
int freelist_dirfd(const struct freelist *fl);

/* freelist_put - queue_dirfd/id (size octets) is done with; -1 on error */
int freelist_put(struct freelist *fl, int queue_dirfd, const char *id, off_t size);

#endif
