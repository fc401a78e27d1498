/* SPDX-License-Identifier: ISC */
/*
 * journal_recover.c - after a crash, the journal segments nobody holds:
 * one of this boot is only retired, one from before a reboot is replayed
 * (each record whose queue file is missing or differs is restored first).
 * API: journal_recover() (journal.h), at start before the queue runner reads
 * queue/; journal_recover_dir() (journal_int.h), also for journal_open().
 * SECURITY: recovery reads files that moatd wrote, but checks each record
 * (magic, id characters, length against the file, digest) before using it:
 * a crash can leave anything at a segment's end (tests/fuzz/fuzz_journal.c).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "common/fileio.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "queue/envelope.h"
#include "queue/journal.h"
#include "queue/journal_int.h"

/*
 * restore - after a reboot: put the committed image back unless queue/ has
 * the same message (its body intact; the envelope's status fields may have
 * moved on since).
 */
static int
restore(int tmp_dirfd, int queue_dirfd, const char *id, const unsigned char *img,
        size_t len)
{
	const unsigned char *b = memmem(img, len, "\nbody\n", 6);
	size_t body = b != NULL ? (size_t)(b - img) + 6 : 0;
	int fd = openat(queue_dirfd, id, O_RDONLY | O_CLOEXEC);

	if (fd != -1) {
		struct stat st;
		int same = 0;
		if (fstat(fd, &st) == 0 && (size_t)st.st_size == len && body > 0) {
			unsigned char *cur = xmalloc(len - body + 1);
			same = pread_all(fd, cur, len - body, (off_t)body) == 0 &&
			       memcmp(cur, img + body, len - body) == 0;
			free(cur);
		}
		close(fd);
		if (same)
			return 0;
	}
	if ((fd = openat(tmp_dirfd, id, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	                 0600)) == -1)
		return -1;
	if (pwrite_all(fd, img, len, 0) == -1) {
		close(fd);
		unlinkat(tmp_dirfd, id, 0);
		return -1;
	}
	close(fd);
	/* Made durable by seg_retire, like every other file of the segment. */
	if (renameat(tmp_dirfd, id, queue_dirfd, id) == -1) {
		unlinkat(tmp_dirfd, id, 0);
		return -1;
	}
	return 1;
}

/* recover_one - an orphaned segment, locked by us; returns messages restored */
static int
recover_one(int dirfd, int tmp_dirfd, int queue_dirfd, const char *boot, int may_restore,
            struct segment *s)
{
	char shdr[SEG_HDR];
	unsigned char rhdr[REC_HDR], digest[32];
	unsigned char *img = NULL;
	EVP_MD_CTX *md;
	struct stat st;
	int other_boot, restored = 0, failed = 0;

	if (fstat(s->fd, &st) == -1)
		return -1;
	if (st.st_size < SEG_HDR || pread_all(s->fd, shdr, SEG_HDR, 0) == -1 ||
	    (memcmp(shdr, SEG_MAGIC, strlen(SEG_MAGIC)) != 0 &&
	     memcmp(shdr, SEG_MAGIC_1, strlen(SEG_MAGIC_1)) != 0)) {
		/* Its header was never made durable, so no record was either. */
		log_warnx("spool: journal %s: no valid header; removed",
		          log_escape_str(s->name));
		return journal_seg_retire(dirfd, queue_dirfd, s, NULL) == -1 ? -1 : 0;
	}
	/* Version 1 digests cover the image alone. */
	int has_nonce = memcmp(shdr, SEG_MAGIC, strlen(SEG_MAGIC)) == 0;
	other_boot =
	    boot[0] == '\0' || memcmp(shdr + strlen(SEG_MAGIC), boot, BOOT_ID_LEN) != 0;
	/* Restoring must happen before the queue runner reads queue/: it
	 * would quarantine a damaged file, or miss a restored one. */
	if (other_boot && !may_restore)
		return 0;
	if ((md = EVP_MD_CTX_new()) == NULL)
		return -1;
	for (off_t off = SEG_HDR; off + REC_HDR <= st.st_size;) {
		uint64_t len = 0;
		unsigned int mdlen = 32;
		char id[QID_LEN + 1];

		if (pread_all(s->fd, rhdr, REC_HDR, off) == -1 ||
		    memcmp(rhdr, REC_MAGIC, 4) != 0)
			break;
		memcpy(id, rhdr + 4, QID_LEN);
		id[QID_LEN] = '\0';
		for (int i = 0; i < 8; i++)
			len |= (uint64_t)rhdr[REC_LEN_OFF + i] << (8 * i);
		if (!qid_valid(id, QID_LEN) || len == 0 ||
		    len > (uint64_t)(st.st_size - off - REC_HDR))
			break;
		img = xmalloc(len);
		if (pread_all(s->fd, img, len, off + REC_HDR) == -1 ||
		    EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
		    (has_nonce &&
		     EVP_DigestUpdate(md, shdr + NONCE_OFF, NONCE_LEN) != 1) ||
		    EVP_DigestUpdate(md, img, len) != 1 ||
		    EVP_DigestFinal_ex(md, digest, &mdlen) != 1 ||
		    memcmp(digest, rhdr + REC_SHA_OFF, 32) != 0) {
			free(img);
			break; /* cut short (never acknowledged), or a record of
			        * the file's last use as a segment */
		}
		journal_seg_add_id(s, id);
		if (other_boot) {
			int r = restore(tmp_dirfd, queue_dirfd, id, img, len);
			if (r == -1) {
				log_warn("spool: journal %s: restore %s",
				         log_escape_str(s->name), log_escape_str(id));
				failed = 1;
			}
			restored += r == 1;
		}
		free(img);
		off += REC_HDR + (off_t)len;
	}
	EVP_MD_CTX_free(md);
	if (failed)
		return -1; /* keep the segment: the next start tries again */
	if (journal_seg_retire(dirfd, queue_dirfd, s, NULL) == -1)
		return -1;
	if (other_boot)
		log_info("spool: journal %s: written before the last boot; %zu "
		         "messages, %d restored to the queue",
		         s->name, s->nids, restored);
	return restored;
}

int
journal_recover_dir(int dirfd, int tmp_dirfd, int queue_dirfd, const char *boot,
                    int may_restore)
{
	int dfd = dup(dirfd), total = 0, failed = 0;
	DIR *d;
	struct dirent *de;

	if (dfd == -1 || (d = fdopendir(dfd)) == NULL) {
		if (dfd != -1)
			close(dfd);
		return -1;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' ||
		    strncmp(de->d_name, FREE_PREFIX, strlen(FREE_PREFIX)) == 0 ||
		    strlen(de->d_name) >= sizeof(((struct segment *)0)->name))
			continue;
		struct segment *s = xcalloc(1, sizeof(*s));
		strlcpy(s->name, de->d_name, sizeof(s->name));
		s->fd = openat(dirfd, s->name, O_RDONLY | O_CLOEXEC);
		/* A lock we cannot take: its owner is alive (or recovering it). */
		if (s->fd == -1 || flock(s->fd, LOCK_EX | LOCK_NB) == -1) {
			journal_seg_free(s);
			continue;
		}
		int r = recover_one(dirfd, tmp_dirfd, queue_dirfd, boot, may_restore, s);
		if (r > 0)
			total += r;
		failed |= r == -1;
		journal_seg_free(s);
	}
	closedir(d);
	/* A segment kept for the next start is worth the caller's warning. */
	return failed ? -1 : total;
}

int
journal_recover(const char *spool_dir)
{
	char boot[BOOT_ID_LEN + 1], path[4096];
	int dirfd, tmp_dirfd = -1, queue_dirfd = -1, r = -1;

	if ((dirfd = journal_dir_open(spool_dir)) == -1)
		return -1;
	snprintf(path, sizeof(path), "%s/tmp", spool_dir);
	tmp_dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	snprintf(path, sizeof(path), "%s/queue", spool_dir);
	queue_dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (tmp_dirfd == -1 || queue_dirfd == -1)
		log_warn("spool: %s", log_escape_str(path));
	else {
		journal_boot_id(boot);
		r = journal_recover_dir(dirfd, tmp_dirfd, queue_dirfd, boot, 1);
		if (r > 0)
			log_info("spool: journal recovery restored %d messages", r);
	}
	if (tmp_dirfd != -1)
		close(tmp_dirfd);
	if (queue_dirfd != -1)
		close(queue_dirfd);
	close(dirfd);
	return r;
}
