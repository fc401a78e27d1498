/* SPDX-License-Identifier: ISC */
/*
 * notify.h - the master's word to systemd (sd_notify(3)), when moatd runs
 * as a Type=notify service (NOTIFY_SOCKET is set): READY=1 once every
 * listener is bound and every child of the generation is ready,
 * RELOADING=1 and READY=1 around a reload, STOPPING=1, a STATUS= line with
 * the open sessions and the queue size every NOTIFY_STATUS_SECONDS, and
 * WATCHDOG=1 at half of WATCHDOG_USEC from the master's event loop.
 * Without NOTIFY_SOCKET every call here does nothing.
 *
 * Master side: notify_open() once the loop exists; notify_generation_begin()
 * before a generation's children are forked and notify_generation_spawned()
 * after; notify_reloading(), notify_reload_failed(), notify_stopping().
 * Child side (after fork): notify_child_init() drops the master's ends;
 * notify_child_ready() when its loop is about to run; notify_child_report()
 * starts the timer that tells the master its count (open sessions of an
 * SMTP worker, messages known to the queue runner).
 */
#ifndef MOAT_NOTIFY_H
#define MOAT_NOTIFY_H

struct event_base;

#define NOTIFY_STATUS_SECONDS 10 /* a STATUS= line this often */
#define NOTIFY_REPORT_SECONDS 3  /* a child's count this often */

enum notify_count { NOTIFY_SESSIONS, NOTIFY_QUEUE };

/* notify_open - 1 when NOTIFY_SOCKET is set (the rest is armed), else 0 */
int notify_open(struct event_base *base);
void notify_close(void);
void notify_generation_begin(void);
void notify_generation_spawned(void);
void notify_reloading(void);
void notify_reload_failed(void);
void notify_stopping(void);

void notify_child_init(void);
void notify_child_ready(void);
/* count() is asked every NOTIFY_REPORT_SECONDS on base */
void notify_child_report(struct event_base *base, enum notify_count what,
                         long (*count)(void));

#endif
