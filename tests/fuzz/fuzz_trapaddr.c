/* SPDX-License-Identifier: ISC */
/*
 * fuzz_trapaddr.c - trap_verify() on arbitrary local parts (they come from
 * RCPT TO), and base32_decode() on arbitrary bytes.
 * Invariants: no crash; a local part that verifies re-mints to itself (up to
 * case), i.e. only genuine MACs pass; decode output fits its buffer.
 */
#include <strings.h>

#include "bait/trapaddr.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct trap_secret s = {.key = "fuzzing secret, 32 bytes long..",
	                               .len = 32};
	char local[200];
	unsigned char dec[64];
	struct netaddr h;
	time_t when;

	int n = base32_decode((const char *)data, size, dec, sizeof(dec));
	REQUIRE(n <= (int)sizeof(dec));
	if (size >= sizeof(local))
		return 0;
	memcpy(local, data, size);
	local[size] = '\0';
	if (trap_verify(&s, local, 0, 2000000000, &h, &when) == 1) {
		char again[80];
		REQUIRE(trap_mint(&s, &h, when, again, sizeof(again)) > 0);
		REQUIRE(strcasecmp(again, local) == 0);
	}
	return 0;
}
