/* SPDX-License-Identifier: ISC */
/*
 * outtls.h - a delivery connection's TLS against its level (outtls.c):
 * the CA store and name checks set up before the handshake, the verdict
 * after it, and what the connection reached, for logs and counters.
 */
#ifndef MOAT_OUTTLS_H
#define MOAT_OUTTLS_H

#include <stddef.h>

#include "deliver/tlspolicy.h"

typedef struct ssl_st SSL;
typedef struct x509_store_st X509_STORE;

#define OUTTLS_NREACHED (TLS_REACHED_DANE + 1)

/* outtls_store - the CA store of ca_file, with the system's CAs too if
 * system (always when ca_file is NULL), loaded on first use and kept; NULL
 * with the reason in err */
X509_STORE *outtls_store(const char *ca_file, int system, char *err, size_t errsz);
void outtls_free_all(void);
/* outtls_setup - before the handshake (the client's ssl_setup hook): for
 * level verify, the store to check the chain against; -1 with err */
int outtls_setup(SSL *ssl, enum tls_level level, const char *ca_file, int system,
                 char *err, size_t errsz);
/* outtls_check - after the handshake: 0 if ssl meets level, else -1 with
 * the reason ("certificate verification failed: ...") in why */
int outtls_check(SSL *ssl, enum tls_level level, char *why, size_t whysz);
/* outtls_reached - what ssl (NULL: plain text) reached at this level */
enum tls_reached outtls_reached(SSL *ssl, enum tls_level level);
const char *outtls_reached_name(enum tls_reached r);
/* outtls_fields - "tls=verified tls_proto=TLSv1.3 tls_cipher=..." or
 * "tls=none", for a log line */
void outtls_fields(SSL *ssl, enum tls_reached r, char *buf, size_t bufsz);

#endif
