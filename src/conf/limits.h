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
	/* RFC 5321 §4.5.3.1.3; the parser's buffers hold at most 256. */               \
	X(path_max, 256, 64, 256, "octets in a reverse- or forward-path")                \
	/* RFC 5321 §4.5.3.1.6 */                                                       \
	X(text_line_max, 1000, 1000, 1048576, "octets in a message line, CRLF included") \
	X(message_size_max, 10485760, 1024, 2147483647, "octets in a message (SIZE)")    \
	/* RFC 5321 §4.5.3.1.8: at least 100 must be accepted. */                       \
	X(recipients_max, 100, 100, 100000, "recipients per message")                    \
	X(messages_per_session_max, 100, 1, 1000000, "messages per session")             \
	X(errors_max, 20, 1, 1000, "protocol errors before 421 and disconnect")          \
	X(sessions_max, 1000, 1, 1000000, "concurrent sessions, all listeners")          \
	/* RFC 5321 §4.5.3.2.7: at least 5 minutes awaiting a command. */               \
	X(timeout_command, 300, 1, 3600, "seconds to wait for the next command")         \
	/* RFC 5321 §4.5.3.2.5/6: 3 minutes per data block. */                          \
	X(timeout_data, 180, 1, 3600, "seconds to wait for more message data")           \
	X(dns_timeout_ms, 5000, 100, 60000, "milliseconds per DNS query attempt")        \
	X(dns_attempts, 2, 1, 10, "DNS query attempts")                                  \
	/* Delivery retries, like Postfix's minimal/maximal_backoff_time. */             \
	X(retry_min, 300, 1, 86400, "seconds before the first retry")                    \
	X(retry_max, 14400, 1, 604800, "longest wait between retries, seconds")          \
	X(queue_lifetime, 432000, 60, 8640000,                                           \
	  "seconds before undeliverable mail bounces")                                   \
	X(queue_scan_interval, 60, 1, 3600, "seconds between scans of the queue")        \
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
	/* RFC 5321 §4.5.4.1 says 25; tests move MX delivery to a free port. */         \
	X(mx_port, 25, 1, 65535, "TCP port of MX hosts")

#endif
