/* SPDX-License-Identifier: ISC */
/*
 * srs.c - SRS0/SRS1 addresses made and undone (srs.h), field by field as
 * libsrs2 does, so that postsrsd with the same secret agrees with us.
 * SECURITY: srs_reverse() reads a local part from RCPT (a stranger's
 * bytes, already bounded and parsed by mailaddr.c): every field is found
 * within it, and nothing is trusted before its HMAC matched (compared in
 * constant time) and its day is recent.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "common/srs.h"

#define DAY      86400
#define DAY_BITS 5
#define DAYS     1024 /* two base32 digits */

static const char base32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/* is_srs - local begins "SRS0" or "SRS1" (any case) and a separator */
static int
is_srs(const char *local, char digit)
{
	return strncasecmp(local, "SRS", 3) == 0 && local[3] == digit &&
	       (local[4] == '=' || local[4] == '+' || local[4] == '-');
}

/*
 * hash - the first len characters of base64(HMAC-SHA1(secret, the fields
 * lower-cased, one after the other)) into out (len + 1); -1 if the fields
 * are too long
 */
static int
hash(const char *secret, const char *const *fields, size_t nfields, char *out, size_t len)
{
	unsigned char data[1024], mac[EVP_MAX_MD_SIZE],
	    b64[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
	unsigned int maclen = 0;
	size_t n = 0;

	for (size_t i = 0; i < nfields; i++)
		for (const char *p = fields[i]; *p != '\0'; p++) {
			if (n == sizeof(data))
				return -1;
			data[n++] = (unsigned char)tolower((unsigned char)*p);
		}
	if (HMAC(EVP_sha1(), secret, (int)strlen(secret), data, n, mac, &maclen) == NULL)
		return -1;
	EVP_EncodeBlock(b64, mac, (int)maclen);
	if (len > strlen((char *)b64))
		return -1;
	memcpy(out, b64, len);
	out[len] = '\0';
	return 0;
}

/* hash_ok - given is the hash of the fields under one of the secrets (any
 * case: mail systems lower-case local parts) */
static int
hash_ok(const struct srs *srs, const char *given, size_t glen, const char *const *fields,
        size_t nfields)
{
	char want[32], a[32], b[32];

	if (glen < SRS_HASH_LEN || glen >= sizeof(want))
		return 0;
	for (size_t i = 0; i < srs->nsecrets; i++) {
		if (hash(srs->secrets[i], fields, nfields, want, glen) == -1)
			return 0;
		for (size_t k = 0; k < glen; k++) {
			a[k] = (char)tolower((unsigned char)given[k]);
			b[k] = (char)tolower((unsigned char)want[k]);
		}
		if (CRYPTO_memcmp(a, b, glen) == 0)
			return 1;
	}
	return 0;
}

/* stamp_ok - a two-digit day stamp at most max_age days old */
static int
stamp_ok(const struct srs *srs, const char *stamp, size_t len, time_t now)
{
	unsigned then = 0, today = (unsigned)((now / DAY) % DAYS);

	if (len != 2)
		return 0;
	for (size_t i = 0; i < len; i++) {
		const char *p = strchr(base32, toupper((unsigned char)stamp[i]));
		if (p == NULL || *p == '\0')
			return 0;
		then = (then << DAY_BITS) | (unsigned)(p - base32);
	}
	while (today < then)
		today += DAYS;
	return today <= then + (unsigned)srs->max_age;
}

static enum srs_result
fits(int n, size_t outsz)
{
	return n < 0 || (size_t)n >= outsz ? SRS_TOO_LONG : SRS_OK;
}

enum srs_result
srs_forward(const struct srs *srs, const char *sender, time_t now, char *out,
            size_t outsz)
{
	char local[256], hh[32];
	const char *at = strrchr(sender, '@'), *host;

	if (srs->nsecrets == 0 || at == NULL || at == sender || at[1] == '\0' ||
	    strcasecmp(at + 1, srs->domain) == 0)
		return SRS_NOT;
	if ((size_t)(at - sender) >= sizeof(local))
		return SRS_TOO_LONG;
	memcpy(local, sender, (size_t)(at - sender));
	local[at - sender] = '\0';
	host = at + 1;
	char *h, *user;
	if (strlen(local) > 5 && is_srs(local, '1') &&
	    (h = strchr(local + 5, '=')) != NULL && (user = strchr(h + 1, '=')) != NULL) {
		/* SRS1=HHHH=first.host==rest: a new hash, the first forwarder's
		 * host and what it rewrote stay (a broken SRS1 is an ordinary
		 * name, below) */
		*h++ = '\0';
		*user++ = '\0';
		const char *f[] = {h, user};
		if (hash(srs->secrets[0], f, 2, hh, SRS_HASH_LEN) == -1)
			return SRS_TOO_LONG;
		return fits(snprintf(out, outsz, "SRS1%c%s=%s=%s@%s", srs->sep, hh, h,
		                     user, srs->domain),
		            outsz);
	}
	if (strlen(local) > 5 && is_srs(local, '0')) {
		/* SRS1 over the SRS0 address of the host that made it */
		const char *f[] = {host, local + 4};
		if (hash(srs->secrets[0], f, 2, hh, SRS_HASH_LEN) == -1)
			return SRS_TOO_LONG;
		return fits(snprintf(out, outsz, "SRS1%c%s=%s=%s@%s", srs->sep, hh, host,
		                     local + 4, srs->domain),
		            outsz);
	}
	char ts[3];
	unsigned day = (unsigned)((now / DAY) % DAYS);
	ts[0] = base32[(day >> DAY_BITS) & 31];
	ts[1] = base32[day & 31];
	ts[2] = '\0';
	const char *f[] = {ts, host, local};
	if (hash(srs->secrets[0], f, 3, hh, SRS_HASH_LEN) == -1)
		return SRS_TOO_LONG;
	return fits(snprintf(out, outsz, "SRS0%c%s=%s=%s=%s@%s", srs->sep, hh, ts, host,
	                     local, srs->domain),
	            outsz);
}

enum srs_result
srs_reverse(const struct srs *srs, const char *local, time_t now, char *out, size_t outsz)
{
	char buf[256];
	char *h, *stamp, *host, *user;

	if (strlen(local) <= 5 || (!is_srs(local, '0') && !is_srs(local, '1')))
		return SRS_NOT;
	if (strlcpy(buf, local, sizeof(buf)) >= sizeof(buf))
		return SRS_BAD;
	h = buf + 5;
	if (is_srs(local, '1')) {
		/* SRS1=HHHH=host=rest -> SRS0rest@host */
		if ((host = strchr(h, '=')) == NULL ||
		    (user = strchr(host + 1, '=')) == NULL)
			return SRS_BAD;
		*host++ = '\0';
		*user++ = '\0';
		const char *f[] = {host, user};
		if (*host == '\0' || *user == '\0' || !hash_ok(srs, h, strlen(h), f, 2))
			return SRS_BAD;
		return fits(snprintf(out, outsz, "SRS0%s@%s", user, host), outsz) ==
		               SRS_OK
		           ? SRS_OK
		           : SRS_BAD;
	}
	/* SRS0=HHHH=TT=host=user -> user@host */
	if ((stamp = strchr(h, '=')) == NULL || (host = strchr(stamp + 1, '=')) == NULL ||
	    (user = strchr(host + 1, '=')) == NULL)
		return SRS_BAD;
	*stamp++ = '\0';
	*host++ = '\0';
	*user++ = '\0';
	const char *f[] = {stamp, host, user};
	if (*host == '\0' || *user == '\0' || !stamp_ok(srs, stamp, strlen(stamp), now) ||
	    !hash_ok(srs, h, strlen(h), f, 3))
		return SRS_BAD;
	return fits(snprintf(out, outsz, "%s@%s", user, host), outsz) == SRS_OK ? SRS_OK
	                                                                        : SRS_BAD;
}
