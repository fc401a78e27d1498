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

struct event_base;
struct moat_conf;
struct qmgr;

struct qmgr *qmgr_new(struct event_base *base, const struct moat_conf *conf,
                      int notify_fd);
void qmgr_free(struct qmgr *q);

/* qmgr_backoff - seconds to wait after the given number of failed attempts */
long qmgr_backoff(const struct moat_conf *conf, int attempts);

#endif
