/* SPDX-License-Identifier: ISC */
/*
 * client.c - asynchronous SMTP/LMTP client (see client.h for the API).
 *
 * The queue holds every command not yet answered; the first `inflight` of
 * them are on the wire. pump() runs from the event loop only (an API call
 * schedules it), so callbacks never run inside the caller's own call.
 * Replies complete the head of the queue. A local failure marks the client
 * dead; flush then completes every queued command with the failure reply.
 * Here: the life cycle, sending, replies and TLS. Commands are queued by
 * client_cmds.c (shared internals in client_int.h), replies are parsed by
 * client_reply.c, the message is encoded by client_body.c.
 * A secret line (AUTH) is never copied into libevent's buffers: they free
 * what they have written without clearing it. It is written from a copy of
 * our own, added by reference (evbuffer_add_reference), which libevent
 * hands back once written, or dropped with the connection, and which is
 * zeroed then (secret_written()). evbuffer_add_buffer() moves that
 * reference into the bufferevent unchanged, and the TLS bufferevent gives
 * it to SSL_write() where it lies (evbuffer_peek), so no other copy of the
 * plain text is made on our side of OpenSSL.
 * SECURITY: the server's replies are untrusted network input, parsed within
 * hard bounds by client_reply.c (lines measured before they are copied,
 * lines per reply and text capped, control bytes replaced). A malformed or
 * unsolicited reply is a local failure of this connection only.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "smtp/client.h"
#include "smtp/client_body.h"
#include "smtp/client_int.h"
#include "smtp/client_reply.h"

#define BODY_HIGHWATER (4 * SMTP_BODY_CHUNK)

static void pump(struct smtp_client *c);
static void client_fail(struct smtp_client *c, const struct smtp_reply *r);

static size_t secrets_held; /* secret lines in output buffers, all clients */

size_t
smtp_client_secrets_held(void)
{
	return secrets_held;
}

/* secret_written - libevent is done with a secret line: written, drained or
 * freed with its buffer */
static void
secret_written(const void *data, size_t len, void *arg)
{
	explicit_bzero((void *)data, len);
	free((void *)data);
	secrets_held--;
}

/* out_add_secret - line and CRLF into c->out, by reference to a copy that
 * secret_written() clears; 0, or -1 (nothing added) */
static int
out_add_secret(struct smtp_client *c, const char *line)
{
	size_t n = strlen(line);
	char *copy = xmalloc(n + 2);

	memcpy(copy, line, n);
	memcpy(copy + n, "\r\n", 2);
	secrets_held++;
	if (evbuffer_add_reference(c->out, copy, n + 2, secret_written, NULL) == -1) {
		secret_written(copy, n + 2, NULL);
		return -1;
	}
	return 0;
}

/* client_make_reply - a synthesized reply flagged local */
void __attribute__((format(printf, 3, 4)))
client_make_reply(struct smtp_reply *r, int code, const char *fmt, ...)
{
	va_list ap;

	memset(r, 0, sizeof(*r));
	r->code = code;
	r->local = 1;
	r->nlines = 1;
	va_start(ap, fmt);
	vsnprintf(r->text, sizeof(r->text), fmt, ap);
	va_end(ap);
}

/* fail_local - a local failure: synthesize a 4xx and fail the connection */
static void __attribute__((format(printf, 3, 4)))
fail_local(struct smtp_client *c, int code, const char *fmt, ...)
{
	struct smtp_reply r;
	va_list ap;

	memset(&r, 0, sizeof(r));
	r.code = code;
	r.local = 1;
	r.nlines = 1;
	va_start(ap, fmt);
	vsnprintf(r.text, sizeof(r.text), fmt, ap);
	va_end(ap);
	client_fail(c, &r);
}

/* client_kick - run pump() (or flush()) from the loop, soon */
void
client_kick(struct smtp_client *c)
{
	struct timeval tv = {0, 0};

	if (!c->freeing)
		evtimer_add(c->kick, &tv);
}

static void
arm_timer(struct smtp_client *c)
{
	struct item *h = TAILQ_FIRST(&c->queue);
	struct timeval tv = {0, 0};

	if (h == NULL || !h->sent) {
		evtimer_del(c->timer);
		return;
	}
	if (h->kind == I_CONNECT)
		tv.tv_sec = c->opts.connect_timeout;
	else if (h->kind == I_BODY)
		tv.tv_sec = c->opts.data_timeout;
	else
		tv.tv_sec = c->opts.command_timeout;
	evtimer_add(c->timer, &tv);
}

static void
item_free(struct item *it)
{
	if (it->secret)
		explicit_bzero(it->line, sizeof(it->line));
	if (it->msg != NULL)
		evbuffer_free(it->msg);
	if (it->has_fd)
		close(it->fd);
	free(it);
}

static void
really_free(struct smtp_client *c)
{
	struct item *it;

	while ((it = TAILQ_FIRST(&c->queue)) != NULL) {
		TAILQ_REMOVE(&c->queue, it, entry);
		item_free(it);
	}
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	smtp_body_free(&c->body);
	evbuffer_free(c->out);
	event_free(c->timer);
	event_free(c->kick);
	free(c);
}

/* enter/leave - guard every entry from the loop so callbacks may free c */
static void
enter(struct smtp_client *c)
{
	c->busy++;
}

static int
leave(struct smtp_client *c)
{
	if (--c->busy == 0 && c->freeing) {
		really_free(c);
		return -1;
	}
	return 0;
}

/* complete - give the head item its reply; returns -1 if c went away */
static int
complete(struct smtp_client *c, struct item *it, const struct smtp_reply *r, int last)
{
	smtp_client_cb cb = it->cb;
	void *arg = it->arg;

	if (last) {
		TAILQ_REMOVE(&c->queue, it, entry);
		if (it->sent && c->inflight > 0)
			c->inflight--;
		item_free(it);
	}
	if (cb != NULL && !c->freeing)
		cb(c, r, arg);
	return c->freeing ? -1 : 0;
}

/* flush - a dead client answers every queued command with its failure */
static void
flush(struct smtp_client *c)
{
	struct item *it;

	while (!c->freeing && (it = TAILQ_FIRST(&c->queue)) != NULL) {
		/* LMTP: each recipient not yet answered hears the failure once. */
		size_t n = it->kind == I_BODY || it->kind == I_DATA
		               ? it->nreplies - it->ngot
		               : 1;
		size_t i;

		for (i = 0; i + 1 < n && !c->freeing; i++) {
			struct smtp_reply r = c->dead_reply;
			r.index = (int)(it->ngot + i);
			if (it->cb != NULL)
				it->cb(c, &r, it->arg);
		}
		if (!c->freeing) {
			struct smtp_reply r = c->dead_reply;
			r.index = (int)(it->ngot + (n > 0 ? n - 1 : 0));
			complete(c, it, &r, 1);
		}
	}
}

static void
client_fail(struct smtp_client *c, const struct smtp_reply *r)
{
	char vis[LOG_ESCAPE_BUFSZ];

	if (c->dead)
		return;
	c->dead = 1;
	c->dead_reply = *r;
	log_debug("smtp-client fail code=%d reply=%s", r->code,
	          log_escape(vis, sizeof(vis), r->text, strlen(r->text)));
	if (c->bev != NULL) {
		bufferevent_free(c->bev);
		c->bev = NULL;
	}
	evbuffer_drain(c->out, evbuffer_get_length(c->out));
	evtimer_del(c->timer);
	client_kick(c);
}

/* ---- extensions from the last EHLO (RFC 5321 §4.1.1.1) ---- */

int
smtp_client_pipelining(const struct smtp_client *c)
{
	return c->pipelining;
}

int
smtp_client_has_ext(const struct smtp_client *c, const char *kw)
{
	return smtp_client_ext_param(c, kw) != NULL;
}

const char *
smtp_client_ext_param(const struct smtp_client *c, const char *kw)
{
	return smtp_ext_find(c->exts, c->nexts, kw);
}

long long
smtp_client_size(const struct smtp_client *c)
{
	return smtp_ext_size(c->exts, c->nexts);
}

int
smtp_client_tls(const struct smtp_client *c)
{
	return c->tls;
}

SSL *
smtp_client_ssl(const struct smtp_client *c)
{
	if (!c->tls)
		return NULL;
	return bufferevent_openssl_get_ssl(c->bev);
}

int
smtp_client_dead(const struct smtp_client *c)
{
	return c->dead;
}

/* ---- message body (client_body.c encodes it) ---- */

/* body_fill - more of the message into c->out, while the connection has
 * less than BODY_HIGHWATER octets to send */
static void
body_fill(struct smtp_client *c)
{
	size_t queued = evbuffer_get_length(bufferevent_get_output(c->bev));

	/* A message that cannot be read to its end must not get its final
	 * dot: the connection goes, and the server drops what it has. */
	if (queued < BODY_HIGHWATER &&
	    smtp_body_fill(&c->body, c->out, BODY_HIGHWATER - queued) == -1)
		fail_local(c, 421, "4.3.0 local: cannot read the message: %s",
		           strerror(errno));
}

/* ---- sending ---- */

/*
 * out_flush - hand what this turn produced (c->out) to the connection. On
 * plain TCP with nothing queued in the bufferevent it is written at once:
 * through the bufferevent every write costs two epoll_ctl calls (write event
 * on, then off again) and a turn of the loop, and a message takes two or
 * three writes. A body longer than the socket takes goes on through the
 * bufferevent's write callback (the low-water mark), as does everything on
 * TLS.
 */
static void
out_flush(struct smtp_client *c)
{
	struct evbuffer *o;

	if (c->bev == NULL) {
		evbuffer_drain(c->out, evbuffer_get_length(c->out));
		return;
	}
	o = bufferevent_get_output(c->bev);
	while (evbuffer_get_length(c->out) > 0 && evbuffer_get_length(o) == 0 &&
	       c->connected && !c->tls && !c->tls_handshake) {
		if (evbuffer_write(c->out, bufferevent_getfd(c->bev)) <= 0 ||
		    evbuffer_get_length(c->out) > 0)
			break; /* the socket is full (or failed): the bufferevent
			        * waits for it and reports an error */
		if (c->body.msg != NULL && !c->body.done) {
			body_fill(c);
			if (c->dead)
				return;
		}
	}
	if (evbuffer_get_length(c->out) > 0)
		evbuffer_add_buffer(o, c->out);
}

static void
send_item(struct smtp_client *c, struct item *it)
{
	char vis[LOG_ESCAPE_BUFSZ];

	it->sent = 1;
	c->inflight++;
	if (it->secret) {
		char shown[SMTP_CLIENT_CMD_MAX + 16];
		int rc = out_add_secret(c, it->line);
		snprintf(shown, sizeof(shown), "%.*s[secret]", (int)it->shown, it->line);
		log_debug("smtp-client send line=%s",
		          log_escape(vis, sizeof(vis), shown, strlen(shown)));
		explicit_bzero(it->line, sizeof(it->line));
		if (rc == -1)
			fail_local(c, 421, "4.3.0 local: out of memory");
		return;
	}
	evbuffer_add(c->out, it->line, strlen(it->line));
	evbuffer_add(c->out, "\r\n", 2);
	log_debug("smtp-client send line=%s",
	          log_escape(vis, sizeof(vis), it->line, strlen(it->line)));
}

static void
pump(struct smtp_client *c)
{
	struct item *it, *h;
	int sync_inflight = 0;
	size_t before = c->inflight;

	if (c->dead) {
		flush(c);
		return;
	}
	if (c->bev == NULL || !c->connected || c->tls_handshake)
		return;
	/* A local answer at the head, with nothing on the wire, completes now. */
	while ((h = TAILQ_FIRST(&c->queue)) != NULL && h->kind == I_LOCAL) {
		struct smtp_reply r = h->local;
		if (complete(c, h, &r, 1) < 0 || c->dead)
			return;
	}
	TAILQ_FOREACH(it, &c->queue, entry)
	{
		if (it->sent) {
			/* RFC 2920 §3.1: the message content may be the first
			 * command of a group: once its final dot is out, the next
			 * transaction's commands may follow it (SMTP; an LMTP
			 * server's replies to the dot are per recipient). */
			if (!(it->kind == I_BODY && c->body.done && !c->opts.lmtp))
				sync_inflight |= it->sync;
			continue;
		}
		if (it->kind == I_LOCAL)
			break; /* answered in order once everything before it is */
		if (c->inflight > 0 && (!c->pipelining || sync_inflight))
			break;
		send_item(c, it);
		if (c->dead)
			return; /* flush() runs from the loop (kick) */
		sync_inflight |= it->sync;
	}
	if (before == 0 && c->inflight > 0)
		arm_timer(c);
	out_flush(c);
}

static void
kick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_client *c = arg;

	enter(c);
	pump(c);
	leave(c);
}

/* ---- TLS (RFC 3207) ---- */

static void read_cb(struct bufferevent *bev, void *arg);
static void write_cb(struct bufferevent *bev, void *arg);
static void event_cb(struct bufferevent *bev, short what, void *arg);

static void
tls_start(struct smtp_client *c, const char *servername)
{
	struct bufferevent *tbev;
	SSL *ssl;

	/*
	 * Anything the server sent after its 220 arrived in plaintext and could
	 * be injected by a man in the middle (CVE-2011-0411 style): drop it.
	 */
	evbuffer_drain(bufferevent_get_input(c->bev),
	               evbuffer_get_length(bufferevent_get_input(c->bev)));
	if (c->opts.ssl_ctx == NULL) {
		fail_local(c, 454, "4.7.0 local: TLS not available");
		return;
	}
	if ((ssl = SSL_new(c->opts.ssl_ctx)) == NULL) {
		fail_local(c, 454, "4.7.0 local: SSL_new failed");
		return;
	}
	if (servername[0] != '\0') {
		SSL_set_tlsext_host_name(ssl, servername);
		SSL_set1_host(ssl, servername);
	}
	if (c->opts.ssl_setup != NULL &&
	    c->opts.ssl_setup(ssl, c->opts.ssl_setup_arg) == -1) {
		SSL_free(ssl);
		fail_local(c, 454, "4.7.0 local: TLS policy setup failed");
		return;
	}
	/*
	 * A filter over the plain bufferevent, which reads the server's
	 * replies a buffer at a time (TLS on the socket itself reads each
	 * record in two calls, and each reply is a record). The filter encrypts
	 * into the plain side's output only up to that side's high-water mark:
	 * without one it took all the body there was, so a 10 MiB message sat
	 * encrypted in memory while the socket took it, and the output the
	 * body is measured by (body_fill()) was always empty.
	 */
	bufferevent_setwatermark(c->bev, EV_WRITE, SMTP_BODY_CHUNK, BODY_HIGHWATER);
	tbev = bufferevent_openssl_filter_new(
	    c->base, c->bev, ssl, BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	if (tbev == NULL) {
		SSL_free(ssl);
		fail_local(c, 454, "4.7.0 local: TLS setup failed");
		return;
	}
	c->bev = tbev;
	c->tls_handshake = 1;
	bufferevent_setcb(tbev, read_cb, write_cb, event_cb, c);
	bufferevent_setwatermark(tbev, EV_WRITE, SMTP_BODY_CHUNK, 0);
	bufferevent_enable(tbev, EV_READ | EV_WRITE);
	arm_timer(c);
}

/* ---- replies ---- */

/* dispatch - one whole reply from the server */
static void
dispatch(struct smtp_client *c, struct smtp_reply *r)
{
	struct item *h = TAILQ_FIRST(&c->queue);
	char vis[LOG_ESCAPE_BUFSZ];
	size_t n;

	log_debug("smtp-client reply code=%d text=%s", r->code,
	          log_escape(vis, sizeof(vis), r->text, strlen(r->text)));
	if (h == NULL || !h->sent) {
		/* RFC 5321 §3.8: a server may say 421 at any time before closing. */
		if (r->code == 421) {
			client_fail(c, r);
			return;
		}
		fail_local(c, 421, "4.5.0 local: unexpected reply %d from server",
		           r->code);
		return;
	}
	switch (h->kind) {
	case I_CONNECT:
		complete(c, h, r, 1);
		return;
	case I_EHLO:
		if (r->code / 100 == 5 && !c->opts.lmtp) {
			/* RFC 5321 §3.2: fall back to HELO; the caller sees HELO's reply.
			 */
			char text[300];
			snprintf(text, sizeof(text), "HELO %s", c->helo);
			strlcpy(h->line, text, sizeof(h->line));
			h->kind = I_HELO;
			c->inflight--;
			send_item(c, h);
			arm_timer(c);
			return;
		}
		if (r->code == 250) {
			c->nexts = smtp_reply_ehlo(r, c->exts, SMTP_CLIENT_EXT_MAX);
			c->pipelining = smtp_client_has_ext(c, "PIPELINING");
		}
		complete(c, h, r, 1);
		return;
	case I_STARTTLS:
		if (r->code == 220) {
			h->local = *r;
			tls_start(c, h->servername);
			return;
		}
		complete(c, h, r, 1);
		return;
	case I_DATA:
		if (r->code == 354) {
			h->kind = I_BODY;
			if (h->has_fd) {
				smtp_body_start_file(&c->body, h->msg, h->fd, h->off,
				                     h->len);
				h->has_fd = 0;
			} else {
				smtp_body_start(&c->body, h->msg);
			}
			h->msg = NULL;
			body_fill(c);
			if (c->dead)
				return;
			arm_timer(c);
			if (h->sending != NULL)
				h->sending(c, r, h->arg);
			return;
		}
		/* DATA refused: every recipient (LMTP) hears the same. */
		n = h->nreplies;
		for (size_t i = 0; i < n; i++) {
			r->index = (int)i;
			if (complete(c, h, r, i + 1 == n) < 0)
				return;
		}
		return;
	case I_BODY: {
		int early = !c->body.done;
		r->index = (int)h->ngot;
		h->ngot++;
		if (complete(c, h, r, early || h->ngot >= h->nreplies) < 0)
			return;
		if (early) /* a reply before our final dot: the state is unknown */
			fail_local(c, 421, "4.5.0 local: reply before end of data");
		return;
	}
	default:
		complete(c, h, r, 1);
		return;
	}
}

static void
read_cb(struct bufferevent *bev, void *arg)
{
	struct smtp_client *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	enter(c);
	while (!c->dead && !c->freeing && !c->tls_handshake && c->bev == bev) {
		struct smtp_reply r;
		enum smtp_reply_status rs = smtp_reply_read(&c->reader, in, &r);

		if (rs == SMTP_REPLY_MORE)
			break;
		if (rs == SMTP_REPLY_TOO_LONG) {
			fail_local(c, 421, "4.5.0 local: reply line too long");
			break;
		}
		if (rs == SMTP_REPLY_MALFORMED) {
			fail_local(c, 421, "4.5.0 local: malformed reply from server");
			break;
		}
		dispatch(c, &r);
		if (!c->dead && !c->freeing && !c->tls_handshake) {
			arm_timer(c); /* the next reply has its own time */
			pump(c);
		}
	}
	if (c->dead && !c->freeing)
		flush(c);
	leave(c);
}

static void
write_cb(struct bufferevent *bev, void *arg)
{
	struct smtp_client *c = arg;

	enter(c);
	if (c->body.msg != NULL && !c->body.done && !c->dead) {
		body_fill(c);
		if (c->dead) {
			leave(c);
			return;
		}
		out_flush(c);
		arm_timer(c); /* progress: the data timeout starts over */
		if (c->body.done)
			pump(c); /* what waited for the final dot may go now */
	}
	leave(c);
}

static void
event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct smtp_client *c = arg;

	enter(c);
	if (what & BEV_EVENT_CONNECTED) {
		if (c->tls_handshake) {
			struct item *h = TAILQ_FIRST(&c->queue);
			c->tls_handshake = 0;
			c->tls = 1;
			c->nexts =
			    0; /* RFC 3207 §4.2: forget what was said in plaintext */
			c->pipelining = 0;
			if (h != NULL && h->kind == I_STARTTLS) {
				struct smtp_reply r = h->local;
				complete(c, h, &r, 1);
			}
		} else {
			c->connected = 1;
			/* SMTPS: the greeting comes inside TLS (RFC 8314 §3.3) */
			if (c->opts.implicit_tls)
				tls_start(c, c->servername);
		}
		if (!c->freeing && !c->dead)
			pump(c);
	} else if (what & BEV_EVENT_ERROR) {
		unsigned long e =
		    c->tls || c->tls_handshake ? bufferevent_get_openssl_error(bev) : 0;
		if (e != 0) {
			char buf[256];
			ERR_error_string_n(e, buf, sizeof(buf));
			fail_local(c, 454, "4.7.0 local: TLS failed: %s", buf);
		} else if (c->tls_handshake) {
			fail_local(c, 454, "4.7.0 local: TLS handshake failed");
		} else if (!c->connected) {
			fail_local(c, 421, "4.4.1 local: connect failed: %s",
			           strerror(EVUTIL_SOCKET_ERROR()));
		} else {
			fail_local(c, 421, "4.4.2 local: connection error: %s",
			           strerror(EVUTIL_SOCKET_ERROR()));
		}
	} else if (what & BEV_EVENT_EOF) {
		if (TAILQ_EMPTY(&c->queue)) {
			c->dead = 1;
			client_make_reply(&c->dead_reply, 421,
			                  "4.4.2 local: connection closed");
			bufferevent_free(c->bev);
			c->bev = NULL;
		} else {
			fail_local(c, 421, "4.4.2 local: connection closed by server");
		}
	}
	if (c->dead && !c->freeing)
		flush(c);
	leave(c);
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_client *c = arg;
	struct item *h = TAILQ_FIRST(&c->queue);

	enter(c);
	if (c->tls_handshake)
		fail_local(c, 454, "4.7.0 local: timeout in TLS handshake");
	else if (h != NULL && h->kind == I_CONNECT)
		fail_local(c, 421,
		           "4.4.1 local: timeout connecting or waiting for greeting");
	else
		fail_local(c, 421, "4.4.2 local: timeout waiting for reply");
	flush(c);
	leave(c);
}

/* ---- life cycle ---- */

struct smtp_client *
smtp_client_new(struct event_base *base, const struct smtp_client_opts *opts)
{
	struct smtp_client *c = xcalloc(1, sizeof(*c));

	c->base = base;
	c->opts = *opts;
	strlcpy(c->helo, opts->helo != NULL ? opts->helo : "localhost", sizeof(c->helo));
	c->opts.helo = c->helo;
	if (opts->servername != NULL)
		strlcpy(c->servername, opts->servername, sizeof(c->servername));
	c->opts.servername = c->servername;
	if (opts->bind_addr != NULL && opts->bind_len <= sizeof(c->bind_ss)) {
		memcpy(&c->bind_ss, opts->bind_addr, opts->bind_len);
		c->opts.bind_addr = (struct sockaddr *)&c->bind_ss;
	} else {
		c->opts.bind_addr = NULL;
	}
	if (c->opts.connect_timeout <= 0)
		c->opts.connect_timeout = 300;
	if (c->opts.command_timeout <= 0)
		c->opts.command_timeout = 300;
	if (c->opts.data_timeout <= 0)
		c->opts.data_timeout = 600;
	c->out = evbuffer_new();
	if (c->out == NULL)
		fatal("smtp-client: evbuffer_new");
	c->timer = evtimer_new(base, timer_cb, c);
	c->kick = evtimer_new(base, kick_cb, c);
	TAILQ_INIT(&c->queue);
	return c;
}

void
smtp_client_free(struct smtp_client *c)
{
	if (c == NULL)
		return;
	if (c->busy > 0) {
		c->freeing = 1;
		evtimer_del(c->kick);
		evtimer_del(c->timer);
		if (c->bev != NULL)
			bufferevent_disable(c->bev, EV_READ | EV_WRITE);
		return;
	}
	really_free(c);
}

void
smtp_client_connect(struct smtp_client *c, const struct sockaddr *sa, socklen_t len,
                    smtp_client_cb cb, void *arg)
{
	struct item *it = client_item_new(c, I_CONNECT, cb, arg);
	evutil_socket_t fd = -1;

	it->sent = 1;
	c->inflight = 1;
	if (c->bev != NULL || c->dead) {
		fail_local(c, 421, "4.3.0 local: client already used");
		return;
	}
	if (c->opts.bind_addr != NULL) {
		fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0 || bind(fd, c->opts.bind_addr, c->opts.bind_len) < 0) {
			int e = errno;
			if (fd >= 0)
				close(fd);
			fail_local(c, 421, "4.4.1 local: bind source address: %s",
			           strerror(e));
			return;
		}
	}
	c->bev = bufferevent_socket_new(c->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		if (fd >= 0)
			close(fd);
		fail_local(c, 421, "4.3.0 local: cannot create socket");
		return;
	}
	bufferevent_setcb(c->bev, read_cb, write_cb, event_cb, c);
	bufferevent_setwatermark(c->bev, EV_WRITE, SMTP_BODY_CHUNK, 0);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	arm_timer(c);
	if (bufferevent_socket_connect(c->bev, sa, (int)len) < 0) {
		fail_local(c, 421, "4.4.1 local: connect failed: %s", strerror(errno));
		return;
	}
	if (sa->sa_family == AF_INET || sa->sa_family == AF_INET6) {
		/* Commands go out whole; Nagle would only hold one behind an
		 * unacknowledged TLS record (see session_start()). */
		int one = 1;
		(void)setsockopt(bufferevent_getfd(c->bev), IPPROTO_TCP, TCP_NODELAY,
		                 &one, sizeof(one));
	}
}
