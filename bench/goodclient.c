/* SPDX-License-Identifier: ISC */
/*
 * goodclient.c - the well-behaved client of bench/flood.py: SESSIONS SMTP
 * sessions, each sending its share of MESSAGES messages of SIZE octets to
 * rcpt@sink.test without pipelining (MAIL, RCPT, DATA, message, each
 * waiting for its reply), as bench/latency.py's client does.
 *
 *   goodclient [-1] [-A ADDRS] [-d DEADLINE] [-p PAUSE] [-T TIMEOUT]
 *              PORT SESSIONS MESSAGES SIZE WARMUP OUT
 *
 * In C, one thread per session on blocking sockets, so that the client
 * costs the 2-core machine little: the same client in Python asyncio took
 * about as much CPU as moatd serving it, and during a flood it lost as much
 * throughput against a second, unrelated moatd as against the flooded one
 * (the loss was the client's share of the CPU, not moatd's).
 *
 * Default: each session is one connection carrying all its messages, and
 * anything but the expected reply ends the session with an error.
 *
 * -1: one connection per message (connect, greeting, EHLO, the message,
 * QUIT), as a sender that opens a connection for each message does. A
 * temporary refusal (4xx: at the greeting when the server is full, or to
 * any command), a connection that fails, ends or stays silent for TIMEOUT
 * s (default 30) before the end of DATA: the same message again on a new
 * connection PAUSE s later (default 0.5), counted. No new connection is
 * begun after DEADLINE s (default: none); the session stops there with its
 * messages unsent (not an error: the JSON says how many were done when).
 * Errors, which end the session: a 5xx (a well-behaved client is never
 * refused for good), a refused connect() (nobody listens), no reply to
 * the end of DATA (the message may have been taken: a retry could
 * duplicate it).
 *
 * Session i connects from 127.0.2.(1 + i % 250) to 127.0.0.1:PORT; with
 * -A (a multiple of SESSIONS, at most 250), message m of session i from
 * 127.0.2.(1 + i + SESSIONS * (m % (ADDRS / SESSIONS))): ADDRS addresses
 * in turn, so that each makes fewer connections (a per-client connection
 * rate limits one address, not the client). Timings
 * (seconds, CLOCK_MONOTONIC) go to OUT as JSON:
 *   start   when the sessions began
 *   greet   per connection that was greeted, connect() to the 220 greeting
 *   ready   per session, the time the EHLO reply arrived (-1: its first)
 *   done    per message, the time its 250 arrived
 *   lats    per message after a session's first WARMUP, end of DATA to 250
 *   errors  what went wrong, one string per failed session
 * and with -1 the retries: attempts (connections begun), refused (first
 * reply code: count, 4xx at the greeting), tempfail (code: count, 4xx to a
 * command), dropped (connect failed, connection ended or timed out),
 * unsent (messages not begun by the deadline).
 * Exit status 0 when the JSON was written (errors or not).
 *
 * Traffic goes to 127.0.0.1:PORT only.
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
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define CODES 600 /* reply codes counted: 0..599 */

struct session {
	int idx, count;
	pthread_t thread;
	int fd;
	char in[4096];
	size_t in_len, in_off;
	double ready;
	double *greet, *done, *lats;
	int n_greet, n_done, n_lats;
	/* -1: what the retries met */
	long attempts, dropped, unsent;
	long refused[CODES], tempfail[CODES];
	char error[160];
};

static int port, size, warmup;
static int sessions, addrs_per_session = 1; /* -A ADDRS / SESSIONS */
static int per_message;                     /* -1 */
static double deadline;                     /* CLOCK_MONOTONIC; 0: none */
static double pause_s = 0.5;                /* -1: before a retry */
static double timeout_s = 30; /* -1: silence before a connection counts as dropped */
static double start;

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

static const struct {
	const char *cmd;
	int want;
} steps[] = {{"MAIL FROM:<loadgen@client.test>\r\n", 250},
             {"RCPT TO:<rcpt@sink.test>\r\n", 250},
             {"DATA\r\n", 354}};

/* dial - a connection for message m from its address; -1 with errno */
static int
dial(struct session *s, int m)
{
	struct sockaddr_in src = {.sin_family = AF_INET}, dst = {.sin_family = AF_INET};
	char addr[32];
	int one = 1;

	int a = s->idx + sessions * (m % addrs_per_session);
	snprintf(addr, sizeof(addr), "127.0.2.%d", 1 + a % 250);
	inet_pton(AF_INET, addr, &src.sin_addr);
	inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
	dst.sin_port = htons((unsigned short)port);
	s->in_len = s->in_off = 0;
	if ((s->fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return -1;
	if (per_message) {
		struct timeval tv = {
		    (time_t)timeout_s,
		    (suseconds_t)((timeout_s - (time_t)timeout_s) * 1e6)};
		/* one address makes many short connections: ports come back */
		setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		setsockopt(s->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(s->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	if (bind(s->fd, (struct sockaddr *)&src, sizeof(src)) < 0 ||
	    connect(s->fd, (struct sockaddr *)&dst, sizeof(dst)) < 0) {
		int e = errno;
		close(s->fd);
		s->fd = -1;
		errno = e;
		return -1;
	}
	return 0;
}

#define FAIL(...)                                                                        \
	do {                                                                             \
		snprintf(s->error, sizeof(s->error), __VA_ARGS__);                       \
		goto out;                                                                \
	} while (0)

/* session_one - the classic session: one connection, all its messages */
static void
session_one(struct session *s, char *msg, size_t cap)
{
	double t_conn = now();
	if (dial(s, 0) < 0)
		FAIL("connect: %s", strerror(errno));
	if (reply(s) != 220)
		FAIL("session %d: greeting", s->idx);
	s->greet[s->n_greet++] = now() - t_conn;
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
	return;
}

enum attempt { A_DONE, A_RETRY, A_ERROR };

/* temporary - a reply that sends the message again later: 4xx, or none */
static enum attempt
temporary(struct session *s, int code, long *counts, const char *what)
{
	if (code < 0) {
		s->dropped++;
		return A_RETRY;
	}
	if (code >= 400 && code < 500) {
		counts[code]++;
		return A_RETRY;
	}
	snprintf(s->error, sizeof(s->error), "session %d: %s -> %d", s->idx, what, code);
	return A_ERROR;
}

/* attempt - message i on a connection of its own */
static enum attempt
attempt(struct session *s, char *msg, size_t cap, int i)
{
	enum attempt r = A_RETRY;
	int code;

	s->attempts++;
	double t_conn = now();
	if (dial(s, i) < 0) {
		if (errno == ECONNREFUSED) {
			snprintf(s->error, sizeof(s->error), "session %d: connect: %s",
			         s->idx, strerror(errno));
			return A_ERROR;
		}
		s->dropped++;
		return A_RETRY;
	}
	if ((code = reply(s)) != 220) {
		r = temporary(s, code, s->refused, "greeting");
		goto out;
	}
	s->greet[s->n_greet++] = now() - t_conn;
	if (send_all(s->fd, "EHLO client.test\r\n", 18) < 0)
		code = -1;
	else
		code = reply(s);
	if (code != 250) {
		r = temporary(s, code, s->tempfail, "EHLO");
		goto out;
	}
	if (s->ready == 0)
		s->ready = now();
	for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
		code = send_all(s->fd, steps[k].cmd, strlen(steps[k].cmd)) < 0 ? -1
		                                                               : reply(s);
		if (code != steps[k].want) {
			r = temporary(s, code, s->tempfail, steps[k].cmd);
			goto out;
		}
	}
	size_t n = message(msg, cap, (long)s->idx * 100000 + i);
	double t = now();
	code = send_all(s->fd, msg, n) < 0 ? -1 : reply(s);
	if (code < 0) {
		snprintf(s->error, sizeof(s->error),
		         "session %d: no reply to the end of DATA", s->idx);
		r = A_ERROR;
		goto out;
	}
	if (code != 250) {
		r = temporary(s, code, s->tempfail, "end of DATA");
		goto out;
	}
	double t2 = now();
	s->done[s->n_done++] = t2;
	if (i >= warmup)
		s->lats[s->n_lats++] = t2 - t;
	r = A_DONE;
	if (send_all(s->fd, "QUIT\r\n", 6) == 0)
		(void)reply(s);
out:
	close(s->fd);
	s->fd = -1;
	return r;
}

/* session_per_message - -1: each message on a connection of its own */
static void
session_per_message(struct session *s, char *msg, size_t cap)
{
	for (int i = 0; i < s->count; i++) {
		for (;;) {
			if (deadline > 0 && now() >= deadline) {
				s->unsent = s->count - i;
				return;
			}
			enum attempt r = attempt(s, msg, cap, i);
			if (r == A_DONE)
				break;
			if (r == A_ERROR)
				return;
			struct timespec ts = {(time_t)pause_s,
			                      (long)((pause_s - (time_t)pause_s) * 1e9)};
			nanosleep(&ts, NULL);
		}
	}
}

static void *
session_run(void *arg)
{
	struct session *s = arg;
	size_t cap = (size_t)size + 512;
	char *msg = malloc(cap);

	s->fd = -1;
	if (msg == NULL)
		snprintf(s->error, sizeof(s->error), "out of memory");
	else if (per_message)
		session_per_message(s, msg, cap);
	else
		session_one(s, msg, cap);
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
		int m = which == 0   ? s->n_greet
		        : which == 1 ? (s->ready > 0)
		        : which == 2 ? s->n_done
		                     : s->n_lats;
		for (int j = 0; j < m; j++) {
			double v = which == 0   ? s->greet[j]
			           : which == 1 ? s->ready
			           : which == 2 ? s->done[j]
			                        : s->lats[j];
			fprintf(f, "%s%.6f", first ? "" : ", ", v);
			first = 0;
		}
	}
	fprintf(f, "]");
}

/* put_codes - "name": {"421": n, ...} summed over the sessions */
static void
put_codes(FILE *f, const char *name, struct session *ss, int n, int tempfail)
{
	int first = 1;

	fprintf(f, ", \"%s\": {", name);
	for (int c = 0; c < CODES; c++) {
		long sum = 0;
		for (int i = 0; i < n; i++)
			sum += tempfail ? ss[i].tempfail[c] : ss[i].refused[c];
		if (sum > 0) {
			fprintf(f, "%s\"%d\": %ld", first ? "" : ", ", c, sum);
			first = 0;
		}
	}
	fprintf(f, "}");
}

static void
usage(void)
{
	fprintf(stderr, "usage: goodclient [-1] [-A ADDRS] [-d DEADLINE] [-p PAUSE] "
	                "[-T TIMEOUT] "
	                "PORT SESSIONS MESSAGES SIZE WARMUP OUT\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	double deadline_s = 0;
	int opt, addrs = 0;

	while ((opt = getopt(argc, argv, "1A:d:p:T:")) != -1) {
		if (opt == '1')
			per_message = 1;
		else if (opt == 'A')
			addrs = atoi(optarg);
		else if (opt == 'd')
			deadline_s = atof(optarg);
		else if (opt == 'p')
			pause_s = atof(optarg);
		else if (opt == 'T')
			timeout_s = atof(optarg);
		else
			usage();
	}
	argc -= optind;
	argv += optind;
	if (argc != 6)
		usage();
	port = atoi(argv[0]);
	sessions = atoi(argv[1]);
	int total = atoi(argv[2]);
	size = atoi(argv[3]);
	warmup = atoi(argv[4]);
	if (port <= 0 || sessions <= 0 || total < sessions || size < 3 || warmup < 0 ||
	    deadline_s < 0 || pause_s < 0 || timeout_s <= 0 ||
	    (addrs != 0 && (addrs % sessions != 0 || addrs > 250))) {
		fprintf(stderr, "goodclient: bad arguments\n");
		return 2;
	}
	if (addrs != 0)
		addrs_per_session = addrs / sessions;
	struct session *ss = calloc((size_t)sessions, sizeof(*ss));
	if (ss == NULL)
		return 1;
	for (int i = 0; i < sessions; i++) {
		ss[i].idx = i;
		ss[i].count = total / sessions;
		ss[i].greet = calloc((size_t)ss[i].count, sizeof(double));
		ss[i].done = calloc((size_t)ss[i].count, sizeof(double));
		ss[i].lats = calloc((size_t)ss[i].count, sizeof(double));
		if (ss[i].greet == NULL || ss[i].done == NULL || ss[i].lats == NULL)
			return 1;
	}
	start = now();
	deadline = deadline_s > 0 ? start + deadline_s : 0;
	for (int i = 0; i < sessions; i++)
		if (pthread_create(&ss[i].thread, NULL, session_run, &ss[i]) != 0) {
			fprintf(stderr, "goodclient: pthread_create failed\n");
			return 1;
		}
	for (int i = 0; i < sessions; i++)
		pthread_join(ss[i].thread, NULL);

	char tmp[4096];
	snprintf(tmp, sizeof(tmp), "%s.tmp", argv[5]);
	FILE *f = fopen(tmp, "w");
	if (f == NULL) {
		perror(tmp);
		return 1;
	}
	fprintf(f, "{\"start\": %.6f, \"deadline\": ", start);
	if (deadline > 0)
		fprintf(f, "%.6f, ", deadline);
	else
		fprintf(f, "null, ");
	put_list(f, "greet", ss, sessions, 0);
	fprintf(f, ", ");
	put_list(f, "ready", ss, sessions, 1);
	fprintf(f, ", ");
	put_list(f, "done", ss, sessions, 2);
	fprintf(f, ", ");
	put_list(f, "lats", ss, sessions, 3);
	long attempts = 0, dropped = 0, unsent = 0;
	for (int i = 0; i < sessions; i++) {
		attempts += ss[i].attempts;
		dropped += ss[i].dropped;
		unsent += ss[i].unsent;
	}
	fprintf(f, ", \"attempts\": %ld, \"dropped\": %ld, \"unsent\": %ld", attempts,
	        dropped, unsent);
	put_codes(f, "refused", ss, sessions, 0);
	put_codes(f, "tempfail", ss, sessions, 1);
	fprintf(f, ", \"errors\": [");
	int first = 1;
	for (int i = 0; i < sessions; i++)
		if (ss[i].error[0] != '\0') {
			/* the texts are ours: no quotes or backslashes in them */
			fprintf(f, "%s\"%s\"", first ? "" : ", ", ss[i].error);
			first = 0;
		}
	fprintf(f, "]}\n");
	if (fclose(f) != 0 || rename(tmp, argv[5]) != 0) {
		perror(argv[5]);
		return 1;
	}
	return 0;
}
