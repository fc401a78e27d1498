/* SPDX-License-Identifier: ISC */
/*
 * fuzz.h - what the libFuzzer targets (tests/fuzz/fuzz_*.c) share.
 *
 * REQUIRE() states an invariant of the code under test; a violation prints
 * the condition and aborts, which libFuzzer reports as a crash and saves the
 * input that caused it.
 */
#ifndef MOAT_FUZZ_H
#define MOAT_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REQUIRE(cond)                                                                    \
	do {                                                                             \
		if (!(cond)) {                                                           \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__,       \
			        __LINE__, #cond);                                        \
			abort();                                                         \
		}                                                                        \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
