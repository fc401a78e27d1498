/* SPDX-License-Identifier: ISC */
/*
 * stages.h - the screening stages (policy.c runs them in pipeline order).
 */
#ifndef MOAT_STAGES_H
#define MOAT_STAGES_H

#include "policy/policy.h"

extern const struct stage stage_relay;           /* relay_stage.c */
extern const struct stage stage_sender_login;    /* sender_login.c */
extern const struct stage stage_bans;            /* ban.c */
extern const struct stage stage_access;          /* access_stage.c */
extern const struct stage stage_limits;          /* limits.c */
extern const struct stage stage_submit_limits;   /* submit_limits.c */
extern const struct stage stage_verdict_cache;   /* verdict_cache.c */
extern const struct stage stage_verdict_record;  /* verdict_cache.c */
extern const struct stage stage_fcrdns;          /* dnscheck.c */
extern const struct stage stage_dnsbl;           /* dnsbl.c */
extern const struct stage stage_sender_domain;   /* dnscheck.c */
extern const struct stage stage_harvest;         /* harvest.c */
extern const struct stage stage_greylist;        /* greylist.c */
extern const struct stage stage_trap;            /* trap.c */
extern const struct stage stage_policy_services; /* psvc_stage.c */

/* policy.c: a worker's signature hits and attack bans (attack.c) */
void policy_attack_count(struct policy *p, unsigned hits, unsigned bans);

/* limits.c: release the session's concurrency counts */
void limits_release(struct policy *p, const struct policy_client *client);

#endif
