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
    [M_SESSIONS_OPEN] =
        {
            .name = "moat_sessions_open",
            .type = MT_GAUGE,
            .source = MS_GAUGE,
            .help = "SMTP sessions open now, all workers",
        },
    [M_SESSIONS_ACCEPTED] =
        {
            .name = "moat_sessions_accepted_total",
            .type = MT_COUNTER,
            .source = MS_STAT,
            .help = "SMTP connections accepted into a session",
            .stat = "sessions",
        },
    [M_SESSIONS_REFUSED] =
        {
            .name = "moat_sessions_refused_total",
            .type = MT_COUNTER,
            .source = MS_RECORDED,
            .help = "Refusals (4xx/5xx replies) by session stage and "
                    "rule; stage connect refuses the whole session",
            .labels = {"stage", "rule"},
        },
    [M_SESSIONS_PREEMPTED] =
        {
            .name = "moat_sessions_preempted_total",
            .type = MT_COUNTER,
            .source = MS_STAT,
            .help = "Idle sessions closed to make room for a newcomer",
            .stat = "preempted",
        },
    [M_SCREEN_VERDICTS] =
        {
            .name = "moat_screen_verdicts_total",
            .type = MT_COUNTER,
            .source = MS_RECORDED,
            .help = "Screening verdicts by hook, verdict (pass, tempfail, "
                    "reject) and the rule that decided",
            .labels = {"hook", "verdict", "rule"},
        },
    [M_RCPTS_REJECTED] =
        {
            .name = "moat_recipients_rejected_total",
            .type = MT_COUNTER,
            .source = MS_STAT,
            .help = "RCPT commands refused",
            .stat = "rejected_rcpts",
        },
    [M_MESSAGES_ACCEPTED] =
        {
            .name = "moat_messages_accepted_total",
            .type = MT_COUNTER,
            .source = MS_STAT,
            .help = "Messages queued and acknowledged with 250",
            .stat = "messages",
        },
    [M_MESSAGE_SIZE] =
        {
            .name = "moat_message_size_bytes",
            .type = MT_HISTOGRAM,
            .source = MS_RECORDED,
            .help = "Size of the messages accepted, in octets",
            .bounds = size_bounds,
            .nbounds = NB(size_bounds),
            .scale = 1,
        },
    [M_COMMIT_SECONDS] =
        {
            .name = "moat_commit_duration_seconds",
            .type = MT_HISTOGRAM,
            .source = MS_RECORDED,
            .help = "From the end of DATA to the message being durable in "
                    "the queue (the wait before the 250)",
            .bounds = latency_bounds,
            .nbounds = NB(latency_bounds),
            .scale = SECONDS,
        },
    [M_DELIVERIES] =
        {
            .name = "moat_deliveries_total",
            .type = MT_COUNTER,
            .source = MS_RECORDED,
            .help = "Recipient delivery attempts by transport (maildir, lmtp, "
                    "smtp, mx, none) and result (sent, deferred, bounced)",
            .labels = {"transport", "result"},
        },
    [M_DELIVERIES_TLS] =
        {
            .name = "moat_deliveries_tls_total",
            .type = MT_COUNTER,
            .source = MS_RECORDED,
            .help = "Recipients delivered over SMTP or LMTP connections, by the "
                    "TLS the connection reached (none, encrypted, verified, dane)",
            .labels = {"tls"},
        },
    [M_MTA_STS_LOOKUPS] =
        {
            .name = "moat_mta_sts_lookups_total",
            .type = MT_COUNTER,
            .source = MS_RECORDED,
            .help = "MTA-STS lookups of domains that publish a policy, by result: "
                    "fetched, cached (the stored policy still current), failed "
                    "(the fetch failed)",
            .labels = {"result"},
        },
    [M_MTA_STS_FAILURES] =
        {
            .name = "moat_mta_sts_failures_total",
            .type = MT_COUNTER,
            .source = MS_RECORDED,
            .help = "MX hosts, and connections to them, that did not meet their "
                    "domain's MTA-STS policy, by its mode (enforce: refused; "
                    "testing: logged)",
            .labels = {"mode"},
        },
    [M_QUEUE_MESSAGES] =
        {
            .name = "moat_queue_messages",
            .type = MT_GAUGE,
            .source = MS_GAUGE,
            .help = "Messages in the queue",
        },
    [M_QUEUE_OLDEST] =
        {
            .name = "moat_queue_oldest_message_age_seconds",
            .type = MT_GAUGE,
            .source = MS_GAUGE,
            .help = "Age of the oldest message in the queue (0 when empty)",
        },
    [M_DNS_SECONDS] =
        {
            .name = "moat_dns_query_duration_seconds",
            .type = MT_HISTOGRAM,
            .source = MS_RECORDED,
            .help = "DNS queries sent to the resolvers (cached answers not "
                    "counted), until the answer or the failure",
            .bounds = latency_bounds,
            .nbounds = NB(latency_bounds),
            .scale = SECONDS,
        },
    [M_STORE_SECONDS] =
        {
            .name = "moat_store_operation_duration_seconds",
            .type = MT_HISTOGRAM,
            .source = MS_RECORDED,
            .help = "State store operations of the SMTP workers and the queue "
                    "runner, from the request to the answer",
            .bounds = latency_bounds,
            .nbounds = NB(latency_bounds),
            .scale = SECONDS,
        },
    [M_STORE_ALARMS] =
        {
            .name = "moat_store_alarms_total",
            .type = MT_COUNTER,
            .source = MS_STAT,
            .help = "Checks that let a client through because the state store "
                    "failed",
            .stat = "store_alarms",
        },
    [M_BANS] =
        {
            .name = "moat_bans",
            .type = MT_GAUGE,
            .source = MS_GAUGE,
            .help = "Client addresses banned now",
        },
    [M_STRESS] =
        {
            .name = "moat_stress",
            .type = MT_GAUGE,
            .source = MS_GAUGE,
            .help = "1 while any SMTP worker is in stress mode, else 0",
        },
    [M_STRESS_EPISODES] =
        {
            .name = "moat_stress_episodes_total",
            .type = MT_COUNTER,
            .source = MS_STAT,
            .help = "Times an SMTP worker entered stress mode",
            .stat = "stress_began",
        },
    [M_ATTACK_HITS] =
        {
            .name = "moat_attack_signature_hits_total",
            .type = MT_COUNTER,
            .source = MS_STAT,
            .help = "Attack signature matches",
            .stat = "attack_hits",
        },
    [M_ATTACK_BANS] =
        {
            .name = "moat_attack_bans_total",
            .type = MT_COUNTER,
            .source = MS_STAT,
            .help = "Bans that attack signatures led to",
            .stat = "attack_bans",
        },
};
_Static_assert(NB(metric_families) == M_N, "a row for every metric");
