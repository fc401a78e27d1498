/* SPDX-License-Identifier: ISC */
/*
 * sig_int.h - what sigset.c (reading, compiling) and sigmatch.c (matching)
 * share of a signature set.
 */
#ifndef MOAT_SIG_INT_H
#define MOAT_SIG_INT_H

#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include <pcre2.h>

#include "sig/sig.h"

struct sigset {
	struct sig_rule *rules;
	size_t nrules;
	pcre2_code *stage_re[SIG_NSTAGES]; /* NULL: no rule for the stage */
	pcre2_match_data *md;
	pcre2_match_context *mctx;
};

/* sigmatch_setup - the match data and limits; sigmatch_teardown frees them */
void sigmatch_setup(struct sigset *set);
void sigmatch_teardown(struct sigset *set);

#endif
