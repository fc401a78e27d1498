/* SPDX-License-Identifier: ISC */
/*
 * attack.h - what a signature hit leads to (attack.c): an event in the log
 * and in the store (moatctl events), the rule's score added to the
 * client's attack score in the store (shared by every worker, and by every
 * host once the store is shared), and at attack_ban_score a ban for
 * attack_ban_time, exported with the others. Header hits are scored but
 * never ban on their own; trusted, allowlisted and authenticated clients
 * are scored and logged, never banned.
 */
#ifndef MOAT_ATTACK_H
#define MOAT_ATTACK_H

#include <stddef.h>
#include <stdio.h>

#include "sig/sig.h"

struct policy;
struct policy_client;
struct screen_conf;
struct attack_req;

/* attack_cb - the store answered: banned is 1 when this hit banned the client */
typedef void attack_cb(void *arg, int banned);

/*
 * attack_report - the hits of one text of a client's at stage: each is
 * logged now (once, with its rule, reference and the text escaped); the
 * store work follows, and cb (may be NULL) hears whether the client is
 * banned now. The request is freed after cb, or by the store's answer
 * once cancelled.
 */
struct attack_req *attack_report(struct policy *p, const struct policy_client *cl,
                                 enum sig_stage stage, const struct sig_hits *hits,
                                 const char *text, size_t len, attack_cb *cb, void *arg);
/* attack_cancel - cb is not called; the store work goes on */
void attack_cancel(struct attack_req *r);

/* attack_signatures_check - can signatures_file be used? -1 after file:line
 * errors on err (moatd -n, start and reload) */
int attack_signatures_check(const struct screen_conf *s, FILE *err);

/* The worker's counters, added to the store's stat:attack_hits/_bans. */
unsigned long policy_attack_hits(const struct policy *p);
unsigned long policy_attack_bans(const struct policy *p);

#endif
