/* SPDX-License-Identifier: ISC */
/*
 * tlssource.c - smtp-source with STARTTLS, many recipients and large
 * messages: the load generator of the TLS, large-message and
 * many-recipient benchmarks (Postfix's smtp-source has no TLS).
 *
 *   tlssource [-t] [-1] [-N] [-n RCPTS] [-D DOMAINS] [-o OUT]
 *             PORT SESSIONS MESSAGES SIZE
 *
 * SESSIONS threads each send their share of MESSAGES messages of SIZE
 * octets to 127.0.0.1:PORT, pipelining MAIL, the RCPTs and DATA (RFC 2920)
 * as smtp-source does.
 *   -t  STARTTLS after EHLO (and EHLO again), TLS 1.2 or 1.3 as the server
 *       prefers, certificates not checked (the benchmark measures the cost
 *       of encryption, not of a CA store)
 *   -1  one connection per message (a handshake per message); default:
 *       one connection per session carrying all its messages
 *   -N  with -t -1: never resume a TLS session (a full handshake every
 *       time); default: each thread offers its last session (ticket or
 *       id) on its next connection
 *   -n  RCPTS recipients per message (default 1): rcptI@dJ.sink.test,
 *       J = I % DOMAINS (-D, default 1)
 *   -o  write the JSON summary to OUT (default: standard output)
 *
 * The summary: messages acknowledged, connections, handshakes, resumed
 * handshakes, seconds from the first connect to the last 250, the client's
 * own CPU seconds (user, system), and errors (one string per failed
 * session). A session that meets anything but the expected reply stops
 * with an error; the exit status is 0 when no session failed.
 *
 * In C with a thread per session on blocking sockets, as goodclient.c, so
 * that the client costs the 2-core machine less than the server it loads.
 *
 * Traffic goes to 127.0.0.1:PORT only.
 *
 * SECURITY: a benchmark tool; replies are read for their codes only
 * (bounded lines).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

struct session {
	int idx, count;
	pthread_t thread;
	int fd;
	SSL *ssl;
	SSL_SESSION *last; /* offered on the next connection (resumption) */
	char in[8192];
	size_t in_len, in_off;
	long done, conns, handshakes, resumed;
	double last_done;
	char error[200];
};

static int port, sessions, size, nrcpt = 1, ndomains = 1;
static int use_tls, per_message, no_resume;
static SSL_CTX *ctx;
static char *msgbuf; /* the message, dot-stuffed already, with its final dot */
static size_t msglen;

static double
now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static ssize_t
io_read(struct session *s, void *buf, size_t n)
{
	if (s->ssl != NULL) {
		int r = SSL_read(s->ssl, buf, (int)n);
		return r > 0 ? r : -1;
	}
	for (;;) {
		ssize_t r = read(s->fd, buf, n);
		if (r < 0 && errno == EINTR)
			continue;
		return r > 0 ? r : -1;
	}
}

static int
io_write(struct session *s, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w;
		if (s->ssl != NULL) {
			size_t written;
			if (SSL_write_ex(s->ssl, p, n, &written) != 1)
				return -1;
			w = (ssize_t)written;
		} else {
			w = write(s->fd, p, n);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* reply - one (possibly multi-line) reply's code, or -1 */
static int
reply(struct session *s)
{
	char line[512];
	size_t n = 0;

	for (;;) {
		if (s->in_off == s->in_len) {
			ssize_t r = io_read(s, s->in, sizeof(s->in));
			if (r <= 0)
				return -1;
			s->in_len = (size_t)r;
			s->in_off = 0;
		}
		char c = s->in[s->in_off++];
		if (c != '\n') {
			if (n + 1 < sizeof(line))
				line[n++] = c;
			continue;
		}
		line[n] = '\0';
		if (n < 4 || line[3] != '-')
			return atoi(line);
		n = 0;
	}
}

static int
expect(struct session *s, int want, const char *what)
{
	int code = reply(s);
	if (code == want)
		return 0;
	snprintf(s->error, sizeof(s->error), "session %d: %s: got %d, want %d", s->idx,
	         what, code, want);
	return -1;
}

static int
cmd(struct session *s, const char *line, int want)
{
	if (io_write(s, line, strlen(line)) == -1) {
		snprintf(s->error, sizeof(s->error), "session %d: write failed", s->idx);
		return -1;
	}
	return expect(s, want, line);
}

static void
hangup(struct session *s)
{
	if (s->ssl != NULL) {
		/* close_notify, and no read after it: a server that closes without
		 * its own would mark the session not resumable. */
		SSL_shutdown(s->ssl);
		SSL_free(s->ssl);
		s->ssl = NULL;
	}
	if (s->fd != -1)
		close(s->fd);
	s->fd = -1;
	s->in_len = s->in_off = 0;
}

/* open_conn - connect, greeting, EHLO, and STARTTLS with -t */
static int
open_conn(struct session *s)
{
	struct sockaddr_in dst = {.sin_family = AF_INET};
	int one = 1;

	dst.sin_port = htons((unsigned short)port);
	inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
	if ((s->fd = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    connect(s->fd, (struct sockaddr *)&dst, sizeof(dst)) == -1) {
		snprintf(s->error, sizeof(s->error), "session %d: connect: %s", s->idx,
		         strerror(errno));
		return -1;
	}
	setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	s->conns++;
	if (expect(s, 220, "greeting") == -1 || cmd(s, "EHLO client.test\r\n", 250) == -1)
		return -1;
	if (!use_tls)
		return 0;
	if (cmd(s, "STARTTLS\r\n", 220) == -1)
		return -1;
	s->ssl = SSL_new(ctx);
	SSL_set_fd(s->ssl, s->fd);
	if (s->last != NULL && !no_resume)
		SSL_set_session(s->ssl, s->last);
	if (SSL_connect(s->ssl) != 1) {
		snprintf(s->error, sizeof(s->error),
		         "session %d: TLS handshake failed: %s", s->idx,
		         ERR_reason_error_string(ERR_get_error()));
		return -1;
	}
	s->handshakes++;
	if (SSL_session_reused(s->ssl))
		s->resumed++;
	if (cmd(s, "EHLO client.test\r\n", 250) == -1)
		return -1;
	if (!no_resume) {
		/* TLS 1.3 tickets come after the handshake: by the EHLO reply
		 * they are here. */
		if (s->last != NULL)
			SSL_SESSION_free(s->last);
		s->last = SSL_get1_session(s->ssl);
	}
	return 0;
}

/* send_msg - MAIL, the RCPTs and DATA in one group, then the message */
static int
send_msg(struct session *s, long m)
{
	char group[64 + 64 * 256];
	size_t off;

	off = (size_t)snprintf(group, sizeof(group),
	                       "MAIL FROM:<loadgen%ld@client.test>\r\n", m);
	for (int i = 0; i < nrcpt; i++)
		off += (size_t)snprintf(group + off, sizeof(group) - off,
		                        "RCPT TO:<rcpt%d@d%d.sink.test>\r\n", i,
		                        i % ndomains);
	off += (size_t)snprintf(group + off, sizeof(group) - off, "DATA\r\n");
	if (io_write(s, group, off) == -1) {
		snprintf(s->error, sizeof(s->error), "session %d: write failed", s->idx);
		return -1;
	}
	if (expect(s, 250, "MAIL") == -1)
		return -1;
	for (int i = 0; i < nrcpt; i++)
		if (expect(s, 250, "RCPT") == -1)
			return -1;
	if (expect(s, 354, "DATA") == -1)
		return -1;
	if (io_write(s, msgbuf, msglen) == -1) {
		snprintf(s->error, sizeof(s->error), "session %d: write failed", s->idx);
		return -1;
	}
	if (expect(s, 250, "end of DATA") == -1)
		return -1;
	s->done++;
	s->last_done = now();
	return 0;
}

static void *
run(void *arg)
{
	struct session *s = arg;

	s->fd = -1;
	for (long m = 0; m < s->count; m++) {
		if (s->fd == -1 && open_conn(s) == -1)
			break;
		if (send_msg(s, m) == -1)
			break;
		if (per_message) {
			cmd(s, "QUIT\r\n", 221);
			hangup(s);
		}
	}
	if (s->fd != -1) {
		if (s->error[0] == '\0')
			cmd(s, "QUIT\r\n", 221);
		hangup(s);
	}
	if (s->last != NULL)
		SSL_SESSION_free(s->last);
	return NULL;
}

/* make_message - SIZE octets of 78-character lines, headers, final dot */
static void
make_message(void)
{
	size_t cap = (size_t)size + 1024;
	size_t off, body = 0;
	const size_t line = 80;

	msgbuf = malloc(cap);
	if (msgbuf == NULL) {
		perror("tlssource: malloc");
		exit(1);
	}
	off =
	    (size_t)snprintf(msgbuf, cap,
	                     "From: <loadgen@client.test>\r\nTo: <rcpt0@d0.sink.test>\r\n"
	                     "Subject: load\r\nMessage-Id: <load@client.test>\r\n\r\n");
	for (; body + line <= (size_t)size; body += line) {
		memset(msgbuf + off, 'X', 78);
		memcpy(msgbuf + off + 78, "\r\n", 2);
		off += line;
	}
	memcpy(msgbuf + off, ".\r\n", 3);
	msglen = off + 3;
}

int
main(int argc, char **argv)
{
	const char *out = NULL;
	long messages;
	int ch;

	while ((ch = getopt(argc, argv, "t1Nn:D:o:")) != -1) {
		switch (ch) {
		case 't':
			use_tls = 1;
			break;
		case '1':
			per_message = 1;
			break;
		case 'N':
			no_resume = 1;
			break;
		case 'n':
			nrcpt = atoi(optarg);
			break;
		case 'D':
			ndomains = atoi(optarg);
			break;
		case 'o':
			out = optarg;
			break;
		default:
			goto usage;
		}
	}
	if (argc - optind != 4)
		goto usage;
	port = atoi(argv[optind]);
	sessions = atoi(argv[optind + 1]);
	messages = atol(argv[optind + 2]);
	size = atoi(argv[optind + 3]);
	if (port <= 0 || port > 65535 || sessions < 1 || sessions > 10000 ||
	    messages < 1 || size < 0 || size > 256 << 20 || nrcpt < 1 || nrcpt > 256 ||
	    ndomains < 1)
		goto usage;
	signal(SIGPIPE, SIG_IGN);
	make_message();
	if (use_tls) {
		ctx = SSL_CTX_new(TLS_client_method());
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT |
		                                        SSL_SESS_CACHE_NO_INTERNAL_STORE);
		if (no_resume)
			SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	}

	struct session *ss = calloc((size_t)sessions, sizeof(*ss));
	double start = now();
	for (int i = 0; i < sessions; i++) {
		ss[i].idx = i;
		ss[i].count = (int)(messages / sessions + (i < messages % sessions));
		if (pthread_create(&ss[i].thread, NULL, run, &ss[i]) != 0) {
			perror("tlssource: pthread_create");
			return 1;
		}
	}
	long done = 0, conns = 0, hs = 0, resumed = 0, failed = 0;
	double end = start;
	for (int i = 0; i < sessions; i++) {
		pthread_join(ss[i].thread, NULL);
		done += ss[i].done;
		conns += ss[i].conns;
		hs += ss[i].handshakes;
		resumed += ss[i].resumed;
		if (ss[i].last_done > end)
			end = ss[i].last_done;
		if (ss[i].error[0] != '\0')
			failed++;
	}

	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	FILE *f = out != NULL ? fopen(out, "w") : stdout;
	if (f == NULL) {
		perror(out);
		return 1;
	}
	fprintf(f,
	        "{\"messages\": %ld, \"recipients\": %ld, \"connections\": %ld, "
	        "\"handshakes\": %ld, \"resumed\": %ld, \"seconds\": %.6f, "
	        "\"cpu_user\": %.3f, \"cpu_sys\": %.3f, \"errors\": [",
	        done, done * nrcpt, conns, hs, resumed, end - start,
	        (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6,
	        (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6);
	for (int i = 0, first = 1; i < sessions; i++) {
		if (ss[i].error[0] == '\0')
			continue;
		fputs(first ? "\"" : ", \"", f);
		for (const char *p = ss[i].error; *p != '\0'; p++)
			if (*p != '"' && *p != '\\' && (unsigned char)*p >= 0x20)
				fputc(*p, f);
		fputc('"', f);
		first = 0;
	}
	fputs("]}\n", f);
	if (f != stdout)
		fclose(f);
	return failed == 0 ? 0 : 1;
usage:
	fprintf(stderr,
	        "usage: tlssource [-t] [-1] [-N] [-n RCPTS] [-D DOMAINS] [-o OUT] "
	        "PORT SESSIONS MESSAGES SIZE\n");
	return 2;
}
