/* SPDX-License-Identifier: ISC */
/*
 * limits.h - every limit moat enforces, declared once.
 *
 * Each row: config key (inside "limits { }"), default, minimum, maximum, and
 * what it bounds. conf.c turns the table into libconfuse options with range
 * checks; the rest of the code reads conf->limits.<key>.
 */
#ifndef MOAT_LIMITS_H
#define MOAT_LIMITS_H

#define MOAT_LIMITS(X)                                                                   \
	/* RFC 5321 §4.5.3.1.4: 512 octets including CRLF; extensions add to it. */     \
	X(command_line_max, 512, 512, 65536, "octets in a command line, CRLF included")  \
	/* RFC 5321 §4.5.3.1.6 */                                                       \
	X(text_line_max, 1000, 1000, 1048576, "octets in a message line, CRLF included") \
	X(message_size_max, 10485760, 1024, 2147483647, "octets in a message (SIZE)")    \
	/* RFC 5321 §4.5.3.1.8: at least 100 must be accepted. */                       \
	X(recipients_max, 100, 100, 100000, "recipients per message")                    \
	X(hop_count_max, 50, 1, 1000, "Received: lines a message may carry (loops)")     \
	X(messages_per_session_max, 100, 1, 1000000, "messages per session")             \
	X(errors_max, 20, 1, 1000, "protocol errors before 421 and disconnect")          \
	/* Postfix's smtpd_junk_command_limit; reset when a message is accepted. */      \
	X(junk_commands_max, 100, 1, 10000000,                                           \
	  "NOOP, RSET, VRFY, HELP, EXPN, ETRN, cancelled AUTH, duplicate RCPT")          \
	/* An idle session costs ~4.4 kB (bench/RESULTS.md): 10,000 are 44 MB. */        \
	X(sessions_max, 10000, 1, 1000000, "concurrent sessions, all listeners")         \
	X(stress_high_water, 70, 1, 100, "percent of sessions_max that starts stress")   \
	X(stress_timeout, 10, 1, 3600, "seconds to wait for a command under stress")     \
	/* RFC 5321 §4.5.3.2.7: at least 5 minutes awaiting a command. */               \
	X(timeout_command, 300, 1, 3600, "seconds to wait for the next command")         \
	/* RFC 5321 §4.5.3.2.5/6: 3 minutes per data block. */                          \
	X(timeout_data, 180, 1, 3600, "seconds to wait for more message data")           \
	/* A load balancer sends its PROXY header at once (session_proxy.c). */          \
	X(proxy_timeout, 10, 1, 300, "seconds for a PROXY header from proxy_from")       \
	X(data_rate_min, 1024, 0, 1073741824,                                            \
	  "octets/s a message must average over each minute; 0: no limit")               \
	X(dns_timeout_ms, 5000, 100, 60000, "milliseconds per DNS query attempt")        \
	X(dns_attempts, 2, 1, 10, "DNS query attempts")                                  \
	/* Delivery retries, like Postfix's minimal/maximal_backoff_time. */             \
	X(retry_min, 300, 1, 86400, "seconds before the first retry")                    \
	X(retry_max, 14400, 1, 604800, "longest wait between retries, seconds")          \
	X(queue_lifetime, 432000, 60, 8640000,                                           \
	  "seconds before undeliverable mail bounces")                                   \
	X(queue_scan_interval, 60, 1, 3600, "seconds between scans of the queue")        \
	/* The power-loss duplicate window of spool_sync = journal (journal.h). */       \
	X(journal_retire, 1, 1, 3600, "seconds before a spool journal segment retires")  \
	/* Password guessing (AUTH brute force): per client IP. */                       \
	X(auth_failures_max, 5, 1, 1000,                                                 \
	  "failed logins per IP within auth_failure_window")                             \
	X(auth_failure_window, 600, 1, 86400, "seconds over which failed logins count")  \
	X(auth_ban_time, 900, 1, 604800,                                                 \
	  "seconds an IP is refused after too many failures")                            \
	/* Delivery, like Postfix's default_destination_concurrency_limit etc. */        \
	X(delivery_concurrency, 20, 1, 1000, "connections per destination")              \
	X(delivery_conns_max, 200, 1, 10000, "delivery connections in all")              \
	X(delivery_msgs_per_conn, 100, 1, 100000, "messages sent over one connection")   \
	X(delivery_connect_timeout, 30, 1, 600, "seconds to connect and be greeted")     \
	X(delivery_command_timeout, 300, 1, 3600, "seconds per reply")                   \
	X(delivery_data_timeout, 600, 1, 3600, "seconds for a message and its reply")    \
	X(delivery_idle_time, 2, 0, 300, "seconds an idle connection waits for mail")    \
	/* A queue with mail for thousands of domains must not open thousands of         \
	 * HTTPS fetches at once (mtasts_fetch.c); the others wait their turn. */        \
	X(mta_sts_fetches_max, 16, 1, 1000, "MTA-STS policy fetches at once")            \
	/* RFC 5321 §4.5.4.1 says 25; tests move MX delivery to a free port. */         \
	X(mx_port, 25, 1, 65535, "TCP port of MX hosts")                                 \
	/* Screening (RFC 2505 §2.8 limits; postscreen- and spamd-like tests). */       \
	X(conn_per_ip, 20, 1, 100000, "concurrent sessions per client (IPv6: per /64)")  \
	X(conn_rate, 120, 0, 1000000, "connections per client per minute; 0: no limit")  \
	X(msg_rate, 300, 0, 1000000, "messages per client per minute; 0: no limit")      \
	X(rcpt_rate, 1000, 0, 1000000, "recipients per client per minute; 0: no limit")  \
	/* Submission: per login (and sender address) across hosts sharing the           \
	 * store; what one stolen password can send (submit_limits.c). */                \
	X(submit_msg_rate, 100, 0, 1000000,                                              \
	  "messages per login per submit_rate_window; 0: no limit")                      \
	X(submit_rcpt_rate, 1000, 0, 1000000,                                            \
	  "recipients per login per submit_rate_window; 0: no limit")                    \
	X(submit_sender_rate, 0, 0, 1000000,                                             \
	  "authenticated messages per sender address per submit_rate_window; 0: none")   \
	X(submit_rate_window, 3600, 60, 86400, "seconds the submit_*_rate budgets span") \
	X(greet_delay_ms, 0, 0, 60000, "pause before the 220 greeting (early talkers)")  \
	X(early_talker_ttl, 3600, 1, 2592000, "seconds an early talker is remembered")   \
	X(greet_pass_ttl, 86400, 0, 31536000,                                            \
	  "seconds a client that waited for the greeting is greeted at once")            \
	X(tarpit_step_ms, 500, 0, 60000, "delay added to each reply per client error")   \
	X(tarpit_max_ms, 10000, 0, 600000, "the longest tarpit delay")                   \
	X(refuse_hold_ms, 0, 0, 600000, "a client refused at connect waits this long")   \
	X(stutter_score, 0, 0, 1000, "score from which replies trickle; 0: never")       \
	X(stutter_ms, 100, 1, 10000, "pause between bytes when stuttering")              \
	X(dnsbl_threshold, 3, 1, 1000, "DNSBL score that refuses a client")              \
	X(fcrdns_score, 1, 0, 1000, "score for a client without forward-confirmed rDNS") \
	X(dns_cache_max, 10000, 0, 1000000, "answers kept in the DNS cache")             \
	X(greylist_delay, 300, 0, 86400, "seconds before a greylisted retry passes")     \
	X(greylist_window, 14400, 60, 604800, "seconds a greylisted retry may take")     \
	X(greylist_pass_ttl, 3110400, 60, 31536000, "seconds a passed client is known")  \
	X(harvest_soft, 5, 1, 10000, "unknown recipients per session before slowing")    \
	X(harvest_hard, 20, 1, 10000, "unknown recipients per session before 421")       \
	X(harvest_ban, 50, 1, 1000000, "unknown recipients per client and window: ban")  \
	X(harvest_window, 3600, 60, 604800,                                              \
	  "seconds over which unknown recipients count")                                 \
	X(harvest_ban_time, 86400, 60, 31536000, "seconds a harvester stays banned")     \
	/* Attack signatures (signatures_file): scores per client and window. */         \
	X(attack_ban_score, 10, 1, 1000000, "attack score per client and window: ban")   \
	X(attack_window, 86400, 60, 2592000, "seconds over which attack scores count")   \
	X(attack_ban_time, 86400, 60, 31536000, "seconds an attacker stays banned")      \
	X(verdict_cache_ttl, 3600, 0, 604800, "seconds a client that passed is trusted") \
	/* Postfix's queue_minfree; 0: 1.5 x message_size_max (+ a journal segment) */   \
	X(spool_free_min, 0, 0, 1099511627776,                                           \
	  "octets the spool's file system keeps free, or MAIL gets 452 4.3.1")           \
	X(store_map_mb, 256, 1, 1048576, "the most the state store may grow, MiB")       \
	X(store_sync_ms, 1000, 0, 60000, "state store flush interval; 0: every commit")  \
	/* The metrics endpoint (metrics_listen). */                                     \
	X(metrics_conns_max, 16, 1, 1000, "connections the metrics endpoint holds")      \
	X(metrics_request_timeout, 10, 1, 600,                                           \
	  "seconds a metrics connection may take for its request and answer")            \
	X(metrics_request_max, 8192, 1024, 65536, "octets of a metrics request's head")  \
	/* Bait pages and trap addresses. */                                             \
	X(bait_addresses, 4, 1, 50, "trap addresses on one bait page")                   \
	X(bait_pace_ms, 1000, 0, 60000, "pause before a bait page is sent")              \
	X(bait_conns_max, 512, 1, 100000, "connections the bait web server holds")       \
	X(bait_request_timeout, 10, 1, 600,                                              \
	  "seconds a bait connection may take for its request")                          \
	X(bait_request_max, 8192, 1024, 65536, "octets of a bait request's head")        \
	X(bait_max_age, 0, 0, 315360000, "seconds a trap address stays a trap; 0: ever") \
	X(bait_ban_time, 2592000, 60, 31536000, "seconds a trapped sender is banned")    \
	/* One hit may be a mistake; the published list is for the whole world. */       \
	X(trap_export_hits, 2, 1, 1000, "trap hits before a ban is exported")            \
	X(bait_export_interval, 300, 10, 86400, "seconds between rbldnsd zone exports")

/*
 * What a command line may hold beyond command_line_max: RFC 5321 §4.5.3.1.4
 * lets each advertised extension lengthen it. MAIL FROM gains SIZE=
 * (RFC 1870 §3(5)) and AUTH= (RFC 4954 §5); an AUTH command or response
 * line may be 12288 octets (RFC 4954 §4). The session bounds each line by
 * these; the worker sizes its one line buffer by the longest.
 */
#define LIMIT_MAIL_SIZE_EXTRA 26
#define LIMIT_MAIL_AUTH_EXTRA 500
#define LIMIT_AUTH_LINE       12288

/*
 * Replies waiting for a client that does not read them: past this many
 * octets the session stops reading until they drain (a client that sends
 * HELP and never reads must not grow the worker).
 */
#define LIMIT_OUTPUT_PENDING 65536

/* limits_line_longest - the longest command line any state accepts */
static inline long
limits_line_longest(long command_line_max)
{
	long mail = command_line_max + LIMIT_MAIL_SIZE_EXTRA + LIMIT_MAIL_AUTH_EXTRA;
	long auth =
	    command_line_max > LIMIT_AUTH_LINE ? command_line_max : LIMIT_AUTH_LINE;
	return mail > auth ? mail : auth;
}

#endif
