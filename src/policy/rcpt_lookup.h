/* SPDX-License-Identifier: ISC */
/*
 * rcpt_lookup.h - a worker's recipient lookups: the domains with a
 * recipient_lookup (a Dovecot userdb or a socketmap server) are asked
 * whether they know an address their users and aliases do not list.
 * Answers (found, not found) are kept lookup_cache_ttl seconds; trouble
 * is never kept.
 */
#ifndef MOAT_RCPT_LOOKUP_H
#define MOAT_RCPT_LOOKUP_H

#include "policy/lookup_proto.h"

struct event_base;
struct moat_conf;
struct domain_conf;
struct rcpt_lookups;

/* value: a socketmap's answer to a found key ("" for Dovecot); why: the
 * trouble, for the log */
typedef void (*rcpt_lookup_cb)(void *arg, enum lookup_status st, const char *value,
                               const char *why);

struct rcpt_lookups *rcpt_lookups_new(struct event_base *base,
                                      const struct moat_conf *conf);
/* rcpt_lookups_stop - answer every open lookup with trouble (the worker
 * ends); then rcpt_lookups_free */
void rcpt_lookups_stop(struct rcpt_lookups *l);
void rcpt_lookups_free(struct rcpt_lookups *l);

/*
 * rcpt_lookup - ask d's lookup about key ("user@domain", lower case,
 * without an extension). A cached answer comes before this returns; the
 * others later, from the event loop, within the lookup's timeouts.
 */
void rcpt_lookup(struct rcpt_lookups *l, const struct domain_conf *d, const char *key,
                 rcpt_lookup_cb cb, void *arg);

#endif
