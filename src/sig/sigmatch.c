/* SPDX-License-Identifier: ISC */
/*
 * sigmatch.c - matching a text against the rules of one stage in one pass:
 * the stage's joined expression (sigset.c) ends every rule's alternative
 * in a callout naming the rule. The callout notes the rule and answers
 * "fail here", so PCRE2 goes on to try every other alternative at every
 * position; when it gives up, every rule that matches somewhere has been
 * noted, and a text that matches nothing (nearly every text) cost one
 * search.
 * SECURITY: text is network bytes of any value; the caller bounds its
 * length (SIG_TEXT_MAX). The match limit bounds the work of one search
 * (and so the backtracking of any rule); a search cut short keeps the
 * hits found until then and says so (hits->cut).
 */
#include <stdlib.h>
#include <string.h>

#include "sig/sig_int.h"

/* The work one search may do. A clean text against the shipped rules
 * takes a few hundred steps; a rule that backtracks badly hits this. */
#define MATCH_LIMIT 200000
#define DEPTH_LIMIT 2000
#define HEAP_LIMIT  1024 /* KiB */

struct scan {
	const struct sigset *set;
	size_t full_len;
	struct sig_hits *hits;
	unsigned char seen[SIG_RULES_MAX / 8];
};

static int
callout(pcre2_callout_block *cb, void *arg)
{
	struct scan *sc = arg;
	const char *s = (const char *)cb->callout_string;
	size_t i = 0;

	if (s == NULL || cb->callout_string_length == 0)
		return 1;
	for (size_t k = 0; k < cb->callout_string_length; k++) {
		if (s[k] < '0' || s[k] > '9')
			return 1;
		i = i * 10 + (size_t)(s[k] - '0');
		if (i >= sc->set->nrules)
			return 1;
	}
	const struct sig_rule *r = &sc->set->rules[i];
	if (r->longer > 0 && sc->full_len <= r->longer)
		return 1; /* the pattern is there, the length is not */
	if (!(sc->seen[i / 8] & (1u << (i % 8)))) {
		sc->seen[i / 8] |= (unsigned char)(1u << (i % 8));
		if (sc->hits->n < SIG_HITS_MAX)
			sc->hits->rule[sc->hits->n++] = r;
	}
	/* > 0: this alternative fails here; the search goes on with the rest */
	return 1;
}

void
sigmatch_setup(struct sigset *set)
{
	uint32_t most = 0;

	for (int st = 0; st < SIG_NSTAGES; st++) {
		uint32_t n = 0;
		if (set->stage_re[st] != NULL &&
		    pcre2_pattern_info(set->stage_re[st], PCRE2_INFO_CAPTURECOUNT, &n) ==
		        0 &&
		    n > most)
			most = n;
	}
	set->md = pcre2_match_data_create(most + 1, NULL);
	set->mctx = pcre2_match_context_create(NULL);
	pcre2_set_match_limit(set->mctx, MATCH_LIMIT);
	pcre2_set_depth_limit(set->mctx, DEPTH_LIMIT);
	pcre2_set_heap_limit(set->mctx, HEAP_LIMIT);
}

void
sigmatch_teardown(struct sigset *set)
{
	pcre2_match_data_free(set->md);
	pcre2_match_context_free(set->mctx);
}

/* rule order, so that the first hit named is the first rule of the file */
static int
by_rule(const void *a, const void *b)
{
	const struct sig_rule *x = *(const struct sig_rule *const *)a;
	const struct sig_rule *y = *(const struct sig_rule *const *)b;

	return (x > y) - (x < y);
}

size_t
sigset_match(const struct sigset *set, enum sig_stage stage, const char *text, size_t len,
             size_t full_len, struct sig_hits *hits)
{
	struct scan sc;
	int rc;

	hits->n = 0;
	hits->cut = 0;
	if (set == NULL || (unsigned)stage >= SIG_NSTAGES || set->stage_re[stage] == NULL)
		return 0;
	if (len > SIG_TEXT_MAX)
		len = SIG_TEXT_MAX;
	memset(&sc, 0, sizeof(sc));
	sc.set = set;
	sc.full_len = full_len > len ? full_len : len;
	sc.hits = hits;
	pcre2_set_callout(set->mctx, callout, &sc);
	rc = pcre2_match(set->stage_re[stage], (PCRE2_SPTR)text, len, 0, 0, set->md,
	                 set->mctx);
	/* every callout said "fail": no match is the normal end */
	if (rc != PCRE2_ERROR_NOMATCH && rc < 0)
		hits->cut = 1;
	qsort(hits->rule, hits->n, sizeof(hits->rule[0]), by_rule);
	return hits->n;
}
