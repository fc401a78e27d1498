/* SPDX-License-Identifier: ISC */
/*
 * dane.c - TLSA records into OpenSSL's DANE verifier (RFC 7672, RFC 7671).
 *
 * The delivery SSL_CTX verifies nothing by itself (SSL_VERIFY_NONE: a
 * connection at level may or encrypt must not fail on a certificate); with
 * DANE enabled on one SSL, OpenSSL still checks its chain against the
 * TLSA records and keeps the verdict, which dane_check() reads once the
 * handshake is over (SSL_get_verify_result, SSL_get0_dane_authority), as
 * Postfix does. DANE-TA(2) needs the trust anchor in the chain the server
 * sends, and the name check (RFC 7672 §3.2.3); DANE-EE(3) binds the key
 * alone, no name, no expiry (§3.1.1); PKIX usages never get here.
 * SECURITY: the records come from a validated (AD) DNS answer parsed by
 * dns/tlsa.c; OpenSSL checks their data (digest lengths, certificates);
 * the peer's chain is untrusted and only OpenSSL reads it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "deliver/dane.h"
#include "dns/tlsa.h"

struct dane_rec {
	uint8_t usage, selector, mtype;
	size_t len;
	unsigned char *data;
};

struct dane_tlsa {
	int refs;
	char base[256];
	char alt[256]; /* a second reference name, or "" */
	size_t n;
	struct dane_rec recs[TLSA_RR_MAX];
};

struct dane_tlsa *
dane_tlsa_new(const char *base, const char *alt, const unsigned char *abuf, int alen,
              int *nrecs)
{
	struct tlsa_rr rr[TLSA_RR_MAX];
	struct dane_tlsa *t;
	int n;

	n = alen > 0 ? tlsa_parse(abuf, (size_t)alen, rr, TLSA_RR_MAX) : 0;
	*nrecs = n;
	if (n <= 0)
		return NULL;
	t = xcalloc(1, sizeof(*t));
	t->refs = 1;
	strlcpy(t->base, base, sizeof(t->base));
	if (alt != NULL)
		strlcpy(t->alt, alt, sizeof(t->alt));
	for (int i = 0; i < n; i++) {
		if (!tlsa_usable(&rr[i]))
			continue;
		struct dane_rec *d = &t->recs[t->n++];
		d->usage = rr[i].usage;
		d->selector = rr[i].selector;
		d->mtype = rr[i].mtype;
		d->len = rr[i].len;
		d->data = xmalloc(rr[i].len);
		memcpy(d->data, rr[i].data, rr[i].len);
	}
	if (t->n == 0) {
		dane_tlsa_unref(t);
		return NULL;
	}
	return t;
}

struct dane_tlsa *
dane_tlsa_ref(struct dane_tlsa *t)
{
	if (t != NULL)
		t->refs++;
	return t;
}

void
dane_tlsa_unref(struct dane_tlsa *t)
{
	if (t == NULL || --t->refs > 0)
		return;
	for (size_t i = 0; i < t->n; i++)
		free(t->recs[i].data);
	free(t);
}

size_t
dane_tlsa_count(const struct dane_tlsa *t)
{
	return t != NULL ? t->n : 0;
}

int
dane_ctx_init(SSL_CTX *ctx)
{
	return SSL_CTX_dane_enable(ctx) > 0 ? 0 : -1;
}

int
dane_ssl_setup(SSL *ssl, void *arg)
{
	struct dane_tlsa *t = arg;
	int added = 0;

	if (t == NULL)
		return 0;
	/* The base domain is the SNI name and the reference name (§3.2.2);
	 * "example.com" matches "*.example.com" only in one label. */
	if (SSL_dane_enable(ssl, t->base) <= 0)
		return -1;
	if (t->alt[0] != '\0' && SSL_add1_host(ssl, t->alt) != 1)
		return -1;
	SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	SSL_dane_set_flags(ssl, DANE_FLAG_NO_DANE_EE_NAMECHECKS);
	for (size_t i = 0; i < t->n; i++) {
		const struct dane_rec *d = &t->recs[i];
		int rc = SSL_dane_tlsa_add(ssl, d->usage, d->selector, d->mtype, d->data,
		                           d->len);
		/* RFC 7671 §5: a malformed record is skipped, like an unusable one */
		if (rc > 0)
			added++;
		else
			log_debug("dane host=%s record %u %u %u not usable",
			          log_escape_str(t->base), d->usage, d->selector,
			          d->mtype);
	}
	return added > 0 ? 0 : -1;
}

int
dane_check(SSL *ssl, char *why, size_t whysz)
{
	long vr = SSL_get_verify_result(ssl);
	uint8_t usage = 0, selector = 0, mtype = 0;
	int depth;

	depth = SSL_get0_dane_authority(ssl, NULL, NULL);
	if (vr == X509_V_OK && depth >= 0 &&
	    SSL_get0_dane_tlsa(ssl, &usage, &selector, &mtype, NULL, NULL) >= 0) {
		snprintf(why, whysz, "%s", usage == TLSA_DANE_TA ? "dane-ta" : "dane-ee");
		return 0;
	}
	snprintf(why, whysz, "TLSA mismatch: %s",
	         vr != X509_V_OK ? X509_verify_cert_error_string(vr)
	                         : "no record matched the certificate chain");
	return -1;
}
