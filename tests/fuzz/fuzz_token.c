/* SPDX-License-Identifier: ISC */
/*
 * fuzz_token.c - what moat-probe's sink does with each received message
 * line: token_scan() over arbitrary bytes, token_verify() on each find.
 * Invariants: the scan ends, moves forward, stays inside the line, returns
 * NUL-terminated pieces that fit the buffer; a random piece never verifies.
 */
#include "fuzz.h"
#include "probe/token.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct token_key key = {.key = "fuzzing key, 32 bytes long.....",
	                                     .len = 32};
	char found[TOKEN_MAX];
	size_t pos = 0, n;

	while ((n = token_scan((const char *)data, size, &pos, found, sizeof(found))) >
	       0) {
		struct token t;
		REQUIRE(n < sizeof(found));
		REQUIRE(strlen(found) == n);
		REQUIRE(pos <= size);
		if (token_verify(&key, found, &t) == 0) {
			/* only possible if the input holds a correct MAC: check it */
			char again[TOKEN_MAX];
			REQUIRE(token_make(&key, t.id, t.target, t.when, again,
			                   sizeof(again)) == 0);
			REQUIRE(strcmp(again, found) == 0);
		}
	}
	REQUIRE(pos <= size || size < 4);
	return 0;
}
