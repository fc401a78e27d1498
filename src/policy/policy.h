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
#include <stdio.h>

#include "common/mailaddr.h"
#include "common/netaddr.h"
#include "policy/verdict.h"

struct event_base;
struct moat_conf;
struct resolver;
struct store;
struct policy;
struct policy_check;

/* HOOK_DATA: the DATA command; HOOK_EOD: the end of the message's data */
enum policy_hook {
	HOOK_CONNECT = 0,
	HOOK_HELO,
	HOOK_MAIL,
	HOOK_RCPT,
	HOOK_DATA,
	HOOK_EOD,
	HOOK_N
};

/* What policy knows of a client; the session keeps the authoritative copy. */
struct policy_client {
	struct netaddr addr;
	char addr_str[NETADDR_STRLEN];
	char sid[16];
	char rdns[MAILADDR_DOMAIN_MAX + 1]; /* confirmed name, or "unknown" */
	char helo[MAILADDR_DOMAIN_MAX + 1];
	char login[256]; /* the authenticated user (PC_AUTHED) */
	unsigned flags;
	int score;         /* DNSBL and FCrDNS points, DNSWL minus points */
	int errors;        /* protocol errors in this session */
	int unknown_rcpts; /* RCPTs to unknown local users in this session */
	int counted;       /* the connect stage counted this session (limits) */
};

/* client flags */
#define PC_TRUSTED     0x01  /* trusted network */
#define PC_AUTHED      0x02  /* authenticated user */
#define PC_ALLOWLISTED 0x04  /* access list or moatctl allow: skip screening */
#define PC_DNSWL       0x08  /* a DNS allowlist vouched for it */
#define PC_CACHED      0x10  /* passed the connect checks recently (cache) */
#define PC_FCRDNS      0x20  /* has a forward-confirmed name */
#define PC_RDNS_TEMP   0x40  /* the reverse lookup failed for our own DNS trouble */
#define PC_GOOD        0x80  /* mail of its was accepted lately (a good record) */
#define PC_GREETED     0x100 /* it passed the greeting test lately: no pause */
#define PC_SUBMISSION  0x200 /* on a submission port: login bans apply */
/* a good record: these clients keep their slot in a full house */
#define PC_GOOD_RECORD (PC_TRUSTED | PC_ALLOWLISTED | PC_AUTHED | PC_DNSWL | PC_GOOD)

/* What the policy services are told of the session (RCPT, DATA, EOD): the
 * attributes of Postfix's policy protocol that policy_client lacks. */
struct policy_smtp {
	char listener[33];
	int esmtp;
	int client_port;
	char server_addr[NETADDR_STRLEN];
	int server_port;
	char tls_version[16]; /* "" without TLS */
	char tls_cipher[64];
	int tls_bits;
	char sasl_method[16];
	char instance[32];  /* one per transaction */
	char queue_id[24];  /* EOD */
	unsigned long size; /* MAIL's SIZE, or (EOD) the message's */
	unsigned nrcpts;    /* DATA, EOD */
	int stress;
};

/* What the policy services asked for the message (psvc_stage.c); the
 * session keeps it when the verdict is OK. */
struct policy_out {
	char prepend[1024]; /* header lines, each ending CRLF */
	int hold;           /* keep the message in the queue, held */
	int discard;        /* accept it and drop it */
};

struct policy_req {
	enum policy_hook hook;
	struct policy_client client;
	char sender[MAILADDR_FMT_MAX]; /* MAIL and later; "" for <> */
	struct mailaddr to;            /* RCPT: the address as the client gave it */
	/* RCPT, filled in by the relay stage for the stages after it: */
	char rcpt[MAILADDR_FMT_MAX]; /* the final destination (refused: as given) */
	int rcpt_unknown;            /* a local domain without this user */
	int rcpt_local;              /* the recipient is at a local domain */
	/* the domain's recipient lookup knows it (the catch-all is not for
	 * it), and a socketmap's targets for it ("" a mailbox): the session
	 * expands these instead of the aliases */
	int rcpt_found;
	char rcpt_targets[1024];
	/* DATA and EOD: rcpt is the one recipient, or "" for several */
	struct policy_smtp smtp;
	struct policy_out out;
};

/* the verdict, and the request as the stages left it (what they learned of
 * the client, the final recipient) */
typedef void (*policy_done_cb)(void *arg, const struct verdict *v,
                               const struct policy_req *req);

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
/* policy_remember_greeted - it waited for the greeting: no pause next time */
void policy_remember_greeted(struct policy *p, const struct policy_client *client);
/* policy_remember_good - its mail was accepted: a good record for
 * verdict_cache_ttl ("good:KEY"); it keeps a slot in a full house and
 * spares a trap's ban (trap.c). Trusted, authenticated and allowlisted
 * clients need none and get none. */
void policy_remember_good(struct policy *p, const struct policy_client *client);
/* policy_store_alarms - how often the store failed and checks let clients
 * through (fail open); the alarm is logged at most once a minute */
unsigned long policy_store_alarms(const struct policy *p);
/* policy_signatures - the attack signatures (policy/attack.h), or NULL */
struct sigset;
const struct sigset *policy_signatures(const struct policy *p);
/* policy_services_at - does a policy service run at hook (for this
 * listener)? The session asks for a verdict at DATA and end of data only
 * then. */
int policy_services_at(const struct policy *p, enum policy_hook hook,
                       const char *listener);
/* policy_services_stop - answer every open request to a policy service
 * or a recipient lookup with a failure (the worker ends: before the store closes) */
void policy_services_stop(struct policy *p);
/* policy_files_check - the access lists and the signatures file: usable?
 * -1 after file:line errors on err (moatd -n, start and reload) */
int policy_files_check(const struct moat_conf *conf, FILE *err);

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
	struct verdict deferred; /* policy_defer(): the verdict unless a stage stops */
	size_t next;             /* the next stage to run */
	int cancelled;
	int done;
	int counted_before; /* req.client.counted when the check began */
	int refs; /* the running pipeline, and the caller while in policy_run() */
	struct {  /* ban.c: the client's records, until the last answer is in */
		int pending;
		unsigned found; /* 1 << enum rec */
		char reason[200];
		long long ban_until, early_until;
	} rec;
	struct {             /* psvc_stage.c: the policy services, one after another */
		size_t next; /* the next service to ask */
		char if_reject[300]; /* DEFER_IF_REJECT: the 450's text, or "" */
		const char *if_reject_rule;
		char enh[12], enh_defer[12]; /* a service's enhanced codes */
	} psvc;
	struct {                        /* relay_stage.c: a recipient lookup's question */
		struct verdict unknown; /* the refusal if it does not know it */
		int catchall;           /* the catch-all takes it then */
	} relay;
	struct { /* limits.c: the connect counts, until the last answer is in */
		int64_t client;
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
struct sender_map;
/* the logins' sender addresses (auth sender_map), or NULL */
const struct sender_map *policy_sender_map(const struct policy *p);
struct trap_secret;
/* the secret trap addresses are checked with (NULL: none configured) */
/* policy_holder - "wPID": whose share of a summed counter this process holds */
const char *policy_holder(const struct policy *p);
void policy_set_trap_secret(struct policy *p, const struct trap_secret *s);
const struct trap_secret *policy_trap_secret(const struct policy *p);
/* the trap bookkeeping's own store (store_config_traps()), or NULL */
void policy_set_trap_store(struct policy *p, struct store *st);
struct store *policy_trap_store(const struct policy *p);
struct svc;
/* policy_service - the connections to the i-th policy_service section */
struct svc *policy_service(const struct policy *p, size_t i);
struct rcpt_lookups;
/* policy_lookups - the domains' recipient lookups (rcpt_lookup.h) */
struct rcpt_lookups *policy_lookups(const struct policy *p);
struct access_lists;
/* the access lists, read from the screen section's files by policy_new() */
const struct access_lists *policy_access(const struct policy *p);

void policy_next(struct policy_check *chk);
/* policy_defer - v is the answer if the remaining stages all pass */
void policy_defer(struct policy_check *chk, const struct verdict *v);
void policy_allow(struct policy_check *chk, const char *rule);
void policy_stop(struct policy_check *chk, enum verdict_kind kind, int code,
                 const char *enh, const char *rule, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/* policy_detail - a note for the log line of this verdict (never the reply) */
void policy_detail(struct policy_check *chk, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* policy_store_trouble - the store failed a stage: count it, log it at most
 * once a minute; the stage then goes on as if the record were absent */
void policy_store_trouble(struct policy *p, const char *what);
/* policy_tempfail - our own trouble: a 4xx with a neutral text */
void policy_tempfail(struct policy_check *chk, const char *rule, const char *why);

#endif
