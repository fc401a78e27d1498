/* SPDX-License-Identifier: ISC */
/*
 * psvc_proto.h - Postfix's policy delegation protocol (SMTPD_POLICY_README):
 * a request is "name=value" lines and an empty line; the reply is the same,
 * and moat reads its "action=" attribute, an access(5) action.
 */
#ifndef MOAT_PSVC_PROTO_H
#define MOAT_PSVC_PROTO_H

#include <stddef.h>
#include <sys/types.h>

struct evbuffer;

/* the longest reply read; a longer one is garbage (the connection is closed) */
#define PSVC_REPLY_MAX 8192

/* the framing, for svc_client.h */
struct svc_proto;
extern const struct svc_proto psvc_protocol;

enum psvc_kind {
	PA_OK = 0,          /* accept: no later policy service is asked */
	PA_DUNNO,           /* no opinion: ask the next */
	PA_REJECT,          /* 5xx (554 5.7.1 unless given) */
	PA_DEFER,           /* 4xx (450 4.7.1 unless given) */
	PA_DEFER_IF_PERMIT, /* 450 if nothing after it refuses */
	PA_DEFER_IF_REJECT, /* 450 instead of a later refusal */
	PA_PREPEND,         /* a header line for the message */
	PA_WARN,            /* log the text, go on */
	PA_INFO,            /* log the text, go on */
	PA_HOLD,            /* keep the message in the queue, held */
	PA_DISCARD,         /* accept and drop the message */
	PA_UNSUPPORTED,     /* FILTER, REDIRECT, BCC, ...: logged, ignored */
};

struct psvc_action {
	enum psvc_kind kind;
	int code;      /* the reply code for REJECT, DEFER and NNN actions */
	char enh[12];  /* an enhanced status code given, or "" */
	char word[20]; /* the action word as sent, for the log */
	/* the text after the word (printable ASCII; other octets are '?');
	 * PREPEND: the header line "Name: value" */
	char text[512];
};

/*
 * psvc_reply_len - the length of the first whole reply in buf (through its
 * empty line), 0 if it is not all here yet, -1 if it cannot be one (longer
 * than PSVC_REPLY_MAX, or a NUL in it).
 */
ssize_t psvc_reply_len(const char *buf, size_t len);

/*
 * psvc_reply_parse - the action of a whole reply: 0, or -1 with the reason
 * in err (no action attribute, an unknown action, a bad header for PREPEND,
 * a reply code out of range).
 */
int psvc_reply_parse(const char *buf, size_t len, struct psvc_action *a, char *err,
                     size_t errsz);

/* psvc_attr - add "name=value\n" to a request; line ends and other control
 * octets in value become '?', and it is cut at 1000 octets */
void psvc_attr(struct evbuffer *req, const char *name, const char *value);

#endif
