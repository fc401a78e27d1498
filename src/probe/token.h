/* SPDX-License-Identifier: ISC */
/*
 * token.h - HMAC-SHA256 signed test tokens: proof that a message came back.
 *
 * A token is "mp1/<test id>/<target>/<unix time>/<mac>", mac being the first
 * 128 bits of HMAC-SHA256(key, everything before the last "/") in hex. It
 * travels in the Subject, a header and the body of each test message; the
 * sink finds it with token_scan() and token_verify() checks it.
 * SECURITY: token_scan() reads message lines from the network: it works on
 * (pointer, length), never past the end, and copies at most TOKEN_MAX bytes.
 */
#ifndef MOAT_PROBE_TOKEN_H
#define MOAT_PROBE_TOKEN_H

#include <stddef.h>
#include <time.h>

#include "probe/probe.h"

#define TOKEN_MAX     (4 + PROBE_ID_MAX + PROBE_KEY_MAX + 24 + 33)
#define TOKEN_KEY_MAX 256

struct token_key {
	unsigned char key[TOKEN_KEY_MAX];
	size_t len;
};

struct token {
	char id[PROBE_ID_MAX];
	char target[PROBE_KEY_MAX];
	time_t when;
};

/* token_key_load - the key from a file (16..256 bytes); -1 with a message */
int token_key_load(struct token_key *k, const char *path, char *err, size_t errsz);
/* token_key_random - a fresh random key for this run */
int token_key_random(struct token_key *k);

int token_make(const struct token_key *k, const char *id, const char *target, time_t when,
               char *buf, size_t bufsz);
/* token_scan - the next candidate token in line[0..len) from *pos; 0 if none */
size_t token_scan(const char *line, size_t len, size_t *pos, char *buf, size_t bufsz);
/* token_verify - 0 and *out filled if tok is ours and its mac is right */
int token_verify(const struct token_key *k, const char *tok, struct token *out);

#endif
