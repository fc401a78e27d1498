/* SPDX-License-Identifier: ISC */
/*
 * session_int.h - the SMTP session's private parts, shared by the files
 * that implement it: session.c (life cycle), session_input.c (command
 * lines, the command table), session_state.c (states and their legal
 * moves), session_reply.c (replies, refusals, the flush),
 * session_screen.c (screening, the greeting),
 * session_cmds.c (the commands and the DATA phase), session_auth.c (AUTH),
 * session_tls.c (STARTTLS and implicit TLS), session_proxy.c (the PROXY
 * header of a load balancer).
 */
#ifndef MOAT_SESSION_INT_H
#define MOAT_SESSION_INT_H

#include <sys/queue.h>
#include <sys/types.h>
#include <time.h>

#include "common/netaddr.h"
#include "policy/policy.h"
#include "smtp/command.h"
#include "smtp/dataread.h"
#include "sig/sig.h"
#include "smtp/session_state.h"

struct bufferevent;
struct evbuffer;
struct smtpd;
struct listener_conf;
struct dns_rdns;
struct auth_req;
struct authfail_req;
struct spool_msg;

/* What the session waits for; input is not processed meanwhile. */
enum wait {
	W_NONE = 0,
	W_COMMIT,   /* the spool's group commit */
	W_STARTTLS, /* the 220 to go out, then the handshake */
	W_AUTH,     /* the credential backend */
	W_DELAY,    /* a deliberate pause before a reply (failed login) */
	W_POLICY,   /* a screening check */
	W_TARPIT,   /* replies held back (tarpit, stutter) */
	W_HELD,     /* refused, the refusal held back (refuse_hold_ms) */
	W_OUTPUT,   /* replies pile up unread (LIMIT_OUTPUT_PENDING): drain first */
};

enum auth_step { AS_NONE = 0, AS_PLAIN, AS_LOGIN_USER, AS_LOGIN_PASS };

#define F_ESMTP        0x01
#define F_TRUSTED      0x02
#define F_SKIP_LINE    0x04 /* discarding an over-long line up to its LF */
#define F_PIPE_WARNED  0x08
#define F_RDNS_PENDING 0x10
#define F_TLS          0x20 /* TLS is up */
#define F_HANDSHAKE    0x40 /* TLS handshake in progress */
#define F_AUTHED       0x80
#define F_SKIP_AUTH    0x100  /* the line being skipped is an AUTH line */
#define F_SCREENED     0x200  /* the connect checks passed */
#define F_HELD         0x400  /* refused at connect, its answer held back */
#define F_PARTIAL      0x800  /* part of a command line is waiting for the rest */
#define F_GOOD_SAVED   0x1000 /* its good record was written this session */
#define F_FIRST_SEEN   0x2000 /* its first octets went to the signatures */
#define F_ATTACK_BAN   0x4000 /* an attack banned it: 421 when the reply is out */
#define F_LOCAL        0x8000 /* on the local submission socket: a local user */

#define FORWARDS_MAX 16

struct transaction {
	char *sender; /* formatted; "" for <> */
	struct mail_params params;
	char **rcpts;
	unsigned *rnotify; /* each one's DSN NOTIFY (0: not given) */
	char **rorcpt;     /* and ORCPT ("type;address"), or NULL */
	size_t nrcpts;     /* distinct recipients (one copy each) */
	size_t nrcpt_ok;   /* accepted RCPT commands, duplicates too */
	size_t rcap;
	struct spool_msg *msg;
	struct evbuffer *buf;
	struct data_reader dr;
	/* what the policy services asked for the message (RCPT, DATA) */
	char *prepend; /* header lines for the top, each ending CRLF, or NULL */
	int hold;      /* spool it held */
	int discard;   /* accept it and drop it */
	/* the header section, for the signatures (session_attack.c) */
	int hdr_scan;    /* still in it */
	size_t hdr_pos;  /* buf offset of the first line not yet matched */
	size_t hdr_seen; /* octets of it matched so far */
	long hops;       /* Received: lines in it (ours not counted) */
	/* the recipients the client gave that forward to remote addresses:
	 * each gets a Delivered-To: field, and one the message already has is
	 * a mail loop (at most FORWARDS_MAX; malloc'd) */
	char **forwards;
	size_t nforwards;
	char *loop;     /* the one met again, or NULL */
	size_t own_len; /* octets of our own fields on top (milters see none) */
	/* submitted mail: the Date and Message-ID it has not shown (yet) in
	 * its header section, for session_submit.c to add; 0: none wanted */
	unsigned fields_want;
	int64_t eod_us; /* when the end of data came (commit latency metric) */
};

struct session {
	struct smtpd *sd;
	const struct listener_conf *lc;
	struct bufferevent *bev;
	char sid[13];
	struct netaddr peer;
	int peer_port;
	char peer_str[NETADDR_STRLEN];
	char local_str[NETADDR_STRLEN];
	char *rdns; /* forward-confirmed name or "unknown" */
	struct dns_rdns *rdns_req;
	enum state state;
	enum wait wait;
	unsigned flags;
	char *helo;
	int errors;
	int junk; /* junk commands since the last accepted message */
	int nmsgs;
	unsigned total[V_NVERBS];
	unsigned ok[V_NVERBS];
	enum smtp_verb last_verb;
	struct transaction tx;
	struct timespec start;
	/* TLS */
	char tls_info[160];
	/* AUTH */
	enum auth_step auth_step;
	const char *auth_mech;
	char *auth_user;    /* after success: the login name */
	char *auth_pending; /* LOGIN: the user name while we ask the password */
	struct auth_req *auth_req;
	struct authfail_req *auth_slot_req; /* the login budget is asked */
	char *auth_pass;                    /* meanwhile; wiped after use */
	int64_t auth_slot;                  /* the budget's slot of this check */
	int auth_banned;                    /* this failure spent the budget */
	int auth_failures;
	struct event *delay_ev;
	/* screening */
	struct policy_client pc; /* what policy knows of this client */
	struct policy_check *chk;
	void (*screen_next)(struct session *, const struct verdict *);
	struct event *greet_ev;
	struct event *line_ev;   /* a command line must be whole by then */
	struct event *data_ev;   /* DATA: the minute's octets are counted then */
	size_t data_minute;      /* DATA octets in the current minute */
	struct event *hold_ev;   /* refuse_hold_ms: when the refusal goes out */
	const char *hold_reason; /* ... and the disconnect's reason then */
	/* replies wait here; session_flush() sends them, maybe slowly */
	struct evbuffer *out;
	struct event *flush_ev;
	long tarpit_ms; /* hold the next flush this long */
	int stutter;    /* flush one byte at a time */
	int flush_pending;
	/* the command waiting for its screening verdict */
	char *pending_helo;
	enum smtp_verb pending_verb;
	char pending_addr[MAILADDR_FMT_MAX];
	/* RCPT: a domain's recipient lookup knew it (pending_found), and a
	 * socketmap's targets for it (malloc'd, or NULL: the mailbox) */
	int pending_found;
	char *pending_targets;
	struct mail_params pending_params;
	struct rcpt_params pending_rparams; /* the RCPT's DSN parameters */
	TAILQ_ENTRY(session) entry;
	/* smtpd.idle: sessions a full house may take back, longest idle first */
	TAILQ_ENTRY(session) idle_entry;
	int on_idle;
	struct milter_sess *ml;        /* the milters (session_milter.c), or NULL */
	struct attack_req *attack_req; /* the latest signature hits' report */
	struct sig_hits *first_hits;   /* the first octets', until the first line */
	int attack_reports;            /* texts with hits reported (REPORTS_MAX) */
	char *long_head;               /* an over-long line's first octets */
	size_t long_headlen, long_total;
	/* a connection from a listener's proxy_from (session_proxy.c): its
	 * PROXY header's reader until the header is read, and the proxy's
	 * "address:port" ("" without one) */
	struct proxy_wait *pw;
	char via[NETADDR_STRLEN + 8];
	/* F_LOCAL: who connected (SO_PEERCRED) and the uid's login name, ""
	 * if the password database does not know it */
	uid_t local_uid;
	gid_t local_gid;
	pid_t local_pid;
	char local_user[64];
};

/* session_localuser.c: sessions on the local submission socket */
/* session_localuser_start - the peer is a local user: record it (-1: the
 * kernel would not say who) */
int session_localuser_start(struct session *s, int fd);
/* session_localuser_log - " uid=N user=NAME" for a local session, else "" */
const char *session_localuser_log(const struct session *s, char *buf, size_t bufsz);
/* session_localuser_received - the Received: field of a local submission */
void session_localuser_received(struct session *s, struct evbuffer *out, const char *with,
                                const char *qid, const char *date);

/* session_submit.c: what moat writes into submitted mail (RFC 6409 §8) */
/* session_submit_begin - DATA: will this message get missing fields? */
void session_submit_begin(struct session *s);
/* session_submit_line - a line of the header section (take octets of it,
 * at off in the transaction's buffer): a Date or Message-ID, or, if it is
 * no header line, the end of the section. The octets put in before it. */
size_t session_submit_line(struct session *s, const char *line, size_t take, size_t off);
/* session_submit_end - the header section ends at off: the missing fields */
void session_submit_end(struct session *s, size_t off);
/* session_submit_received - the Received: field's "(Authenticated
 * sender: LOGIN)" line, when auth_in_received */
void session_submit_received(struct session *s, struct evbuffer *out);

/* session_milter.c: the milters, after the screening stages passed. Each
 * step ends with next(s, verdict): OK, or the refusal to send. */
typedef void (*milter_next)(struct session *, const struct verdict *);
/* session_milters - does a milter see this session's mail? */
int session_milters(struct session *s);
void session_milter_mail(struct session *s, milter_next next); /* pending_addr */
void session_milter_rcpt(struct session *s, milter_next next); /* pending_addr */
/* session_milter_eod - the whole message is spooled (tx.msg); the milters
 * may change it and its envelope (tx), replace tx.msg, set tx.hold or
 * tx.discard */
void session_milter_eod(struct session *s, milter_next next);
/* session_milter_abort - the transaction ended early (RSET, a refusal) */
void session_milter_abort(struct session *s);
void session_milter_free(struct session *s);

/* session_cmds.c: the envelope of the transaction, for the spool */
struct spool_env_in;
void session_env_in(struct session *s, struct spool_env_in *in);

/* session_screen.c: the session as the policy services see it */
void session_smtp_info(struct session *s, struct policy_smtp *m);

/* session_attack.c: the signatures at each stage */
void session_sig(struct session *s, enum sig_stage stage, const char *text, size_t len,
                 size_t full_len);
void session_sig_first(struct session *s);
void session_sig_command(struct session *s, const char *line, size_t len,
                         enum smtp_verb v, const char *args, size_t argslen);
void session_sig_long(struct session *s, const char *head, size_t headlen, size_t total);
void session_sig_headers(struct session *s);
void session_sig_tls(struct session *s, const char *servername);
void session_sig_cancel(struct session *s);
/* session_attack_banned - an attack ban waits: 421 and close; 1 if so */
int session_attack_banned(struct session *s);

/* session.c */
/* session_begin - the client's address is known (s->peer): trust, the
 * connect line, TLS for smtps, the connect checks, then the greeting */
void session_begin(struct session *s, int fd);
/* session_free - the end: everything the session holds goes */
void session_free(struct session *s);
/* session_enter - the one writer of s->state; checks the move is legal */
void session_enter(struct session *s, enum state st);
void client_error(struct session *s);
/* session_junk - one more junk command; 0 if the session ended for it */
int session_junk(struct session *s);
/* session_timeout_command - seconds to wait for a command (stress: less) */
long session_timeout_command(const struct session *s);
void session_close(struct session *s, const char *reason);
void session_close_refused(struct session *s, const char *reason);
const char *session_local(struct session *s);
void session_install_bev(struct session *s, struct bufferevent *bev);
void session_read_cb(struct bufferevent *bev, void *arg);
void session_event_cb(struct bufferevent *bev, short what, void *arg);
void session_set_timeout(struct session *s, long seconds);
/* session_idle_update - on or off the list of sessions a full house may
 * take back, as its state and record now say */
void session_idle_update(struct session *s);
int may_relay(const struct session *s);

/* session_input.c */
/* session_input - the commands (or DATA) in the input, until a wait */
void session_input(struct session *s);
/* session_resume - a wait ended: read again and handle what is buffered */
void session_resume(struct session *s);
/* the reply to a line longer than allowed (500, or 501 for AUTH lines) */
void line_too_long(struct session *s, int auth);

/* session_reply.c */
/* reply - queue a reply line (the last one of a reply); refusals go
 * through session_refuse() instead, so that they are logged (the one 4xx
 * sent here is the 421 that closes a session right after a logged refusal,
 * RFC 5321 §3.8) */
void reply(struct session *s, int code, const char *enh, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* reply_counted - count a reply of code that went out some other way */
void reply_counted(struct session *s, int code);
/* reply_cont - a continuation line "NNN-TEXT" (EHLO keywords, 220- teaser) */
void reply_cont(struct session *s, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* session_refuse - a 4xx/5xx reply and its one log line, from the same
 * values; addr (or NULL) is the address the refusal is about */
void session_refuse(struct session *s, const char *stage, const char *rule,
                    const char *addr, int code, const char *enh, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
/* session_refuse_verdict - the same for a screening verdict */
void session_refuse_verdict(struct session *s, const char *stage, const struct verdict *v,
                            const char *addr);
void session_flush(struct session *s);
/* session_flush_now - what is queued goes to the socket now, no tarpit */
void session_flush_now(struct session *s);

/* session_screen.c */
/* session_connect_checks - reverse DNS, connect screening, then the greeting */
void session_connect_checks(struct session *s);
/* session_screen - run the hook's screening stages; then cb(s, verdict).
 * RCPT: to is the address as given; s->pending_addr gets the final one. */
typedef void (*screen_cb)(struct session *s, const struct verdict *v);
void session_screen(struct session *s, enum policy_hook hook, const char *sender,
                    const struct mailaddr *to, screen_cb cb);
/* session_early_talker - the client spoke out of turn: 554, remember, close */
void session_early_talker(struct session *s, const char *when);

/* session_cmds.c */
void tx_reset(struct session *s);
/* session_path_error - the reply for a MAIL FROM / RCPT TO parse error */
void session_path_error(struct session *s, int err, int is_rcpt);
/* tx_rcpt_push - one recipient more (addr and orcpt copied; orcpt NULL for
 * none); tx_rcpt_remove - the i-th one less (the last takes its place) */
void tx_rcpt_push(struct transaction *tx, const char *addr, unsigned notify,
                  const char *orcpt);
void tx_rcpt_remove(struct transaction *tx, size_t i);
int data_input(struct session *s, struct evbuffer *in);
void cmd_helo(struct session *, enum smtp_verb, const char *, size_t);
void cmd_mail(struct session *, enum smtp_verb, const char *, size_t);
void cmd_rcpt(struct session *, enum smtp_verb, const char *, size_t);
void cmd_data(struct session *, enum smtp_verb, const char *, size_t);
void cmd_rset(struct session *, enum smtp_verb, const char *, size_t);
void cmd_noop(struct session *, enum smtp_verb, const char *, size_t);
void cmd_quit(struct session *, enum smtp_verb, const char *, size_t);
void cmd_help(struct session *, enum smtp_verb, const char *, size_t);
void cmd_vrfy(struct session *, enum smtp_verb, const char *, size_t);
void cmd_not_implemented(struct session *, enum smtp_verb, const char *, size_t);
void cmd_http(struct session *, enum smtp_verb, const char *, size_t);

/* session_auth.c */
/* auth_extension - the session has the AUTH extension (RFC 4954): MAIL may
 * carry AUTH=, logged in or not (Exim's client sends AUTH=<> after AUTH) */
int auth_extension(const struct session *s);
/* auth_offered - AUTH may be given now (EHLO advertises it) */
int auth_offered(const struct session *s);
void cmd_auth(struct session *, enum smtp_verb, const char *, size_t);
void auth_response(struct session *s, const char *line, size_t len);
void auth_cleanup(struct session *s);

/* session_proxy.c */
/* session_proxy_wait - read the PROXY header first, then session_begin();
 * a connection without a good one in proxy_timeout is dropped */
void session_proxy_wait(struct session *s, int fd);
void session_proxy_free(struct session *s);
/* the PROXY command: a PROXY header from a client not in proxy_from */
void cmd_proxy(struct session *, enum smtp_verb, const char *, size_t);

/* session_tls.c */
int starttls_offered(const struct session *s);
void cmd_starttls(struct session *, enum smtp_verb, const char *, size_t);
void tls_start_implicit(struct session *s, int fd);
void tls_established(struct session *s);
/* session_screen.c: TLS is up on an smtps session; greet when checks are done */
void tls_greet_ready(struct session *s);

#endif
