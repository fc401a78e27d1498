/* SPDX-License-Identifier: ISC */
/*
 * log.h - one-line logging to stderr (foreground) or syslog (mail facility).
 *
 * log_info()/log_warnx()/log_debug() print a formatted line; log_warn()
 * appends strerror(errno). fatal()/fatalx() log and exit: only for start-up
 * failures and broken invariants, never reachable from remote input.
 * log_vis() escapes untrusted bytes for a log line (strnvis, capped).
 */
#ifndef MOAT_LOG_H
#define MOAT_LOG_H

#include <stdarg.h>
#include <stddef.h>

void log_init(const char *ident, int foreground, int verbose);
void log_set_ident(const char *ident);
int log_verbose(void);
/*
 * log_pid - this process's id, asked of the kernel once per process (a
 * forked child asks again): it is in every log line and every queue id.
 */
int log_pid(void);

/*
 * log_hold - this thread's lines (foreground logging only) collect in a
 * buffer instead of going out one write each. wake(arg) is called when a
 * line lands in the empty buffer: it must make the thread's event loop call
 * log_flush() before it next waits (event_active does: the callback runs
 * after those already due in this pass), so a line is never held past the
 * loop pass that logged it. A full buffer and fatal() flush at once.
 * log_hold(NULL, NULL) flushes and writes each line again, as before.
 */
void log_hold(void (*wake)(void *), void *arg);
void log_flush(void);

void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Maximum number of source bytes log_vis() shows before it writes "...". */
#define LOG_VIS_MAX 100

/*
 * log_vis - escape at most LOG_VIS_MAX bytes of src into dst (C-style escapes
 * for anything not printable), always NUL-terminated; returns dst.
 * dst needs 4 * LOG_VIS_MAX + 4 bytes to never truncate.
 */
#define LOG_VIS_BUFSZ (4 * LOG_VIS_MAX + 8)
char *log_vis(char *dst, size_t dstsz, const char *src, size_t srclen);

#endif
