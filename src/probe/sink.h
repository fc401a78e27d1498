/* SPDX-License-Identifier: ISC */
/*
 * sink.h - the receipt sink: a small SMTP server that accepts every message
 * and reports the moat-probe tokens it finds in them.
 *
 * A relayed test message comes back here; sink_new() listens, and for each
 * token-looking string in a received message cb(arg, token, peer, rcpt) is
 * called once the message is complete. Verification is the caller's job.
 */
#ifndef MOAT_PROBE_SINK_H
#define MOAT_PROBE_SINK_H

#include <stddef.h>
#include <sys/socket.h>

struct event_base;
struct sink;

#define SINK_SESSIONS_MAX 32        /* concurrent sessions; more get 421 */
#define SINK_LINE_MAX     1024      /* command line, CRLF included */
#define SINK_TEXT_MAX     8192      /* message line scanned as one piece */
#define SINK_MESSAGE_MAX  (1 << 20) /* bytes per message; more gets 552 */
#define SINK_MESSAGES_MAX 20        /* messages per session */
#define SINK_TIMEOUT      60        /* seconds of silence before 421 */
#define SINK_ERRORS_MAX   10        /* bad commands before 421 */
#define SINK_TOKENS_MAX   8         /* tokens kept per message */

typedef void (*sink_token_cb)(void *arg, const char *token, const char *peer,
                              const char *rcpt);

struct sink *sink_new(struct event_base *base, const struct sockaddr *sa, socklen_t len,
                      const char *hostname, sink_token_cb cb, void *arg, char *err,
                      size_t errsz);
void sink_free(struct sink *s);
/* sink_messages - how many messages the sink has received so far */
unsigned long sink_messages(const struct sink *s);

#endif
