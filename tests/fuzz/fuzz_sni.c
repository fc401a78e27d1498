/* SPDX-License-Identifier: ISC */
/*
 * fuzz_sni.c - libFuzzer target for the choice of a listener certificate by
 * the client's server_name (src/smtp/tls_sni.c), behind OpenSSL's reading of
 * a ClientHello.
 *
 * Set up once: three self-signed certificates in a private directory (the
 * default mx.example.test, one.example.test, *.wild.test) loaded by
 * tls_server_load() as a start would. Input: the octets a client sends
 * first, fed to a server SSL of the default context. Checked: a handshake
 * that left the default context did so for a server_name that names the
 * certificate it now serves: one.example.test exactly (in any case), or one
 * label under wild.test. Seeds: corpus/sni/ (ClientHellos with and without
 * SNI, TLS 1.2 and 1.3).
 */
#include <stdlib.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "common/ascii.h"
#include "conf/conf.h"
#include "fuzz.h"
#include "smtp/tls.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);

static SSL_CTX *def;
static X509 *one, *wild;

static X509 *
read_cert(const char *path)
{
	FILE *f = fopen(path, "r");
	X509 *x = f != NULL ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;

	if (f != NULL)
		fclose(f);
	REQUIRE(x != NULL);
	return x;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char *hosts[] = {"mx.example.test", "one.example.test",
	                              "*.wild.test"};
	static struct tls_cert_conf certs[3];
	static struct moat_conf c;
	char dir[] = "/tmp/fuzz-sni-XXXXXX", err[1600];

	REQUIRE(mkdtemp(dir) != NULL);
	for (size_t i = 0; i < 3; i++) {
		char *cert, *key;
		REQUIRE(asprintf(&cert, "%s/%zu.pem", dir, i) > 0);
		REQUIRE(asprintf(&key, "%s/%zu.key", dir, i) > 0);
		if (tls_self_signed(cert, key, hosts[i], err, sizeof(err)) == -1) {
			fprintf(stderr, "%s\n", err);
			abort();
		}
		certs[i] = (struct tls_cert_conf){cert, key, i + 1};
	}
	c.path = "fuzz_sni";
	c.tls_certs = certs;
	c.ntls_certs = 3;
	if ((def = tls_server_load(&c, err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s\n", err);
		abort();
	}
	one = read_cert(certs[1].cert_file);
	wild = read_cert(certs[2].cert_file);
	for (size_t i = 0; i < 3; i++) {
		unlink(certs[i].cert_file);
		unlink(certs[i].key_file);
	}
	rmdir(dir);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	SSL *ssl = SSL_new(def);
	BIO *in, *out;

	REQUIRE(ssl != NULL);
	in = BIO_new_mem_buf(data, (int)(size > 65536 ? 65536 : size));
	out = BIO_new(BIO_s_mem());
	REQUIRE(in != NULL && out != NULL);
	SSL_set_bio(ssl, in, out);
	SSL_set_accept_state(ssl);
	(void)SSL_do_handshake(ssl);
	if (SSL_get_SSL_CTX(ssl) != def) {
		const char *sn = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
		X509 *x = SSL_CTX_get0_certificate(SSL_get_SSL_CTX(ssl));
		char host[254];
		REQUIRE(sn != NULL && x != NULL);
		REQUIRE(ascii_lower_copy(host, sn, sizeof(host)) < sizeof(host));
		if (tls_sni_match("one.example.test", host))
			REQUIRE(X509_cmp(x, one) == 0);
		else
			REQUIRE(tls_sni_match("*.wild.test", host) &&
			        X509_cmp(x, wild) == 0);
	}
	SSL_free(ssl);
	ERR_clear_error();
	return 0;
}
