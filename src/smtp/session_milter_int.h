/* SPDX-License-Identifier: ISC */
/*
 * session_milter_int.h - what session_milter.c (the steps, one milter
 * after another) and session_milter_msg.c (the end of the message: the
 * body, the modifications, the message written anew) share.
 */
#ifndef MOAT_SESSION_MILTER_INT_H
#define MOAT_SESSION_MILTER_INT_H

#include <stdint.h>

#include "milter/milter_conn.h"
#include "policy/verdict.h"

struct evbuffer;
struct mmsg;
struct session;
struct ext_service_conf;

enum mo_state {
	MO_IDLE = 0, /* not connected yet */
	MO_READY,    /* connected and negotiated */
	MO_DONE,     /* accepted the session, failed with on_error accept, or
	                not for this session */
	MO_REFUSING, /* refuses every MAIL: rejected at connect/HELO, or failed */
};

struct milter_one {
	const struct ext_service_conf *conf;
	struct milter_conn *mc;
	enum mo_state state;
	int greeted;            /* connect and HELO went out */
	int msg_done;           /* accepted this message: no more steps for it */
	int in_msg;             /* MAIL went out: an ABORT is due if it ends early */
	struct verdict refusal; /* MO_REFUSING: what every command hears */
};

enum step { ST_MAIL, ST_RCPT, ST_EOD };
enum sub {
	SUB_NEG,
	SUB_CONNECT,
	SUB_HELO,
	SUB_MAIL,
	SUB_RCPT,
	SUB_DATA,
	SUB_HDR,
	SUB_EOH,
	SUB_BODY,
	SUB_EOM
};

struct milter_sess {
	struct session *s;
	struct milter_one *m;
	size_t n;
	/* the step under way */
	enum step step;
	enum sub sub;
	size_t cur; /* the milter */
	milter_next next;
	struct verdict v;
	/* the message (end of data) */
	struct mmsg *msg;
	size_t hdr, body_off;
	int body_replaced; /* a REPLBODY began, from the current milter */
	char mod_err[160]; /* a modification failed: the milter failed */
	int hold, discard, env_changed;
};

/* session_milter.c */
/* sm_run - the step at the current milter, or the next one due */
void sm_run(struct milter_sess *ms);
/* sm_send_sub - the current sub-step to the current milter */
void sm_send_sub(struct milter_sess *ms);
/* sm_finish - the step's verdict goes to the session */
void sm_finish(struct milter_sess *ms, const struct verdict *v);
/* sm_failure - the current milter failed: on_error */
void sm_failure(struct milter_sess *ms, const char *why);
/* sm_ask - out as the current sub-step (written for an NR_ step) */
void sm_ask(struct milter_sess *ms, struct evbuffer *out, uint32_t nr_flag,
            milter_mod_cb mods);

/* session_milter_msg.c */
/* sm_on_mod - a modification before the end of message's final reply */
void sm_on_mod(void *arg, const struct milter_reply *r);
/* sm_send_body - the body steps of the current milter, from body_off */
void sm_send_body(struct milter_sess *ms);
/* sm_end_eod - every milter has seen the message: written anew if changed */
void sm_end_eod(struct milter_sess *ms);

#endif
