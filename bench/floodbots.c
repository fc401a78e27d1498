/* SPDX-License-Identifier: ISC */
/*
 * floodbots.c - the bots of bench/flood.py: many SMTP connections that
 * misbehave, each from its own loopback address, reconnecting whenever the
 * server hangs up. In C on libevent so that the load generator costs the
 * 2-core machine little next to the server it loads (the same bots in
 * Python asyncio took more CPU than moatd refusing them).
 *
 *   floodbots PORT EARLY LISTED IDLE PER_IP RETRY STATS [START]
 *
 * Kinds and their source addresses (bot i of a kind: 127.K.(i/PER_IP)/250.
 * 1+(i/PER_IP)%250, K = 4, 5, 6):
 *   early   sends "EHLO" before the greeting, then junk every 2 s of
 *           silence until the server hangs up;
 *   listed  (the DNSBL lists 127.5.0.0/16) waits for whatever comes;
 *   idle    connects and says nothing.
 * Each bot starts at a random moment of the first START seconds (default
 * 2: a flood that builds up, so that its connections keep coming evenly
 * however long the server holds each one), and reconnects RETRY * (0.5..1.5) s after the
 * server hangs up or a connection fails. Every 0.5 s, and at SIGTERM, the
 * counters go to STATS as JSON (written to STATS.tmp, then renamed):
 * open, connects, connect_failures, hangups, and per kind the first reply
 * code each connection heard ("eof": none).
 *
 * Traffic goes to 127.0.0.1:PORT only.
 *
 * SECURITY: a benchmark tool; it reads the server's replies only to count
 * their codes (three digits of the first final line, bounded).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

enum kind { EARLY, LISTED, IDLE, NKINDS };
static const char *kind_names[NKINDS] = {"early", "listed", "idle"};
static const int kind_octet[NKINDS] = {4, 5, 6};

#define CODE_EOF 1000 /* index of "no reply before the hang-up" */

struct bot {
	enum kind kind;
	struct sockaddr_in src;
	struct bufferevent *bev;
	struct event *retry_ev;
	int connected;
	int greeted; /* the first final reply line has been counted */
};

static struct event_base *base;
static struct sockaddr_in server;
static double retry_s;
static double start_s;
static const char *stats_path;
static long n_open, n_connects, n_failures, n_hangups;
static long replies[NKINDS][CODE_EOF + 1];

static double
now(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static void
dump_stats(void)
{
	char tmp[4096];
	FILE *f;
	int k, c, first;

	snprintf(tmp, sizeof(tmp), "%s.tmp", stats_path);
	if ((f = fopen(tmp, "w")) == NULL)
		return;
	fprintf(f,
	        "{\"t\": %.3f, \"open\": %ld, \"connects\": %ld, "
	        "\"connect_failures\": %ld, \"hangups\": %ld, \"replies\": {",
	        now(), n_open, n_connects, n_failures, n_hangups);
	for (k = 0; k < NKINDS; k++) {
		fprintf(f, "%s\"%s\": {", k ? ", " : "", kind_names[k]);
		first = 1;
		for (c = 0; c <= CODE_EOF; c++) {
			if (replies[k][c] == 0)
				continue;
			if (c == CODE_EOF)
				fprintf(f, "%s\"eof\": %ld", first ? "" : ", ",
				        replies[k][c]);
			else
				fprintf(f, "%s\"%d\": %ld", first ? "" : ", ", c,
				        replies[k][c]);
			first = 0;
		}
		fprintf(f, "}");
	}
	fprintf(f, "}}\n");
	if (fclose(f) == 0)
		rename(tmp, stats_path);
}

static void bot_connect(evutil_socket_t fd, short what, void *arg);

static void
bot_later(struct bot *b, double factor)
{
	double d = retry_s * factor;
	struct timeval tv = {(time_t)d, (suseconds_t)((d - (double)(time_t)d) * 1e6)};

	evtimer_add(b->retry_ev, &tv);
}

/* bot_gone - the connection is over: count it, come back later */
static void
bot_gone(struct bot *b)
{
	bufferevent_free(b->bev);
	b->bev = NULL;
	if (b->connected) {
		if (!b->greeted)
			replies[b->kind][CODE_EOF]++;
		n_open--;
		n_hangups++;
	} else
		n_failures++;
	b->connected = 0;
	bot_later(b, 0.5 + drand48());
}

static void
bot_read(struct bufferevent *bev, void *arg)
{
	struct bot *b = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char *line;
	size_t len;

	while (!b->greeted &&
	       (line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF)) != NULL) {
		/* "220-" is a continuation; the first line without the dash is
		 * the reply whose code counts */
		if (len < 4 || line[3] != '-') {
			int code = len >= 3 ? atoi(line) : 0;

			replies[b->kind][code >= 100 && code < 1000 ? code : 0]++;
			b->greeted = 1;
		}
		free(line);
	}
	/* after the first reply nothing the server says matters */
	if (b->greeted)
		evbuffer_drain(in, evbuffer_get_length(in));
	else if (evbuffer_get_length(in) > 4096)
		evbuffer_drain(in, evbuffer_get_length(in));
}

static void
bot_event(struct bufferevent *bev, short what, void *arg)
{
	struct bot *b = arg;

	if (what & BEV_EVENT_CONNECTED) {
		b->connected = 1;
		n_open++;
		n_connects++;
		if (b->kind == EARLY)
			bufferevent_write(bev, "EHLO bot.example\r\n", 18);
		return;
	}
	if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_READING)) {
		/* two seconds of silence: early talkers talk again */
		if (b->kind == EARLY) {
			char junk[32];
			int n = snprintf(junk, sizeof(junk), "JUNK %ld\r\n", lrand48());

			bufferevent_write(bev, junk, (size_t)n);
		}
		bufferevent_enable(bev, EV_READ);
		return;
	}
	bot_gone(b);
}

static void
bot_connect(evutil_socket_t unused, short what, void *arg)
{
	struct bot *b = arg;
	struct timeval rto = {2, 0};
	evutil_socket_t fd;
	int one = 1;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0) {
		n_failures++;
		bot_later(b, 0.5 + drand48());
		return;
	}
	/* many bots share an address: let their ports be reused at once */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&b->src, sizeof(b->src)) != 0 ||
	    evutil_make_socket_nonblocking(fd) != 0) {
		close(fd);
		n_failures++;
		bot_later(b, 0.5 + drand48());
		return;
	}
	b->greeted = 0;
	b->connected = 0;
	b->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(b->bev, bot_read, NULL, bot_event, b);
	bufferevent_set_timeouts(b->bev, &rto, NULL);
	bufferevent_enable(b->bev, EV_READ);
	if (bufferevent_socket_connect(b->bev, (struct sockaddr *)&server,
	                               sizeof(server)) != 0) {
		bufferevent_free(b->bev);
		b->bev = NULL;
		n_failures++;
		bot_later(b, 0.5 + drand48());
	}
}

static void
tick(evutil_socket_t fd, short what, void *arg)
{
	dump_stats();
}

static void
on_term(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopbreak(base);
}

int
main(int argc, char **argv)
{
	long counts[NKINDS];
	long per_ip, i, total = 0;
	struct bot *bots;
	struct event *tick_ev, *term_ev;
	struct timeval half = {0, 500000};
	int k, port;

	if (argc != 8 && argc != 9) {
		fprintf(stderr, "usage: floodbots PORT EARLY LISTED IDLE PER_IP RETRY "
		                "STATS [START]\n");
		return 2;
	}
	port = atoi(argv[1]);
	for (k = 0; k < NKINDS; k++)
		total += counts[k] = atol(argv[2 + k]);
	per_ip = atol(argv[5]);
	retry_s = atof(argv[6]);
	stats_path = argv[7];
	start_s = argc == 9 ? atof(argv[8]) : 2.0;
	if (port <= 0 || port > 65535 || per_ip <= 0 || total <= 0 || start_s < 0) {
		fprintf(stderr, "floodbots: bad arguments\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	srand48((long)getpid() ^ (long)now());
	memset(&server, 0, sizeof(server));
	server.sin_family = AF_INET;
	server.sin_port = htons((uint16_t)port);
	server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

	base = event_base_new();
	if (base == NULL || (bots = calloc((size_t)total, sizeof(*bots))) == NULL)
		return 1;
	struct bot *b = bots;
	for (k = 0; k < NKINDS; k++) {
		for (i = 0; i < counts[k]; i++, b++) {
			long n = i / per_ip;

			b->kind = (enum kind)k;
			b->src.sin_family = AF_INET;
			b->src.sin_addr.s_addr =
			    htonl((127u << 24) | ((uint32_t)kind_octet[k] << 16) |
			          ((uint32_t)(n / 250) << 8) | (uint32_t)(1 + n % 250));
			b->retry_ev = evtimer_new(base, bot_connect, b);
			/* the first wave, spread over START s */
			struct timeval tv = {0, 0};
			double d = start_s * drand48();
			tv.tv_sec = (time_t)d;
			tv.tv_usec = (suseconds_t)((d - (double)tv.tv_sec) * 1e6);
			evtimer_add(b->retry_ev, &tv);
		}
	}
	tick_ev = event_new(base, -1, EV_PERSIST, tick, NULL);
	evtimer_add(tick_ev, &half);
	term_ev = evsignal_new(base, SIGTERM, on_term, NULL);
	evsignal_add(term_ev, NULL);
	dump_stats();
	event_base_dispatch(base);
	dump_stats();
	return 0;
}
