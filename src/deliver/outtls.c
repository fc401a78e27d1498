/* SPDX-License-Identifier: ISC */
/*
 * outtls.c - the TLS of a delivery connection, judged after the handshake
 * as Postfix does: the client context verifies nothing by itself
 * (SSL_VERIFY_NONE), each SSL of a next hop whose level is verify gets
 * the CA store to check against (its ca_file, else outbound_ca_file,
 * else the system store; each loaded once per process) and its reference
 * name (SSL_set1_host, by the SMTP client), and once the handshake is
 * done outtls_check() says whether the level was reached: a chain or name
 * that does not verify is a deferral with OpenSSL's reason, never a fall
 * back to plain text. outtls_reached() and outtls_fields() say what a
 * connection reached, for its log line and the counters.
 * SECURITY: the peer's certificate is untrusted input, checked by
 * OpenSSL's X509 verification; only its result and OpenSSL's own names of
 * protocol and cipher reach the log.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "deliver/outtls.h"

/* The stores loaded so far: a few (one per ca_file named, with or without
 * the system's), for the process's life. */
struct store_ent {
	char *ca_file; /* or NULL */
	int system;    /* the system store's CAs too */
	X509_STORE *st;
	struct store_ent *next;
};
static struct store_ent *stores;

X509_STORE *
outtls_store(const char *ca_file, int system, char *err, size_t errsz)
{
	struct store_ent *e;
	X509_STORE *st;

	if (ca_file == NULL)
		system = 1;
	for (e = stores; e != NULL; e = e->next)
		if (e->system == system && ((e->ca_file == NULL && ca_file == NULL) ||
		                            (e->ca_file != NULL && ca_file != NULL &&
		                             strcmp(e->ca_file, ca_file) == 0)))
			return e->st;
	if ((st = X509_STORE_new()) == NULL) {
		snprintf(err, errsz, "X509_STORE_new failed");
		return NULL;
	}
	if ((system && X509_STORE_set_default_paths(st) != 1) ||
	    (ca_file != NULL && X509_STORE_load_file(st, ca_file) != 1)) {
		unsigned long e2 = ERR_get_error();
		char buf[200];
		ERR_error_string_n(e2, buf, sizeof(buf));
		snprintf(err, errsz, "cannot load the CA store %s: %s",
		         ca_file != NULL ? ca_file : "(system)", buf);
		ERR_clear_error();
		X509_STORE_free(st);
		return NULL;
	}
	e = xcalloc(1, sizeof(*e));
	e->ca_file = ca_file != NULL ? xstrdup(ca_file) : NULL;
	e->system = system;
	e->st = st;
	e->next = stores;
	stores = e;
	return st;
}

void
outtls_free_all(void)
{
	struct store_ent *e;

	while ((e = stores) != NULL) {
		stores = e->next;
		X509_STORE_free(e->st);
		free(e->ca_file);
		free(e);
	}
}

int
outtls_setup(SSL *ssl, enum tls_level level, const char *ca_file, int system, char *err,
             size_t errsz)
{
	X509_STORE *st;

	if (level < TLS_LEVEL_VERIFY)
		return 0;
	if ((st = outtls_store(ca_file, system, err, errsz)) == NULL)
		return -1;
	/* the chain is built from this store; SSL_VERIFY_NONE keeps the
	 * handshake going, and outtls_check() reads the verdict */
	if (SSL_set1_verify_cert_store(ssl, st) != 1) {
		snprintf(err, errsz, "cannot set the CA store");
		return -1;
	}
	/* the reference name must match whole (RFC 6125 §6.4.3, as Postfix) */
	X509_VERIFY_PARAM_set_hostflags(SSL_get0_param(ssl),
	                                X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	return 0;
}

enum tls_reached
outtls_reached(SSL *ssl, enum tls_level level)
{
	if (ssl == NULL)
		return TLS_REACHED_NONE;
	if (SSL_get0_dane(ssl) != NULL && SSL_get0_dane_authority(ssl, NULL, NULL) >= 0)
		return TLS_REACHED_DANE;
	/* only where a store and a name were given is a good result meaningful */
	if (level >= TLS_LEVEL_VERIFY && SSL_get0_peer_certificate(ssl) != NULL &&
	    SSL_get_verify_result(ssl) == X509_V_OK)
		return TLS_REACHED_VERIFIED;
	return TLS_REACHED_ENCRYPTED;
}

int
outtls_check(SSL *ssl, enum tls_level level, char *why, size_t whysz)
{
	long v;

	if (level < TLS_LEVEL_VERIFY)
		return 0;
	if (ssl == NULL) {
		snprintf(why, whysz,
		         "TLS is required (tls = verify) and was not reached");
		return -1;
	}
	if (SSL_get0_peer_certificate(ssl) == NULL) {
		snprintf(
		    why, whysz,
		    "certificate verification failed: the server sent no certificate");
		return -1;
	}
	if ((v = SSL_get_verify_result(ssl)) != X509_V_OK) {
		snprintf(why, whysz, "certificate verification failed: %s",
		         X509_verify_cert_error_string(v));
		return -1;
	}
	return 0;
}

static const char *const reached_names[] = {
    [TLS_REACHED_NONE] = "none",
    [TLS_REACHED_ENCRYPTED] = "encrypted",
    [TLS_REACHED_VERIFIED] = "verified",
    [TLS_REACHED_DANE] = "dane",
};
_Static_assert(sizeof(reached_names) / sizeof(reached_names[0]) == OUTTLS_NREACHED,
               "a name for every level reached");

const char *
outtls_reached_name(enum tls_reached r)
{
	return (unsigned)r < OUTTLS_NREACHED ? reached_names[r] : "none";
}

void
outtls_fields(SSL *ssl, enum tls_reached r, char *buf, size_t bufsz)
{
	if (ssl == NULL || r == TLS_REACHED_NONE) {
		snprintf(buf, bufsz, "tls=none");
		return;
	}
	snprintf(buf, bufsz, "tls=%s tls_proto=%s tls_cipher=%s", outtls_reached_name(r),
	         SSL_get_version(ssl), SSL_get_cipher_name(ssl));
}
