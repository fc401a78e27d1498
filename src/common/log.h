/* SPDX-License-Identifier: ISC */
/*
 * log.h - one-line logging to stderr (foreground) or syslog (mail facility).
 *
 * log_info()/log_warnx()/log_debug() print a formatted line; log_warn()
 * appends strerror(errno). fatal()/fatalx() log and exit: only for start-up
 * failures and broken invariants, never reachable from remote input.
 * log_escape() writes a value for a key=value field (logfmt quoting).
 */
#ifndef MOAT_LOG_H
#define MOAT_LOG_H

#include <stdarg.h>
#include <stddef.h>

void log_init(const char *ident, int foreground, int verbose);
/* log_set_json - lines as JSON objects (log_format = "json", log_json.h)
 * or as text (0), in this process and the children it forks after */
void log_set_json(int json);
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

/* Octets of a value log_escape() shows before it writes "...": a whole
 * path of RFC 5321 §4.5.3.1.3 (256), no more. */
#define LOG_ESCAPE_MAX 256
/* dst size that never truncates: \xNN per octet, quotes, "...", NUL */
#define LOG_ESCAPE_BUFSZ (4 * LOG_ESCAPE_MAX + 8)

/*
 * log_escape - src (srclen octets; NULL is empty) as one value of a
 * key=value field, logfmt style: bare when it is not empty and every octet
 * is printable ASCII other than space, '"', '=' and '\\'; otherwise in
 * double quotes, with \" and \\ for those two and \xNN (two lower-case hex
 * digits) for every octet that is not printable ASCII (controls, DEL,
 * 8-bit). A value longer than LOG_ESCAPE_MAX octets, or than dst holds,
 * ends in "..." (inside the quotes). Always NUL-terminated; returns dst.
 * Write the whole value through it: key=%s, never key="%s" or key=<%s>
 * (an address goes in with its brackets: from=<a@b.example>).
 */
char *log_escape(char *dst, size_t dstsz, const char *src, size_t srclen);

/*
 * log_escape_str - log_escape() of a NUL-terminated string (NULL: "") into
 * one of this thread's LOG_ESCAPE_SLOTS (8) buffers, for use right in a
 * log call: log_info("x path=%s", log_escape_str(path)). The buffer is
 * reused eight values later: never keep the pointer.
 */
const char *log_escape_str(const char *s);
/* log_escape_addr - the same for a mail address, written with its angle
 * brackets as one value: to=<a@b.example>, from=<>, or quoted if hostile */
const char *log_escape_addr(const char *addr);

#endif
