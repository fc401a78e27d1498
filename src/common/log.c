/* SPDX-License-Identifier: ISC */
/*
 * log.c - one-line logging to stderr or syslog.
 *
 * Every line goes out in one write so that lines from the master and its
 * workers never interleave mid-line on a shared stderr. A thread with an
 * event loop may hold its lines (log_hold) and write all those of one loop
 * pass at once: a flood's refused connection logs four lines, and on this
 * kind of host a write() costs as much as the rest of the line's work.
 *
 * Every variable value in a line goes through log_escape(), logfmt style
 * (doc/moatd.8, LOG FORMAT): no client, peer or DNS text can end a value,
 * start a key=value field of its own, or break the line. With
 * log_format = "json" the same line is written as one JSON object
 * (log_json.c), to stderr or as the syslog message.
 *
 * To syslog the ident is always "moatd" (facility mail), so that the mail
 * log's filters and journalctl -t moatd find every process; a child's role
 * (the part of its ident after '/') begins its message instead: "smtp: ".
 */
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

#include "common/log.h"
#include "common/log_json.h"

static int log_foreground = 1;
static int log_level_debug;
static char log_ident[32] = "moat";
static char syslog_ident[32] = "moat"; /* openlog() keeps the pointer */
static int log_json;

void
log_init(const char *ident, int foreground, int verbose)
{
	log_foreground = foreground;
	log_level_debug = verbose;
	log_set_ident(ident);
	strlcpy(syslog_ident, ident, sizeof(syslog_ident));
	if (!foreground)
		openlog(syslog_ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void
log_set_json(int json)
{
	log_json = json;
}

/* level_name - the "level" of a JSON line */
static const char *
level_name(int pri)
{
	switch (pri) {
	case LOG_CRIT:
		return "crit";
	case LOG_WARNING:
		return "warning";
	case LOG_DEBUG:
		return "debug";
	default:
		return "info";
	}
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
	if (n > LOG_HOLD_SIZE) { /* a JSON line of hostile text can be */
		ssize_t w = write(STDERR_FILENO, line, n);
		(void)w;
		return;
	}
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
	char msg[LOG_MSG_MAX], line[LOG_JSON_SIZE];
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
		const char *role = strchr(log_ident, '/');
		if (log_json) {
			log_json_line(line, sizeof(line), NULL, level_name(pri),
			              log_ident, log_pid(), msg);
			line[strcspn(line, "\n")] = '\0';
			syslog(pri, "%s", line);
		} else if (role != NULL)
			syslog(pri, "%s: %s", role + 1, msg);
		else
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
	if (log_json) {
		char when[40];
		snprintf(when, sizeof(when), "%s.%03ld", ts, (long)(tv.tv_usec / 1000));
		n = (int)log_json_line(line, sizeof(line), when, level_name(pri),
		                       log_ident, log_pid(), msg);
	} else
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

/* esc_bare - may octet c stand in a value without quotes? */
static int
esc_bare(unsigned char c)
{
	return c > 0x20 && c < 0x7f && c != '"' && c != '=' && c != '\\';
}

/* esc_len - the octets c takes inside quotes: itself, \" \\ or \xNN */
static size_t
esc_len(unsigned char c)
{
	if (c == '"' || c == '\\')
		return 2;
	return c < 0x20 || c > 0x7e ? 4 : 1;
}

/* esc_put - c into a quoted value at dst + o; returns the new o */
static size_t
esc_put(char *dst, size_t o, unsigned char c)
{
	static const char hex[] = "0123456789abcdef";

	if (c == '"' || c == '\\') {
		dst[o++] = '\\';
		dst[o++] = (char)c;
	} else if (c < 0x20 || c > 0x7e) {
		dst[o++] = '\\';
		dst[o++] = 'x';
		dst[o++] = hex[c >> 4];
		dst[o++] = hex[c & 0xf];
	} else
		dst[o++] = (char)c;
	return o;
}

char *
log_escape(char *dst, size_t dstsz, const char *src, size_t srclen)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t n = src == NULL ? 0 : srclen, o = 0, full, i;
	int quote, cut = 0;

	if (dstsz < 8) { /* not even "\xNN..." fits: say nothing rather than half */
		if (dstsz > 0)
			dst[0] = '\0';
		return dst;
	}
	if (n > LOG_ESCAPE_MAX) {
		n = LOG_ESCAPE_MAX;
		cut = 1;
	}
	/* An empty value is written "" so that key= is never left bare. */
	quote = n == 0;
	for (i = 0; i < n && !quote; i++)
		quote = !esc_bare(s[i]);
	full = (quote ? 2 : 0) + (cut ? 3 : 0);
	for (i = 0; i < n; i++)
		full += quote ? esc_len(s[i]) : 1;
	if (!quote && full < dstsz) {
		/* Most values (names, addresses, numbers) are their own form. */
		memcpy(dst, s, n);
		o = n;
	} else {
		/* Room for what follows the octets: "...", the quote, the NUL. */
		size_t tail = 3 + (quote ? 1 : 0) + 1;
		if (full >= dstsz)
			cut = 1;
		if (quote)
			dst[o++] = '"';
		for (i = 0; i < n; i++) {
			size_t l = quote ? esc_len(s[i]) : 1;
			if (full >= dstsz && o + l + tail > dstsz)
				break;
			if (quote)
				o = esc_put(dst, o, s[i]);
			else
				dst[o++] = (char)s[i];
		}
	}
	if (cut) {
		memcpy(dst + o, "...", 3);
		o += 3;
	}
	if (quote)
		dst[o++] = '"';
	dst[o] = '\0';
	return dst;
}

/* Values of one line (log_escape_str/addr): a ring, so several may be in
 * the same log call; per thread, as the commit and sync threads log too. */
#define LOG_ESCAPE_SLOTS 8
static _Thread_local char esc_slots[LOG_ESCAPE_SLOTS][LOG_ESCAPE_BUFSZ];
static _Thread_local unsigned esc_next;

const char *
log_escape_str(const char *s)
{
	char *dst = esc_slots[esc_next++ % LOG_ESCAPE_SLOTS];

	return log_escape(dst, LOG_ESCAPE_BUFSZ, s, s != NULL ? strlen(s) : 0);
}

const char *
log_escape_addr(const char *addr)
{
	char buf[LOG_ESCAPE_MAX + 3];
	size_t len = addr != NULL ? strlen(addr) : 0;
	char *dst = esc_slots[esc_next++ % LOG_ESCAPE_SLOTS];

	/* "<" addr ">": log_escape() reads no more than LOG_ESCAPE_MAX of it,
	 * and a longer address is cut there anyway. */
	buf[0] = '<';
	memcpy(buf + 1, addr != NULL ? addr : "",
	       len < LOG_ESCAPE_MAX ? len : LOG_ESCAPE_MAX);
	if (len + 1 < sizeof(buf))
		buf[len + 1] = '>';
	return log_escape(dst, LOG_ESCAPE_BUFSZ, buf, len + 2);
}
