/* SPDX-License-Identifier: ISC */
/*
 * tls.h - server TLS contexts (OpenSSL 3): TLS 1.2 and newer only.
 *
 * tls_server_load() loads the listeners' certificates (tls_sni.c): the
 * default's SSL_CTX, which picks another context by the client's
 * server_name; every key after conf_key_file_check() (conf.h): a key that
 * other users can read is refused, as is one that is not its certificate's.
 * tls_sni_match() says whether a certificate's name serves a server_name.
 * tls_self_signed() creates a P-256 key (mode 0600) and a 10-year
 * self-signed certificate for hostname, like Debian's snakeoil certificate.
 * tls_describe() writes "TLSv1.3 with cipher X" for logs and Received:.
 */
#ifndef MOAT_TLS_H
#define MOAT_TLS_H

#include <stddef.h>

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

struct moat_conf;

/* tls_server_load - c's certificates; NULL and err ("file:line: tls: ...") if
 * one cannot be used. SSL_CTX_free() of the result frees them all. */
SSL_CTX *tls_server_load(const struct moat_conf *c, char *err, size_t errsz);
/* tls_sni_match - 1 if pattern (lower case; "*.rest" stands for one more
 * label) names host (lower case), else 0 */
int tls_sni_match(const char *pattern, const char *host);
void tls_describe(SSL *ssl, char *buf, size_t bufsz);
int tls_self_signed(const char *cert_file, const char *key_file, const char *hostname,
                    char *err, size_t errsz);

#endif
