/* SPDX-License-Identifier: ISC */
/*
 * tlssink.c - an SMTP sink that offers STARTTLS, for the benchmarks of TLS
 * on the onward hop: what Postfix's smtp-sink is for plain text (which has
 * no TLS), with the same running counter on standard output
 * ("mesg=N\r", bench/lib.py's Sink reads it).
 *
 *   tlssink [-w WORKERS] [-c CERT -k KEY] [-N] ADDR:PORT
 *
 * It answers every command with its success code (EHLO lists PIPELINING,
 * 8BITMIME, SIZE and, with a certificate, STARTTLS), reads each message to
 * its final dot and throws it away, and counts messages (and recipients,
 * before it: "rcpt=M mesg=N\r"). -N: no session tickets and no session
 * cache, so that no client can resume. -w: WORKERS processes on one
 * SO_REUSEPORT address, counting into one shared counter (one process of
 * libevent is one core; a sink slower than the server it measures would
 * measure itself).
 *
 * Listens on loopback addresses only (refuses any other ADDR).
 *
 * SECURITY: a benchmark tool; command lines are bounded (evbuffer_readln
 * with a length check), the message body is only searched for its end.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#define LINE_MAX_OCTETS 4096

struct counters {
	atomic_long mesg;
	atomic_long rcpt;
};

struct conn {
	struct bufferevent *bev;
	int data; /* reading a message body */
	int tls;
};

static struct counters *count;
static SSL_CTX *ssl_ctx;

static void read_cb(struct bufferevent *bev, void *arg);

static void
conn_free(struct conn *c)
{
	bufferevent_free(c->bev);
	free(c);
}

static void
event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
		conn_free(arg);
}

static void
say(struct conn *c, const char *s)
{
	bufferevent_write(c->bev, s, strlen(s));
}

/* body - look for the final dot; 1 when the message ended */
static int
body(struct conn *c, struct evbuffer *in)
{
	struct evbuffer_ptr p = evbuffer_search(in, "\r\n.\r\n", 5, NULL);
	size_t len = evbuffer_get_length(in);

	if (p.pos < 0) {
		/* Keep the last 4 octets: the end may straddle two reads. */
		if (len > 4)
			evbuffer_drain(in, len - 4);
		return 0;
	}
	evbuffer_drain(in, (size_t)p.pos + 5);
	c->data = 0;
	atomic_fetch_add(&count->mesg, 1);
	say(c, "250 2.0.0 Ok: queued\r\n");
	return 1;
}

static void
starttls(struct conn *c)
{
	SSL *ssl = SSL_new(ssl_ctx);
	struct bufferevent *tbev;

	say(c, "220 2.0.0 Ready to start TLS\r\n");
	tbev = bufferevent_openssl_filter_new(bufferevent_get_base(c->bev), c->bev, ssl,
	                                      BUFFEREVENT_SSL_ACCEPTING,
	                                      BEV_OPT_CLOSE_ON_FREE);
	if (tbev == NULL) {
		SSL_free(ssl);
		conn_free(c);
		return;
	}
	c->bev = tbev;
	c->tls = 1;
	bufferevent_setcb(tbev, read_cb, NULL, event_cb, c);
	bufferevent_enable(tbev, EV_READ | EV_WRITE);
}

static void
read_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char *line;
	size_t n;

	for (;;) {
		if (c->data && !body(c, in))
			return;
		line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF);
		if (line == NULL) {
			if (evbuffer_get_length(in) > LINE_MAX_OCTETS) {
				conn_free(c);
				return;
			}
			return;
		}
		if (strncasecmp(line, "EHLO", 4) == 0) {
			say(c, "250-sink.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n"
			       "250-SIZE 104857600\r\n");
			if (ssl_ctx != NULL && !c->tls)
				say(c, "250-STARTTLS\r\n");
			say(c, "250 ENHANCEDSTATUSCODES\r\n");
		} else if (strncasecmp(line, "HELO", 4) == 0) {
			say(c, "250 sink.test\r\n");
		} else if (strncasecmp(line, "RCPT", 4) == 0) {
			atomic_fetch_add(&count->rcpt, 1);
			say(c, "250 2.1.5 Ok\r\n");
		} else if (strncasecmp(line, "DATA", 4) == 0) {
			say(c, "354 End data with <CR><LF>.<CR><LF>\r\n");
			c->data = 1;
			/* The body starts right here: an empty one is ".\r\n". */
			struct evbuffer_ptr p = evbuffer_search(in, ".\r\n", 3, NULL);
			if (p.pos == 0) {
				evbuffer_drain(in, 3);
				c->data = 0;
				atomic_fetch_add(&count->mesg, 1);
				say(c, "250 2.0.0 Ok: queued\r\n");
			}
		} else if (strncasecmp(line, "STARTTLS", 8) == 0 && ssl_ctx != NULL &&
		           !c->tls) {
			free(line);
			/* RFC 3207: nothing pipelined behind STARTTLS counts. */
			evbuffer_drain(in, evbuffer_get_length(in));
			starttls(c);
			return;
		} else if (strncasecmp(line, "QUIT", 4) == 0) {
			free(line);
			/* The client closes (a free here could lose the 221 in
			 * the TLS filter's underlying buffer). */
			say(c, "221 2.0.0 Bye\r\n");
			return;
		} else {
			say(c, "250 2.0.0 Ok\r\n");
		}
		free(line);
	}
}

static void
accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int len,
          void *arg)
{
	struct conn *c = calloc(1, sizeof(*c));

	(void)l, (void)sa, (void)len, (void)arg;
	if (c == NULL) {
		close(fd);
		return;
	}
	c->bev =
	    bufferevent_socket_new(evconnlistener_get_base(l), fd, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(c->bev, read_cb, NULL, event_cb, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	say(c, "220 sink.test ESMTP\r\n");
}

static int
serve(const struct sockaddr_in *sin)
{
	struct event_base *base = event_base_new();
	struct evconnlistener *l = evconnlistener_new_bind(
	    base, accept_cb, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_REUSEABLE_PORT, 1024,
	    (const struct sockaddr *)sin, sizeof(*sin));

	if (l == NULL) {
		perror("tlssink: bind");
		return 1;
	}
	event_base_dispatch(base);
	return 0;
}

static SSL_CTX *
make_ctx(const char *cert, const char *key, int no_resume)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (ctx == NULL || SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		ERR_print_errors_fp(stderr);
		exit(1);
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (no_resume) {
		SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
		SSL_CTX_set_num_tickets(ctx, 0);
	} else {
		SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"tlssink", 7);
	}
	return ctx;
}

int
main(int argc, char **argv)
{
	const char *cert = NULL, *key = NULL;
	int workers = 1, no_resume = 0, ch;
	struct sockaddr_in sin = {.sin_family = AF_INET};
	char host[64], *colon;

	while ((ch = getopt(argc, argv, "c:k:Nw:")) != -1) {
		switch (ch) {
		case 'c':
			cert = optarg;
			break;
		case 'k':
			key = optarg;
			break;
		case 'N':
			no_resume = 1;
			break;
		case 'w':
			workers = atoi(optarg);
			break;
		default:
			goto usage;
		}
	}
	if (optind != argc - 1 || workers < 1 || workers > 64 ||
	    (cert == NULL) != (key == NULL))
		goto usage;
	snprintf(host, sizeof(host), "%s", argv[optind]);
	if ((colon = strrchr(host, ':')) == NULL)
		goto usage;
	*colon = '\0';
	sin.sin_port = htons((unsigned short)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &sin.sin_addr) != 1 ||
	    (ntohl(sin.sin_addr.s_addr) >> 24) != 127) {
		fprintf(stderr, "tlssink: %s: a loopback IPv4 address, please\n", host);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (cert != NULL)
		ssl_ctx = make_ctx(cert, key, no_resume);
	count = mmap(NULL, sizeof(*count), PROT_READ | PROT_WRITE,
	             MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (count == MAP_FAILED) {
		perror("tlssink: mmap");
		return 1;
	}
	for (int i = 0; i < workers; i++) {
		pid_t pid = fork();
		if (pid == -1) {
			perror("tlssink: fork");
			return 1;
		}
		if (pid == 0)
			_exit(serve(&sin));
	}
	/* The counter, as smtp-sink -c prints it, whenever it moved. */
	long last_m = -1, last_r = -1;
	for (;;) {
		long m = atomic_load(&count->mesg), r = atomic_load(&count->rcpt);
		if (m != last_m || r != last_r) {
			printf("rcpt=%ld mesg=%ld\r", r, m);
			fflush(stdout);
			last_m = m, last_r = r;
		}
		if (waitpid(-1, NULL, WNOHANG) > 0)
			return 1; /* a worker died */
		usleep(2000);
	}
usage:
	fprintf(stderr,
	        "usage: tlssink [-w WORKERS] [-c CERT -k KEY] [-N] 127.X.Y.Z:PORT\n");
	return 2;
}
