/* SPDX-License-Identifier: ISC */
/*
 * floodbots.c - the bots of bench/flood.py: many SMTP connections that
 * misbehave, each from its own loopback address, reconnecting whenever the
 * server hangs up. In C on libevent so that the load generator costs the
 * 2-core machine little next to the server it loads (the same bots in
 * Python asyncio took more CPU than moatd refusing them).
 *
 *   floodbots [-s START] [-t TRICKLE] PORT PER_IP RETRY STATS KIND=N[/P]...
 *
 * N bots of each KIND, P (default PER_IP) to a source address: bot i of a
 * kind comes from 127.K.(i/P)/250.1+(i/P)%250, K the kind's octet below.
 * The classic mix:
 *   early   (K=4) sends "EHLO" before the greeting, then junk every 2 s of
 *           silence until the server hangs up;
 *   listed  (K=5, the DNSBL lists 127.5.0.0/16) waits for whatever comes;
 *   idle    (K=6) connects and says nothing.
 * The holder mix (bench/flood.py --mix holders):
 *   hold    (K=7) waits for the greeting, then sits idle;
 *   slow    (K=8) waits for the greeting, then trickles one byte of a
 *           command line every TRICKLE * (0.5..1.5) s (default 3 s), never
 *           its end: a line of 512 octets would take ~25 minutes;
 *   new     (K=9) a client nobody has seen: waits for the first reply,
 *           says QUIT after a 220, and comes back (its replies are the
 *           "was a newcomer greeted" figure).
 * Each bot starts at a random moment of the first START seconds (default
 * 2: a flood that builds up, so that its connections keep coming evenly
 * however long the server holds each one), and reconnects RETRY *
 * (0.5..1.5) s after the server hangs up or a connection fails. Every
 * 0.5 s, and at SIGTERM, the counters go to STATS as JSON (written to
 * STATS.tmp, then renamed): open (connected), holding (greeted with 220
 * and still connected), connects, connect_failures, hangups, and per kind
 * the first reply code each connection heard ("eof": none).
 *
 * The soft RLIMIT_NOFILE is raised to the hard one; fewer descriptors than
 * bots is an error (exit 1), not a smaller flood.
 *
 * Traffic goes to 127.0.0.1:PORT only, from 127.4.0.0-127.9.255.255.
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
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

enum kind { EARLY, LISTED, IDLE, HOLD, SLOW, NEW, NKINDS };
static const char *kind_names[] = {
    [EARLY] = "early", [LISTED] = "listed", [IDLE] = "idle",
    [HOLD] = "hold",   [SLOW] = "slow",     [NEW] = "new"};
static const int kind_octet[] = {
    [EARLY] = 4, [LISTED] = 5, [IDLE] = 6, [HOLD] = 7, [SLOW] = 8, [NEW] = 9};
_Static_assert(sizeof(kind_names) / sizeof(kind_names[0]) == NKINDS, "kind_names");
_Static_assert(sizeof(kind_octet) / sizeof(kind_octet[0]) == NKINDS, "kind_octet");

#define CODE_EOF 1000 /* index of "no reply before the hang-up" */

/* what a trickling holder sends, one byte at a time, then 'x' for ever */
static const char trickle_text[] = "EHLO slow.holder.example";

struct bot {
	enum kind kind;
	struct sockaddr_in src;
	struct bufferevent *bev;
	struct event *retry_ev;
	struct event *trickle_ev; /* slow: the next byte */
	size_t trickled;
	int connected;
	int greeted; /* the first final reply line has been counted */
	int holding; /* that reply was 220 and the connection is open */
};

static struct event_base *base;
static struct sockaddr_in server;
static double retry_s;
static double start_s;
static double trickle_s = 3.0;
static const char *stats_path;
static long n_open, n_holding, n_connects, n_failures, n_hangups;
static long replies[NKINDS][CODE_EOF + 1];

static double
now(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static struct timeval
tv_of(double d)
{
	struct timeval tv = {(time_t)d, (suseconds_t)((d - (double)(time_t)d) * 1e6)};

	return tv;
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
	        "{\"t\": %.3f, \"open\": %ld, \"holding\": %ld, \"connects\": %ld, "
	        "\"connect_failures\": %ld, \"hangups\": %ld, \"replies\": {",
	        now(), n_open, n_holding, n_connects, n_failures, n_hangups);
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
	struct timeval tv = tv_of(retry_s * factor);

	evtimer_add(b->retry_ev, &tv);
}

/* bot_gone - the connection is over: count it, come back later */
static void
bot_gone(struct bot *b)
{
	bufferevent_free(b->bev);
	b->bev = NULL;
	if (b->trickle_ev != NULL)
		evtimer_del(b->trickle_ev);
	if (b->holding)
		n_holding--;
	if (b->connected) {
		if (!b->greeted)
			replies[b->kind][CODE_EOF]++;
		n_open--;
		n_hangups++;
	} else
		n_failures++;
	b->connected = 0;
	b->holding = 0;
	bot_later(b, 0.5 + drand48());
}

static void
trickle_later(struct bot *b)
{
	struct timeval tv = tv_of(trickle_s * (0.5 + drand48()));

	evtimer_add(b->trickle_ev, &tv);
}

/* trickle - a slow holder's next byte: never the end of the line */
static void
trickle(evutil_socket_t fd, short what, void *arg)
{
	struct bot *b = arg;
	char c = b->trickled < sizeof(trickle_text) - 1 ? trickle_text[b->trickled] : 'x';

	if (b->bev == NULL)
		return;
	b->trickled++;
	bufferevent_write(b->bev, &c, 1);
	trickle_later(b);
}

/* greeted - the first final reply (code) arrived: what each kind does */
static void
greeted(struct bot *b, int code)
{
	replies[b->kind][code >= 100 && code < 1000 ? code : 0]++;
	b->greeted = 1;
	if (code != 220)
		return; /* a refusal: the server hangs up when it wants */
	b->holding = 1;
	n_holding++;
	if (b->kind == SLOW) {
		b->trickled = 0;
		trickle_later(b);
	} else if (b->kind == NEW)
		bufferevent_write(b->bev, "QUIT\r\n", 6);
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
		if (len < 4 || line[3] != '-')
			greeted(b, len >= 3 ? atoi(line) : 0);
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
	b->holding = 0;
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

static void
usage(void)
{
	fprintf(stderr,
	        "usage: floodbots [-s START] [-t TRICKLE] PORT PER_IP RETRY STATS "
	        "KIND=N[/P]...\n"
	        "       KIND: early listed idle hold slow new\n");
	exit(2);
}

/* kind_arg - "KIND=N[/P]" into counts and per_ip; -1 if it is not one */
static int
kind_arg(const char *arg, long counts[NKINDS], long per_ip[NKINDS])
{
	const char *eq = strchr(arg, '=');
	char *end;
	int k;

	if (eq == NULL)
		return -1;
	for (k = 0; k < NKINDS; k++)
		if (strlen(kind_names[k]) == (size_t)(eq - arg) &&
		    strncmp(arg, kind_names[k], (size_t)(eq - arg)) == 0)
			break;
	if (k == NKINDS)
		return -1;
	counts[k] = strtol(eq + 1, &end, 10);
	if (*end == '/')
		per_ip[k] = strtol(end + 1, &end, 10);
	if (*end != '\0' || counts[k] < 0 || per_ip[k] <= 0)
		return -1;
	/* 250 addresses per third octet, 256 third octets per kind */
	if ((counts[k] + per_ip[k] - 1) / per_ip[k] > 250L * 256)
		return -1;
	return 0;
}

/* room_for - raise the descriptor limit; 0 if total bots fit under it */
static int
room_for(long total)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return -1;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
		(void)getrlimit(RLIMIT_NOFILE, &rl);
	}
	/* the bots' sockets, the stats file, libevent's own descriptors */
	if (rl.rlim_cur != RLIM_INFINITY && (rlim_t)total + 64 > rl.rlim_cur) {
		fprintf(stderr,
		        "floodbots: %ld bots need %ld descriptors, RLIMIT_NOFILE is %llu "
		        "(raise it: ulimit -n)\n",
		        total, total + 64, (unsigned long long)rl.rlim_cur);
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	long counts[NKINDS] = {0}, per_ip[NKINDS] = {0};
	long def_per_ip, i, total = 0;
	struct bot *bots;
	struct event *tick_ev, *term_ev;
	struct timeval half = {0, 500000};
	int k, port, opt;

	start_s = 2.0;
	while ((opt = getopt(argc, argv, "s:t:")) != -1) {
		if (opt == 's')
			start_s = atof(optarg);
		else if (opt == 't')
			trickle_s = atof(optarg);
		else
			usage();
	}
	argc -= optind;
	argv += optind;
	if (argc < 5)
		usage();
	port = atoi(argv[0]);
	def_per_ip = atol(argv[1]);
	retry_s = atof(argv[2]);
	stats_path = argv[3];
	if (port <= 0 || port > 65535 || def_per_ip <= 0 || start_s < 0 ||
	    trickle_s <= 0 || retry_s < 0)
		usage();
	for (k = 0; k < NKINDS; k++)
		per_ip[k] = def_per_ip;
	for (i = 4; i < argc; i++)
		if (kind_arg(argv[i], counts, per_ip) != 0) {
			fprintf(stderr, "floodbots: bad bot count %s\n", argv[i]);
			usage();
		}
	for (k = 0; k < NKINDS; k++)
		total += counts[k];
	if (total <= 0)
		usage();
	if (room_for(total) != 0)
		return 1;
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
			long n = i / per_ip[k];

			b->kind = (enum kind)k;
			b->src.sin_family = AF_INET;
			b->src.sin_addr.s_addr =
			    htonl((127u << 24) | ((uint32_t)kind_octet[k] << 16) |
			          ((uint32_t)(n / 250) << 8) | (uint32_t)(1 + n % 250));
			b->retry_ev = evtimer_new(base, bot_connect, b);
			if (k == SLOW)
				b->trickle_ev = evtimer_new(base, trickle, b);
			/* the first wave, spread over START s */
			struct timeval tv = tv_of(start_s * drand48());
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
