/* SPDX-License-Identifier: ISC */
/*
 * session_tls.c - STARTTLS (RFC 3207) and implicit TLS (RFC 8314) for a
 * session, through libevent's bufferevent_openssl.
 *
 * SECURITY: STARTTLS command injection (CVE-2011-0411): whatever a client
 * pipelined after STARTTLS arrived in plaintext and is discarded, unread;
 * after the handshake the session forgets HELO, MAIL and RCPT (RFC 3207
 * §4.2), so nothing said in the clear carries into the protected session.
 */
#include <stdio.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/ssl.h>

#include "common/log.h"
#include "conf/conf.h"
#include "smtp/session_int.h"
#include "smtp/smtpd.h"
#include "smtp/tls.h"

int
starttls_offered(const struct session *s)
{
	/* not on the local socket: nothing there to protect from */
	return s->sd->tls_ctx != NULL && !(s->flags & F_TLS) &&
	       s->lc->role != ROLE_SMTPS && s->lc->role != ROLE_LOCAL;
}

/* tls_bev - a TLS server bufferevent on fd; NULL if OpenSSL cannot */
static struct bufferevent *
tls_bev(struct session *s, int fd)
{
	SSL *ssl = SSL_new(s->sd->tls_ctx);
	struct bufferevent *bev;

	if (ssl == NULL)
		return NULL;
	bev = bufferevent_openssl_socket_new(
	    s->sd->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		SSL_free(ssl);
		return NULL;
	}
	/* A client that just closes the TCP connection is not an error. */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

/* tls_begin - the session's socket fd goes under TLS: the handshake starts */
static void
tls_begin(struct session *s, int fd)
{
	struct bufferevent *bev = tls_bev(s, fd);

	if (bev == NULL) {
		log_warnx("smtp tls sid=%s: cannot set up TLS", s->sid);
		session_install_bev(
		    s, bufferevent_socket_new(s->sd->base, fd, BEV_OPT_CLOSE_ON_FREE));
		session_close(s, "TLS setup failed");
		return;
	}
	s->flags |= F_HANDSHAKE;
	session_install_bev(s, bev);
}

void
tls_start_implicit(struct session *s, int fd)
{
	tls_begin(s, fd);
}

/* starttls_flushed - the 220 is out: move the socket under TLS */
static void
starttls_flushed(struct bufferevent *old, void *arg)
{
	struct session *s = arg;
	evutil_socket_t fd = bufferevent_getfd(old);

	/* Detach the socket, so freeing the plaintext side keeps it open. */
	bufferevent_setfd(old, -1);
	bufferevent_free(old);
	tls_begin(s, fd);
}

void
cmd_starttls(struct session *s, enum smtp_verb v, const char *arg, size_t len)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	size_t junk;

	if (s->flags & F_TLS) {
		session_refuse(s, "command", "bad-sequence", NULL, 503, "5.5.1",
		               "Error: TLS already active");
		client_error(s);
		return;
	}
	if (!starttls_offered(s)) {
		session_refuse(s, "command", "not-implemented", NULL, 502, "5.5.1",
		               "Error: STARTTLS command not implemented");
		client_error(s);
		return;
	}
	reply(s, 220, "2.0.0", "Ready to start TLS");
	if ((junk = evbuffer_get_length(in)) > 0) {
		evbuffer_drain(in, junk);
		log_info("smtp starttls sid=%s client=%s: discarded %zu octets pipelined "
		         "after STARTTLS",
		         s->sid, s->peer_str, junk);
	}
	s->wait = W_STARTTLS;
	bufferevent_disable(s->bev, EV_READ);
	bufferevent_setcb(s->bev, NULL, starttls_flushed, session_event_cb, s);
}

void
tls_established(struct session *s)
{
	SSL *ssl = bufferevent_openssl_get_ssl(s->bev);
	const char *sni = NULL;

	s->flags &= ~F_HANDSHAKE;
	s->flags |= F_TLS;
	if (ssl != NULL) {
		tls_describe(ssl, s->tls_info, sizeof(s->tls_info));
		sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	}
	/* The name the client asked for says which certificate it got
	 * (tls_sni.c); it is the client's text, escaped. */
	if (sni != NULL)
		log_info("smtp tls sid=%s client=%s:%d tls=\"%s\" sni=%s", s->sid,
		         s->peer_str, s->peer_port, s->tls_info, log_escape_str(sni));
	else
		log_info("smtp tls sid=%s client=%s:%d tls=\"%s\"", s->sid, s->peer_str,
		         s->peer_port, s->tls_info);
	session_sig_tls(s, sni);
	if (s->state == S_CONNECT) {
		tls_greet_ready(s); /* implicit TLS: greet once screened */
		return;
	}
	/* RFC 3207 §4.2: discard all knowledge obtained before TLS. */
	tx_reset(s);
	free(s->helo);
	s->helo = NULL;
	s->flags &= ~(F_ESMTP | F_PIPE_WARNED);
	session_enter(s, S_HELO);
	session_resume(s);
}
