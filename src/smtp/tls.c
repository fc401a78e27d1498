/* SPDX-License-Identifier: ISC */
/*
 * tls.c - server TLS contexts: moat's settings (tls_ctx_new), a certificate
 * file's chain (tls_read_chain) and a certificate with its key in a context
 * (tls_ctx_use), for tls_sni.c's set; tls_describe() and tls_self_signed().
 *
 * SECURITY: the TLS records themselves are parsed by OpenSSL. Versions below
 * TLS 1.2 are disabled (RFC 8996); compression and renegotiation are off.
 * The key file must not be readable by other users: such a key is already
 * compromised, and starting with it would hide that; so is a key that is not
 * its certificate's. Root (the master) reads both files through safe_open()
 * (nothing the run user can change; the key root's).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "common/safefile.h"
#include "conf/conf.h"
#include "smtp/tls.h"
#include "smtp/tls_int.h"

static void
ssl_error(char *err, size_t errsz, const char *what, const char *path)
{
	char buf[256];
	unsigned long e = ERR_get_error();

	ERR_error_string_n(e, buf, sizeof(buf));
	snprintf(err, errsz, "%s \"%s\": %s", what, path, e ? buf : "unknown error");
	ERR_clear_error();
}

/*
 * read_file - path's contents in a memory BIO (secure memory for a key),
 * opened by root with safe_open(): nothing the run user can change
 */
static BIO *
read_file(const char *what, const char *path, int flags, char *err, size_t errsz)
{
	char why[1200], buf[4096];
	struct stat st;
	ssize_t n;
	BIO *b;
	int fd;

	if ((fd = safe_open(path, SAFE_STRICT | flags, &st, why, sizeof(why))) == -1) {
		snprintf(err, errsz, "%s \"%s\": %s", what, path, why);
		return NULL;
	}
	b = BIO_new((flags & SAFE_SECRET) ? BIO_s_secmem() : BIO_s_mem());
	while (b != NULL && (n = read(fd, buf, sizeof(buf))) > 0)
		if (BIO_write(b, buf, (int)n) != (int)n) {
			BIO_free(b);
			b = NULL;
		}
	explicit_bzero(buf, sizeof(buf));
	close(fd);
	if (b == NULL)
		snprintf(err, errsz, "%s \"%s\": cannot read it", what, path);
	return b;
}

X509 *
tls_read_chain(const char *path, STACK_OF(X509) * *chain, char *err, size_t errsz)
{
	BIO *b = read_file("cert_file", path, 0, err, errsz);
	X509 *x = NULL, *ca;
	int ok = 0;

	*chain = NULL;
	if (b == NULL)
		return NULL;
	if ((x = PEM_read_bio_X509_AUX(b, NULL, NULL, NULL)) != NULL &&
	    (*chain = sk_X509_new_null()) != NULL) {
		ok = 1;
		while (ok && (ca = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
			if (!sk_X509_push(*chain, ca)) {
				X509_free(ca);
				ok = 0;
			}
	}
	/* The chain ends where no certificate starts: that is no error. */
	if (ok && ERR_GET_REASON(ERR_peek_last_error()) == PEM_R_NO_START_LINE)
		ERR_clear_error();
	else if (ok && ERR_peek_last_error() != 0)
		ok = 0;
	BIO_free(b);
	if (!ok) {
		ssl_error(err, errsz, "cert_file", path);
		X509_free(x);
		sk_X509_pop_free(*chain, X509_free);
		*chain = NULL;
		return NULL;
	}
	return x;
}

static EVP_PKEY *
read_key(SSL_CTX *ctx, const char *path, char *err, size_t errsz)
{
	BIO *b = read_file("key_file", path, SAFE_SECRET, err, errsz);
	EVP_PKEY *k;

	if (b == NULL)
		return NULL;
	k = PEM_read_bio_PrivateKey(b, NULL, SSL_CTX_get_default_passwd_cb(ctx),
	                            SSL_CTX_get_default_passwd_cb_userdata(ctx));
	BIO_free(b);
	if (k == NULL)
		ssl_error(err, errsz, "key_file", path);
	return k;
}

SSL_CTX *
tls_ctx_new(char *err, size_t errsz)
{
	SSL_CTX *ctx;

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		ssl_error(err, errsz, "SSL_CTX_new", "");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
	                             SSL_OP_CIPHER_SERVER_PREFERENCE);
	/* Sessions would only help returning clients; keep memory flat. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	return ctx;
}

/*
 * tls_ctx_use - x, its chain and key_file's key into ctx, in the slot of x's
 * key type (the slot of another type keeps its certificate): the key must
 * be x's
 */
int
tls_ctx_use(SSL_CTX *ctx, X509 *x, STACK_OF(X509) * chain, const char *cert_file,
            const char *key_file, char *err, size_t errsz)
{
	EVP_PKEY *k;
	int ok;

	if (conf_key_file_check(key_file, err, errsz) == -1)
		return -1;
	if ((k = read_key(ctx, key_file, err, errsz)) == NULL)
		return -1;
	/* The key first names the mismatch, where SSL_CTX_use_PrivateKey would
	 * only say "key values mismatch" or use another type's slot. */
	if (X509_check_private_key(x, k) != 1) {
		ERR_clear_error();
		snprintf(err, errsz, "key_file \"%s\" does not match cert_file \"%s\"",
		         key_file, cert_file);
		EVP_PKEY_free(k);
		return -1;
	}
	ok = SSL_CTX_use_certificate(ctx, x) == 1 && SSL_CTX_set1_chain(ctx, chain) &&
	     SSL_CTX_use_PrivateKey(ctx, k) == 1 && SSL_CTX_check_private_key(ctx) == 1;
	EVP_PKEY_free(k);
	if (!ok)
		ssl_error(err, errsz, "cert_file", cert_file);
	return ok ? 0 : -1;
}

void
tls_describe(SSL *ssl, char *buf, size_t bufsz)
{
	const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
	int bits = c ? SSL_CIPHER_get_bits(c, NULL) : 0;

	snprintf(buf, bufsz, "%s with cipher %s (%d/%d bits)", SSL_get_version(ssl),
	         c ? SSL_CIPHER_get_name(c) : "unknown", bits, bits);
}

/* write_pem - create path (mode, O_EXCL) and let fn write PEM into it */
static int
write_pem(const char *path, mode_t mode, int (*fn)(FILE *, void *), void *obj)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	FILE *fp;
	int ok;

	if (fd == -1)
		return -1;
	if ((fp = fdopen(fd, "w")) == NULL) {
		close(fd);
		unlink(path);
		return -1;
	}
	ok = fn(fp, obj) == 1 && fflush(fp) == 0 && fsync(fileno(fp)) == 0;
	fclose(fp);
	if (!ok)
		unlink(path);
	return ok ? 0 : -1;
}

static int
pem_key(FILE *fp, void *k)
{
	return PEM_write_PrivateKey(fp, k, NULL, NULL, 0, NULL, NULL);
}

static int
pem_cert(FILE *fp, void *x)
{
	return PEM_write_X509(fp, x);
}

int
tls_self_signed(const char *cert_file, const char *key_file, const char *hostname,
                char *err, size_t errsz)
{
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	X509_NAME *name;
	X509_EXTENSION *ext = NULL;
	char san[300];
	int ret = -1;

	if ((key = EVP_EC_gen("P-256")) == NULL || (x = X509_new()) == NULL) {
		ssl_error(err, errsz, "generate key", key_file);
		goto done;
	}
	X509_set_version(x, 2);
	uint64_t serial = (uint64_t)time(NULL);
	RAND_bytes((unsigned char *)&serial, sizeof(serial)); /* RFC 5280: unique */
	ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), (serial >> 1) | 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 10L * 365 * 24 * 3600);
	X509_set_pubkey(x, key);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	                           (const unsigned char *)hostname, -1, -1, 0);
	X509_set_issuer_name(x, name);
	snprintf(san, sizeof(san), "DNS:%s", hostname);
	if ((ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san)) != NULL)
		X509_add_ext(x, ext, -1);
	if (X509_sign(x, key, EVP_sha256()) == 0) {
		ssl_error(err, errsz, "sign certificate", cert_file);
		goto done;
	}
	if (write_pem(key_file, 0600, pem_key, key) == -1) {
		snprintf(err, errsz, "write %s: %s", key_file, strerror(errno));
		goto done;
	}
	if (write_pem(cert_file, 0644, pem_cert, x) == -1) {
		snprintf(err, errsz, "write %s: %s", cert_file, strerror(errno));
		unlink(key_file);
		goto done;
	}
	ret = 0;
done:
	X509_EXTENSION_free(ext);
	X509_free(x);
	EVP_PKEY_free(key);
	return ret;
}
