/* SPDX-License-Identifier: ISC */
/*
 * journal.h - group commit for the spool: one flush for a batch of messages.
 *
 * A queue file is made durable either by its own fdatasync (one disk cache
 * flush per message) or, with the journal, by a copy of it appended to a
 * journal segment: the commit thread appends the batch's files and the
 * spool's sync thread calls fdatasync once (journal_sync_fd()). The queue files
 * themselves are written back by the kernel in its own time (most are delivered and
 * removed before that).
 *
 * A segment is retired once it is no longer needed: every message in it has
 * either been removed from queue/ or been made durable there (fdatasync of
 * the file, fsync of queue/), then the segment is deleted or, up to two per
 * journal, renamed free.* and reused as a later segment (overwriting blocks
 * the file has costs a flush less than appending: see journal.c). That
 * happens a second after the segment was started (in a thread of its own,
 * beside the commits), and at a clean stop.
 *
 * After a crash, segments nobody holds (flock) are recovered. If the machine
 * did not restart since they were written (same boot id), the page cache
 * still has every queue file and every removal, so recovery is retiring.
 * After a reboot, the journal is the truth: a queue file that is missing or
 * whose body differs is restored from the segment. Messages delivered in
 * the last second before a power loss may therefore be delivered twice;
 * none that was acknowledged is lost.
 */
#ifndef MOAT_JOURNAL_H
#define MOAT_JOURNAL_H

#include <stddef.h>
#include <sys/types.h>

struct journal;

/*
 * journal_recover - at start, before the queue runner reads queue/: recover
 * every segment no process holds (restoring queue files after a reboot).
 * Returns the number of messages restored, -1 on error.
 */
int journal_recover(const char *spool_dir);

/*
 * journal_open - journal in spool_dir/journal (created if need be), with
 * queue_dirfd the spool's queue/; first retires the segments of a worker
 * that died (same boot; any others wait for journal_recover at the next
 * start). retire_after: seconds before a segment is retired.
 */
struct journal *journal_open(const char *spool_dir, int queue_dirfd, int retire_after);
/* journal_append - copy the queue file id (len octets) into the current
 * segment: from img if the caller has it in memory, else read from fd */
int journal_append(struct journal *j, const char *id, int fd, const unsigned char *img,
                   off_t len);
/* journal_gen - the current segment's generation (every segment a journal
 * makes current has a new one), 0 if there is none */
unsigned journal_gen(const struct journal *j);
/*
 * journal_sync_fd - for a sync on another thread: a descriptor of the
 * current segment, which the caller closes; -1 if there is none or on
 * error. An fdatasync() of it that succeeds makes every record appended
 * before the call durable.
 */
int journal_sync_fd(struct journal *j);
/* journal_sync_failed - the sync of generation gen failed: if that segment
 * is still current it takes no more records (its pages' state is unknown;
 * the retirer makes its messages durable in their queue files) */
void journal_sync_failed(struct journal *j, unsigned gen);
/* journal_retire_due - hand the current segment, once old or big enough, to
 * the retire thread */
void journal_retire_due(struct journal *j);
/* journal_close - retire every segment (a clean stop leaves none but the
 * free.* ones kept for reuse) and free */
void journal_close(struct journal *j);

/* The size past which a segment retires early; new segments are made this
 * big at once (journal.c), so the spool's free space must allow one. */
#define JOURNAL_SEGMENT_MAX (32 * 1024 * 1024)

#endif
