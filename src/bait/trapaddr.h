/* SPDX-License-Identifier: ISC */
/*
 * trapaddr.h - trap addresses that name their harvester.
 *
 * A trap address is minted for one page view: its local part carries the
 * address of the client that fetched the page and the time, encrypted and
 * authenticated under the site secret, behind an ordinary-looking first
 * name: "laura.m3x2kq7tzd9bn4hw5vcy1p" @ a trap domain. No database is
 * needed to recognise one later: the MAC is the proof, and a tampered or
 * invented address is just an unknown user.
 *
 * Layout (before base32): MAC(5) || E(family(1) || address(4|16) || time(4)),
 * time in seconds since the epoch (unsigned 32 bits),
 * MAC = HMAC-SHA256(secret, "mac" || plaintext)[0..5),
 * E   = XOR with HMAC-SHA256(secret, "enc" || MAC).
 */
#ifndef MOAT_TRAPADDR_H
#define MOAT_TRAPADDR_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/netaddr.h"

#define TRAP_SECRET_MIN 16
#define TRAP_SECRET_MAX 64

struct trap_secret {
	unsigned char key[TRAP_SECRET_MAX];
	size_t len;
};

/*
 * trap_secret_load - read path, a regular file (not a link) that is root's
 * alone, reached past nothing the run user can change (safe_distrust());
 * with create, make a random one (mode 0600) when there is none
 */
int trap_secret_load(const char *path, int create, struct trap_secret *s, char *err,
                     size_t errsz);

/* trap_mint - local part for (harvester, when); returns its length or -1 */
int trap_mint(const struct trap_secret *s, const struct netaddr *harvester, time_t when,
              char *local, size_t localsz);

/*
 * trap_verify - 1 if local is a genuine trap local part (then *harvester and
 * *when are set), 0 if not. max_age > 0 refuses older addresses.
 */
int trap_verify(const struct trap_secret *s, const char *local, time_t max_age,
                time_t now, struct netaddr *harvester, time_t *when);

/* base32 (RFC 4648 alphabet, lower case, no padding) */
size_t base32_encode(const unsigned char *in, size_t len, char *out, size_t outsz);
int base32_decode(const char *in, size_t len, unsigned char *out, size_t outsz);

#endif
