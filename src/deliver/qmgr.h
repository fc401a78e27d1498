/* SPDX-License-Identifier: ISC */
/*
 * qmgr.h - the queue runner: picks up committed messages (on notification
 * from the SMTP workers, and by scanning the queue at start and
 * periodically), delivers each pending recipient, records final results in
 * place, retries the rest with backoff, and removes a message once every
 * recipient has a final answer.
 */
#ifndef MOAT_QMGR_H
#define MOAT_QMGR_H

#include <stddef.h>

/*
 * The runner's notify socket takes datagrams of queue ids, QID_LEN
 * characters each (a committed batch: "this is new, or due now"), or
 * QMGR_RETRY_MARK and one id: moatctl queue retry, which also forgets that
 * the message's destinations were unreachable, so the try is a real one.
 */
#define QMGR_RETRY_MARK '!'

struct event_base;
struct moat_conf;
struct qmgr;

struct qmgr *qmgr_new(struct event_base *base, const struct moat_conf *conf,
                      int notify_fd);
void qmgr_free(struct qmgr *q);
/* qmgr_size - the messages the runner knows of: the queue's size */
size_t qmgr_size(const struct qmgr *q);

/* qmgr_backoff - seconds to wait after the given number of failed attempts */
long qmgr_backoff(const struct moat_conf *conf, int attempts);

#endif
