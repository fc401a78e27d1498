/* SPDX-License-Identifier: ISC */
/*
 * envelope.h - the queue file format, shared by the writer (spool.c) and
 * the readers (delivery, moatctl).
 *
 * A queue file is a text header, one record per line, then "body" and the
 * message exactly as it will be relayed (CRLF line ends, unstuffed):
 *
 *   MOAT-QUEUE 1
 *   id 5F3A...            queue id
 *   arrival 1764300000    unix time
 *   size 0000000000004096 body octets (fixed width, written last)
 *   attempts 000000       delivery attempts so far (fixed width)
 *   next 000000000000     earliest next attempt, unix time (fixed width)
 *   hold -                '-', or 'H': held (moatctl queue hold, a policy
 *                         service's HOLD), not delivered until released
 *   origin trusted        stranger | trusted | auth (decides DSNs)
 *   client 192.0.2.1
 *   helo mail.example
 *   auth alice            (only when authenticated)
 *   sender a@b.example    empty for the null sender
 *   smtputf8 1            the client said SMTPUTF8 (only then)
 *   ret HDRS              DSN: FULL | HDRS (only when the client said)
 *   envid QQ314159        DSN: the envelope id, decoded (only when given)
 *   rcpt - c@d.example    status: '-' pending, 'D' delivered, 'B' bounced
 *   dsn 6 rfc822;x@y      the rcpt's DSN: NOTIFY bits, ORCPT or '-' (if any)
 *   body
 *
 * Fixed-width fields and status bytes are updated in place with pwrite(), so
 * a delivery result costs one small write, never a rewrite of the file.
 * SECURITY: written only by moatd; a reader still checks every field, since
 * a file cut short by a crash must be recognised, not trusted.
 */
#ifndef MOAT_ENVELOPE_H
#define MOAT_ENVELOPE_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#define QID_LEN   18
#define ENV_MAGIC "MOAT-QUEUE 1\n"

/* who handed us the message: it decides whether failures are reported */
enum origin { ORIGIN_STRANGER = 0, ORIGIN_TRUSTED, ORIGIN_AUTH, ORIGIN_LOCAL };

#define RCPT_PENDING   '-'
#define RCPT_DELIVERED 'D'
#define RCPT_BOUNCED   'B'

/* DSN (RFC 3461) as the client asked: envelope.h's values, the same as
 * smtp/command.h's */
#define ENV_RET_FULL       1
#define ENV_RET_HDRS       2
#define ENV_NOTIFY_NEVER   0x1
#define ENV_NOTIFY_SUCCESS 0x2
#define ENV_NOTIFY_FAILURE 0x4
#define ENV_NOTIFY_DELAY   0x8

struct env_rcpt {
	char *addr;
	char status;
	off_t status_off; /* file offset of the status byte */
	unsigned notify;  /* ENV_NOTIFY_* (0: not given: failures are reported) */
	char *orcpt;      /* "addr-type;original", or NULL */
};

struct envelope {
	char id[QID_LEN + 1];
	time_t arrival;
	size_t size;
	int attempts;
	time_t next;
	off_t attempts_off, next_off;
	int held;
	off_t hold_off; /* 0: a file from before the record existed */
	enum origin origin;
	char *client;
	char *helo;
	char *auth;
	char *sender;
	int smtputf8; /* it needs SMTPUTF8 of a next hop (RFC 6531) */
	int ret;      /* ENV_RET_*, 0: not given */
	char *envid;  /* or NULL */
	struct env_rcpt *rcpts;
	size_t nrcpts;
	off_t body_off;
};

const char *origin_name(enum origin o);

/* qid_valid - s holds exactly QID_LEN of the digits 0-9A-F (a queue id) */
int qid_valid(const char *s, size_t len);

/* envelope_read - parse the header of an open queue file; -1 if damaged */
int envelope_read(int fd, struct envelope *env);
void envelope_free(struct envelope *env);

/* envelope_set_status - record a recipient's final state (not synced) */
int envelope_set_status(int fd, struct env_rcpt *r, char status);
/* envelope_set_hold - held or not (not synced); -1 for a file without the
 * record */
int envelope_set_hold(int fd, struct envelope *env, int held);
/* envelope_set_retry - record attempts and the next try time (not synced) */
int envelope_set_retry(int fd, struct envelope *env, int attempts, time_t next);

#endif
