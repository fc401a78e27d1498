/* SPDX-License-Identifier: ISC */
/*
 * dane.h - DANE for SMTP (RFC 7672): the usable TLSA records of one MX
 * host, handed to OpenSSL's DANE verifier before a handshake, and its
 * verdict after it.
 *
 * mx.c builds a struct dane_tlsa from a secure TLSA answer; the addresses
 * of that host share it (counted references), and a delivery connection
 * holds one of its own while it lives, so a new MX lookup can replace the
 * destination's addresses under it.
 */
#ifndef MOAT_DANE_H
#define MOAT_DANE_H

#include <stddef.h>

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;

struct dane_tlsa;

/*
 * dane_tlsa_new - the usable records (tlsa_usable()) of a TLSA answer for
 * the MX host base (the TLSA base domain and reference name, RFC 7672
 * §3.2.2; alt, if not NULL, a second reference name: the MX host name
 * whose CNAME target base is, or that target). NULL with *nrecs 0 when none is usable:
 * *nrecs then says how many records there were (RFC 7672 §2.2: some but all unusable
 * means encrypt without authentication), -1 if the answer is malformed.
 */
struct dane_tlsa *dane_tlsa_new(const char *base, const char *alt,
                                const unsigned char *abuf, int alen, int *nrecs);
struct dane_tlsa *dane_tlsa_ref(struct dane_tlsa *t);
void dane_tlsa_unref(struct dane_tlsa *t);
/* dane_tlsa_count - the usable records held */
size_t dane_tlsa_count(const struct dane_tlsa *t);

/* dane_ctx_init - DANE on the delivery SSL_CTX (SSL_CTX_dane_enable); -1 */
int dane_ctx_init(SSL_CTX *ctx);

/*
 * dane_ssl_setup - an smtp_client_opts ssl_setup hook (arg: a struct
 * dane_tlsa): DANE on ssl with the host name as SNI and reference name,
 * each record added; DANE-EE(3) matches skip the name check (RFC 7672
 * §3.1.1). -1 if none could be added.
 */
int dane_ssl_setup(SSL *ssl, void *arg);

/*
 * dane_check - after the handshake: 0 if the peer was authenticated by
 * one of the records (why: "dane-ta" or "dane-ee"); -1 with the reason in
 * why ("TLSA mismatch: ...")
 */
int dane_check(SSL *ssl, char *why, size_t whysz);

#endif
