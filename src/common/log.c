/* SPDX-License-Identifier: ISC */
/*
 * log.c - one-line logging to stderr or syslog.
 *
 * Every line goes out in one write so that lines from the master and its
 * workers never interleave mid-line on a shared stderr. A thread with an
 * event loop may hold its lines (log_hold) and write all those of one loop
 * pass at once: a flood's refused connection logs four lines, and on this
 * kind of host a write() costs as much as the rest of the line's work.
 */
#define LIBBSD_OPENBSD_VIS /* strnvisx() as in OpenBSD; silences a libbsd warning */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include <sys/time.h>
#include <vis.h>

#include "common/log.h"

static int log_foreground = 1;
static int log_level_debug;
static char log_ident[32] = "moat";

void
log_init(const char *ident, int foreground, int verbose)
{
	log_foreground = foreground;
	log_level_debug = verbose;
	log_set_ident(ident);
	if (!foreground)
		openlog(log_ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void
log_set_ident(const char *ident)
{
	strlcpy(log_ident, ident, sizeof(log_ident));
}

int
log_verbose(void)
{
	return log_level_debug;
}

/* Held lines of this thread (log_hold); NULL when it writes each line. */
#define LOG_HOLD_SIZE 16384
static _Thread_local char *hold_buf;
static _Thread_local size_t hold_len;
static _Thread_local void (*hold_wake)(void *);
static _Thread_local void *hold_arg;

void
log_flush(void)
{
	size_t off = 0;

	while (off < hold_len) {
		ssize_t w = write(STDERR_FILENO, hold_buf + off, hold_len - off);
		if (w <= 0)
			break; /* nowhere to complain to: drop the rest */
		off += (size_t)w;
	}
	hold_len = 0;
}

void
log_hold(void (*wake)(void *), void *arg)
{
	if (hold_buf != NULL) {
		log_flush();
		free(hold_buf);
		hold_buf = NULL;
	}
	hold_wake = NULL;
	if (wake == NULL || !log_foreground)
		return;
	if ((hold_buf = malloc(LOG_HOLD_SIZE)) == NULL)
		return; /* lines go out one by one, as before */
	hold_wake = wake;
	hold_arg = arg;
}

/* log_out - write one formatted line, or add it to the held ones */
static void
log_out(const char *line, size_t n, int pri)
{
	if (hold_buf == NULL) {
		ssize_t w = write(STDERR_FILENO, line, n);
		(void)w;
		return;
	}
	if (hold_len + n > LOG_HOLD_SIZE)
		log_flush();
	memcpy(hold_buf + hold_len, line, n);
	if ((hold_len += n) == n && pri != LOG_CRIT)
		hold_wake(hold_arg);
	if (pri == LOG_CRIT) /* fatal(): the process exits next */
		log_flush();
}

static atomic_int cached_pid;
static atomic_int atfork_set;

static void
forget_pid(void)
{
	atomic_store_explicit(&cached_pid, 0, memory_order_relaxed);
}

int
log_pid(void)
{
	int pid = atomic_load_explicit(&cached_pid, memory_order_relaxed);

	if (pid == 0) {
		if (!atomic_exchange(&atfork_set, 1))
			(void)pthread_atfork(NULL, NULL, forget_pid);
		pid = (int)getpid();
		atomic_store_explicit(&cached_pid, pid, memory_order_relaxed);
	}
	return pid;
}

/* log_emit - format one line and write it in one call */
static void
log_emit(int pri, const char *fmt, va_list ap, int with_errno)
{
	char msg[2048], line[2200];
	int saved = errno;
	int n;

	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		return;
	if (with_errno) {
		size_t len = strlen(msg);
		snprintf(msg + len, sizeof(msg) - len, ": %s", strerror(saved));
	}
	if (!log_foreground) {
		syslog(pri, "%s", msg);
		errno = saved;
		return;
	}

	/* The date changes once a second: format it once a second (localtime
	 * and strftime per line were a few percent of a busy worker's user
	 * time). Per thread: the spool's commit thread logs too. */
	static _Thread_local time_t ts_sec = -1;
	static _Thread_local char ts[32];
	struct timeval tv;
	gettimeofday(&tv, NULL);
	if (tv.tv_sec != ts_sec) {
		struct tm tm;
		localtime_r(&tv.tv_sec, &tm);
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
		ts_sec = tv.tv_sec;
	}
	n = snprintf(line, sizeof(line), "%s.%03ld %s[%d]: %s\n", ts,
	             (long)(tv.tv_usec / 1000), log_ident, log_pid(), msg);
	if (n > (int)sizeof(line) - 1) {
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	log_out(line, (size_t)n, pri);
	errno = saved;
}

void
log_info(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_emit(LOG_INFO, fmt, ap, 0);
	va_end(ap);
}

void
log_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_emit(LOG_WARNING, fmt, ap, 1);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_emit(LOG_WARNING, fmt, ap, 0);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;
	if (!log_level_debug)
		return;
	va_start(ap, fmt);
	log_emit(LOG_DEBUG, fmt, ap, 0);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_emit(LOG_CRIT, fmt, ap, 1);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_emit(LOG_CRIT, fmt, ap, 0);
	va_end(ap);
	exit(1);
}

char *
log_vis(char *dst, size_t dstsz, const char *src, size_t srclen)
{
	size_t n = srclen > LOG_VIS_MAX ? LOG_VIS_MAX : srclen;

	if (dstsz == 0)
		return dst;
	dst[0] = '\0';
	if (src == NULL)
		return dst;
	/* Fast path: plain printable ASCII without a backslash is its own
	 * encoding, and most replies and names are just that. libbsd's
	 * strnvisx() converts every byte through the multibyte functions. */
	if (n < dstsz) {
		size_t i = 0;
		while (i < n && src[i] >= 0x20 && src[i] < 0x7f && src[i] != '\\')
			i++;
		if (i == n) {
			memcpy(dst, src, n);
			dst[n] = '\0';
			if (n < srclen) {
				size_t len = n + 4 > dstsz ? dstsz - 4 : n;
				memcpy(dst + len, "...", 4);
			}
			return dst;
		}
	}
	/* strnvisx() escapes exactly n bytes (NULs too) and fails on truncation. */
	if (strnvisx(dst, dstsz, src, n, VIS_CSTYLE | VIS_TAB | VIS_NL | VIS_OCTAL) < 0 ||
	    n < srclen) {
		size_t len = strlen(dst);
		if (len + 4 > dstsz)
			len = dstsz - 4;
		memcpy(dst + len, "...", 4);
	}
	return dst;
}
