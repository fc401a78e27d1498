/* SPDX-License-Identifier: ISC */
/*
 * spool.c - queue file writer and the group-commit thread.
 *
 * The event loop never waits for the disk to flush: finished messages go to
 * a commit thread through a mutex-protected list; it makes the whole batch
 * stable at once, gives each message its file (the write, the size field,
 * the rename into queue/: file system work that need not hold up the
 * loop's other sessions) and wakes the loop through a pipe. Messages that
 * arrive meanwhile form the next batch.
 *
 * "At once" is, by default (spool_sync = journal), a copy of each file of
 * the batch appended to a journal segment and one fdatasync() of it: one
 * disk flush for the batch (journal.c says how segments are retired and
 * recovered). The fdatasync() is a sync thread's: the commit thread hands
 * the batch over as soon as its copies are appended, writes and renames the
 * files while the syncer waits for the disk, then takes the next batch,
 * whose fdatasync may cover several. A message is acknowledged once both
 * are done (sync_batch()); a commit waits for the longer of the two, not
 * their sum. A failed sync fails over to fdatasync() of each file for
 * every batch with records in that segment, and the segment takes no more.
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
 * SECURITY: message bytes are written as received; no parsing happens here.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "queue/freelist.h"
#include "queue/journal.h"
#include "queue/spool.h"

/* Bytes gathered before they are written: a message below this size costs
 * one write of the whole queue file. */
#define WRITE_MIN (64 * 1024)

struct spool_msg {
	struct spool *sp;
	char id[QID_LEN + 1];
	int fd;
	off_t size_off;
	size_t body_size;
	off_t len;      /* octets written, envelope included */
	off_t old_size; /* a recycled file's length before we overwrote it */
	/* Not written yet: the envelope, then body up to WRITE_MIN octets.
	 * A message that fits goes out in one write, its size already
	 * filled in. */
	struct evbuffer *out;
	int started;  /* something is in the file: the size field needs a pwrite */
	int finished; /* finish() ran */
	const unsigned char *img; /* the whole file, in out, once image() made it */
	/* Where the file is being written: tmp/ID, or free/NAME when recycled. */
	int src_dirfd;
	char src_name[QID_LEN + 1];
	int failed;
	int detached;
	int sync_error;
	spool_done_cb cb;
	void *arg;
	TAILQ_ENTRY(spool_msg) entry;
};
TAILQ_HEAD(msgq, spool_msg);

/* A batch whose records are in the journal, waiting for the sync thread. */
struct handoff {
	struct msgq batch;
	unsigned gen; /* of the segment holding its records */
	int fd;       /* a descriptor of that segment, if gen is new to the syncer */
	/* Both must be done, under sp->mu; the one that comes second hands
	 * the batch to the event loop (handoff_done()). */
	int files_done; /* the commit thread wrote and renamed its files */
	int synced;     /* the syncer's fdatasync returned */
	int sync_failed;
	TAILQ_ENTRY(handoff) entry;
};
TAILQ_HEAD(handoffq, handoff);

struct spool {
	char *dir;
	int tmp_dirfd;
	int queue_dirfd;
	int notify_fd;
	enum spool_sync_mode mode;
	struct journal *journal; /* spool_sync = journal; commit thread only */
	struct freelist *freelist;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct msgq pending; /* waiting for the commit thread */
	struct msgq done;    /* synced, waiting for the event loop */
	int stop;
	/* The sync thread (spool_sync = journal): */
	pthread_t syncer;
	pthread_cond_t sync_cv;
	struct handoffq tosync;
	int sync_stop;
	unsigned handed_gen; /* commit thread: the last generation handed over */
	unsigned failed_gen; /* a generation whose sync failed (0: none) */
	int rotate_failed;   /* the commit thread is to retire failed_gen */
	int wake[2];
	struct event *wake_ev;
};

void
qid_new(char out[QID_LEN + 1])
{
	static long long last;
	struct timeval tv;
	long long t;

	/* Strictly increasing within a process; the pid tells processes apart. */
	gettimeofday(&tv, NULL);
	t = (long long)tv.tv_sec * 1000000 + tv.tv_usec;
	if (t <= last)
		t = last + 1;
	last = t;
	snprintf(out, QID_LEN + 1, "%08llX%05llX%05X", (t / 1000000) & 0xffffffffLL,
	         t % 1000000, (unsigned)log_pid() & 0xfffff);
}

int
spool_dirs_create(const char *dir)
{
	char path[4096];
	const char *sub[] = {"", "/tmp", "/queue", "/corrupt", "/journal", "/free"};

	for (size_t i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
		snprintf(path, sizeof(path), "%s%s", dir, sub[i]);
		if (mkdir(path, 0700) == -1 && errno != EEXIST) {
			log_warn("spool: mkdir %s", log_escape_str(path));
			return -1;
		}
	}
	return 0;
}

static int
write_all(int fd, const unsigned char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* write_out - write what m->out holds */
static int
write_out(struct spool_msg *m)
{
	while (!m->failed && evbuffer_get_length(m->out) > 0) {
		int n = evbuffer_write(m->out, m->fd);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			log_warn("spool: write %s", m->id);
			m->failed = 1;
			break;
		}
		m->len += n;
		m->started = 1;
	}
	evbuffer_drain(m->out, evbuffer_get_length(m->out));
	return m->failed ? -1 : 0;
}

static int claim_file(struct spool *sp, struct spool_msg *m, int recycle);

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
	if (!m->failed && m->fd == -1 && claim_file(sp, m, 1) == -1)
		m->failed = 1;
	if (!m->failed && m->img != NULL) {
		if (write_all(m->fd, m->img, (size_t)m->len) == -1) {
			log_warn("spool: write %s", m->id);
			m->failed = 1;
		}
	} else if (!m->failed) {
		snprintf(size, sizeof(size), "%016zu", m->body_size);
		if (write_out(m) == 0 && pwrite(m->fd, size, 16, m->size_off) != 16) {
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

/* done_locked - synced messages go to the event loop (sp->mu held) */
static void
done_locked(struct spool *sp, struct msgq *batch)
{
	char c = 1;

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
	if (!m->sync_error &&
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
 * (over 64 KiB) is finished first, since the journal copies it from there.
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
static void *
commit_thread(void *arg)
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
static void *
sync_thread(void *arg)
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

static void
msg_free(struct spool_msg *m)
{
	if (m->fd != -1)
		close(m->fd);
	if (m->out != NULL)
		evbuffer_free(m->out);
	free(m);
}

/* notify - tell the queue runner about committed messages */
static void
notify(struct spool *sp, const char *ids, size_t len)
{
	/* Best effort: the queue runner also scans the spool. */
	ssize_t w = send(sp->notify_fd, ids, len, MSG_DONTWAIT);
	(void)w;
}

/* wake_cb - on the event loop: finish the synced batch */
static void
wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct spool *sp = arg;
	struct msgq done;
	struct spool_msg *m;
	char buf[64];
	/* The batch's ids go to the queue runner in one datagram. */
	char note[SPOOL_NOTIFY_MAX * QID_LEN];
	size_t nnote = 0;

	while (read(fd, buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&sp->mu);
	TAILQ_INIT(&done);
	TAILQ_CONCAT(&done, &sp->done, entry);
	pthread_mutex_unlock(&sp->mu);

	while ((m = TAILQ_FIRST(&done)) != NULL) {
		TAILQ_REMOVE(&done, m, entry);
		if (m->sync_error) {
			errno = m->sync_error;
			log_warn("spool: %s: sync failed; message not accepted", m->id);
			/* Not durable, so not acknowledged: take it back. */
			unlinkat(sp->queue_dirfd, m->id, 0);
		} else if (sp->notify_fd != -1) {
			if (nnote == sizeof(note)) {
				notify(sp, note, nnote);
				nnote = 0;
			}
			memcpy(note + nnote, m->id, QID_LEN);
			nnote += QID_LEN;
		}
		if (!m->detached && m->cb != NULL)
			m->cb(m->arg, m->sync_error == 0);
		msg_free(m);
	}
	if (nnote > 0)
		notify(sp, note, nnote);
}

struct spool *
spool_new(struct event_base *base, const char *dir, int notify_fd,
          enum spool_sync_mode mode, int journal_retire)
{
	struct spool *sp = xcalloc(1, sizeof(*sp));
	char path[4096];
	pthread_condattr_t ca;

	sp->dir = xstrdup(dir);
	sp->notify_fd = notify_fd;
	sp->mode = mode;
	snprintf(path, sizeof(path), "%s/tmp", dir);
	if ((sp->tmp_dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		fatal("spool: %s", log_escape_str(path));
	snprintf(path, sizeof(path), "%s/queue", dir);
	if ((sp->queue_dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		fatal("spool: %s", log_escape_str(path));
	TAILQ_INIT(&sp->pending);
	TAILQ_INIT(&sp->done);
	TAILQ_INIT(&sp->tosync);
	pthread_mutex_init(&sp->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&sp->cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&sp->sync_cv, NULL);
	/* Also recovers the segments of a worker that died (see journal.h). */
	if (mode == SPOOL_SYNC_JOURNAL &&
	    (sp->journal = journal_open(dir, sp->queue_dirfd, journal_retire)) == NULL)
		log_warnx("spool: no journal; every message is synced on its own");
	sp->freelist = freelist_open(dir);
	if (pipe2(sp->wake, O_NONBLOCK | O_CLOEXEC) == -1)
		fatal("spool: pipe");
	sp->wake_ev = event_new(base, sp->wake[0], EV_READ | EV_PERSIST, wake_cb, sp);
	event_add(sp->wake_ev, NULL);
	if (pthread_create(&sp->syncer, NULL, sync_thread, sp) != 0)
		fatalx("spool: cannot start the sync thread");
	if (pthread_create(&sp->thread, NULL, commit_thread, sp) != 0)
		fatalx("spool: cannot start the commit thread");
	return sp;
}

void
spool_free(struct spool *sp)
{
	if (sp == NULL)
		return;
	pthread_mutex_lock(&sp->mu);
	sp->stop = 1;
	pthread_cond_signal(&sp->cv);
	pthread_mutex_unlock(&sp->mu);
	pthread_join(sp->thread, NULL);
	/* The syncer ends once it has synced all the commit thread gave it. */
	pthread_mutex_lock(&sp->mu);
	sp->sync_stop = 1;
	pthread_cond_signal(&sp->sync_cv);
	pthread_mutex_unlock(&sp->mu);
	pthread_join(sp->syncer, NULL);
	/* Finish what the threads synced, so no acknowledgement is lost. */
	wake_cb(sp->wake[0], EV_READ, sp);
	journal_close(sp->journal);
	freelist_close(sp->freelist);
	event_free(sp->wake_ev);
	close(sp->wake[0]);
	close(sp->wake[1]);
	close(sp->tmp_dirfd);
	close(sp->queue_dirfd);
	pthread_mutex_destroy(&sp->mu);
	pthread_cond_destroy(&sp->cv);
	pthread_cond_destroy(&sp->sync_cv);
	free(sp->dir);
	free(sp);
}

/* spool_create - a new file tmp/ID with a fresh queue id; -1 on error */
static int
spool_create(int tmp_dirfd, const char *dir, char id[QID_LEN + 1])
{
	for (int tries = 0;; tries++) {
		qid_new(id);
		int fd =
		    /* Read back by the journal's copy, hence O_RDWR. */
		    openat(tmp_dirfd, id, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd != -1)
			return fd;
		if (errno != EEXIST || tries > 10) {
			log_warn("spool: create %s/tmp/%s", log_escape_str(dir), id);
			return -1;
		}
	}
}

/*
 * claim_file - a file for m, under the id it already has: a recycled one
 * from free/ (commit thread only: the free list is that thread's), else
 * tmp/ID. -1 on error.
 */
static int
claim_file(struct spool *sp, struct spool_msg *m, int recycle)
{
	if (recycle && sp->freelist != NULL &&
	    (m->fd = freelist_take(sp->freelist, m->src_name, &m->old_size)) != -1) {
		m->src_dirfd = freelist_dirfd(sp->freelist);
		return 0;
	}
	/* Read back by the journal's copy, hence O_RDWR. */
	m->fd = openat(sp->tmp_dirfd, m->id, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (m->fd == -1) {
		log_warn("spool: create %s/tmp/%s", log_escape_str(sp->dir), m->id);
		return -1;
	}
	m->src_dirfd = sp->tmp_dirfd;
	memcpy(m->src_name, m->id, sizeof(m->src_name));
	return 0;
}

/* add_field - "key value\n" */
static void
add_field(struct evbuffer *hdr, const char *key, const char *val)
{
	evbuffer_add(hdr, key, strlen(key));
	evbuffer_add(hdr, " ", 1);
	evbuffer_add(hdr, val, strlen(val));
	evbuffer_add(hdr, "\n", 1);
}

/* add_number - "key NNN\n", zero-padded to width (0: as short as it goes) */
static void
add_number(struct evbuffer *hdr, const char *key, unsigned long long v, int width)
{
	char digits[24];
	int n = 0;

	do
		digits[sizeof(digits) - 1 - n++] = (char)('0' + v % 10);
	while ((v /= 10) > 0 && n < (int)sizeof(digits));
	while (n < width && n < (int)sizeof(digits))
		digits[sizeof(digits) - 1 - n++] = '0';
	evbuffer_add(hdr, key, strlen(key));
	evbuffer_add(hdr, " ", 1);
	evbuffer_add(hdr, digits + sizeof(digits) - n, (size_t)n);
	evbuffer_add(hdr, "\n", 1);
}

/*
 * env_header - the envelope records (envelope.h); returns the offset of the
 * size field. Assembled piece by piece: with printf this was two thirds of
 * the user-space cost of starting a queue file.
 */
static off_t
env_header(struct evbuffer *hdr, const char *id, const struct spool_env_in *in,
           size_t body_size)
{
	static const char pending[] = {'r', 'c', 'p', 't', ' ', RCPT_PENDING, ' '};
	off_t size_off;

	evbuffer_add(hdr, ENV_MAGIC, strlen(ENV_MAGIC));
	add_field(hdr, "id", id);
	add_number(hdr, "arrival", (unsigned long long)time(NULL), 0);
	size_off = (off_t)evbuffer_get_length(hdr) + 5;
	add_number(hdr, "size", body_size, 16);
	add_number(hdr, "attempts", 0, 6);
	add_number(hdr, "next", 0, 12);
	add_field(hdr, "origin", origin_name(in->origin));
	add_field(hdr, "client", in->client);
	add_field(hdr, "helo", in->helo ? in->helo : "");
	if (in->auth != NULL)
		add_field(hdr, "auth", in->auth);
	add_field(hdr, "sender", in->sender);
	for (size_t i = 0; i < in->nrcpts; i++) {
		evbuffer_add(hdr, pending, sizeof(pending));
		evbuffer_add(hdr, in->rcpts[i], strlen(in->rcpts[i]));
		evbuffer_add(hdr, "\n", 1);
	}
	evbuffer_add(hdr, "body\n", 5);
	return size_off;
}

struct spool_msg *
spool_begin(struct spool *sp, const struct spool_env_in *in)
{
	struct spool_msg *m = xcalloc(1, sizeof(*m));

	m->sp = sp;
	/* The file comes later: from the commit thread for a message that
	 * stays in memory (the common case: opening and locking a recycled
	 * file cost the event loop five system calls a message), from
	 * spool_append() for one that outgrows WRITE_MIN. */
	m->fd = -1;
	m->src_dirfd = -1;
	qid_new(m->id);
	if ((m->out = evbuffer_new()) == NULL) {
		spool_abort(m);
		return NULL;
	}
	m->size_off = env_header(m->out, m->id, in, 0);
	return m;
}

const char *
spool_msg_id(const struct spool_msg *m)
{
	return m->id;
}

int
spool_append(struct spool_msg *m, struct evbuffer *buf)
{
	size_t len = evbuffer_get_length(buf);

	if (m->failed) {
		evbuffer_drain(buf, len);
		return -1;
	}
	evbuffer_add_buffer(m->out, buf);
	m->body_size += len;
	if (evbuffer_get_length(m->out) >= WRITE_MIN) {
		if (m->fd == -1 && claim_file(m->sp, m, 0) == -1) {
			m->failed = 1;
			evbuffer_drain(m->out, evbuffer_get_length(m->out));
			return -1;
		}
		return write_out(m);
	}
	return 0;
}

void
spool_abort(struct spool_msg *m)
{
	/* A recycled file just stays free (closing it drops our claim). */
	if (m->fd != -1 && m->src_dirfd == m->sp->tmp_dirfd)
		unlinkat(m->src_dirfd, m->src_name, 0);
	msg_free(m);
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

void
spool_detach(struct spool_msg *m)
{
	/* Only the event loop reads this flag. */
	m->detached = 1;
}

int
spool_inject(const char *dir, const struct spool_env_in *in, const char *body, size_t len,
             char id[QID_LEN + 1])
{
	char path[4096];
	int tmpfd = -1, qfd = -1, fd = -1, ret = -1;
	struct evbuffer *buf = evbuffer_new();

	snprintf(path, sizeof(path), "%s/tmp", dir);
	if ((tmpfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		goto done;
	snprintf(path, sizeof(path), "%s/queue", dir);
	if ((qfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		goto done;
	if ((fd = spool_create(tmpfd, dir, id)) == -1)
		goto done;
	env_header(buf, id, in, len);
	evbuffer_add(buf, body, len);
	while (evbuffer_get_length(buf) > 0)
		if (evbuffer_write(buf, fd) <= 0 && errno != EINTR)
			goto unlink;
	/* Durable before it counts: data, name, directory. */
	if (fsync(fd) == -1 || renameat(tmpfd, id, qfd, id) == -1)
		goto unlink;
	if (fsync(qfd) == -1) {
		unlinkat(qfd, id, 0);
		goto done;
	}
	ret = 0;
	goto done;
unlink:
	unlinkat(tmpfd, id, 0);
done:
	if (ret == -1)
		log_warn("spool: inject into %s", log_escape_str(dir));
	if (fd != -1)
		close(fd);
	if (tmpfd != -1)
		close(tmpfd);
	if (qfd != -1)
		close(qfd);
	evbuffer_free(buf);
	return ret;
}
