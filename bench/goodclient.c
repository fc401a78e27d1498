/* SPDX-License-Identifier: ISC */
/*
 * goodclient.c - the well-behaved client of bench/flood.py: SESSIONS SMTP
 * sessions, each sending its share of MESSAGES messages of SIZE octets to
 * rcpt@sink.test without pipelining (MAIL, RCPT, DATA, message, each
 * waiting for its reply), as bench/latency.py's client does.
 *
 *   goodclient PORT SESSIONS MESSAGES SIZE WARMUP OUT
 *
 * In C, one thread per session on blocking sockets, so that the client
 * costs the 2-core machine little: the same client in Python asyncio took
 * about as much CPU as moatd serving it, and during a flood it lost as much
 * throughput against a second, unrelated moatd as against the flooded one
 * (the loss was the client's share of the CPU, not moatd's).
 *
 * Session i connects from 127.0.2.(1 + i % 250) to 127.0.0.1:PORT. Timings
 * (seconds, CLOCK_MONOTONIC) go to OUT as JSON:
 *   greet   per session, connect() to the 220 greeting
 *   ready   per session, the time the EHLO reply arrived
 *   done    per message, the time its 250 arrived
 *   lats    per message after a session's first WARMUP, end of DATA to 250
 *   errors  what went wrong, one string per failed session
 * Exit status 0 when the JSON was written (errors or not).
 *
 * SECURITY: a benchmark tool; it reads the server's replies only for their
 * codes (bounded lines, three digits).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct session {
	int idx, count;
	pthread_t thread;
	int fd;
	char in[4096];
	size_t in_len, in_off;
	double greet, ready;
	double *done, *lats;
	int n_done, n_lats;
	char error[160];
};

static int port, size, warmup;

static double
now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* read_line - the next reply line into line (cut at cap); -1 on EOF/error */
static int
read_line(struct session *s, char *line, size_t cap)
{
	size_t n = 0;

	for (;;) {
		if (s->in_off == s->in_len) {
			ssize_t r = read(s->fd, s->in, sizeof(s->in));
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				return -1;
			s->in_len = (size_t)r;
			s->in_off = 0;
		}
		char c = s->in[s->in_off++];
		if (c == '\n') {
			line[n] = '\0';
			return 0;
		}
		if (n + 1 < cap)
			line[n++] = c;
	}
}

/* reply - read one (possibly multi-line) reply; its code, or -1 */
static int
reply(struct session *s)
{
	char line[512];

	for (;;) {
		if (read_line(s, line, sizeof(line)) < 0)
			return -1;
		if (strlen(line) < 4 || line[3] != '-')
			return atoi(line);
	}
}

static int
send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* message - bench/latency.py's message(size, n), with its final dot */
static size_t
message(char *buf, size_t cap, long n)
{
	int len =
	    snprintf(buf, cap,
	             "From: <loadgen@client.test>\r\nTo: <rcpt@sink.test>\r\n"
	             "Subject: latency %ld\r\nMessage-Id: <lat.%ld@client.test>\r\n\r\n",
	             n, n);
	size_t off = (size_t)len, body = 0;
	const size_t line = 80; /* 78 X and CRLF */

	for (int i = 0; i < size / (int)line; i++, body += line) {
		memset(buf + off, 'X', 78);
		memcpy(buf + off + 78, "\r\n", 2);
		off += line;
	}
	if ((size_t)size > body + 2) {
		size_t x = (size_t)size - body - 2;
		memset(buf + off, 'X', x);
		memcpy(buf + off + x, "\r\n", 2);
		off += x + 2;
	}
	memcpy(buf + off, ".\r\n", 3);
	return off + 3;
}

#define FAIL(...)                                                                        \
	do {                                                                             \
		snprintf(s->error, sizeof(s->error), __VA_ARGS__);                       \
		goto out;                                                                \
	} while (0)

static void *
session_run(void *arg)
{
	struct session *s = arg;
	struct sockaddr_in src = {.sin_family = AF_INET}, dst = {.sin_family = AF_INET};
	size_t cap = (size_t)size + 512;
	char *msg = malloc(cap);
	static const struct {
		const char *cmd;
		int want;
	} steps[] = {{"MAIL FROM:<loadgen@client.test>\r\n", 250},
	             {"RCPT TO:<rcpt@sink.test>\r\n", 250},
	             {"DATA\r\n", 354}};

	s->fd = -1;
	if (msg == NULL)
		FAIL("out of memory");
	char addr[32];
	snprintf(addr, sizeof(addr), "127.0.2.%d", 1 + s->idx % 250);
	inet_pton(AF_INET, addr, &src.sin_addr);
	inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
	dst.sin_port = htons((unsigned short)port);
	double t_conn = now();
	if ((s->fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		FAIL("socket: %s", strerror(errno));
	if (bind(s->fd, (struct sockaddr *)&src, sizeof(src)) < 0)
		FAIL("bind %s: %s", addr, strerror(errno));
	if (connect(s->fd, (struct sockaddr *)&dst, sizeof(dst)) < 0)
		FAIL("connect: %s", strerror(errno));
	if (reply(s) != 220)
		FAIL("session %d: greeting", s->idx);
	s->greet = now() - t_conn;
	if (send_all(s->fd, "EHLO client.test\r\n", 18) < 0 || reply(s) != 250)
		FAIL("session %d: EHLO", s->idx);
	s->ready = now();
	for (int i = 0; i < s->count; i++) {
		for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
			int code = -1;
			if (send_all(s->fd, steps[k].cmd, strlen(steps[k].cmd)) < 0 ||
			    (code = reply(s)) != steps[k].want)
				FAIL("session %d: %.4s -> %d", s->idx, steps[k].cmd,
				     code);
		}
		size_t n = message(msg, cap, (long)s->idx * 100000 + i);
		if (send_all(s->fd, msg, n) < 0)
			FAIL("session %d: sending the message", s->idx);
		double t = now();
		int code = reply(s);
		if (code != 250)
			FAIL("session %d: end of DATA -> %d", s->idx, code);
		double t2 = now();
		s->done[s->n_done++] = t2;
		if (i >= warmup)
			s->lats[s->n_lats++] = t2 - t;
	}
	if (send_all(s->fd, "QUIT\r\n", 6) == 0)
		(void)reply(s);
out:
	if (s->fd >= 0)
		close(s->fd);
	free(msg);
	return NULL;
}

static void
put_list(FILE *f, const char *name, struct session *ss, int n, int which)
{
	int first = 1;

	fprintf(f, "\"%s\": [", name);
	for (int i = 0; i < n; i++) {
		struct session *s = &ss[i];
		int m = which == 0   ? (s->greet > 0)
		        : which == 1 ? (s->ready > 0)
		        : which == 2 ? s->n_done
		                     : s->n_lats;
		for (int j = 0; j < m; j++) {
			double v = which == 0   ? s->greet
			           : which == 1 ? s->ready
			           : which == 2 ? s->done[j]
			                        : s->lats[j];
			fprintf(f, "%s%.6f", first ? "" : ", ", v);
			first = 0;
		}
	}
	fprintf(f, "]");
}

int
main(int argc, char **argv)
{
	if (argc != 7) {
		fprintf(stderr,
		        "usage: goodclient PORT SESSIONS MESSAGES SIZE WARMUP OUT\n");
		return 2;
	}
	port = atoi(argv[1]);
	int sessions = atoi(argv[2]), total = atoi(argv[3]);
	size = atoi(argv[4]);
	warmup = atoi(argv[5]);
	if (port <= 0 || sessions <= 0 || total < sessions || size < 3 || warmup < 0) {
		fprintf(stderr, "goodclient: bad arguments\n");
		return 2;
	}
	struct session *ss = calloc((size_t)sessions, sizeof(*ss));
	if (ss == NULL)
		return 1;
	for (int i = 0; i < sessions; i++) {
		ss[i].idx = i;
		ss[i].count = total / sessions;
		ss[i].done = calloc((size_t)ss[i].count, sizeof(double));
		ss[i].lats = calloc((size_t)ss[i].count, sizeof(double));
		if (ss[i].done == NULL || ss[i].lats == NULL)
			return 1;
	}
	for (int i = 0; i < sessions; i++)
		if (pthread_create(&ss[i].thread, NULL, session_run, &ss[i]) != 0) {
			fprintf(stderr, "goodclient: pthread_create failed\n");
			return 1;
		}
	for (int i = 0; i < sessions; i++)
		pthread_join(ss[i].thread, NULL);

	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp", argv[6]);
	FILE *f = fopen(tmp, "w");
	if (f == NULL) {
		perror(tmp);
		return 1;
	}
	fprintf(f, "{");
	put_list(f, "greet", ss, sessions, 0);
	fprintf(f, ", ");
	put_list(f, "ready", ss, sessions, 1);
	fprintf(f, ", ");
	put_list(f, "done", ss, sessions, 2);
	fprintf(f, ", ");
	put_list(f, "lats", ss, sessions, 3);
	fprintf(f, ", \"errors\": [");
	int first = 1;
	for (int i = 0; i < sessions; i++)
		if (ss[i].error[0] != '\0') {
			/* the texts are ours: no quotes or backslashes in them */
			fprintf(f, "%s\"%s\"", first ? "" : ", ", ss[i].error);
			first = 0;
		}
	fprintf(f, "]}\n");
	if (fclose(f) != 0 || rename(tmp, argv[6]) != 0) {
		perror(argv[6]);
		return 1;
	}
	return 0;
}
