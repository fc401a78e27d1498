/* SPDX-License-Identifier: ISC */
/*
 * spool.h - durable message intake with group commit.
 *
 * spool_begin() gives the message its queue id and prepares the envelope;
 * spool_append() streams message bytes (written in pieces of 64 KiB, into
 * tmp/ID made for them, so a smaller message goes out in one write,
 * envelope included); spool_commit() hands it to the commit thread, which
 * writes a message still in memory into a recycled file (free/) or
 * tmp/ID, completes the file, renames it into queue/ and makes the batch
 * stable (one journal append and fdatasync, or fdatasync of every file and
 * one fsync of the queue directory, or one syncfs), then calls back on the
 * event loop. Only then may the client hear 250. Messages whose DATA ended
 * together share one flush.
 */
#ifndef MOAT_SPOOL_H
#define MOAT_SPOOL_H

#include <stddef.h>

#include "conf/conf.h" /* enum spool_sync_mode */
#include "queue/envelope.h"

struct event_base;
struct evbuffer;
struct spool;
struct spool_msg;

struct spool_env_in {
	const char *sender; /* "" for <> */
	char *const *rcpts;
	const unsigned *notify; /* DSN NOTIFY per recipient (0: not given), or NULL */
	char *const *orcpt;     /* DSN ORCPT per recipient (NULL: none), or NULL */
	size_t nrcpts;
	int ret;           /* DSN RET (0: not given) */
	int smtputf8;      /* the client declared SMTPUTF8 (RFC 6531) */
	const char *envid; /* DSN ENVID, decoded, or NULL */
	enum origin origin;
	const char *client;
	const char *helo;
	const char *auth; /* NULL unless authenticated */
	int hold;         /* spooled held (envelope.h) */
};

typedef void (*spool_done_cb)(void *arg, int ok);

/* most queue ids in one notification datagram to the queue runner */
#define SPOOL_NOTIFY_MAX 64

/* spool_new - journal_retire: seconds before a journal segment is retired */
struct spool *spool_new(struct event_base *base, const char *dir, int notify_fd,
                        enum spool_sync_mode mode, int journal_retire);
void spool_free(struct spool *sp);

/* spool_dirs_create - make dir, dir/tmp, dir/queue (mode 0700); -1 on error */
int spool_dirs_create(const char *dir);

struct spool_msg *spool_begin(struct spool *sp, const struct spool_env_in *in);
const char *spool_msg_id(const struct spool_msg *m);
int spool_append(struct spool_msg *m, struct evbuffer *buf);
void spool_abort(struct spool_msg *m);
/* spool_msg_read - up to len octets of the message (as spool_append()ed)
 * from offset off: the count, 0 at its end, -1 on error. Before
 * spool_commit() only. */
ssize_t spool_msg_read(struct spool_msg *m, size_t off, void *buf, size_t len);
/* spool_msg_size - the message's octets so far */
size_t spool_msg_size(const struct spool_msg *m);
/* spool_tmpfile - an unnamed file on the spool's disk (O_TMPFILE), -1 */
int spool_tmpfile(struct spool *sp);
/* spool_set_hold - the message is to be held (before spool_commit) */
void spool_set_hold(struct spool_msg *m);
/* spool_commit - cb(arg, 1) once the message is on stable storage */
void spool_commit(struct spool_msg *m, spool_done_cb cb, void *arg);
/* spool_detach - the waiter is gone; the commit finishes without callback */
void spool_detach(struct spool_msg *m);
/*
 * spool_commit_reply - with spool_commit(): the commit sends line (the 250,
 * at most 95 octets) on the plain socket fd itself, from the thread that
 * sees the message durable, before the event loop hears of it: the loop's
 * wake-up is then not in the client's wait. Only for a socket nothing else
 * writes to meanwhile; whoever would write to it first calls
 * spool_reply_cancel(). spool_reply_sent() tells the callback how much of
 * line went out (the rest is the caller's to send).
 */
void spool_commit_reply(struct spool_msg *m, int fd, const char *line, size_t len);
/* spool_reply_cancel - no early reply from here on; the octets already sent */
size_t spool_reply_cancel(struct spool_msg *m);
size_t spool_reply_sent(const struct spool_msg *m);

/*
 * spool_inject - write a whole message into dir's queue, durably (fsync of
 * file and directory), without an event loop: for DSNs from the queue runner.
 */
int spool_inject(const char *dir, const struct spool_env_in *in, const char *body,
                 size_t len, char id[QID_LEN + 1]);

void qid_new(char out[QID_LEN + 1]);

#endif
