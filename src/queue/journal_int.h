/* SPDX-License-Identifier: ISC */
/*
 * journal_int.h - what journal.c (append, sync, retire) and
 * journal_recover.c (recovery after a crash) share: the segment layout,
 * struct segment, and the segment operations both use.
 * SECURITY: a declaration only; journal_recover.c checks what it reads.
 */
#ifndef MOAT_JOURNAL_INT_H
#define MOAT_JOURNAL_INT_H

#include <sys/queue.h>
#include <sys/types.h>

#include "queue/envelope.h"

/*
 * Segment layout (all written by moatd, read back only by recovery):
 *
 *   64 octets   "MOAT-JOURNAL 2\n", the boot id the segment was started
 *               under, "\n", 8 random octets (the segment's nonce),
 *               spaces, "\n"
 *   records     64-octet header ("MJR1", queue id, 2 zero octets, length
 *               as 64-bit little endian, SHA-256 of the nonce and the
 *               image), then the queue file's image as it was when
 *               committed
 *
 * The header is written after the image, but both become durable together
 * by the batch's fdatasync, and only then is anyone told. A record cut short
 * by a crash therefore was never acknowledged: recovery stops at the first
 * record whose digest does not match.
 */
#define SEG_MAGIC   "MOAT-JOURNAL 2\n"
#define SEG_MAGIC_1 "MOAT-JOURNAL 1\n" /* no nonce */
#define SEG_HDR     64
#define NONCE_OFF   (15 + 36 + 1)
#define NONCE_LEN   8
#define FREE_PREFIX "free."
#define REC_MAGIC   "MJR1"
#define REC_HDR     64
#define REC_LEN_OFF (4 + QID_LEN + 2)
#define REC_SHA_OFF (REC_LEN_OFF + 8)
#define BOOT_ID_LEN 36

_Static_assert(REC_SHA_OFF + 32 == REC_HDR, "record header layout");
_Static_assert(NONCE_OFF + NONCE_LEN < SEG_HDR, "segment header layout");

struct segment {
	char name[80];
	int fd;
	off_t off;
	off_t size; /* of the file: writes below it reuse blocks */
	unsigned char nonce[NONCE_LEN];
	/* CLOCK_MONOTONIC milliseconds: a segment counted in whole seconds
	 * was retired anywhere between 0 and 1 s after it started */
	long long started;
	unsigned gen; /* tells the segments a journal has written apart */
	char (*ids)[QID_LEN + 1];
	size_t nids, cap;
	int warned;
	TAILQ_ENTRY(segment) entry;
};
TAILQ_HEAD(segq, segment);

/* journal_boot_id - this boot's id (36 characters), "" if unknown */
void journal_boot_id(char out[BOOT_ID_LEN + 1]);
/* journal_seg_add_id - remember that the segment holds queue file id */
void journal_seg_add_id(struct segment *s, const char *id);
/* journal_seg_free - close (dropping the lock) and free */
void journal_seg_free(struct segment *s);
/*
 * journal_seg_retire - make the segment unnecessary (its messages durable
 * in queue/), then remove it, or rename it to rename_to if not NULL; -1 if
 * it cannot be retired yet.
 */
int journal_seg_retire(int dirfd, int queue_dirfd, struct segment *s,
                       const char *rename_to);
/* journal_dir_open - spool_dir/journal, made if need be; -1 on error */
int journal_dir_open(const char *spool_dir);
/*
 * journal_recover_dir - recover the segments of the journal directory dirfd
 * that no process holds; with may_restore, those of an earlier boot too
 * (restoring their queue files through tmp_dirfd), else they are left for
 * journal_recover(). Returns the messages restored, -1 if a segment had to
 * be kept.
 */
int journal_recover_dir(int dirfd, int tmp_dirfd, int queue_dirfd, const char *boot,
                        int may_restore);

#endif
