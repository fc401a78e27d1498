/* SPDX-License-Identifier: ISC */
/*
 * test_smtp_client.c - the SMTP/LMTP client (src/smtp/client.c) against a
 * scripted server on a real loopback socket, inside one event loop.
 *
 * Each test gives the server a responder (what to answer to which line) and
 * drives the client; the server records every line and the raw DATA bytes.
 * Covered: multi-line greeting and EHLO extensions, HELO fallback,
 * pipelining (the server only answers once the whole group is there) and
 * its absence (no command while one is unanswered), a pipelined DATA whose
 * recipients were all refused but which gets 354 anyway (only the dot),
 * dot-stuffing and CRLF normalisation of a large message, LMTP
 * per-recipient replies, over-long and malformed replies, refused
 * connection, timeout, an unsolicited 421, a command with CR/LF in it,
 * freeing the client inside a callback, and AUTH lines written from a copy
 * that is gone once they are written.
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "smtp/client.h"
#include "unit.h"

#define MAXREC 16

struct srv;
typedef void (*responder)(struct srv *s, const char *line);

struct srv {
	struct event_base *base;
	struct evconnlistener *lev;
	struct bufferevent *bev;
	struct sockaddr_in sin;
	const char *greeting; /* NULL: say nothing */
	responder respond;
	struct evbuffer *lines; /* every command line, '\n'-terminated */
	struct evbuffer *data;  /* raw bytes after 354, final dot included */
	int in_data;
	int held;    /* replies held back (pipelining test) */
	int pending; /* a reply is due after a delay */
	int overlap; /* a command came while a reply was pending */
	struct event *delay;
	char delayed[256];
	int closed;
};

struct rec {
	int code, local, index;
	char text[SMTP_CLIENT_TEXT_MAX];
};

static struct rec recs[MAXREC];
static int nrecs;
static struct event_base *base;

static void
say(struct srv *s, const char *text)
{
	evbuffer_add_printf(bufferevent_get_output(s->bev), "%s\r\n", text);
}

static void
srv_read(struct bufferevent *bev, void *arg)
{
	struct srv *s = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	for (;;) {
		if (s->in_data) {
			size_t n = evbuffer_get_length(in);
			struct evbuffer_ptr p;
			if (n == 0)
				return;
			evbuffer_remove_buffer(in, s->data, n);
			p = evbuffer_search(s->data, "\r\n.\r\n", 5, NULL);
			if (p.pos < 0 &&
			    !(evbuffer_get_length(s->data) == 3 &&
			      evbuffer_search(s->data, ".\r\n", 3, NULL).pos == 0))
				return;
			s->in_data = 0;
			s->respond(s, ".");
			continue;
		}
		size_t len;
		char *line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF_STRICT);
		if (line == NULL)
			return;
		evbuffer_add_printf(s->lines, "%s\n", line);
		if (s->pending)
			s->overlap++;
		s->respond(s, line);
		free(line);
	}
}

static void
srv_event(struct bufferevent *bev, short what, void *arg)
{
	struct srv *s = arg;

	s->closed = 1;
}

static void
srv_accept(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa, int len,
           void *arg)
{
	struct srv *s = arg;

	s->bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(s->bev, srv_read, NULL, srv_event, s);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	if (s->greeting != NULL)
		say(s, s->greeting);
}

static void
delay_cb(evutil_socket_t fd, short what, void *arg)
{
	struct srv *s = arg;

	s->pending = 0;
	say(s, s->delayed);
}

/* say_later - answer after 50 ms; a command arriving meanwhile is an overlap */
static void
say_later(struct srv *s, const char *text)
{
	struct timeval tv = {0, 50000};

	snprintf(s->delayed, sizeof(s->delayed), "%s", text);
	s->pending = 1;
	evtimer_add(s->delay, &tv);
}

static void
srv_start(struct srv *s, const char *greeting, responder r)
{
	socklen_t len = sizeof(s->sin);

	memset(s, 0, sizeof(*s));
	s->base = base;
	s->greeting = greeting;
	s->respond = r;
	s->lines = evbuffer_new();
	s->data = evbuffer_new();
	s->delay = evtimer_new(base, delay_cb, s);
	s->sin.sin_family = AF_INET;
	s->sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->lev = evconnlistener_new_bind(base, srv_accept, s, LEV_OPT_CLOSE_ON_FREE, -1,
	                                 (struct sockaddr *)&s->sin, sizeof(s->sin));
	assert_non_null(s->lev);
	getsockname(evconnlistener_get_fd(s->lev), (struct sockaddr *)&s->sin, &len);
}

static void
srv_stop(struct srv *s)
{
	if (s->bev != NULL)
		bufferevent_free(s->bev);
	evconnlistener_free(s->lev);
	evbuffer_free(s->lines);
	evbuffer_free(s->data);
	event_free(s->delay);
}

static char *
srv_lines(struct srv *s)
{
	static char buf[8192];
	size_t n = evbuffer_copyout(s->lines, buf, sizeof(buf) - 1);

	buf[n] = '\0';
	return buf;
}

/* record - every callback stores its reply; the last expected one ends the loop */
static int want_recs;

static void
record(struct smtp_client *c, const struct smtp_reply *r, void *arg)
{
	if (nrecs < MAXREC) {
		recs[nrecs].code = r->code;
		recs[nrecs].local = r->local;
		recs[nrecs].index = r->index;
		snprintf(recs[nrecs].text, sizeof(recs[nrecs].text), "%s", r->text);
	}
	if (++nrecs >= want_recs)
		event_base_loopbreak(base);
}

static void
safety(evutil_socket_t fd, short what, void *arg)
{
	fail_msg("test timed out with %d of %d replies", nrecs, want_recs);
}

/* run - dispatch until want replies were recorded (10 s at most) */
static void
run(int want)
{
	struct timeval tv = {10, 0};
	struct event *t = evtimer_new(base, safety, NULL);

	want_recs = want;
	evtimer_add(t, &tv);
	event_base_dispatch(base);
	event_free(t);
}

static struct smtp_client *
client(struct srv *s, int lmtp, int timeout)
{
	struct smtp_client_opts o = {.helo = "client.test",
	                             .lmtp = lmtp,
	                             .connect_timeout = timeout,
	                             .command_timeout = timeout,
	                             .data_timeout = timeout};
	struct smtp_client *c = smtp_client_new(base, &o);

	nrecs = 0;
	memset(recs, 0, sizeof(recs));
	smtp_client_connect(c, (struct sockaddr *)&s->sin, sizeof(s->sin), record, NULL);
	return c;
}

static int
setup(void **state)
{
	base = event_base_new();
	return base == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	event_base_free(base);
	return 0;
}

/* ---- responders ---- */

static void
r_esmtp(struct srv *s, const char *line)
{
	if (strncmp(line, "EHLO", 4) == 0)
		say(s, "250-srv.test hello\r\n250-PIPELINING\r\n250-SIZE 1000\r\n"
		       "250-8BITMIME\r\n250 ENHANCEDSTATUSCODES");
	else if (strncmp(line, "LHLO", 4) == 0)
		say(s, "250-srv.test\r\n250 PIPELINING");
	else if (strcmp(line, "DATA") == 0) {
		s->in_data = 1;
		say(s, "354 go");
	} else if (strcmp(line, ".") == 0)
		say(s, "250 2.0.0 queued");
	else if (strcmp(line, "QUIT") == 0)
		say(s, "221 bye");
	else
		say(s, "250 ok");
}

static void
test_greeting_and_extensions(void **state)
{
	struct srv s;
	struct smtp_client *c;

	srv_start(&s, "220-srv.test first\r\n220 second line", r_esmtp);
	c = client(&s, 0, 5);
	smtp_client_ehlo(c, record, NULL);
	run(2);
	EXPECT_INT("greeting", "code", recs[0].code, 220);
	EXPECT_STR("greeting", "text", recs[0].text, "srv.test first\nsecond line");
	EXPECT_INT("ehlo", "code", recs[1].code, 250);
	EXPECT_INT("ehlo", "PIPELINING", smtp_client_has_ext(c, "pipelining"), 1);
	EXPECT_INT("ehlo", "SIZE", smtp_client_size(c), 1000);
	EXPECT_STR("ehlo", "SIZE param", smtp_client_ext_param(c, "SIZE"), "1000");
	EXPECT_STR("ehlo", "8BITMIME param", smtp_client_ext_param(c, "8BITMIME"), "");
	EXPECT_INT("ehlo", "STARTTLS", smtp_client_has_ext(c, "STARTTLS"), 0);
	EXPECT_STR("lines", "sent", srv_lines(&s), "EHLO client.test\n");
	smtp_client_free(c);
	srv_stop(&s);
	UNIT_END();
}

static void
r_no_ehlo(struct srv *s, const char *line)
{
	if (strncmp(line, "EHLO", 4) == 0)
		say(s, "502 5.5.1 what?");
	else
		say(s, "250 srv.test");
}

static void
test_helo_fallback(void **state)
{
	struct srv s;
	struct smtp_client *c;

	srv_start(&s, "220 srv.test", r_no_ehlo);
	c = client(&s, 0, 5);
	smtp_client_ehlo(c, record, NULL);
	run(2);
	EXPECT_INT("helo", "code", recs[1].code, 250);
	EXPECT_INT("helo", "local", recs[1].local, 0);
	EXPECT_STR("helo", "sent", srv_lines(&s), "EHLO client.test\nHELO client.test\n");
	EXPECT_INT("helo", "no extensions", smtp_client_size(c), -1);
	smtp_client_free(c);
	srv_stop(&s);
	UNIT_END();
}

/* r_group - hold MAIL/RCPT replies until all three are in: only a pipelining
 * client gets any answer at all */
static void
r_group(struct srv *s, const char *line)
{
	if (strncmp(line, "MAIL", 4) == 0 || strncmp(line, "RCPT", 4) == 0) {
		if (++s->held == 3) {
			say(s, "250 mail ok");
			say(s, "250 rcpt 1 ok");
			say(s, "550 rcpt 2 unknown");
		}
		return;
	}
	r_esmtp(s, line);
}

static void
test_pipelining_sends_the_group(void **state)
{
	struct srv s;
	struct smtp_client *c;

	srv_start(&s, "220 srv.test", r_group);
	c = client(&s, 0, 3);
	smtp_client_ehlo(c, record, NULL);
	run(2);
	smtp_client_cmd(c, record, NULL, "MAIL FROM:<a@x.test>");
	smtp_client_cmd(c, record, NULL, "RCPT TO:<b@y.test>");
	smtp_client_cmd(c, record, NULL, "RCPT TO:<c@y.test>");
	smtp_client_data(c, evbuffer_new(), 1, record, NULL);
	run(6);
	EXPECT_INT("mail", "code", recs[2].code, 250);
	EXPECT_INT("rcpt1", "code", recs[3].code, 250);
	EXPECT_INT("rcpt2", "code", recs[4].code, 550);
	EXPECT_STR("rcpt2", "text", recs[4].text, "rcpt 2 unknown");
	EXPECT_INT("data", "code", recs[5].code, 250);
	EXPECT_STR("lines", "sent", srv_lines(&s),
	           "EHLO client.test\nMAIL FROM:<a@x.test>\nRCPT TO:<b@y.test>\n"
	           "RCPT TO:<c@y.test>\nDATA\n");
	/* an empty message is just the dot */
	EXPECT_INT("data", "bytes", evbuffer_get_length(s.data), 3);
	smtp_client_free(c);
	srv_stop(&s);
	UNIT_END();
}

/* every recipient refused, yet DATA gets 354 (RFC 2920 §3.1 warns of it) */
static void
r_refuse_rcpt_accept_data(struct srv *s, const char *line)
{
	if (strncmp(line, "RCPT", 4) == 0)
		say(s, "550 5.1.1 unknown");
	else
		r_esmtp(s, line);
}

static void
drop_body_cb(struct smtp_client *c, const struct smtp_reply *r, void *arg)
{
	smtp_client_data_drop_body(c);
	record(c, r, arg);
}

static void
test_pipelined_data_with_every_recipient_refused(void **state)
{
	struct srv s;
	struct smtp_client *c;
	struct evbuffer *m = evbuffer_new();

	srv_start(&s, "220 srv.test", r_refuse_rcpt_accept_data);
	c = client(&s, 0, 3);
	smtp_client_ehlo(c, record, NULL);
	run(2);
	EXPECT_INT("ehlo", "pipelining", smtp_client_pipelining(c), 1);
	evbuffer_add(m, "secret\r\n", 8);
	smtp_client_cmd(c, record, NULL, "MAIL FROM:<a@x.test>");
	smtp_client_cmd(c, drop_body_cb, NULL, "RCPT TO:<b@y.test>");
	smtp_client_data(c, m, 1, record, NULL);
	run(5);
	EXPECT_INT("rcpt", "code", recs[3].code, 550);
	/* the reply to the lone dot */
	EXPECT_INT("data", "code", recs[4].code, 250);
	EXPECT_STR("lines", "sent", srv_lines(&s),
	           "EHLO client.test\nMAIL FROM:<a@x.test>\nRCPT TO:<b@y.test>\nDATA\n");
	EXPECT_INT("data", "only the dot", evbuffer_get_length(s.data), 3);
	smtp_client_free(c);
	srv_stop(&s);
	UNIT_END();
}

static void
r_slow_no_pipelining(struct srv *s, const char *line)
{
	if (strncmp(line, "EHLO", 4) == 0)
		say(s, "250-srv.test\r\n250 8BITMIME");
	else
		say_later(s, "250 ok");
}

/* r_auth - AUTH LOGIN's two steps (RFC 4954 §4), then 235; AUTH PLAIN: 235 */
static void
r_auth(struct srv *s, const char *line)
{
	if (strncmp(line, "AUTH PLAIN ", 11) == 0 || strcmp(line, "cGFzcw==") == 0)
		say(s, "235 2.7.0 ok");
	else if (strcmp(line, "AUTH LOGIN dXNlcg==") == 0)
		say(s, "334 UGFzc3dvcmQ6");
	else
		r_esmtp(s, line);
}

/* test_auth_secret_written - secret lines reach the server whole, and no
 * copy of them is left in the client's buffers once they are written: the
 * client is still open when the count is read */
static void
test_auth_secret_written(void **state)
{
	struct srv s;
	struct smtp_client *c;

	srv_start(&s, "220 srv.test", r_auth);
	c = client(&s, 0, 5);
	smtp_client_ehlo(c, record, NULL);
	smtp_client_cmd_secret(c, record, NULL, 10, "AUTH PLAIN AHVzZXIAcGFzcw==");
	smtp_client_cmd(c, record, NULL, "MAIL FROM:<a@b.test>");
	run(4);
	EXPECT_INT("plain", "code", recs[2].code, 235);
	EXPECT_INT("plain", "after it", recs[3].code, 250);
	EXPECT_INT("plain", "secrets held", (long long)smtp_client_secrets_held(), 0);
	smtp_client_cmd_secret(c, record, NULL, 10, "AUTH LOGIN dXNlcg==");
	smtp_client_cmd_secret(c, record, NULL, 0, "cGFzcw==");
	run(6);
	EXPECT_INT("login", "334", recs[4].code, 334);
	EXPECT_INT("login", "235", recs[5].code, 235);
	EXPECT_INT("login", "secrets held", (long long)smtp_client_secrets_held(), 0);
	EXPECT_STR("lines", "sent", srv_lines(&s),
	           "EHLO client.test\nAUTH PLAIN AHVzZXIAcGFzcw==\nMAIL FROM:<a@b.test>\n"
	           "AUTH LOGIN dXNlcg==\ncGFzcw==\n");
	smtp_client_free(c);
	srv_stop(&s);
	UNIT_END();
}

static void
test_no_pipelining_one_at_a_time(void **state)
{
	struct srv s;
	struct smtp_client *c;

	srv_start(&s, "220 srv.test", r_slow_no_pipelining);
	c = client(&s, 0, 3);
	smtp_client_ehlo(c, record, NULL);
	smtp_client_cmd(c, record, NULL, "MAIL FROM:<a@x.test>");
	smtp_client_cmd(c, record, NULL, "RCPT TO:<b@y.test>");
	smtp_client_cmd(c, record, NULL, "RCPT TO:<c@y.test>");
	smtp_client_cmd(c, record, NULL, "RSET");
	run(6);
	for (int i = 1; i < 6; i++)
		EXPECT_INT("reply", "code", recs[i].code, 250);
	EXPECT_INT("server", "commands sent before a reply", s.overlap, 0);
	smtp_client_free(c);
	srv_stop(&s);
	UNIT_END();
}

static void
test_data_dot_stuffing_and_crlf(void **state)
{
	static const struct {
		const char *name, *in, *want;
	} rows[] = {
	    {"plain", "a\r\nb\r\n", "a\r\nb\r\n.\r\n"},
	    {"bare LF", "a\nb\n", "a\r\nb\r\n.\r\n"},
	    {"bare CR", "a\rb\r", "a\r\nb\r\n.\r\n"},
	    {"no final newline", "a\r\nlast", "a\r\nlast\r\n.\r\n"},
	    {"leading dot", ".a\n..b\n.\n", "..a\r\n...b\r\n..\r\n.\r\n"},
	    {"dot after CR", "x\r.y", "x\r\n..y\r\n.\r\n"},
	    {"dot mid-line", "a.b\n", "a.b\r\n.\r\n"},
	    {"CR LF split", "a\r", "a\r\n.\r\n"},
	};
	struct srv s;

	srv_start(&s, "220 srv.test", r_esmtp);
	for (size_t i = 0; i < NELEM(rows); i++) {
		struct smtp_client *c = client(&s, 0, 5);
		struct evbuffer *m = evbuffer_new();
		char got[256];
		size_t n;

		evbuffer_drain(s.data, evbuffer_get_length(s.data));
		evbuffer_add(m, rows[i].in, strlen(rows[i].in));
		smtp_client_ehlo(c, record, NULL);
		smtp_client_data(c, m, 1, record, NULL);
		run(3);
		EXPECT_INT(rows[i].name, "final reply", recs[2].code, 250);
		n = evbuffer_copyout(s.data, got, sizeof(got));
		EXPECT_MEM(rows[i].name, "sent", got, n, rows[i].want,
		           strlen(rows[i].want));
		smtp_client_free(c);
		if (s.bev != NULL) {
			bufferevent_free(s.bev);
			s.bev = NULL;
		}
	}
	srv_stop(&s);
	UNIT_END();
}

static void
test_data_large_message(void **state)
{
	struct srv s;
	struct smtp_client *c;
	struct evbuffer *m = evbuffer_new(), *want = evbuffer_new();

	/* 1.2 MB in 20,000 lines, a third starting with '.', LF line ends */
	for (int i = 0; i < 20000; i++) {
		const char *dot = i % 3 == 0 ? "." : "";
		evbuffer_add_printf(
		    m, "%sline %05d %s\n", dot, i,
		    "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz");
		evbuffer_add_printf(
		    want, "%s%sline %05d %s\r\n", dot, dot, i,
		    "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz");
	}
	evbuffer_add(want, ".\r\n", 3);
	srv_start(&s, "220 srv.test", r_esmtp);
	c = client(&s, 0, 5);
	smtp_client_ehlo(c, record, NULL);
	smtp_client_data(c, m, 1, record, NULL);
	run(3);
	EXPECT_INT("large", "final reply", recs[2].code, 250);
	EXPECT_INT("large", "bytes", evbuffer_get_length(s.data),
	           evbuffer_get_length(want));
	EXPECT_INT("large", "same bytes",
	           memcmp(evbuffer_pullup(s.data, -1), evbuffer_pullup(want, -1),
	                  evbuffer_get_length(want)),
	           0);
	evbuffer_free(want);
	smtp_client_free(c);
	srv_stop(&s);
	UNIT_END();
}

/* a message read from a file a piece at a time: a prefix to skip, CRs and
 * dots where the 64 KiB reads and the 16 KiB chunks part, and a file that
 * turns out shorter than promised (the connection fails, no final dot) */
static void
test_data_from_file(void **state)
{
	struct srv s;
	struct smtp_client *c;
	struct evbuffer *m = evbuffer_new(), *want = evbuffer_new();
	char path[] = "/tmp/moat-unit-body-XXXXXX";
	int fd = mkstemp(path);
	size_t len;

	unlink(path);
	evbuffer_add(m, "envelope, skipped\n", 18);
	for (int i = 0; i < 9000; i++) {
		/* lines of 37 octets: boundaries fall in every place of a line */
		const char *dot = i % 5 == 0 ? "." : "";
		const char *end = i % 7 == 0 ? "\r" : i % 2 ? "\r\n" : "\n";
		evbuffer_add_printf(m, "%sline %05d abcdefghijklmnopqrstuv%s", dot, i,
		                    end);
		evbuffer_add_printf(want, "%s%sline %05d abcdefghijklmnopqrstuv\r\n", dot,
		                    dot, i);
	}
	evbuffer_add(want, ".\r\n", 3);
	len = evbuffer_get_length(m);
	EXPECT_INT("file", "written",
	           write(fd, evbuffer_pullup(m, -1), len) == (ssize_t)len, 1);
	srv_start(&s, "220 srv.test", r_esmtp);
	c = client(&s, 0, 5);
	smtp_client_ehlo(c, record, NULL);
	smtp_client_data_file(c, dup(fd), 18, len - 18, 1, record, NULL);
	run(3);
	EXPECT_INT("file", "final reply", recs[2].code, 250);
	EXPECT_INT("file", "bytes", evbuffer_get_length(s.data),
	           evbuffer_get_length(want));
	EXPECT_INT("file", "same bytes",
	           memcmp(evbuffer_pullup(s.data, -1), evbuffer_pullup(want, -1),
	                  evbuffer_get_length(want)),
	           0);
	smtp_client_free(c);
	if (s.bev != NULL) {
		bufferevent_free(s.bev);
		s.bev = NULL;
	}

	/* promised 100 KiB more than the file has */
	evbuffer_drain(s.data, evbuffer_get_length(s.data));
	c = client(&s, 0, 5);
	smtp_client_ehlo(c, record, NULL);
	smtp_client_data_file(c, dup(fd), 18, len - 18 + 102400, 1, record, NULL);
	run(3);
	EXPECT_INT("short file", "a local failure", recs[2].local, 1);
	EXPECT_INT("short file", "4xx", recs[2].code / 100, 4);
	len = evbuffer_get_length(s.data);
	EXPECT_INT("short file", "no final dot",
	           len >= 5 &&
	               memcmp(evbuffer_pullup(s.data, -1) + len - 5, "\r\n.\r\n", 5) == 0,
	           0);
	smtp_client_free(c);
	close(fd);
	evbuffer_free(m);
	evbuffer_free(want);
	srv_stop(&s);
	UNIT_END();
}

/*
 * a message stored as the server stores it (CRLF lines), 2 MiB, moved to
 * the connection as it lies where nothing needs changing: lines of every
 * length, so the 64 KiB reads part lines, CRLFs and dots in every place; a
 * "." line now and then, and one bare CR and one bare LF deep inside; from
 * a file and from memory, byte for byte the same as the rule says
 */
static void
clean_message(struct evbuffer *m, struct evbuffer *want)
{
	for (int i = 0; evbuffer_get_length(m) < (2u << 20); i++) {
		const char *dot = i % 97 == 0 ? "." : "";
		const char *end = i == 20000 ? "\r" : i == 30000 ? "\n" : "\r\n";
		int len = i % 83;

		evbuffer_add_printf(m, "%s%.*s%s", dot, len,
		                    "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz"
		                    "abcdefghijklmnopqrstuvwxyz0123456789",
		                    end);
		evbuffer_add_printf(want, "%s%s%.*s\r\n", dot, dot, len,
		                    "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz"
		                    "abcdefghijklmnopqrstuvwxyz0123456789");
	}
	evbuffer_add(want, ".\r\n", 3);
}

static void
test_data_clean_text_moved(void **state)
{
	struct srv s;
	struct evbuffer *m = evbuffer_new(), *want = evbuffer_new();
	char path[] = "/tmp/moat-unit-body-XXXXXX";
	int fd = mkstemp(path);
	size_t len;

	unlink(path);
	clean_message(m, want);
	len = evbuffer_get_length(m);
	EXPECT_INT("clean", "written",
	           write(fd, evbuffer_pullup(m, -1), len) == (ssize_t)len, 1);
	srv_start(&s, "220 srv.test", r_esmtp);
	for (int from_file = 0; from_file < 2; from_file++) {
		const char *name = from_file ? "clean, file" : "clean, memory";
		struct smtp_client *c = client(&s, 0, 5);

		evbuffer_drain(s.data, evbuffer_get_length(s.data));
		smtp_client_ehlo(c, record, NULL);
		if (from_file) {
			smtp_client_data_file(c, dup(fd), 0, len, 1, record, NULL);
		} else {
			struct evbuffer *copy = evbuffer_new();
			evbuffer_add(copy, evbuffer_pullup(m, -1), len);
			smtp_client_data(c, copy, 1, record, NULL);
		}
		run(3);
		EXPECT_INT(name, "final reply", recs[2].code, 250);
		EXPECT_INT(name, "bytes", evbuffer_get_length(s.data),
		           evbuffer_get_length(want));
		EXPECT_INT(name, "same bytes",
		           evbuffer_get_length(s.data) == evbuffer_get_length(want) &&
		               memcmp(evbuffer_pullup(s.data, -1),
		                      evbuffer_pullup(want, -1),
		                      evbuffer_get_length(want)) == 0,
		           1);
		smtp_client_free(c);
		if (s.bev != NULL) {
			bufferevent_free(s.bev);
			s.bev = NULL;
		}
	}
	close(fd);
	evbuffer_free(m);
	evbuffer_free(want);
	srv_stop(&s);
	UNIT_END();
}

static void
r_lmtp(struct srv *s, const char *line)
{
	if (strcmp(line, ".") == 0) {
		/* RFC 2033 §4.2: one reply per accepted recipient, in order */
		say(s, "250 2.1.5 <b@y.test> delivered");
		say(s, "452 4.2.2 <c@y.test> over quota");
		return;
	}
	r_esmtp(s, line);
}

static void
test_lmtp_reply_per_recipient(void **state)
{
	struct srv s;
	struct smtp_client *c;
	struct evbuffer *m = evbuffer_new();

	evbuffer_add_printf(m, "Subject: x\n\nbody\n");
	srv_start(&s, "220 lmtp.test LMTP", r_lmtp);
	c = client(&s, 1, 5);
	smtp_client_ehlo(c, record, NULL);
	smtp_client_cmd(c, record, NULL, "MAIL FROM:<a@x.test>");
	smtp_client_cmd(c, record, NULL, "RCPT TO:<b@y.test>");
	smtp_client_cmd(c, record, NULL, "RCPT TO:<c@y.test>");
	smtp_client_data(c, m, 2, record, NULL);
	run(7);
	EXPECT_STR("lhlo", "first line", srv_lines(&s),
	           "LHLO client.test\n"
	           "MAIL FROM:<a@x.test>\n"
	           "RCPT TO:<b@y.test>\n"
	           "RCPT TO:<c@y.test>\nDATA\n");
	EXPECT_INT("rcpt b", "code", recs[5].code, 250);
	EXPECT_INT("rcpt b", "index", recs[5].index, 0);
	EXPECT_INT("rcpt c", "code", recs[6].code, 452);
	EXPECT_INT("rcpt c", "index", recs[6].index, 1);
	EXPECT_STR("rcpt c", "text", recs[6].text, "4.2.2 <c@y.test> over quota");
	smtp_client_free(c);
	srv_stop(&s);
	UNIT_END();
}

static void
r_lmtp_half(struct srv *s, const char *line)
{
	if (strcmp(line, ".") == 0) {
		/* one recipient answered, then the server goes away */
		static const char r250[] = "250 2.1.5 <b@y.test> delivered\r\n";
		/* written at once (the 354 went out long ago), then closed */
		assert_int_equal(
		    send(bufferevent_getfd(s->bev), r250, sizeof(r250) - 1, 0),
		    (ssize_t)sizeof(r250) - 1);
		bufferevent_free(s->bev);
		s->bev = NULL;
		return;
	}
	r_esmtp(s, line);
}

static void
test_lmtp_lost_midway(void **state)
{
	struct srv s;
	struct smtp_client *c;
	struct evbuffer *m = evbuffer_new();
	struct timeval tv = {0, 300000};

	evbuffer_add_printf(m, "Subject: x\n\nbody\n");
	srv_start(&s, "220 lmtp.test LMTP", r_lmtp_half);
	c = client(&s, 1, 5);
	smtp_client_ehlo(c, record, NULL);
	smtp_client_cmd(c, record, NULL, "MAIL FROM:<a@x.test>");
	smtp_client_cmd(c, record, NULL, "RCPT TO:<b@y.test>");
	smtp_client_cmd(c, record, NULL, "RCPT TO:<c@y.test>");
	smtp_client_data(c, m, 2, record, NULL);
	run(7);
	/* no third answer for two recipients, even while the loop runs on */
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
	EXPECT_INT("lost", "callbacks", nrecs, 7);
	EXPECT_INT("rcpt b", "code", recs[5].code, 250);
	EXPECT_INT("rcpt b", "index", recs[5].index, 0);
	EXPECT_INT("rcpt c", "code", recs[6].code, 421);
	EXPECT_INT("rcpt c", "local", recs[6].local, 1);
	EXPECT_INT("rcpt c", "index", recs[6].index, 1);
	smtp_client_free(c);
	srv_stop(&s);
	UNIT_END();
}

static void
r_bad(struct srv *s, const char *line)
{
	char big[3000];

	if (strcmp(line, "NOOP long") == 0) {
		memset(big, 'x', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		say(s, big);
	} else if (strcmp(line, "NOOP mixed") == 0) {
		say(s, "250-one\r\n251 two");
	} else if (strcmp(line, "NOOP garbage") == 0) {
		say(s, "hello there");
	} else {
		r_esmtp(s, line);
	}
}

static void
test_bad_replies_are_local_failures(void **state)
{
	static const char *const cmds[] = {"NOOP long", "NOOP mixed", "NOOP garbage"};
	struct srv s;

	srv_start(&s, "220 srv.test", r_bad);
	for (size_t i = 0; i < NELEM(cmds); i++) {
		struct smtp_client *c = client(&s, 0, 5);
		smtp_client_cmd(c, record, NULL, "%s", cmds[i]);
		smtp_client_cmd(c, record, NULL, "NOOP after");
		run(3);
		EXPECT_INT(cmds[i], "code", recs[1].code, 421);
		EXPECT_INT(cmds[i], "local", recs[1].local, 1);
		EXPECT_INT(cmds[i], "dead", smtp_client_dead(c), 1);
		/* what was queued behind it hears the same */
		EXPECT_INT(cmds[i], "next code", recs[2].code, 421);
		EXPECT_INT(cmds[i], "next local", recs[2].local, 1);
		smtp_client_free(c);
		if (s.bev != NULL) {
			bufferevent_free(s.bev);
			s.bev = NULL;
		}
	}
	srv_stop(&s);
	UNIT_END();
}

static void
test_refused_and_timeout(void **state)
{
	struct srv s;
	struct smtp_client *c;
	struct timeval t0, t1;

	/* nobody listens: a port that is bound but not listening */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	socklen_t len = sizeof(s.sin);
	memset(&s, 0, sizeof(s));
	s.sin.sin_family = AF_INET;
	s.sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&s.sin, sizeof(s.sin)), 0);
	getsockname(fd, (struct sockaddr *)&s.sin, &len);
	c = client(&s, 0, 5);
	run(1);
	close(fd);
	EXPECT_INT("refused", "code", recs[0].code, 421);
	EXPECT_INT("refused", "local", recs[0].local, 1);
	EXPECT_INT("refused", "4.4.1", strstr(recs[0].text, "4.4.1") != NULL, 1);
	smtp_client_free(c);
	srv_start(&s, NULL, r_esmtp); /* accepts, never greets */
	gettimeofday(&t0, NULL);
	c = client(&s, 0, 1);
	run(1);
	gettimeofday(&t1, NULL);
	EXPECT_INT("timeout", "code", recs[0].code, 421);
	EXPECT_INT("timeout", "local", recs[0].local, 1);
	EXPECT_INT("timeout", "waited ~1 s", t1.tv_sec - t0.tv_sec <= 2, 1);
	smtp_client_free(c);
	srv_stop(&s);
	UNIT_END();
}

static void
r_shutdown(struct srv *s, const char *line)
{
	if (strcmp(line, "NOOP") == 0) {
		say(s, "250 ok");
		say(s, "421 4.3.2 shutting down"); /* RFC 5321 §3.8 */
		return;
	}
	r_esmtp(s, line);
}

static void
test_unsolicited_421_and_injection(void **state)
{
	struct srv s;
	struct smtp_client *c;

	srv_start(&s, "220 srv.test", r_shutdown);
	c = client(&s, 0, 5);
	/* a command with CR/LF never reaches the wire; the session goes on */
	smtp_client_cmd(c, record, NULL, "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>");
	smtp_client_cmd(c, record, NULL, "NOOP");
	run(3);
	EXPECT_INT("injection", "code", recs[1].code, 451);
	EXPECT_INT("injection", "local", recs[1].local, 1);
	EXPECT_INT("noop", "code", recs[2].code, 250);
	EXPECT_STR("lines", "sent", srv_lines(&s), "NOOP\n");
	smtp_client_cmd(c, record, NULL, "RSET");
	run(4);
	/* the server's own 421, not a local one */
	EXPECT_INT("after 421", "code", recs[3].code, 421);
	EXPECT_INT("after 421", "local", recs[3].local, 0);
	EXPECT_STR("after 421", "text", recs[3].text, "4.3.2 shutting down");
	smtp_client_free(c);
	srv_stop(&s);
	UNIT_END();
}

static void
free_in_cb(struct smtp_client *c, const struct smtp_reply *r, void *arg)
{
	smtp_client_free(c);
	record(c, r, arg);
}

static void
test_free_inside_callback(void **state)
{
	struct srv s;
	struct smtp_client *c;
	struct timeval tv = {0, 200000};

	srv_start(&s, "220 srv.test", r_esmtp);
	nrecs = 0;
	{
		struct smtp_client_opts o = {.helo = "client.test"};
		c = smtp_client_new(base, &o);
		smtp_client_connect(c, (struct sockaddr *)&s.sin, sizeof(s.sin),
		                    free_in_cb, NULL);
		smtp_client_cmd(c, record, NULL, "NOOP"); /* never called: freed */
	}
	run(1);
	/* let the loop run on: nothing may touch the freed client */
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
	EXPECT_INT("free", "callbacks", nrecs, 1);
	EXPECT_INT("free", "greeting", recs[0].code, 220);
	srv_stop(&s);
	UNIT_END();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_greeting_and_extensions),
	    cmocka_unit_test(test_helo_fallback),
	    cmocka_unit_test(test_pipelining_sends_the_group),
	    cmocka_unit_test(test_no_pipelining_one_at_a_time),
	    cmocka_unit_test(test_pipelined_data_with_every_recipient_refused),
	    cmocka_unit_test(test_data_dot_stuffing_and_crlf),
	    cmocka_unit_test(test_data_large_message),
	    cmocka_unit_test(test_data_from_file),
	    cmocka_unit_test(test_data_clean_text_moved),
	    cmocka_unit_test(test_lmtp_reply_per_recipient),
	    cmocka_unit_test(test_lmtp_lost_midway),
	    cmocka_unit_test(test_bad_replies_are_local_failures),
	    cmocka_unit_test(test_refused_and_timeout),
	    cmocka_unit_test(test_unsolicited_421_and_injection),
	    cmocka_unit_test(test_free_inside_callback),
	    cmocka_unit_test(test_auth_secret_written),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
