/* SPDX-License-Identifier: ISC */
/*
 * spool.c - queue files: ids, the envelope, the bytes as they arrive
 * (spool_begin/append/abort), the event loop's end of a commit (wake_cb:
 * the acknowledgement, the note to the queue runner) and spool_inject().
 * spool_commit.c makes them durable: the commit and sync threads.
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

#include "common/fileio.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "queue/freelist.h"
#include "queue/journal.h"
#include "queue/spool.h"
#include "queue/spool_int.h"

/* Bytes gathered before they are written: a message below this size costs
 * one write of the whole queue file. */
#define WRITE_MIN (64 * 1024)

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

/* spool_write_out - write what m->out holds */
int
spool_write_out(struct spool_msg *m)
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
	if (pthread_create(&sp->syncer, NULL, spool_sync_thread, sp) != 0)
		fatalx("spool: cannot start the sync thread");
	if (pthread_create(&sp->thread, NULL, spool_commit_thread, sp) != 0)
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
 * spool_claim_file - a file for m, under the id it already has: a recycled one
 * from free/ (commit thread only: the free list is that thread's), else
 * tmp/ID. -1 on error.
 */
int
spool_claim_file(struct spool *sp, struct spool_msg *m, int recycle)
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
           size_t body_size, off_t *hold_off)
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
	if (hold_off != NULL)
		*hold_off = (off_t)evbuffer_get_length(hdr) + 5;
	add_field(hdr, "hold", in->hold ? "H" : "-");
	add_field(hdr, "origin", origin_name(in->origin));
	add_field(hdr, "client", in->client);
	add_field(hdr, "helo", in->helo ? in->helo : "");
	if (in->auth != NULL)
		add_field(hdr, "auth", in->auth);
	add_field(hdr, "sender", in->sender);
	if (in->smtputf8)
		add_field(hdr, "smtputf8", "1");
	if (in->ret != 0)
		add_field(hdr, "ret", in->ret == ENV_RET_HDRS ? "HDRS" : "FULL");
	if (in->envid != NULL)
		add_field(hdr, "envid", in->envid);
	for (size_t i = 0; i < in->nrcpts; i++) {
		unsigned notify = in->notify != NULL ? in->notify[i] : 0;
		const char *orcpt = in->orcpt != NULL ? in->orcpt[i] : NULL;
		evbuffer_add(hdr, pending, sizeof(pending));
		evbuffer_add(hdr, in->rcpts[i], strlen(in->rcpts[i]));
		evbuffer_add(hdr, "\n", 1);
		/* the recipient's DSN parameters, when it has any */
		if (notify != 0 || orcpt != NULL)
			evbuffer_add_printf(hdr, "dsn %u %s\n", notify,
			                    orcpt != NULL ? orcpt : "-");
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
	m->reply_fd = -1;
	m->src_dirfd = -1;
	qid_new(m->id);
	if ((m->out = evbuffer_new()) == NULL) {
		spool_abort(m);
		return NULL;
	}
	m->size_off = env_header(m->out, m->id, in, 0, &m->hold_off);
	m->body_off = (off_t)evbuffer_get_length(m->out);
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
		if (m->fd == -1 && spool_claim_file(m->sp, m, 0) == -1) {
			m->failed = 1;
			evbuffer_drain(m->out, evbuffer_get_length(m->out));
			return -1;
		}
		return spool_write_out(m);
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

ssize_t
spool_msg_read(struct spool_msg *m, size_t off, void *buf, size_t len)
{
	off_t at = m->body_off + (off_t)off;
	struct evbuffer_ptr p;

	if (m->failed || off >= m->body_size)
		return 0;
	if (len > m->body_size - off)
		len = m->body_size - off;
	if (at < m->len) {
		/* in the file already */
		size_t n = (size_t)(m->len - at) < len ? (size_t)(m->len - at) : len;
		ssize_t r;
		while ((r = pread(m->fd, buf, n, at)) == -1 && errno == EINTR)
			;
		return r;
	}
	if (evbuffer_ptr_set(m->out, &p, (size_t)(at - m->len), EVBUFFER_PTR_SET) == -1)
		return -1;
	return evbuffer_copyout_from(m->out, &p, buf, len);
}

size_t
spool_msg_size(const struct spool_msg *m)
{
	return m->body_size;
}

int
spool_tmpfile(struct spool *sp)
{
	return openat(sp->tmp_dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
}

void
spool_set_hold(struct spool_msg *m)
{
	if (m->failed)
		return;
	if (!m->started) {
		/* the envelope is still the start of what waits to be written */
		unsigned char *p = evbuffer_pullup(m->out, m->hold_off + 1);
		if (p != NULL)
			p[m->hold_off] = 'H';
		return;
	}
	/* written already: the flag in place; the commit syncs the file */
	if (pwrite(m->fd, "H", 1, m->hold_off) != 1) {
		log_warn("spool: hold %s", m->id);
		m->failed = 1;
	}
}

void
spool_detach(struct spool_msg *m)
{
	/* Only the event loop reads this flag; the early reply's descriptor
	 * is about to be closed, and could be another client's next. */
	m->detached = 1;
	(void)spool_reply_cancel(m);
}

void
spool_commit_reply(struct spool_msg *m, int fd, const char *line, size_t len)
{
	if (len > sizeof(m->reply))
		return; /* the loop replies, as without */
	memcpy(m->reply, line, len);
	m->reply_len = len;
	m->reply_sent = 0;
	m->reply_fd = fd; /* before spool_commit(): no other thread has m yet */
}

size_t
spool_reply_cancel(struct spool_msg *m)
{
	size_t sent;

	pthread_mutex_lock(&m->sp->mu);
	m->reply_fd = -1;
	sent = m->reply_sent;
	pthread_mutex_unlock(&m->sp->mu);
	return sent;
}

size_t
spool_reply_sent(const struct spool_msg *m)
{
	/* read by the callback, after done_locked() let go of m */
	return m->reply_sent;
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
	env_header(buf, id, in, len, NULL);
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
