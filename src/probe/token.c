/* SPDX-License-Identifier: ISC */
/*
 * token.c - make, find and verify HMAC-SHA256 test tokens (OpenSSL).
 * SECURITY: token_scan() and token_verify() handle bytes a relay sent to our
 * sink: every read is bounded by the given length, the token by TOKEN_MAX,
 * and macs are compared in constant time (CRYPTO_memcmp).
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "probe/token.h"

#define PREFIX    "mp1/"
#define MAC_BYTES 16 /* of the 32 HMAC-SHA256 gives */

int
token_key_load(struct token_key *k, const char *path, char *err, size_t errsz)
{
	unsigned char buf[TOKEN_KEY_MAX + 1];
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		return -1;
	}
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n < 0) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (n < 16 || n > TOKEN_KEY_MAX) {
		snprintf(err, errsz, "%s: key must be 16 to %d bytes", path,
		         TOKEN_KEY_MAX);
		return -1;
	}
	memcpy(k->key, buf, (size_t)n);
	k->len = (size_t)n;
	OPENSSL_cleanse(buf, sizeof(buf));
	return 0;
}

int
token_key_random(struct token_key *k)
{
	k->len = 32;
	return RAND_bytes(k->key, (int)k->len) == 1 ? 0 : -1;
}

/* mac_hex - hex of the truncated HMAC of msg */
static int
mac_hex(const struct token_key *k, const char *msg, size_t len,
        char hex[2 * MAC_BYTES + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (HMAC(EVP_sha256(), k->key, (int)k->len, (const unsigned char *)msg, len, md,
	         &mdlen) == NULL ||
	    mdlen < MAC_BYTES)
		return -1;
	for (int i = 0; i < MAC_BYTES; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return 0;
}

int
token_make(const struct token_key *k, const char *id, const char *target, time_t when,
           char *buf, size_t bufsz)
{
	char hex[2 * MAC_BYTES + 1];
	int n;

	n = snprintf(buf, bufsz, PREFIX "%s/%s/%lld", id, target, (long long)when);
	if (n < 0 || (size_t)n >= bufsz || mac_hex(k, buf, (size_t)n, hex) < 0)
		return -1;
	if (strlcat(buf, "/", bufsz) >= bufsz || strlcat(buf, hex, bufsz) >= bufsz)
		return -1;
	return 0;
}

static int
token_char(unsigned char c)
{
	return isalnum(c) || c == '-' || c == '.' || c == ':' || c == '[' || c == ']' ||
	       c == '/' || c == '_';
}

size_t
token_scan(const char *line, size_t len, size_t *pos, char *buf, size_t bufsz)
{
	size_t plen = strlen(PREFIX);

	for (size_t i = *pos; i + plen <= len; i++) {
		size_t j;

		if (memcmp(line + i, PREFIX, plen) != 0)
			continue;
		for (j = i; j < len && token_char((unsigned char)line[j]); j++)
			;
		*pos = j;
		if (j - i >= bufsz)
			continue; /* too long to be ours */
		memcpy(buf, line + i, j - i);
		buf[j - i] = '\0';
		return j - i;
	}
	*pos = len;
	return 0;
}

int
token_verify(const struct token_key *k, const char *tok, struct token *out)
{
	char hex[2 * MAC_BYTES + 1], copy[TOKEN_MAX];
	const char *mac;
	char *id, *target, *when, *end, *slash;
	long long t;

	if (strlcpy(copy, tok, sizeof(copy)) >= sizeof(copy) ||
	    strncmp(copy, PREFIX, strlen(PREFIX)) != 0)
		return -1;
	if ((slash = strrchr(copy, '/')) == NULL || strlen(slash + 1) != 2 * MAC_BYTES)
		return -1;
	mac = tok + (slash - copy) + 1;
	if (mac_hex(k, tok, (size_t)(slash - copy), hex) < 0 ||
	    CRYPTO_memcmp(hex, mac, 2 * MAC_BYTES) != 0)
		return -1;
	*slash = '\0';
	/* mp1/id/target/time: id has no '/', target has none either */
	id = copy + strlen(PREFIX);
	if ((target = strchr(id, '/')) == NULL)
		return -1;
	*target++ = '\0';
	if ((when = strrchr(target, '/')) == NULL)
		return -1;
	*when++ = '\0';
	errno = 0;
	t = strtoll(when, &end, 10);
	if (errno != 0 || *end != '\0' || end == when)
		return -1;
	if (strlcpy(out->id, id, sizeof(out->id)) >= sizeof(out->id) ||
	    strlcpy(out->target, target, sizeof(out->target)) >= sizeof(out->target))
		return -1;
	out->when = (time_t)t;
	return 0;
}
