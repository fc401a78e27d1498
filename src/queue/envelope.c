/* SPDX-License-Identifier: ISC */
/*
 * envelope.c - read and update queue file headers.
 * SECURITY: queue files are ours, but may be cut short by a crash: every
 * record is checked (a once-only record seen twice, or a fixed-width field
 * of another width, is damage), and a file whose size disagrees with its
 * header is reported as damaged instead of being delivered.
 * tests/fuzz/fuzz_envelope.c feeds it arbitrary files.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/xmalloc.h"
#include "queue/envelope.h"

#define HEADER_MAX (64 * 1024 * 1024)

const char *
origin_name(enum origin o)
{
	switch (o) {
	case ORIGIN_TRUSTED:
		return "trusted";
	case ORIGIN_AUTH:
		return "auth";
	case ORIGIN_LOCAL:
		return "local";
	default:
		return "stranger";
	}
}

static int
parse_num(const char *s, long long *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 0)
		return -1;
	*out = v;
	return 0;
}

/* parse_width - parse_num() of a fixed-width field: exactly width digits */
static int
parse_width(const char *s, size_t width, long long *out)
{
	/* envelope_set_retry() rewrites these in place: a shorter field would
	 * let that write run into the next record. */
	if (strlen(s) != width || strspn(s, "0123456789") != width)
		return -1;
	return parse_num(s, out);
}

/* Records that may appear once: a second one is damage, not an update. */
static const char *const once[] = {"id",     "arrival", "size", "attempts", "next",
                                   "origin", "client",  "helo", "auth",     "sender",
                                   "hold",   "ret",     "envid"};

/* seen_again - note key; 1 if it is a once-only record seen before */
static int
seen_again(const char *key, unsigned *seen)
{
	for (size_t i = 0; i < sizeof(once) / sizeof(once[0]); i++)
		if (strcmp(key, once[i]) == 0) {
			if (*seen & (1u << i))
				return 1;
			*seen |= 1u << i;
			return 0;
		}
	return 0;
}

int
envelope_read(int fd, struct envelope *env)
{
	struct stat st;
	char *buf = NULL, *p, *end;
	size_t cap = 8192, len = 0, rcap = 0;
	unsigned seen = 0;
	off_t off;

	memset(env, 0, sizeof(*env));
	if (fstat(fd, &st) == -1)
		return -1;
	/* Read until "body\n" is in the buffer (the header is small). */
	buf = xmalloc(cap + 1);
	for (;;) {
		ssize_t n = pread(fd, buf + len, cap - len, (off_t)len);
		if (n < 0)
			goto fail;
		len += (size_t)n;
		buf[len] = '\0';
		if ((p = strstr(buf, "\nbody\n")) != NULL)
			break;
		if (n == 0 || len >= HEADER_MAX)
			goto fail;
		if (len == cap) {
			cap *= 2;
			buf = xreallocarray(buf, cap + 1, 1);
		}
	}
	if (strncmp(buf, ENV_MAGIC, strlen(ENV_MAGIC)) != 0)
		goto fail;
	end = p + 1;
	env->body_off = (off_t)(end - buf) + 5;
	p = buf + strlen(ENV_MAGIC);
	while (p < end) {
		char *nl = memchr(p, '\n', end - p);
		char *key = p, *val;
		long long v;
		if (nl == NULL)
			goto fail;
		*nl = '\0';
		off = (off_t)(p - buf);
		val = strchr(key, ' ');
		if (val == NULL)
			goto fail;
		*val++ = '\0';
		/* A duplicated record would also leak the first one's copy. */
		if (seen_again(key, &seen))
			goto fail;
		if (strcmp(key, "id") == 0) {
			if (strlcpy(env->id, val, sizeof(env->id)) >= sizeof(env->id))
				goto fail;
		} else if (strcmp(key, "arrival") == 0) {
			if (parse_num(val, &v) == -1)
				goto fail;
			env->arrival = (time_t)v;
		} else if (strcmp(key, "size") == 0) {
			if (parse_num(val, &v) == -1)
				goto fail;
			env->size = (size_t)v;
		} else if (strcmp(key, "attempts") == 0) {
			if (parse_width(val, 6, &v) == -1)
				goto fail;
			env->attempts = (int)v;
			env->attempts_off = off + 9;
		} else if (strcmp(key, "next") == 0) {
			if (parse_width(val, 12, &v) == -1)
				goto fail;
			env->next = (time_t)v;
			env->next_off = off + 5;
		} else if (strcmp(key, "hold") == 0) {
			if (strcmp(val, "-") != 0 && strcmp(val, "H") != 0)
				goto fail;
			env->held = val[0] == 'H';
			env->hold_off = off + 5;
		} else if (strcmp(key, "origin") == 0) {
			env->origin = strcmp(val, "local") == 0     ? ORIGIN_LOCAL
			              : strcmp(val, "trusted") == 0 ? ORIGIN_TRUSTED
			              : strcmp(val, "auth") == 0    ? ORIGIN_AUTH
			                                            : ORIGIN_STRANGER;
		} else if (strcmp(key, "client") == 0) {
			env->client = xstrdup(val);
		} else if (strcmp(key, "helo") == 0) {
			env->helo = xstrdup(val);
		} else if (strcmp(key, "auth") == 0) {
			env->auth = xstrdup(val);
		} else if (strcmp(key, "sender") == 0) {
			env->sender = xstrdup(val);
		} else if (strcmp(key, "rcpt") == 0) {
			if (val[0] == '\0' || val[1] != ' ' || val[2] == '\0')
				goto fail;
			if (env->nrcpts == rcap) {
				rcap = rcap ? rcap * 2 : 8;
				env->rcpts =
				    xreallocarray(env->rcpts, rcap, sizeof(*env->rcpts));
			}
			memset(&env->rcpts[env->nrcpts], 0, sizeof(env->rcpts[0]));
			env->rcpts[env->nrcpts].status = val[0];
			env->rcpts[env->nrcpts].status_off = off + 5;
			env->rcpts[env->nrcpts].addr = xstrdup(val + 2);
			env->nrcpts++;
		} else if (strcmp(key, "smtputf8") == 0) {
			env->smtputf8 = strcmp(val, "1") == 0;
		} else if (strcmp(key, "ret") == 0) {
			env->ret = strcmp(val, "HDRS") == 0 ? ENV_RET_HDRS : ENV_RET_FULL;
		} else if (strcmp(key, "envid") == 0) {
			env->envid = xstrdup(val);
		} else if (strcmp(key, "dsn") == 0) {
			/* the last recipient's: "NOTIFY ORCPT" (ORCPT may hold spaces) */
			struct env_rcpt *r;
			char *sp = strchr(val, ' ');
			if (env->nrcpts == 0 || sp == NULL || sp[1] == '\0')
				goto fail;
			*sp = '\0';
			if (parse_num(val, &v) == -1 || v > 15)
				goto fail;
			r = &env->rcpts[env->nrcpts - 1];
			if (r->orcpt != NULL)
				goto fail; /* twice for one recipient */
			r->notify = (unsigned)v;
			r->orcpt = xstrdup(strcmp(sp + 1, "-") == 0 ? "" : sp + 1);
		}
		/* unknown keys are skipped: newer writers may add records */
		p = nl + 1;
	}
	if (env->id[0] == '\0' || env->sender == NULL || env->nrcpts == 0 ||
	    env->attempts_off == 0 || env->next_off == 0)
		goto fail;
	/* A crash before the final write leaves size 0 or a short file. */
	if (env->size == 0 || (off_t)(env->body_off + env->size) != st.st_size)
		goto fail;
	free(buf);
	return 0;
fail:
	free(buf);
	envelope_free(env);
	return -1;
}

int
qid_valid(const char *s, size_t len)
{
	if (len != QID_LEN)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'F')))
			return 0;
	return 1;
}

void
envelope_free(struct envelope *env)
{
	for (size_t i = 0; i < env->nrcpts; i++) {
		free(env->rcpts[i].addr);
		free(env->rcpts[i].orcpt);
	}
	free(env->envid);
	free(env->rcpts);
	free(env->client);
	free(env->helo);
	free(env->auth);
	free(env->sender);
	memset(env, 0, sizeof(*env));
}

int
envelope_set_status(int fd, struct env_rcpt *r, char status)
{
	if (pwrite(fd, &status, 1, r->status_off) != 1)
		return -1;
	r->status = status;
	return 0;
}

int
envelope_set_hold(int fd, struct envelope *env, int held)
{
	char c = held ? 'H' : '-';

	if (env->hold_off == 0 || pwrite(fd, &c, 1, env->hold_off) != 1)
		return -1;
	env->held = held;
	return 0;
}

int
envelope_set_retry(int fd, struct envelope *env, int attempts, time_t next)
{
	char a[7], n[13];

	snprintf(a, sizeof(a), "%06d", attempts > 999999 ? 999999 : attempts);
	snprintf(n, sizeof(n), "%012lld", (long long)next);
	if (pwrite(fd, a, 6, env->attempts_off) != 6 ||
	    pwrite(fd, n, 12, env->next_off) != 12)
		return -1;
	env->attempts = attempts;
	env->next = next;
	return 0;
}
