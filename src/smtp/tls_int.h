/* SPDX-License-Identifier: ISC */
/*
 * tls_int.h - what tls.c lends tls_sni.c to build the certificate set:
 * tls_ctx_new() a server SSL_CTX with moat's settings and no certificate;
 * tls_read_chain() a PEM certificate and the chain after it, read by root
 * through safe_open(); tls_ctx_use() a certificate and its key into a
 * context, the key checked like every key (conf_key_file_check) and
 * against the certificate.
 */
#ifndef MOAT_TLS_INT_H
#define MOAT_TLS_INT_H

#include <stddef.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

SSL_CTX *tls_ctx_new(char *err, size_t errsz);
X509 *tls_read_chain(const char *path, STACK_OF(X509) * *chain, char *err, size_t errsz);
int tls_ctx_use(SSL_CTX *ctx, X509 *x, STACK_OF(X509) * chain, const char *cert_file,
                const char *key_file, char *err, size_t errsz);

#endif
