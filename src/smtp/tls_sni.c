/* SPDX-License-Identifier: ISC */
/*
 * tls_sni.c - the listeners' certificate set, chosen by the client's
 * server_name (RFC 6066 section 3).
 *
 * Each certificate serves the names it carries: its DNS subjectAltNames, or
 * its common name when it has none (RFC 6125 section 6.4.4). Certificates
 * that carry the same names share one SSL_CTX, one per key type: OpenSSL
 * keeps a slot per type and the handshake picks the certificate the
 * client's signature algorithms allow (an RSA and an ECDSA one side by
 * side). The first certificate's context is the default, for clients that
 * send no server_name or one no certificate names; it carries the set, and
 * freeing it frees the other contexts. A name matches exactly, or a
 * wildcard "*.example.net" stands for one whole left-most label (RFC 6125
 * section 6.4.3); an exact name wins over a wildcard, then the order of
 * the configuration.
 * SECURITY: server_name is read from the network by OpenSSL (at most 255
 * octets, no NUL). Here it is lowered into a stack buffer of a name's
 * maximum length, a longer one gets the default, and it is compared with
 * the names loaded at start: nothing is allocated per handshake beyond
 * what SSL_set_SSL_CTX() does.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "common/ascii.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "smtp/tls.h"
#include "smtp/tls_int.h"

/* the text of a domain name at most (RFC 1035 section 2.3.4) */
#define SNI_NAME_MAX 253
/* key types one context can hold side by side (RSA, RSA-PSS, EC, Ed25519,
 * Ed448, DSA): more is an error in the configuration */
#define SNI_KEYTYPES 6

struct sni_group {
	SSL_CTX *ctx;
	char **names; /* lower case, sorted, no two alike */
	size_t nnames;
	int keytypes[SNI_KEYTYPES];
	size_t nkeytypes;
	size_t first; /* its first certificate in the configuration */
};

struct tls_sni {
	struct sni_group *groups; /* [0] the default, whose context owns the set */
	size_t ngroups;
};

static int sni_index = -1;

int
tls_sni_match(const char *pattern, const char *host)
{
	const char *dot;

	if (pattern[0] != '*')
		return strcmp(pattern, host) == 0;
	/* The wildcard is one whole, non-empty label: not "b.a" for "*". */
	if (pattern[1] != '.' || (dot = strchr(host, '.')) == NULL || dot == host)
		return 0;
	return strcmp(pattern + 1, dot) == 0;
}

/* sni_find - the group that serves host: an exact name first, else a
 * wildcard; SIZE_MAX if none */
static size_t
sni_find(const struct tls_sni *set, const char *host)
{
	for (int wild = 0; wild < 2; wild++)
		for (size_t g = 0; g < set->ngroups; g++)
			for (size_t i = 0; i < set->groups[g].nnames; i++) {
				const char *p = set->groups[g].names[i];
				if ((p[0] == '*') == wild && tls_sni_match(p, host))
					return g;
			}
	return SIZE_MAX;
}

/* sni_cb - the client's server_name picks the context; no name, or one no
 * certificate carries, keeps the default */
static int
sni_cb(SSL *ssl, int *alert, void *arg)
{
	const struct tls_sni *set = arg;
	const char *sn = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	char host[SNI_NAME_MAX + 1];
	size_t g;

	/* OK, not NOACK, even for the default: a TLS 1.2 session then keeps the
	 * name for SSL_get_servername() after the handshake (session_tls.c). */
	if (sn == NULL || ascii_lower_copy(host, sn, sizeof(host)) >= sizeof(host))
		return SSL_TLSEXT_ERR_OK;
	if ((g = sni_find(set, host)) == SIZE_MAX || g == 0)
		return SSL_TLSEXT_ERR_OK;
	if (SSL_set_SSL_CTX(ssl, set->groups[g].ctx) == NULL) {
		*alert = SSL_AD_INTERNAL_ERROR;
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	return SSL_TLSEXT_ERR_OK;
}

static void
names_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* sni_free - the set; the default's context too when with_default */
static void
sni_free(struct tls_sni *set, int with_default)
{
	if (set == NULL)
		return;
	for (size_t g = 0; g < set->ngroups; g++) {
		if (g > 0 || with_default)
			SSL_CTX_free(set->groups[g].ctx);
		names_free(set->groups[g].names, set->groups[g].nnames);
	}
	free(set->groups);
	free(set);
}

/* sni_ex_free - the default context is freed: the set goes with it */
static void
sni_ex_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	sni_free(ptr, 0);
}

/* add_name - a name of the certificate, lowered, if it is one a server_name
 * could match: letters, digits, '-', '_', '.', and '*' only as "*." first */
static void
add_name(char ***names, size_t *n, const unsigned char *p, int len)
{
	char buf[SNI_NAME_MAX + 1];

	if (len <= 0 || len > SNI_NAME_MAX)
		return;
	for (int i = 0; i < len; i++) {
		int ch = ascii_tolower(p[i]);
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' ||
		      ch == '_' || ch == '.' ||
		      (ch == '*' && i == 0 && len > 2 && p[1] == '.')))
			return;
		buf[i] = (char)ch;
	}
	buf[len] = '\0';
	*names = xreallocarray(*names, *n + 1, sizeof(**names));
	(*names)[(*n)++] = xstrdup(buf);
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* cert_names - the names x serves, sorted, each once */
static void
cert_names(X509 *x, char ***names, size_t *n)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	int dns = 0;

	*names = NULL;
	*n = 0;
	for (int i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		if (g->type != GEN_DNS)
			continue;
		dns = 1;
		add_name(names, n, ASN1_STRING_get0_data(g->d.dNSName),
		         ASN1_STRING_length(g->d.dNSName));
	}
	GENERAL_NAMES_free(gens);
	if (!dns) {
		/* RFC 6125 section 6.4.4: the (last) common name, only then */
		X509_NAME *subj = X509_get_subject_name(x);
		int last = -1, i = -1;
		while ((i = X509_NAME_get_index_by_NID(subj, NID_commonName, i)) >= 0)
			last = i;
		if (last >= 0) {
			ASN1_STRING *cn =
			    X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, last));
			add_name(names, n, ASN1_STRING_get0_data(cn),
			         ASN1_STRING_length(cn));
		}
	}
	ERR_clear_error();
	if (*n > 1)
		qsort(*names, *n, sizeof(**names), name_cmp);
	size_t k = 0;
	for (size_t i = 0; i < *n; i++) {
		if (k > 0 && strcmp((*names)[k - 1], (*names)[i]) == 0)
			free((*names)[i]);
		else
			(*names)[k++] = (*names)[i];
	}
	*n = k;
}

/* same_names - the group serves exactly these names */
static int
same_names(const struct sni_group *g, char **names, size_t n)
{
	if (g->nnames != n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (strcmp(g->names[i], names[i]) != 0)
			return 0;
	return 1;
}

/* sni_add - certificate i into the context of its names, or a new one */
static int
sni_add(struct tls_sni *set, const struct moat_conf *c, size_t i, char *err, size_t errsz)
{
	const struct tls_cert_conf *t = &c->tls_certs[i];
	STACK_OF(X509) *chain = NULL;
	struct sni_group *g = NULL;
	char **names = NULL;
	size_t nnames = 0;
	int rc = -1, type;
	X509 *x;

	if ((x = tls_read_chain(t->cert_file, &chain, err, errsz)) == NULL)
		return -1;
	cert_names(x, &names, &nnames);
	if (nnames == 0 && i > 0) {
		snprintf(err, errsz,
		         "cert_file \"%s\" carries no host name (no DNS subjectAltName, "
		         "no common name): no server_name could choose it",
		         t->cert_file);
		goto done;
	}
	type = EVP_PKEY_get_base_id(X509_get0_pubkey(x));
	for (size_t k = 0; k < set->ngroups && g == NULL; k++)
		if (same_names(&set->groups[k], names, nnames))
			g = &set->groups[k];
	if (g != NULL) {
		for (size_t k = 0; k < g->nkeytypes; k++)
			if (g->keytypes[k] == type) {
				snprintf(
				    err, errsz,
				    "cert_file \"%s\" has the names and the key type of "
				    "cert_file \"%s\": one would hide the other",
				    t->cert_file, c->tls_certs[g->first].cert_file);
				goto done;
			}
		if (g->nkeytypes == SNI_KEYTYPES) {
			snprintf(err, errsz, "cert_file \"%s\": too many key types",
			         t->cert_file);
			goto done;
		}
	} else {
		SSL_CTX *ctx = tls_ctx_new(err, errsz);
		if (ctx == NULL)
			goto done;
		g = &set->groups[set->ngroups++];
		g->ctx = ctx;
		g->names = names;
		g->nnames = nnames;
		g->first = i;
		names = NULL;
		nnames = 0;
	}
	if (tls_ctx_use(g->ctx, x, chain, t->cert_file, t->key_file, err, errsz) == -1)
		goto done;
	g->keytypes[g->nkeytypes++] = type;
	rc = 0;
done:
	names_free(names, nnames);
	X509_free(x);
	sk_X509_pop_free(chain, X509_free);
	return rc;
}

SSL_CTX *
tls_server_load(const struct moat_conf *c, char *err, size_t errsz)
{
	struct tls_sni *set;
	char why[1400];
	SSL_CTX *def;

	if (c->ntls_certs == 0) {
		snprintf(err, errsz, "%s: tls: no certificate", c->path);
		return NULL;
	}
	if (sni_index == -1 &&
	    (sni_index = CRYPTO_get_ex_new_index(CRYPTO_EX_INDEX_SSL_CTX, 0, NULL, NULL,
	                                         NULL, sni_ex_free)) == -1) {
		snprintf(err, errsz, "%s: tls: CRYPTO_get_ex_new_index failed", c->path);
		return NULL;
	}
	set = xcalloc(1, sizeof(*set));
	/* at most one group per certificate */
	set->groups = xcalloc(c->ntls_certs, sizeof(*set->groups));
	for (size_t i = 0; i < c->ntls_certs; i++)
		if (sni_add(set, c, i, why, sizeof(why)) == -1) {
			snprintf(err, errsz, "%s:%d: tls: %s", c->path,
			         c->tls_certs[i].line, why);
			sni_free(set, 1);
			return NULL;
		}
	def = set->groups[0].ctx;
	if (!SSL_CTX_set_ex_data(def, sni_index, set)) {
		snprintf(err, errsz, "%s: tls: SSL_CTX_set_ex_data failed", c->path);
		sni_free(set, 1);
		return NULL;
	}
	SSL_CTX_set_tlsext_servername_callback(def, sni_cb);
	SSL_CTX_set_tlsext_servername_arg(def, set);
	return def;
}
