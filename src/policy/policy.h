/* SPDX-License-Identifier: ISC */
/*
 * policy.h - the screening pipeline.
 *
 * At each hook of a session (connect, HELO, MAIL, RCPT, end of DATA) the
 * SMTP layer runs the stages registered for that hook, in order. A stage
 * looks at the request, may wait for DNS or the store, and then either
 * passes (policy_next), adds to the client's score and passes, allows the
 * client past the remaining stages (policy_allow), or decides a refusal
 * (policy_stop: TEMPFAIL or PERMFAIL with the reply and the rule). The SMTP
 * layer turns the verdict into the reply; policy never writes to a socket.
 *
 * The check owns a copy of the request, so a session may end while its
 * check is still waiting: policy_cancel() makes sure the callback never
 * runs, and the check frees itself when its stage finishes.
 * Our own trouble (store error, DNS timeout) is always a TEMPFAIL.
 */
#ifndef MOAT_POLICY_H
#define MOAT_POLICY_H

#include <stdarg.h>
#include <stddef.h>

#include "common/mailaddr.h"
#include "common/netaddr.h"
#include "policy/verdict.h"

struct event_base;
struct moat_conf;
struct resolver;
struct store;
struct policy;
struct policy_check;

enum policy_hook { HOOK_CONNECT = 0, HOOK_HELO, HOOK_MAIL, HOOK_RCPT, HOOK_DATA, HOOK_N };

/* What policy knows of a client; the session keeps the authoritative copy. */
struct policy_client {
	struct netaddr addr;
	char addr_str[NETADDR_STRLEN];
	char sid[16];
	char rdns[MAILADDR_DOMAIN_MAX + 1]; /* confirmed name, or "unknown" */
	char helo[MAILADDR_DOMAIN_MAX + 1];
	unsigned flags;
	int score;         /* DNSBL and FCrDNS points, DNSWL minus points */
	int errors;        /* protocol errors in this session */
	int unknown_rcpts; /* RCPTs to unknown local users in this session */
	int counted;       /* the connect stage counted this session (limits) */
};

/* client flags */
#define PC_TRUSTED     0x01 /* trusted network */
#define PC_AUTHED      0x02 /* authenticated user */
#define PC_ALLOWLISTED 0x04 /* access list or moatctl allow: skip screening */
#define PC_DNSWL       0x08 /* a DNS allowlist vouched for it */
#define PC_CACHED      0x10 /* passed the connect checks recently (cache) */
#define PC_FCRDNS      0x20 /* has a forward-confirmed name */
#define PC_RDNS_TEMP   0x40 /* the reverse lookup failed for our own DNS trouble */

struct policy_req {
	enum policy_hook hook;
	struct policy_client client;
	char sender[MAILADDR_FMT_MAX]; /* MAIL and later; "" for <> */
	char rcpt[MAILADDR_FMT_MAX];   /* RCPT */
	int rcpt_unknown;              /* RCPT: a local domain without this user */
	int rcpt_local;                /* RCPT: the recipient is at a local domain */
};

typedef void (*policy_done_cb)(void *arg, const struct verdict *v,
                               const struct policy_client *client);

struct policy *policy_new(struct event_base *base, const struct moat_conf *conf,
                          struct resolver *res, struct store *st);
void policy_free(struct policy *p);

/* policy_run - run the stages of req->hook; cb gets the verdict later */
struct policy_check *policy_run(struct policy *p, const struct policy_req *req,
                                policy_done_cb cb, void *arg);
void policy_cancel(struct policy_check *chk);

/* policy_disconnect - the session ended: release what it counted */
void policy_disconnect(struct policy *p, const struct policy_client *client);
/* policy_remember_early_talker - the client spoke before the greeting */
void policy_remember_early_talker(struct policy *p, const struct policy_client *client);
/*
 * policy_accepted - mail from client was accepted (queued, 250): it has a
 * good record for verdict_cache_ttl ("good:KEY"), and a trap hit from it
 * then neither bans nor exports it (trap.c). Call it on a session's first
 * accepted message; trusted, authenticated and allowlisted clients need no
 * record and get none.
 */
void policy_accepted(struct policy *p, const struct policy_client *client);

/* ---- for stages ---- */

struct stage {
	const char *name;
	unsigned hooks; /* 1 << HOOK_x for each hook it runs at */
	void (*run)(struct policy_check *chk);
};

struct policy_check {
	struct policy *p;
	struct policy_req req;
	struct verdict v;
	size_t next; /* the next stage to run */
	int cancelled;
	int done;
	int counted_before; /* req.client.counted when the check began */
	int refs; /* the running pipeline, and the caller while in policy_run() */
	struct {  /* limits.c: the connect counts, until the last answer is in */
		int64_t client, all;
		int failed;
		int rate; /* a connection-rate token was asked for too */
	} conc;
	policy_done_cb cb;
	void *arg;
};

/* what a stage may use */
const struct moat_conf *policy_conf(const struct policy *p);
struct store *policy_store(const struct policy *p);
struct resolver *policy_resolver(const struct policy *p);
struct trap_secret;
/* the secret trap addresses are checked with (NULL: none configured) */
void policy_set_trap_secret(struct policy *p, const struct trap_secret *s);
const struct trap_secret *policy_trap_secret(const struct policy *p);

void policy_next(struct policy_check *chk);
void policy_allow(struct policy_check *chk, const char *rule);
void policy_stop(struct policy_check *chk, enum verdict_kind kind, int code,
                 const char *enh, const char *rule, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/* policy_detail - a note for the log line of this verdict (never the reply) */
void policy_detail(struct policy_check *chk, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* policy_tempfail - our own trouble: a 4xx with a neutral text */
void policy_tempfail(struct policy_check *chk, const char *rule, const char *why);

/* policy_client_key - "ip" or "ipv6/64" for per-client counters */
void policy_client_key(const struct netaddr *na, char *buf, size_t bufsz);

#endif
