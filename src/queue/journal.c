/* SPDX-License-Identifier: ISC */
/*
 * journal.c - spool journal segments: append, sync, retire (recovery after
 * a crash: journal_recover.c; the segment layout: journal_int.h).
 *
 * Retired segments are recycled (up to POOL_MAX files, named "free.*"):
 * writing over blocks a file already has makes fdatasync write the data and
 * flush, where appending to a new file also writes its inode (the new size
 * and blocks) first: on this kind of disk about twice as long, and the
 * commit waits for it. Behind the records of a recycled segment lie those
 * of its last use; their digests were made with another nonce, so recovery
 * stops there. Version 1 segments (no nonce, never recycled) are still read.
 * A new segment is written full of zeros before it takes records, for the
 * same reason (seg_prefilled()): on a new spool the first two segments
 * used to grow, and a growing file's flush also writes its inode and the
 * block bitmaps, one synchronous write after the other.
 *
 * Only the commit thread appends and rotates after journal_open(); rotated
 * segments go to a retire thread of their own, so that the retiring's
 * fsyncs (tens of milliseconds on a busy disk) never hold up a commit.
 * SECURITY: writes only; the free.* segments adopted from an earlier run
 * are opened O_NOFOLLOW, locked, and checked to be the regular file their
 * name leads to.
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
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <pthread.h>

#include "common/clock.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "queue/envelope.h"
#include "queue/journal.h"
#include "queue/journal_int.h"

#define POOL_MAX 2 /* retired segments kept for reuse */
/* from this many messages a segment retires with one syncfs() */
#define RETIRE_SYNCFS_MIN 32
#define SEG_MAX           (32 * 1024 * 1024) /* retire early past this size */
#define COPY_CHUNK        65536

struct journal {
	int dirfd;
	int queue_dirfd;
	int retire_after;
	unsigned seq;
	unsigned gen;               /* of the last segment made current */
	char boot[BOOT_ID_LEN + 1]; /* "" when unknown: every segment is replayed */
	struct segment *cur;
	/* rotated, waiting to be retired: shared with the retire thread */
	pthread_t retirer;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct segq old;
	struct segment *spare; /* made ready by the retirer for the next rotation */
	struct segq pool;      /* retired, kept to be reused (retirer only) */
	size_t npool;
	int stop;
	unsigned char *buf;
	/* Fetched once: an implicit fetch per message cost more than hashing
	 * 4 KiB with the CPU's SHA instructions. */
	EVP_MD *sha256;
	EVP_MD_CTX *md;
};

void
journal_boot_id(char out[BOOT_ID_LEN + 1])
{
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");

	out[0] = '\0';
	if (f == NULL)
		return;
	if (fgets(out, BOOT_ID_LEN + 1, f) == NULL || strlen(out) != BOOT_ID_LEN)
		out[0] = '\0';
	fclose(f);
}

void
journal_seg_add_id(struct segment *s, const char *id)
{
	if (s->nids == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 256;
		s->ids = xreallocarray(s->ids, s->cap, sizeof(*s->ids));
	}
	memcpy(s->ids[s->nids], id, QID_LEN);
	s->ids[s->nids][QID_LEN] = '\0';
	s->nids++;
}

void
journal_seg_free(struct segment *s)
{
	if (s->fd != -1)
		close(s->fd); /* drops the lock */
	free(s->ids);
	free(s);
}

/* sync_each - fdatasync() each message of the segment still in queue/ */
static int
sync_each(int queue_dirfd, const struct segment *s)
{
	for (size_t i = 0; i < s->nids; i++) {
		int fd = openat(queue_dirfd, s->ids[i], O_RDONLY | O_CLOEXEC);
		if (fd == -1) {
			if (errno == ENOENT) /* delivered, bounced or quarantined */
				continue;
			return -1;
		}
		if (fdatasync(fd) == -1) {
			close(fd);
			return -1;
		}
		close(fd);
	}
	return 0;
}

/*
 * seg_retire - make the journal copy unnecessary: every message of the
 * segment still in queue/ is made durable there, every removal is made
 * durable with the directory, then the segment goes.
 *
 * A segment of many messages is made durable by one syncfs() of the spool's
 * filesystem instead of an fdatasync() of each file still queued. When the
 * queue runner falls behind the workers (100 sessions, workers = 2), most
 * of a segment is still queued when it retires, a second after it began:
 * a flush per message, the very cost the journal is there to avoid, took
 * the disk from the commits (0.66 fdatasync per message against 0.06 with
 * one worker) and the runner fell further behind. syncfs() writes what is
 * dirty there and flushes the disk once; since Linux 5.8 it reports
 * writeback errors, so a failed write still fails the retiring. It also
 * spares an openat() per message, most of them for files long delivered.
 */
int
journal_seg_retire(int dirfd, int queue_dirfd, struct segment *s, const char *rename_to)
{
	if ((s->nids >= RETIRE_SYNCFS_MIN ? syncfs(queue_dirfd)
	                                  : sync_each(queue_dirfd, s)) == -1 ||
	    fsync(queue_dirfd) == -1)
		goto fail;
	if (rename_to != NULL) {
		/* kept for reuse under a name recovery passes over */
		if (renameat(dirfd, s->name, dirfd, rename_to) == -1)
			goto fail;
		strlcpy(s->name, rename_to, sizeof(s->name));
	} else if (unlinkat(dirfd, s->name, 0) == -1 && errno != ENOENT)
		goto fail;
	if (fsync(dirfd) == -1)
		goto fail;
	return 0;
fail:
	if (!s->warned)
		log_warn("spool: journal %s: cannot retire it yet", s->name);
	s->warned = 1;
	return -1;
}

static void
seg_name(struct journal *j, const char *prefix, char *out, size_t outsz)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(out, outsz, "%s%lld.%06ld.%d.%u", prefix, (long long)ts.tv_sec,
	         ts.tv_nsec / 1000, log_pid(),
	         __atomic_fetch_add(&j->seq, 1, __ATOMIC_RELAXED));
}

/* seg_header - write a segment header: this boot, a nonce of its own */
static int
seg_header(struct journal *j, struct segment *s)
{
	char hdr[SEG_HDR];

	memset(hdr, ' ', sizeof(hdr));
	memcpy(hdr, SEG_MAGIC, strlen(SEG_MAGIC));
	memcpy(hdr + strlen(SEG_MAGIC), j->boot, strlen(j->boot));
	hdr[strlen(SEG_MAGIC) + BOOT_ID_LEN] = '\n';
	arc4random_buf(s->nonce, NONCE_LEN);
	memcpy(hdr + NONCE_OFF, s->nonce, NONCE_LEN);
	hdr[SEG_HDR - 1] = '\n';
	return pwrite_all(s->fd, hdr, sizeof(hdr), 0);
}

static struct segment *
seg_new(struct journal *j)
{
	struct segment *s = xcalloc(1, sizeof(*s));

	seg_name(j, "", s->name, sizeof(s->name));
	s->fd = openat(j->dirfd, s->name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (s->fd == -1) {
		log_warn("spool: journal %s", s->name);
		free(s);
		return NULL;
	}
	/* The lock tells recovery in other processes that the owner lives. */
	if (flock(s->fd, LOCK_EX | LOCK_NB) == -1 || seg_header(j, s) == -1 ||
	    fsync(j->dirfd) == -1) {
		log_warn("spool: journal %s", s->name);
		unlinkat(j->dirfd, s->name, 0);
		journal_seg_free(s);
		return NULL;
	}
	s->off = SEG_HDR;
	s->size = SEG_HDR;
	s->started = clock_mono_ms();
	return s;
}

/*
 * seg_prefilled - a new segment written full of zeros up to SEG_MAX and
 * synced, so that its records overwrite blocks it already has (see the
 * head of this file; PostgreSQL fills new WAL files with zeros for the
 * same reason). Zeros after the header are no record: recovery stops
 * there. Only where no retired segment can be reused: a new spool, or
 * one whose pool a burst used up.
 */
static int pwritev_all(int fd, struct iovec *iov, int n, off_t off);

static struct segment *
seg_prefilled(struct journal *j)
{
	static const unsigned char zeros[64 * 1024];
	struct iovec iov[16];
	struct segment *s;

	if ((s = seg_new(j)) == NULL)
		return NULL;
	for (off_t off = SEG_HDR; off < SEG_MAX;) {
		size_t n = SEG_MAX - off < (off_t)sizeof(zeros) * 16
		               ? (size_t)(SEG_MAX - off)
		               : sizeof(zeros) * 16;
		int k = 0;
		for (size_t left = n; left > 0; k++) {
			iov[k].iov_base = (void *)zeros;
			iov[k].iov_len = left < sizeof(zeros) ? left : sizeof(zeros);
			left -= iov[k].iov_len;
		}
		if (pwritev_all(s->fd, iov, k, off) == -1)
			goto fail;
		off += (off_t)n;
		s->size = off;
	}
	if (fdatasync(s->fd) == -1)
		goto fail;
	return s;
fail:
	/* Still a valid (shorter) segment: appends grow it as they go. */
	log_warn("spool: journal %s: prefill", s->name);
	return s;
}

/*
 * seg_reuse - the biggest segment of the pool as the next one. Its new
 * header is durable before its new name is: a crash in between must not
 * leave the old records under a name recovery reads, with the old nonce
 * that makes them valid.
 */
static struct segment *
seg_reuse(struct journal *j)
{
	struct segment *s, *best = NULL;
	char name[sizeof(best->name)];

	TAILQ_FOREACH(s, &j->pool, entry)
	{
		if (best == NULL || s->size > best->size)
			best = s;
	}
	if (best == NULL)
		return NULL;
	TAILQ_REMOVE(&j->pool, best, entry);
	j->npool--;
	s = best;
	seg_name(j, "", name, sizeof(name));
	if (seg_header(j, s) == -1 || fdatasync(s->fd) == -1 ||
	    renameat(j->dirfd, s->name, j->dirfd, name) == -1 || fsync(j->dirfd) == -1) {
		log_warn("spool: journal %s: reuse", s->name);
		unlinkat(j->dirfd, s->name, 0);
		journal_seg_free(s);
		return NULL;
	}
	strlcpy(s->name, name, sizeof(s->name));
	s->nids = 0;
	s->warned = 0;
	s->off = SEG_HDR;
	s->started = clock_mono_ms();
	/* The records overwrite its pages: have them read in now, not one by
	 * one under the commit (a partial page written is read first). */
	(void)posix_fadvise(s->fd, 0, s->size, POSIX_FADV_WILLNEED);
	return s;
}

/* pool_put - a retired segment (renamed free.*) kept for reuse */
static void
pool_put(struct journal *j, struct segment *s)
{
	TAILQ_INSERT_TAIL(&j->pool, s, entry);
	j->npool++;
}

/* rotate - the current segment takes no more records: hand it to the retirer */
static void
rotate(struct journal *j)
{
	if (j->cur == NULL)
		return;
	pthread_mutex_lock(&j->mu);
	TAILQ_INSERT_TAIL(&j->old, j->cur, entry);
	pthread_cond_signal(&j->cv);
	pthread_mutex_unlock(&j->mu);
	j->cur = NULL;
}

/*
 * retire_thread - retire rotated segments; one that cannot be retired yet
 * (a sync failed) is tried again a second later, and at a stop it is left
 * for the recovery at the next start.
 */
static void *
retire_thread(void *arg)
{
	struct journal *j = arg;
	struct segq todo, failed;
	struct segment *s;

	TAILQ_INIT(&failed);
	pthread_mutex_lock(&j->mu);
	for (int first = 1;; first = 0) {
		/* The first round makes the spare at once: on a new spool the
		 * first records should not have to grow a file either. */
		if (TAILQ_EMPTY(&j->old) && !j->stop && !first) {
			struct timespec until;
			clock_gettime(CLOCK_MONOTONIC, &until);
			until.tv_sec += 1;
			pthread_cond_timedwait(&j->cv, &j->mu, &until);
		}
		TAILQ_INIT(&todo);
		TAILQ_CONCAT(&todo, &failed, entry);
		TAILQ_CONCAT(&todo, &j->old, entry);
		int stop = j->stop;
		pthread_mutex_unlock(&j->mu);
		while ((s = TAILQ_FIRST(&todo)) != NULL) {
			char keep[sizeof(s->name)];
			int r;

			TAILQ_REMOVE(&todo, s, entry);
			if (j->npool < POOL_MAX)
				seg_name(j, FREE_PREFIX, keep, sizeof(keep));
			r = journal_seg_retire(j->dirfd, j->queue_dirfd, s,
			                       j->npool < POOL_MAX ? keep : NULL);
			if (r == -1 && !stop)
				TAILQ_INSERT_TAIL(&failed, s, entry);
			else if (r == 0 && j->npool < POOL_MAX)
				pool_put(j, s);
			else
				journal_seg_free(s);
		}
		struct segment *spare = NULL;
		pthread_mutex_lock(&j->mu);
		int need = !stop && j->spare == NULL;
		pthread_mutex_unlock(&j->mu);
		if (need && (spare = seg_reuse(j)) == NULL)
			spare = seg_prefilled(j);
		if (spare != NULL) {
			pthread_mutex_lock(&j->mu);
			j->spare = spare;
			pthread_mutex_unlock(&j->mu);
		}
		pthread_mutex_lock(&j->mu);
		if (stop && TAILQ_EMPTY(&j->old))
			break;
	}
	pthread_mutex_unlock(&j->mu);
	return NULL;
}

/* record_header - a record's 64 octets; md has hashed the nonce and image */
static void
record_header(unsigned char *hdr, const char *id, off_t len, EVP_MD_CTX *md)
{
	unsigned int mdlen = 32;

	memset(hdr, 0, REC_HDR);
	memcpy(hdr, REC_MAGIC, 4);
	memcpy(hdr + 4, id, QID_LEN);
	for (int i = 0; i < 8; i++)
		hdr[REC_LEN_OFF + i] = (unsigned char)((uint64_t)len >> (8 * i));
	EVP_DigestFinal_ex(md, hdr + REC_SHA_OFF, &mdlen);
}

/* pwritev_all - the iovecs at off, however many calls it takes */
static int
pwritev_all(int fd, struct iovec *iov, int n, off_t off)
{
	while (n > 0) {
		ssize_t w = pwritev(fd, iov, n, off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		off += w;
		while (n > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

int
journal_append(struct journal *j, const char *id, int fd, const unsigned char *img,
               off_t len)
{
	unsigned char *hdr = j->buf;
	EVP_MD_CTX *md = j->md;
	struct segment *s;
	int ret = -1;

	if (j->cur == NULL) {
		/* The retirer's spare: its creation and the fsync of journal/
		 * that makes it count were not the commit's to wait for. */
		pthread_mutex_lock(&j->mu);
		j->cur = j->spare;
		j->spare = NULL;
		pthread_cond_signal(&j->cv); /* the retirer makes the next one */
		pthread_mutex_unlock(&j->mu);
		if (j->cur == NULL && (j->cur = seg_new(j)) == NULL)
			return -1;
		j->cur->started = clock_mono_ms();
		j->cur->gen = ++j->gen;
		/* Its pages may have left the page cache since it was made
		 * ready (memory pressure, a reboot, drop_caches): a record that
		 * begins inside a page not in memory has that page read first,
		 * while the commit waits. Have them all read in now. */
		if (j->cur->size > SEG_HDR)
			(void)posix_fadvise(j->cur->fd, 0, j->cur->size,
			                    POSIX_FADV_WILLNEED);
	}
	s = j->cur;
	if (len <= 0)
		return -1;
	if (EVP_DigestInit_ex(md, j->sha256, NULL) != 1)
		fatalx("spool: no SHA-256");
	EVP_DigestUpdate(md, s->nonce, NONCE_LEN);
	if (img != NULL) {
		/* The spool still has the file in memory: no reading back. */
		struct iovec iov[2] = {{hdr, REC_HDR}, {(void *)img, (size_t)len}};
		EVP_DigestUpdate(md, img, (size_t)len);
		record_header(hdr, id, len, md);
		if (pwritev_all(s->fd, iov, 2, s->off) == -1)
			goto done;
		goto written;
	}
	/* The image goes behind the record header in j->buf; one that fits
	 * is written with its header in one call, a longer one in pieces
	 * first and its header after. */
	for (off_t pos = 0; pos < len;) {
		size_t n =
		    (size_t)(len - pos) < COPY_CHUNK ? (size_t)(len - pos) : COPY_CHUNK;
		if (pread_all(fd, j->buf + REC_HDR, n, pos) == -1)
			goto done;
		EVP_DigestUpdate(md, j->buf + REC_HDR, n);
		if (len > COPY_CHUNK &&
		    pwrite_all(s->fd, j->buf + REC_HDR, n, s->off + REC_HDR + pos) == -1)
			goto done;
		pos += (off_t)n;
	}
	record_header(hdr, id, len, md);
	if (pwrite_all(s->fd, hdr, len > COPY_CHUNK ? REC_HDR : REC_HDR + (size_t)len,
	               s->off) == -1)
		goto done;
written:
	s->off += REC_HDR + len;
	if (s->off > s->size)
		s->size = s->off;
	journal_seg_add_id(s, id);
	ret = 0;
done:
	if (ret == -1) {
		log_warn("spool: journal %s: append %s", s->name, id);
		rotate(j); /* the queue files of a rotated segment get synced */
	}
	return ret;
}

unsigned
journal_gen(const struct journal *j)
{
	return j->cur != NULL ? j->cur->gen : 0;
}

int
journal_sync_fd(struct journal *j)
{
	int fd;

	if (j->cur == NULL)
		return -1;
	/* A descriptor of its own: the segment's may be closed by the
	 * retirer while the sync is under way. */
	if ((fd = fcntl(j->cur->fd, F_DUPFD_CLOEXEC, 0)) == -1) {
		log_warn("spool: journal %s: dup", j->cur->name);
		return -1;
	}
	return fd;
}

void
journal_sync_failed(struct journal *j, unsigned gen)
{
	if (j->cur != NULL && j->cur->gen == gen)
		rotate(j);
}

void
journal_retire_due(struct journal *j)
{
	if (j->cur != NULL &&
	    (clock_mono_ms() - j->cur->started >= (long long)j->retire_after * 1000 ||
	     j->cur->off >= SEG_MAX))
		rotate(j);
}

int
journal_dir_open(const char *spool_dir)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/journal", spool_dir);
	if (mkdir(path, 0700) == -1 && errno != EEXIST) {
		log_warn("spool: mkdir %s", log_escape_str(path));
		return -1;
	}
	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		log_warn("spool: %s", log_escape_str(path));
	return fd;
}

/*
 * pool_adopt - retired segments left by an earlier run (or a worker that
 * died) join the pool: those we can lock, whose name still leads to the
 * file we locked; beyond POOL_MAX they are removed.
 */
static void
pool_adopt(struct journal *j)
{
	int dfd = dup(j->dirfd);
	DIR *d;
	struct dirent *de;

	if (dfd == -1 || (d = fdopendir(dfd)) == NULL) {
		if (dfd != -1)
			close(dfd);
		return;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		struct stat st, named;
		struct segment *s;

		if (strncmp(de->d_name, FREE_PREFIX, strlen(FREE_PREFIX)) != 0 ||
		    strlen(de->d_name) >= sizeof(s->name))
			continue;
		s = xcalloc(1, sizeof(*s));
		strlcpy(s->name, de->d_name, sizeof(s->name));
		s->fd = openat(j->dirfd, s->name, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
		if (s->fd == -1 || flock(s->fd, LOCK_EX | LOCK_NB) == -1 ||
		    fstat(s->fd, &st) == -1 || !S_ISREG(st.st_mode) ||
		    fstatat(j->dirfd, s->name, &named, AT_SYMLINK_NOFOLLOW) == -1 ||
		    named.st_ino != st.st_ino || named.st_dev != st.st_dev) {
			journal_seg_free(s);
			continue;
		}
		if (j->npool >= POOL_MAX || st.st_size < SEG_HDR) {
			unlinkat(j->dirfd, s->name, 0);
			journal_seg_free(s);
			continue;
		}
		s->size = st.st_size;
		pool_put(j, s);
	}
	closedir(d);
}

struct journal *
journal_open(const char *spool_dir, int queue_dirfd, int retire_after)
{
	struct journal *j;
	int dirfd = journal_dir_open(spool_dir);

	if (dirfd == -1)
		return NULL;
	j = xcalloc(1, sizeof(*j));
	j->dirfd = dirfd;
	j->queue_dirfd = queue_dirfd;
	j->retire_after = retire_after;
	TAILQ_INIT(&j->old);
	TAILQ_INIT(&j->pool);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&j->mu, NULL);
	pthread_cond_init(&j->cv, &ca);
	pthread_condattr_destroy(&ca);
	j->buf = xmalloc(REC_HDR + COPY_CHUNK);
	if ((j->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL ||
	    (j->md = EVP_MD_CTX_new()) == NULL)
		fatalx("spool: no SHA-256");
	journal_boot_id(j->boot);
	if (j->boot[0] == '\0')
		log_warnx("spool: no boot id; after any crash the journal is replayed");
	/* Segments of a worker that died (same boot: retiring is enough; the
	 * others are journal_recover()'s, at the next start). */
	journal_recover_dir(dirfd, -1, queue_dirfd, j->boot, 0);
	pool_adopt(j);
	j->spare = seg_reuse(j); /* the first commit need not wait for one */
	if (pthread_create(&j->retirer, NULL, retire_thread, j) != 0)
		fatalx("spool: cannot start the journal's retire thread");
	return j;
}

void
journal_close(struct journal *j)
{
	if (j == NULL)
		return;
	rotate(j);
	/* The retirer finishes what it has; what it could not retire stays
	 * for the recovery at the next start. */
	pthread_mutex_lock(&j->mu);
	j->stop = 1;
	pthread_cond_signal(&j->cv);
	pthread_mutex_unlock(&j->mu);
	pthread_join(j->retirer, NULL);
	if (j->spare != NULL) {
		/* Never used: nothing in it to keep but its blocks. A crash
		 * before the rename is durable leaves a segment without a valid
		 * record, which recovery removes. */
		char name[sizeof(j->spare->name)];
		seg_name(j, FREE_PREFIX, name, sizeof(name));
		if (j->npool >= POOL_MAX || j->spare->size <= SEG_HDR ||
		    renameat(j->dirfd, j->spare->name, j->dirfd, name) == -1)
			unlinkat(j->dirfd, j->spare->name, 0);
		journal_seg_free(j->spare);
	}
	/* The pool stays for the next start (pool_adopt()). */
	struct segment *s;
	while ((s = TAILQ_FIRST(&j->pool)) != NULL) {
		TAILQ_REMOVE(&j->pool, s, entry);
		journal_seg_free(s);
	}
	pthread_mutex_destroy(&j->mu);
	pthread_cond_destroy(&j->cv);
	close(j->dirfd);
	EVP_MD_CTX_free(j->md);
	EVP_MD_free(j->sha256);
	free(j->buf);
	free(j);
}
