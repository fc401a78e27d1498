/* SPDX-License-Identifier: ISC */
/*
 * spool_int.h - what spool.c (queue files, the event loop's side) and
 * spool_commit.c (the commit and sync threads) share: the spool, a message
 * in the making, a batch handed to the syncer, and the functions each side
 * calls of the other.
 *
 * Threads: the event loop owns a message until spool_commit(), the commit
 * thread from then until the batch is done, the event loop again in
 * wake_cb. sp->mu guards the lists (pending, done, tosync) and a handoff's
 * flags; the event loop and the threads meet nowhere else.
 */
#ifndef MOAT_SPOOL_INT_H
#define MOAT_SPOOL_INT_H

#include <pthread.h>
#include <sys/queue.h>
#include <sys/types.h>

#include "queue/spool.h"

struct spool_msg {
	struct spool *sp;
	char id[QID_LEN + 1];
	int fd;
	off_t size_off;
	off_t hold_off; /* the hold record's flag */
	off_t body_off; /* where the message begins (the envelope's length) */
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
	/* The acknowledgement the commit sends itself once the message is
	 * durable (spool_commit_reply()), under sp->mu: reply_fd -1 for none;
	 * reply_sent the octets of it the socket took. */
	int reply_fd;
	size_t reply_len, reply_sent;
	char reply[96];
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

/* spool_write_out - write what m->out holds; -1 (m->failed) on error */
int spool_write_out(struct spool_msg *m);
/*
 * spool_claim_file - a file for m, under the id it already has: a recycled
 * one from free/ (commit thread only: the free list is that thread's), else
 * tmp/ID. -1 on error.
 */
int spool_claim_file(struct spool *sp, struct spool_msg *m, int recycle);
/* the threads spool_new() starts, with sp as their argument */
void *spool_commit_thread(void *arg);
void *spool_sync_thread(void *arg);

#endif
