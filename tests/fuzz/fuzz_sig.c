/* SPDX-License-Identifier: ISC */
/*
 * fuzz_sig.c - libFuzzer target for the signature reader and matcher
 * (src/sig/). The input up to its first NUL is a signatures file; what
 * follows is a client's text, matched at every stage, by the file's rules
 * when they compile and by the shipped rules (etc/signatures.conf, read
 * once) always. A set either fails with its errors or matches: every hit
 * is a rule of the set, of that stage, named once, and a longer=N rule
 * only hits text longer than N.
 */
#include "fuzz.h"
#include "sig/sig.h"

static struct sigset *shipped;

static void
check(const struct sigset *set, const char *text, size_t len)
{
	for (int st = 0; st < SIG_NSTAGES; st++) {
		struct sig_hits h;
		size_t n = sigset_match(set, (enum sig_stage)st, text, len, len, &h);

		REQUIRE(n == h.n && n <= SIG_HITS_MAX);
		REQUIRE(n <= sigset_count(set, st));
		for (size_t i = 0; i < n; i++) {
			REQUIRE(h.rule[i]->stages & (1u << st));
			REQUIRE(h.rule[i]->longer == 0 || len > h.rule[i]->longer ||
			        len > SIG_TEXT_MAX);
			for (size_t j = 0; j < i; j++)
				REQUIRE(h.rule[j] != h.rule[i]);
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	const char *nul = memchr(p, '\0', size);
	size_t flen = nul ? (size_t)(nul - p) : size;
	const char *text = nul ? nul + 1 : "";
	size_t tlen = nul ? size - flen - 1 : 0;
	struct sigset *set;

	if (shipped == NULL) {
		shipped = sigset_load("etc/signatures.conf", NULL);
		REQUIRE(shipped != NULL);
	}
	if ((set = sigset_parse("fuzz", p, flen, NULL)) != NULL) {
		check(set, text, tlen);
		sigset_free(set);
	}
	check(shipped, text, tlen);
	/* and the whole input as one text, binary and all */
	check(shipped, p, size);
	return 0;
}
