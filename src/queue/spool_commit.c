/* SPDX-License-Identifier: ISC */
/*
 * spool_commit.c - group commit: spool_commit() and the commit and sync
 * threads that make each batch of messages durable before anyone hears 250.
 * API: spool_commit() (spool.h); spool_commit_thread() and
 * spool_sync_thread() (spool_int.h), which spool_new() starts. How a batch
 * is made durable, and why that way, is told below the includes.
 * SECURITY: message bytes are written as received; no parsing happens here.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "common/fileio.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "queue/journal.h"
#include "queue/spool.h"
#include "queue/spool_int.h"

/*
 * The event loop never waits for the disk to flush: finished messages go to
 * a commit thread through a mutex-protected list; it makes the whole batch
 * stable at once, gives each message its file (the write, the size field,
 * the rename into queue/: file system work that need not hold up the
 * loop's other sessions) and wakes the loop through a pipe (spool.c's
 * wake_cb). Messages that arrive meanwhile form the next batch.
 *
 * "At once" is, by default (spool_sync = journal), a copy of each file of
 * the batch appended to a journal segment and one fdatasync() of it: one
 * disk flush for the batch (journal.c says how segments are retired,
 * journal_recover.c how they are recovered). The fdatasync() is a sync
 * thread's: the commit thread hands the batch over as soon as its copies
 * are appended, writes and renames the files while the syncer waits for the
 * disk, then takes the next batch, whose fdatasync may cover several. A
 * message is acknowledged once both are done (sync_batch()); a commit
 * waits for the longer of the two, not their sum. A failed sync fails over
 * to fdatasync() of each file for every batch with records in that segment,
 * and the segment takes no more.
 *
 * spool_sync = file is fdatasync() of each file of the batch and one
 * fsync() of queue/ for the renames, as Postfix does: one flush per
 * message, which capped a virtual disk here at ~2,500 msg/s.
 * spool_sync = filesystem makes it one syncfs() of the spool's filesystem:
 * one disk cache flush for the batch, but it also writes every other dirty
 * page there (the store, the logs), so a flood of refused connections,
 * each updating the store and logging, slowed accepted mail by a fifth
 * (bench/flood.py), while end to end at 20-100 sessions it was no faster.
 * Since Linux 5.8 syncfs() reports writeback errors of the filesystem, so
 * a failed write is never acknowledged either way.
 */

/*
 * image - on the commit thread: a message still whole in memory gets its
 * size field there, and m->img is the complete file, for the journal's
 * copy and the file's one write. No I/O.
 */
static void
image(struct spool_msg *m)
{
	char size[17];
	size_t len;
	unsigned char *p;

	if (m->failed || m->started)
		return;
	len = evbuffer_get_length(m->out);
	if ((p = evbuffer_pullup(m->out, -1)) == NULL || len < (size_t)m->size_off + 16) {
		m->failed = 1;
		return;
	}
	snprintf(size, sizeof(size), "%016zu", m->body_size);
	memcpy(p + m->size_off, size, 16);
	m->len = (off_t)len;
	m->img = p;
}

/*
 * finish - on the commit thread: the file (the image in one write, or the
 * rest of a file begun in spool_append() and its size field), its length
 * (a recycled file may have been longer), its name in queue/. Failure:
 * sync_error, the file back where it came from.
 */
static void
finish(struct spool *sp, struct spool_msg *m)
{
	char size[17];

	m->finished = 1;
	if (!m->failed && m->fd == -1 && spool_claim_file(sp, m, 1) == -1)
		m->failed = 1;
	if (!m->failed && m->img != NULL) {
		if (write_all(m->fd, m->img, (size_t)m->len) == -1) {
			log_warn("spool: write %s", m->id);
			m->failed = 1;
		}
	} else if (!m->failed) {
		snprintf(size, sizeof(size), "%016zu", m->body_size);
		if (spool_write_out(m) == 0 &&
		    pwrite(m->fd, size, 16, m->size_off) != 16) {
			log_warn("spool: write %s", m->id);
			m->failed = 1;
		}
	}
	if (m->failed || (m->old_size > m->len && ftruncate(m->fd, m->len) == -1) ||
	    renameat(m->src_dirfd, m->src_name, sp->queue_dirfd, m->id) == -1) {
		if (!m->failed)
			log_warn("spool: finish %s", m->id);
		if (m->fd != -1 && m->src_dirfd == sp->tmp_dirfd)
			unlinkat(m->src_dirfd, m->src_name, 0);
		m->sync_error = EIO;
		m->img = NULL;
	}
}

/* finish_rest - finish() the messages of the batch it has not seen */
static void
finish_rest(struct spool *sp, struct msgq *batch)
{
	struct spool_msg *m;

	TAILQ_FOREACH(m, batch, entry)
	if (!m->finished)
		finish(sp, m);
}

/* sync_each - fdatasync every file of the batch, then fsync queue/ */
static void
sync_each(struct spool *sp, struct msgq *batch)
{
	struct spool_msg *m;
	int dir_error = 0;

	TAILQ_FOREACH(m, batch, entry)
	if (!m->sync_error && fdatasync(m->fd) == -1)
		m->sync_error = errno;
	/* The rename into queue/ is durable only with the directory. */
	if (fsync(sp->queue_dirfd) == -1)
		dir_error = errno;
	TAILQ_FOREACH(m, batch, entry)
	if (dir_error && !m->sync_error)
		m->sync_error = dir_error;
}

/*
 * A message larger than this is not copied into the journal: its own file
 * is synced instead (sync_direct()). For it the copy, a read, a digest and
 * a second write of every octet, costs more than the flush it would share
 * with the batch: at 10 MiB the copy was a sixth of moatd's CPU
 * (bench/traffic.py, large section). Recovery needs nothing of it: its
 * file and name in queue/ are stable before anyone hears 250.
 */
#define JOURNAL_COPY_MAX ((off_t)1 << 20)

static int
direct(const struct spool_msg *m)
{
	return m->len > JOURNAL_COPY_MAX;
}

/* sync_direct - on the commit thread, once the batch's files are written
 * and renamed: fdatasync each file journal_batch() left out, then queue/ */
static void
sync_direct(struct spool *sp, struct msgq *batch)
{
	struct spool_msg *m;
	int any = 0, dir_error = 0;

	TAILQ_FOREACH(m, batch, entry)
	{
		if (m->sync_error || !direct(m))
			continue;
		any = 1;
		if (fdatasync(m->fd) == -1)
			m->sync_error = errno;
	}
	if (any && fsync(sp->queue_dirfd) == -1)
		dir_error = errno;
	TAILQ_FOREACH(m, batch, entry)
	if (dir_error && direct(m) && !m->sync_error)
		m->sync_error = dir_error;
}

/*
 * done_locked - synced messages go to the event loop (sp->mu held). A
 * message whose session asked for it (spool_commit_reply()) hears its 250
 * from here, at once: the loop may be busy with other sessions, or not
 * even scheduled, and at 20 sessions its wake-up was a tenth of a
 * message's round trip. Under sp->mu, so that spool_reply_cancel() (a
 * session that writes or closes first) never races with the send.
 */
static void
done_locked(struct spool *sp, struct msgq *batch)
{
	struct spool_msg *m;
	char c = 1;

	TAILQ_FOREACH(m, batch, entry)
	{
		if (m->reply_fd == -1 || m->sync_error)
			continue;
		ssize_t n = send(m->reply_fd, m->reply, m->reply_len,
		                 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0)
			m->reply_sent = (size_t)n;
		m->reply_fd = -1;
	}
	TAILQ_CONCAT(&sp->done, batch, entry);
	ssize_t w = write(sp->wake[1], &c, 1);
	(void)w; /* a full pipe already holds a wake-up */
}

/*
 * journal_batch - append the batch's files to the journal and hand it to the
 * sync thread; NULL (nothing handed over) if the journal failed.
 */
static struct handoff *
journal_batch(struct spool *sp, struct msgq *batch)
{
	struct spool_msg *m;
	struct handoff *h;
	unsigned gen;

	TAILQ_FOREACH(m, batch, entry)
	if (!m->sync_error && !direct(m) &&
	    journal_append(sp->journal, m->id, m->fd, m->img, m->len) == -1)
		return NULL;
	if ((gen = journal_gen(sp->journal)) == 0)
		return NULL; /* the batch had nothing to append */
	h = xcalloc(1, sizeof(*h));
	h->gen = gen;
	h->fd = -1;
	/* The syncer keeps a descriptor per segment: one dup() a segment. */
	if (gen != sp->handed_gen && (h->fd = journal_sync_fd(sp->journal)) == -1) {
		free(h);
		return NULL;
	}
	sp->handed_gen = gen;
	TAILQ_INIT(&h->batch);
	TAILQ_CONCAT(&h->batch, batch, entry);
	return h;
}

/*
 * handoff_done - the commit thread (files) or the syncer (fdatasync), the
 * second of the two to be done with h: its batch goes to the event loop,
 * after a sync of each file if the journal's failed (the files are written
 * by then).
 */
static void
handoff_done(struct spool *sp, struct handoff *h)
{
	if (h->sync_failed)
		sync_each(sp, &h->batch);
	pthread_mutex_lock(&sp->mu);
	done_locked(sp, &h->batch);
	pthread_mutex_unlock(&sp->mu);
	free(h);
}

/*
 * sync_batch - make the batch durable the configured way. With the journal
 * (returns 1: the batch has gone, its completion is handoff_done()'s): the
 * images are appended to the journal and handed to the sync thread first,
 * and the queue files are written and renamed while it waits for the disk,
 * so a commit waits for the longer of the two, not their sum. A message
 * is acknowledged only once both are done: the journal durable and the file
 * in queue/, as recovery expects. A message begun in a file of its own
 * (over 64 KiB) is finished first, since the journal copies it from there;
 * one over JOURNAL_COPY_MAX is not copied but synced in its file.
 */
static int
sync_batch(struct spool *sp, struct msgq *batch)
{
	struct spool_msg *m;
	struct handoff *h;
	int take;

	TAILQ_FOREACH(m, batch, entry)
	{
		image(m);
		if (m->img == NULL)
			finish(sp, m);
	}
	switch (sp->mode) {
	case SPOOL_SYNC_JOURNAL:
		if (sp->journal != NULL && (h = journal_batch(sp, batch)) != NULL) {
			pthread_mutex_lock(&sp->mu);
			TAILQ_INSERT_TAIL(&sp->tosync, h, entry);
			pthread_cond_signal(&sp->sync_cv);
			pthread_mutex_unlock(&sp->mu);
			/* Only this thread touches the messages' files now; the
			 * syncer touches them only once files_done is set. */
			finish_rest(sp, &h->batch);
			sync_direct(sp, &h->batch);
			pthread_mutex_lock(&sp->mu);
			h->files_done = 1;
			take = h->synced;
			pthread_mutex_unlock(&sp->mu);
			if (take)
				handoff_done(sp, h);
			return 1;
		}
		/* No journal to lean on: each file is synced on its own. */
		finish_rest(sp, batch);
		sync_each(sp, batch);
		return 0;
	case SPOOL_SYNC_FILE:
		finish_rest(sp, batch);
		sync_each(sp, batch);
		return 0;
	case SPOOL_SYNC_FILESYSTEM:
		finish_rest(sp, batch);
		if (syncfs(sp->queue_dirfd) == -1) {
			int e = errno;
			TAILQ_FOREACH(m, batch, entry)
			if (!m->sync_error)
				m->sync_error = e;
		}
		return 0;
	}
	return 0;
}

/*
 * commit_thread - finishes the files of each batch and appends them to the
 * journal while the sync thread waits for the disk to make the previous
 * batches stable: a commit costs the longer of the two, not their sum.
 */
void *
spool_commit_thread(void *arg)
{
	struct spool *sp = arg;
	struct msgq batch;

	pthread_mutex_lock(&sp->mu);
	for (;;) {
		if (TAILQ_EMPTY(&sp->pending) && !sp->stop) {
			/* Idle: wake once a second, so that the journal's current
			 * segment is handed to its retire thread in time. */
			struct timespec until;
			clock_gettime(CLOCK_MONOTONIC, &until);
			until.tv_sec += 1;
			pthread_cond_timedwait(&sp->cv, &sp->mu, &until);
		}
		if (sp->stop && TAILQ_EMPTY(&sp->pending))
			break;
		TAILQ_INIT(&batch);
		TAILQ_CONCAT(&batch, &sp->pending, entry);
		int rotate = sp->rotate_failed;
		unsigned failed = sp->failed_gen;
		sp->rotate_failed = 0;
		pthread_mutex_unlock(&sp->mu);

		/* A segment whose sync failed takes no more records. */
		if (rotate && sp->journal != NULL)
			journal_sync_failed(sp->journal, failed);
		int handed = !TAILQ_EMPTY(&batch) && sync_batch(sp, &batch);
		if (sp->journal != NULL)
			journal_retire_due(sp->journal);

		pthread_mutex_lock(&sp->mu);
		if (!handed && !TAILQ_EMPTY(&batch))
			done_locked(sp, &batch);
	}
	pthread_mutex_unlock(&sp->mu);
	return NULL;
}

/* sync_run - make the batches of run (one segment's) durable: one fdatasync
 * of the segment; if that failed, each is marked to have its files synced
 * one by one (handoff_done()) */
static void
sync_run(struct spool *sp, struct handoffq *run, int fd, unsigned gen)
{
	struct handoff *h;

	if (gen != sp->failed_gen && fdatasync(fd) == 0)
		return;
	if (gen != sp->failed_gen) {
		log_warn("spool: journal sync");
		pthread_mutex_lock(&sp->mu);
		sp->failed_gen = gen;
		sp->rotate_failed = 1;
		pthread_mutex_unlock(&sp->mu);
	}
	/* The segment's pages may be lost without a later sync saying so:
	 * every batch with records in it is synced file by file. */
	TAILQ_FOREACH(h, run, entry)
	h->sync_failed = 1;
}

/*
 * sync_thread - waits for the disk: every batch handed over since its last
 * sync is made durable by one fdatasync() of the journal segment (one per
 * segment, in the rare case a rotation fell between them).
 */
void *
spool_sync_thread(void *arg)
{
	struct spool *sp = arg;
	struct handoffq todo, run, synced;
	struct handoff *h;
	int fd = -1; /* of generation gen */
	unsigned gen = 0;

	pthread_mutex_lock(&sp->mu);
	for (;;) {
		while (TAILQ_EMPTY(&sp->tosync) && !sp->sync_stop)
			pthread_cond_wait(&sp->sync_cv, &sp->mu);
		if (TAILQ_EMPTY(&sp->tosync))
			break;
		TAILQ_INIT(&todo);
		TAILQ_CONCAT(&todo, &sp->tosync, entry);
		pthread_mutex_unlock(&sp->mu);

		TAILQ_INIT(&run);
		TAILQ_INIT(&synced);
		while ((h = TAILQ_FIRST(&todo)) != NULL) {
			TAILQ_REMOVE(&todo, h, entry);
			if (h->gen != gen) {
				/* A new segment: the ones before it are synced
				 * first, and the syncer keeps the new one's fd. */
				if (!TAILQ_EMPTY(&run))
					sync_run(sp, &run, fd, gen);
				TAILQ_CONCAT(&synced, &run, entry);
				if (fd != -1)
					close(fd);
				fd = h->fd;
				gen = h->gen;
				h->fd = -1;
			}
			TAILQ_INSERT_TAIL(&run, h, entry);
		}
		sync_run(sp, &run, fd, gen);
		TAILQ_CONCAT(&synced, &run, entry);

		while ((h = TAILQ_FIRST(&synced)) != NULL) {
			TAILQ_REMOVE(&synced, h, entry);
			pthread_mutex_lock(&sp->mu);
			h->synced = 1;
			int take = h->files_done;
			pthread_mutex_unlock(&sp->mu);
			if (take)
				handoff_done(sp, h);
		}
		pthread_mutex_lock(&sp->mu);
	}
	pthread_mutex_unlock(&sp->mu);
	if (fd != -1)
		close(fd);
	return NULL;
}

void
spool_commit(struct spool_msg *m, spool_done_cb cb, void *arg)
{
	struct spool *sp = m->sp;

	m->cb = cb;
	m->arg = arg;
	/* The commit thread writes the rest and renames the file (finish()):
	 * that work is not the event loop's, which has other sessions. */
	pthread_mutex_lock(&sp->mu);
	TAILQ_INSERT_TAIL(&sp->pending, m, entry);
	pthread_cond_signal(&sp->cv);
	pthread_mutex_unlock(&sp->mu);
}
