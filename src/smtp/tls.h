/* SPDX-License-Identifier: ISC */
/*
 * tls.h - server TLS contexts (OpenSSL 3): TLS 1.2 and newer only.
 *
 * tls_server_ctx() loads a certificate chain and key into a new SSL_CTX,
 * after conf_key_file_check() (conf.h): a key that other users can read is
 * refused.
 * tls_self_signed() creates a P-256 key (mode 0600) and a 10-year
 * self-signed certificate for hostname, like Debian's snakeoil certificate.
 * tls_describe() writes "TLSv1.3 with cipher X" for logs and Received:.
 */
#ifndef MOAT_TLS_H
#define MOAT_TLS_H

#include <stddef.h>

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

SSL_CTX *tls_server_ctx(const char *cert_file, const char *key_file, char *err,
                        size_t errsz);
void tls_describe(SSL *ssl, char *buf, size_t bufsz);
int tls_self_signed(const char *cert_file, const char *key_file, const char *hostname,
                    char *err, size_t errsz);

#endif
