/* SPDX-License-Identifier: ISC */
/*
 * metrics_table.c - every metric moat exposes, one row each: its name,
 * type, source, help text, labels and buckets. The renderer, the counters
 * and moatd(8)'s METRICS section follow this table.
 * SECURITY: no input.
 */
#include "metrics/metrics.h"

#define SECONDS 1000000 /* latencies are counted in microseconds */
#define NB(a)   (sizeof(a) / sizeof((a)[0]))

/* from half a millisecond (an fsync on a fast disk, a cached lookup) to
 * ten seconds (a DNS timeout, a store that hangs) */
static const int64_t latency_bounds[] = {
    500,    1000,   2500,   5000,    10000,   25000,   50000,
    100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000,
};
_Static_assert(NB(latency_bounds) <= METRIC_BOUNDS_MAX, "latency buckets");

/* octets: 1 KiB to 64 MiB, by fours */
static const int64_t size_bounds[] = {
    1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
};
_Static_assert(NB(size_bounds) <= METRIC_BOUNDS_MAX, "size buckets");

const struct metric_family metric_families[M_N] = {
    [M_SESSIONS_OPEN] = {"moat_sessions_open", MT_GAUGE, MS_GAUGE,
                         "SMTP sessions open now, all workers"},
    [M_SESSIONS_ACCEPTED] = {"moat_sessions_accepted_total", MT_COUNTER, MS_STAT,
                             "SMTP connections accepted into a session", "sessions"},
    [M_SESSIONS_REFUSED] = {"moat_sessions_refused_total", MT_COUNTER, MS_RECORDED,
                            "Refusals (4xx/5xx replies) by session stage and "
                            "rule; stage connect refuses the whole session",
                            .labels = {"stage", "rule"}},
    [M_SESSIONS_PREEMPTED] = {"moat_sessions_preempted_total", MT_COUNTER, MS_STAT,
                              "Idle sessions closed to make room for a newcomer",
                              "preempted"},
    [M_SCREEN_VERDICTS] = {"moat_screen_verdicts_total", MT_COUNTER, MS_RECORDED,
                           "Screening verdicts by hook, verdict (pass, tempfail, "
                           "reject) and the rule that decided",
                           .labels = {"hook", "verdict", "rule"}},
    [M_RCPTS_REJECTED] = {"moat_recipients_rejected_total", MT_COUNTER, MS_STAT,
                          "RCPT commands refused", "rejected_rcpts"},
    [M_MESSAGES_ACCEPTED] = {"moat_messages_accepted_total", MT_COUNTER, MS_STAT,
                             "Messages queued and acknowledged with 250", "messages"},
    [M_MESSAGE_SIZE] = {"moat_message_size_bytes", MT_HISTOGRAM, MS_RECORDED,
                        "Size of the messages accepted, in octets", .bounds = size_bounds,
                        .nbounds = NB(size_bounds), .scale = 1},
    [M_COMMIT_SECONDS] = {"moat_commit_duration_seconds", MT_HISTOGRAM, MS_RECORDED,
                          "From the end of DATA to the message being durable in "
                          "the queue (the wait before the 250)",
                          .bounds = latency_bounds, .nbounds = NB(latency_bounds),
                          .scale = SECONDS},
    [M_DELIVERIES] = {"moat_deliveries_total", MT_COUNTER, MS_RECORDED,
                      "Recipient delivery attempts by transport (maildir, lmtp, "
                      "smtp, mx, none) and result (sent, deferred, bounced)",
                      .labels = {"transport", "result"}},
    [M_QUEUE_MESSAGES] = {"moat_queue_messages", MT_GAUGE, MS_GAUGE,
                          "Messages in the queue"},
    [M_QUEUE_OLDEST] = {"moat_queue_oldest_message_age_seconds", MT_GAUGE, MS_GAUGE,
                        "Age of the oldest message in the queue (0 when empty)"},
    [M_DNS_SECONDS] = {"moat_dns_query_duration_seconds", MT_HISTOGRAM, MS_RECORDED,
                       "DNS queries sent to the resolvers (cached answers not "
                       "counted), until the answer or the failure",
                       .bounds = latency_bounds, .nbounds = NB(latency_bounds),
                       .scale = SECONDS},
    [M_STORE_SECONDS] = {"moat_store_operation_duration_seconds", MT_HISTOGRAM,
                         MS_RECORDED,
                         "State store operations of the SMTP workers and the queue "
                         "runner, from the request to the answer",
                         .bounds = latency_bounds, .nbounds = NB(latency_bounds),
                         .scale = SECONDS},
    [M_STORE_ALARMS] = {"moat_store_alarms_total", MT_COUNTER, MS_STAT,
                        "Checks that let a client through because the state store "
                        "failed",
                        "store_alarms"},
    [M_BANS] = {"moat_bans", MT_GAUGE, MS_GAUGE, "Client addresses banned now"},
    [M_STRESS] = {"moat_stress", MT_GAUGE, MS_GAUGE,
                  "1 while any SMTP worker is in stress mode, else 0"},
    [M_STRESS_EPISODES] = {"moat_stress_episodes_total", MT_COUNTER, MS_STAT,
                           "Times an SMTP worker entered stress mode", "stress_began"},
    [M_ATTACK_HITS] = {"moat_attack_signature_hits_total", MT_COUNTER, MS_STAT,
                       "Attack signature matches", "attack_hits"},
    [M_ATTACK_BANS] = {"moat_attack_bans_total", MT_COUNTER, MS_STAT,
                       "Bans that attack signatures led to", "attack_bans"},
};
_Static_assert(NB(metric_families) == M_N, "a row for every metric");
