/* SPDX-License-Identifier: ISC */
/*
 * trapaddr.c - mint and verify trap addresses (see trapaddr.h).
 *
 * SECURITY: trap_verify() parses local parts from RCPT TO, i.e. from the
 * network: the length is checked before decoding into fixed buffers, the
 * MAC is compared in constant time, and nothing about a failed check leaks
 * into the reply (a forged trap is an ordinary unknown user). The secret
 * file is read in trapsecret.c.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "bait/trapaddr.h"
#include "common/ascii.h"

#define MAC_LEN     5
#define PLAIN_MAX   (1 + 16 + 4)
#define PAYLOAD_MAX (MAC_LEN + PLAIN_MAX)

static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";

/* Plausible first names: the MAC picks one, so the same trap always reads
 * the same, and nothing but the MAC decides it. */
static const char *const names[] = {
    "anna",  "ben",   "carla", "david", "elena",  "felix", "greta",  "hugo",
    "irene", "jonas", "karen", "laura", "marco",  "nina",  "oscar",  "paula",
    "quinn", "rosa",  "simon", "tanja", "ulrich", "vera",  "walter", "xenia",
    "yusuf", "zoe",   "lena",  "mats",  "nora",   "peter", "sara",   "tom",
};

size_t
base32_encode(const unsigned char *in, size_t len, char *out, size_t outsz)
{
	size_t n = 0;
	unsigned buf = 0;
	int bits = 0;

	for (size_t i = 0; i < len; i++) {
		buf = (buf << 8) | in[i];
		bits += 8;
		while (bits >= 5) {
			if (n + 1 >= outsz)
				return 0;
			out[n++] = b32[(buf >> (bits - 5)) & 31];
			bits -= 5;
		}
	}
	if (bits > 0) {
		if (n + 1 >= outsz)
			return 0;
		out[n++] = b32[(buf << (5 - bits)) & 31];
	}
	out[n] = '\0';
	return n;
}

int
base32_decode(const char *in, size_t len, unsigned char *out, size_t outsz)
{
	size_t n = 0;
	unsigned buf = 0;
	int bits = 0;

	for (size_t i = 0; i < len; i++) {
		const char *p = strchr(b32, ascii_tolower((unsigned char)in[i]));
		if (in[i] == '\0' || p == NULL)
			return -1;
		buf = (buf << 5) | (unsigned)(p - b32);
		bits += 5;
		if (bits >= 8) {
			if (n >= outsz)
				return -1;
			out[n++] = (unsigned char)(buf >> (bits - 8));
			bits -= 8;
		}
	}
	/* leftover bits must be zero padding, fewer than 5 of them */
	if (bits >= 5 || (buf & ((1u << bits) - 1)) != 0)
		return -1;
	return (int)n;
}

static void
hmac(const struct trap_secret *s, const char *label, const unsigned char *data,
     size_t len, unsigned char out[32])
{
	unsigned char msg[3 + PAYLOAD_MAX];
	unsigned int outlen = 32;

	memcpy(msg, label, 3);
	memcpy(msg + 3, data, len);
	HMAC(EVP_sha256(), s->key, (int)s->len, msg, 3 + len, out, &outlen);
}

int
trap_mint(const struct trap_secret *s, const struct netaddr *harvester, time_t when,
          char *local, size_t localsz)
{
	unsigned char plain[PLAIN_MAX], payload[PAYLOAD_MAX], mac[32], ks[32];
	size_t alen = harvester->family == AF_INET ? 4 : 16, plen = 1 + alen + 4;
	uint32_t secs = (uint32_t)when; /* unsigned: good until 2106 */
	char enc[64];

	plain[0] = harvester->family == AF_INET ? 4 : 6;
	memcpy(plain + 1, harvester->addr, alen);
	plain[1 + alen] = (unsigned char)(secs >> 24);
	plain[2 + alen] = (unsigned char)(secs >> 16);
	plain[3 + alen] = (unsigned char)(secs >> 8);
	plain[4 + alen] = (unsigned char)secs;
	hmac(s, "mac", plain, plen, mac);
	memcpy(payload, mac, MAC_LEN);
	hmac(s, "enc", mac, MAC_LEN, ks);
	for (size_t i = 0; i < plen; i++)
		payload[MAC_LEN + i] = plain[i] ^ ks[i];
	if (base32_encode(payload, MAC_LEN + plen, enc, sizeof(enc)) == 0)
		return -1;
	int n = snprintf(local, localsz, "%s.%s",
	                 names[mac[MAC_LEN] % (sizeof(names) / sizeof(names[0]))], enc);
	return n < 0 || (size_t)n >= localsz ? -1 : n;
}

int
trap_verify(const struct trap_secret *s, const char *local, time_t max_age, time_t now,
            struct netaddr *harvester, time_t *when)
{
	unsigned char payload[PAYLOAD_MAX + 1], plain[PLAIN_MAX], mac[32], ks[32];
	const char *dot = strrchr(local, '.');
	size_t elen;
	int n;

	if (dot == NULL || s->len == 0)
		return 0;
	elen = strlen(dot + 1);
	/* exactly the two sizes we mint: 14 (IPv4) or 26 (IPv6) octets */
	if (elen != 23 && elen != 42)
		return 0;
	if ((n = base32_decode(dot + 1, elen, payload, sizeof(payload))) <
	    MAC_LEN + 1 + 4 + 4)
		return 0;
	size_t plen = (size_t)n - MAC_LEN;
	hmac(s, "enc", payload, MAC_LEN, ks);
	for (size_t i = 0; i < plen; i++)
		plain[i] = payload[MAC_LEN + i] ^ ks[i];
	if (!((plain[0] == 4 && plen == 9) || (plain[0] == 6 && plen == 21)))
		return 0;
	hmac(s, "mac", plain, plen, mac);
	if (CRYPTO_memcmp(mac, payload, MAC_LEN) != 0)
		return 0;
	/* the name in front is decided by the MAC too: check it */
	const char *name = names[mac[MAC_LEN] % (sizeof(names) / sizeof(names[0]))];
	if ((size_t)(dot - local) != strlen(name) ||
	    strncasecmp(local, name, strlen(name)) != 0)
		return 0;
	size_t alen = plain[0] == 4 ? 4 : 16;
	uint32_t secs = ((uint32_t)plain[1 + alen] << 24) |
	                ((uint32_t)plain[2 + alen] << 16) |
	                ((uint32_t)plain[3 + alen] << 8) | plain[4 + alen];
	time_t t = (time_t)secs;
	if (max_age > 0 && now - t > max_age)
		return 0;
	memset(harvester, 0, sizeof(*harvester));
	harvester->family = plain[0] == 4 ? AF_INET : AF_INET6;
	memcpy(harvester->addr, plain + 1, alen);
	*when = t;
	return 1;
}
