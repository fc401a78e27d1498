/* SPDX-License-Identifier: ISC */
/*
 * client.h - asynchronous SMTP/LMTP client on libevent, shared by delivery
 * and moat-probe.
 *
 * One struct smtp_client per connection. Commands are queued in a FIFO, each
 * with its own completion callback; replies are matched to commands in
 * order. With PIPELINING (RFC 2920) commands go out back-to-back up to the
 * next command that must end a group; otherwise one at a time. Every failure
 * on our side (refused, timeout, reset, TLS, an over-long reply) reaches the
 * callbacks of all pending commands as a synthesized 4xx reply with
 * r->local set, and the client is dead from then on: later commands get
 * that same reply. Callbacks may queue more commands or free the client.
 * The program ignores SIGPIPE: a peer that resets mid-write is a local
 * failure of that connection, not a signal that ends the process.
 * SECURITY: replies are untrusted network input: a line is measured in the
 * input buffer before it is copied (SMTP_CLIENT_LINE_MAX), a reply holds at
 * most SMTP_CLIENT_REPLY_LINES lines and SMTP_CLIENT_TEXT_MAX octets, and a
 * malformed reply is a local 4xx failure, never fatal().
 */
#ifndef MOAT_SMTP_CLIENT_H
#define MOAT_SMTP_CLIENT_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

struct event_base;
struct evbuffer;
struct smtp_client;
typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

#define SMTP_CLIENT_LINE_MAX    2048 /* octets in a reply line (RFC 5321 says 512) */
#define SMTP_CLIENT_REPLY_LINES 64   /* lines in one multi-line reply */
#define SMTP_CLIENT_TEXT_MAX    4096 /* octets of reply text kept */
#define SMTP_CLIENT_CMD_MAX     1024 /* octets in a command we send, CRLF excluded */
#define SMTP_CLIENT_EXT_MAX     32   /* EHLO keywords kept */

struct smtp_reply {
	int code;  /* 200..599 */
	int local; /* 1: made up here (connect, timeout, reset, TLS, protocol) */
	int index; /* LMTP DATA: which accepted recipient (0..n-1); else 0 */
	size_t nlines;
	/* The lines without their "ddd-" prefixes, joined by '\n'. */
	char text[SMTP_CLIENT_TEXT_MAX];
};

typedef void (*smtp_client_cb)(struct smtp_client *c, const struct smtp_reply *r,
                               void *arg);

struct smtp_client_opts {
	const char *helo; /* EHLO/HELO/LHLO argument (copied) */
	int lmtp;         /* RFC 2033: LHLO, one DATA reply per recipient */
	const struct sockaddr *bind_addr; /* optional source address */
	socklen_t bind_len;
	int connect_timeout; /* seconds for TCP connect + greeting; 0: 300 */
	int command_timeout; /* seconds per reply; 0: 300 (RFC 5321 §4.5.3.2) */
	int data_timeout;    /* seconds for the body and final reply; 0: 600 */
	SSL_CTX *ssl_ctx;    /* for STARTTLS; NULL: STARTTLS gives a local 454 */
	/*
	 * Called with each new SSL before its handshake, after the SNI name is
	 * set: where a delivery's TLS policy puts its reference names, CA store
	 * or DANE records (SSL_set1_host, SSL_dane_enable, ...). -1 fails the
	 * STARTTLS with a local 454. Optional.
	 */
	int (*ssl_setup)(SSL *ssl, void *arg);
	void *ssl_setup_arg;
	/*
	 * TLS from the first byte (SMTPS, RFC 8314 §3.3): the handshake runs
	 * right after the TCP connect, before the greeting is read, with
	 * servername (may be NULL) as SNI and reference name, as STARTTLS does.
	 * A failed handshake is the connect's local 454.
	 */
	int implicit_tls;
	const char *servername; /* copied */
};

/* smtp_client_new - a client that is not connected yet; never NULL */
struct smtp_client *smtp_client_new(struct event_base *base,
                                    const struct smtp_client_opts *opts);
/*
 * smtp_client_free - close and free; callbacks of commands still pending are
 * not called. Safe inside a callback of this client.
 */
void smtp_client_free(struct smtp_client *c);

/* smtp_client_connect - start connecting; cb gets the greeting (220) or a failure */
void smtp_client_connect(struct smtp_client *c, const struct sockaddr *sa, socklen_t len,
                         smtp_client_cb cb, void *arg);

/*
 * smtp_client_cmd_secret - a command that carries a secret (AUTH and its
 * responses, RFC 4954): as smtp_client_cmd(), but the debug log shows only
 * its first shown octets (the verb and mechanism, say), the line is zeroed
 * once sent, and the copy the connection writes from is zeroed and freed
 * as soon as it is written (or the connection goes)
 */
void smtp_client_cmd_secret(struct smtp_client *c, smtp_client_cb cb, void *arg,
                            size_t shown, const char *line);
/* smtp_client_secrets_held - secret lines waiting to be written, in every
 * client of the process (0 once each is written: for the tests) */
size_t smtp_client_secrets_held(void);

/*
 * smtp_client_ehlo - EHLO (LHLO in LMTP mode); on a 5xx EHLO reply the client
 * falls back to HELO by itself and cb gets the HELO reply. On 250 the
 * extension list is recorded (see smtp_client_has_ext()).
 */
void smtp_client_ehlo(struct smtp_client *c, smtp_client_cb cb, void *arg);

/* smtp_client_cmd - one command line, printf-style, without CRLF */
void smtp_client_cmd(struct smtp_client *c, smtp_client_cb cb, void *arg, const char *fmt,
                     ...) __attribute__((format(printf, 4, 5)));

/*
 * smtp_client_data - DATA, then on 354 the message from msg (taken over and
 * freed), converted to CRLF line ends, dot-stuffed and ended with ".".
 * cb gets the final reply; in LMTP mode it is called nrcpt times (the number
 * of recipients the server accepted, r->index counting), also when DATA
 * itself is refused.
 */
void smtp_client_data(struct smtp_client *c, struct evbuffer *msg, size_t nrcpt,
                      smtp_client_cb cb, void *arg);
/*
 * smtp_client_data_file - smtp_client_data() with the message read from fd
 * (taken over, closed when done), len octets from off, a piece at a time
 * as the connection takes them: a large message never sits whole in
 * memory. Should a read fail midway, the connection fails (a local 421)
 * before the final dot, so the server drops what it got.
 */
void smtp_client_data_file(struct smtp_client *c, int fd, off_t off, size_t len,
                           size_t nrcpt, smtp_client_cb cb, void *arg);
/*
 * smtp_client_data_sending - the DATA just queued also calls sending (with
 * its arg and the 354) once its body is queued: to an SMTP server that
 * offers PIPELINING, commands given then go out right behind the final dot.
 */
void smtp_client_data_sending(struct smtp_client *c, smtp_client_cb sending);
/*
 * smtp_client_data_drop_body - for a DATA sent in one group with its MAIL
 * and RCPTs, when every recipient was refused: the message is dropped, and
 * should the server say 354 all the same, only the final dot goes (RFC 2920
 * §3.1); cb then gets the reply to that dot.
 */
void smtp_client_data_drop_body(struct smtp_client *c);

/*
 * smtp_client_starttls - STARTTLS (RFC 3207); on 220 the TLS handshake runs
 * and cb gets the 220 once it is done (or a local 4xx if it failed). The
 * extension list is then cleared: send EHLO again. servername (may be NULL)
 * is sent as SNI and set for certificate name checks.
 */
void smtp_client_starttls(struct smtp_client *c, const char *servername,
                          smtp_client_cb cb, void *arg);

/* smtp_client_pipelining - the last EHLO reply listed PIPELINING (RFC 2920) */
int smtp_client_pipelining(const struct smtp_client *c);
/* smtp_client_has_ext - the server listed keyword kw in its EHLO reply */
int smtp_client_has_ext(const struct smtp_client *c, const char *kw);
/* smtp_client_ext_param - the text after kw ("" if none), NULL if not listed */
const char *smtp_client_ext_param(const struct smtp_client *c, const char *kw);
/* smtp_client_size - the RFC 1870 SIZE limit; 0 if none; -1 if no SIZE */
long long smtp_client_size(const struct smtp_client *c);
/* smtp_client_tls - the connection is encrypted now */
int smtp_client_tls(const struct smtp_client *c);
/* smtp_client_ssl - the connection's SSL once STARTTLS is done, else NULL:
 * for the verification result, protocol and cipher */
SSL *smtp_client_ssl(const struct smtp_client *c);
/* smtp_client_dead - a local failure happened or the server closed */
int smtp_client_dead(const struct smtp_client *c);

/* smtp_reply_first - the first line of r's text (bounded copy into buf) */
const char *smtp_reply_first(const struct smtp_reply *r, char *buf, size_t bufsz);

#endif
