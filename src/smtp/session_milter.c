/* SPDX-License-Identifier: ISC */
/*
 * session_milter.c - the milters of a session: at MAIL, at each RCPT and at
 * the end of the message, after the screening stages passed.
 *
 * A milter is connected when the session first needs it, at its first
 * MAIL: the connect and HELO steps go out then, before the MAIL step (a
 * flood of sessions that never send MAIL costs the milters nothing). The
 * milters run one after another in the order configured; the first that
 * refuses decides. At the end of the message each milter gets the DATA,
 * header, end-of-header and body steps and the end of the message, and the
 * next milter sees the message as the modifications of the ones before
 * left it (as Postfix's cleanup does). A changed message is written anew
 * into the spool before it is committed, so what the client hears 250 for
 * is the modified message, stored durably.
 *
 * What a milter answers, as libmilter means it: continue; accept (at the
 * connect or HELO step: the milter is done for the session; later: for the
 * message); reject (550 5.7.1), tempfail (451 4.7.1) or its own reply code
 * (one or more lines) refuse the command (at connect or HELO: every MAIL of
 * the session); discard (the message is taken and dropped); quarantine (it
 * is queued held: moatctl queue release). A milter that cannot be reached,
 * times out, or sends what is no reply gets on_error: accept (it is left
 * out for the rest of the session), tempfail or reject (every later MAIL,
 * RCPT or message it would see is refused so), logged once.
 * SECURITY: milter replies come parsed and checked (milter/); their reply
 * texts are printable, their addresses are parsed as an SMTP client's are
 * before they enter the envelope.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/ssl.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "milter/milter_conn.h"
#include "milter/milter_msg.h"
#include "queue/spool.h"
#include "smtp/command.h"
#include "smtp/session_int.h"
#include "smtp/session_milter_int.h"
#include "smtp/smtpd.h"

static const struct milter_reply cont = {.cmd = SMFIR_CONTINUE};

/* ---- which milters ---- */

static int
applies(const struct ext_service_conf *e, const struct session *s)
{
	if (!e->trusted && (s->pc.flags & (PC_TRUSTED | PC_AUTHED | PC_ALLOWLISTED)))
		return 0;
	if (e->nlisteners == 0)
		return 1;
	for (size_t i = 0; i < e->nlisteners; i++)
		if (strcmp(e->listeners[i], s->lc->name) == 0)
			return 1;
	return 0;
}

int
session_milters(struct session *s)
{
	const struct moat_conf *c = s->sd->conf;

	if (c->nmilters == 0)
		return 0;
	if (s->ml == NULL) {
		/* decided at the first MAIL: who the client is (trusted, logged
		 * in) is settled by then */
		s->ml = xcalloc(1, sizeof(*s->ml));
		s->ml->s = s;
		s->ml->n = c->nmilters;
		s->ml->m = xcalloc(c->nmilters, sizeof(*s->ml->m));
		for (size_t i = 0; i < c->nmilters; i++) {
			s->ml->m[i].conf = &c->milters[i];
			if (!applies(&c->milters[i], s))
				s->ml->m[i].state = MO_DONE;
		}
	}
	for (size_t i = 0; i < s->ml->n; i++)
		if (s->ml->m[i].state != MO_DONE)
			return 1;
	return 0;
}

/* ---- packets ---- */

/* macro - "name\0value\0" into a macro packet's data */
static void
macro(struct evbuffer *d, const char *name, const char *value)
{
	if (value == NULL)
		value = "";
	evbuffer_add(d, name, strlen(name) + 1);
	evbuffer_add(d, value, strlen(value) + 1);
}

/* macros - the macros of the step cmd: a 'D' packet before it */
static void
macros(struct milter_sess *ms, struct evbuffer *out, char cmd)
{
	struct session *s = ms->s;
	struct evbuffer *d = evbuffer_new();
	const char *rdns = s->rdns ? s->rdns : "unknown";
	char buf[600];

	if (d == NULL)
		fatalx("milter: out of memory");
	evbuffer_add(d, &cmd, 1);
	switch (cmd) {
	case SMFIC_CONNECT:
		macro(d, "j", s->sd->conf->hostname);
		macro(d, "{daemon_name}", "moatd");
		macro(d, "{if_name}", s->sd->conf->hostname);
		macro(d, "{if_addr}", session_local(s));
		macro(d, "v", "moat");
		snprintf(buf, sizeof(buf), "%s [%s]", rdns, s->peer_str);
		macro(d, "_", buf);
		macro(d, "{client_addr}", s->peer_str);
		snprintf(buf, sizeof(buf), "%d", s->peer_port);
		macro(d, "{client_port}", buf);
		macro(d, "{client_name}", rdns);
		macro(d, "{client_ptr}", rdns);
		break;
	case SMFIC_HELO:
		if (s->flags & F_TLS) {
			SSL *ssl = bufferevent_openssl_get_ssl(s->bev);
			const SSL_CIPHER *ci =
			    ssl != NULL ? SSL_get_current_cipher(ssl) : NULL;
			macro(d, "{tls_version}",
			      ssl != NULL ? SSL_get_version(ssl) : "");
			macro(d, "{cipher}", ci != NULL ? SSL_CIPHER_get_name(ci) : "");
			snprintf(buf, sizeof(buf), "%d",
			         ci != NULL ? SSL_CIPHER_get_bits(ci, NULL) : 0);
			macro(d, "{cipher_bits}", buf);
		}
		break;
	case SMFIC_MAIL:
		if (s->flags & F_AUTHED) {
			macro(d, "{auth_type}", s->auth_mech);
			macro(d, "{auth_authen}", s->auth_user);
		}
		macro(d, "{mail_addr}", s->pending_addr);
		macro(d, "{mail_mailer}", "smtp");
		break;
	case SMFIC_RCPT:
		macro(d, "{rcpt_addr}", s->pending_addr);
		macro(d, "{rcpt_mailer}", "smtp");
		break;
	default: /* DATA, EOH, end of message: the queue id */
		if (s->tx.msg != NULL)
			macro(d, "i", spool_msg_id(s->tx.msg));
		break;
	}
	if (evbuffer_get_length(d) > 1)
		milter_put(out, SMFIC_MACRO, evbuffer_pullup(d, -1),
		           evbuffer_get_length(d));
	evbuffer_free(d);
}

/* addr_packet - MAIL or RCPT: "<addr>" */
static void
addr_packet(struct evbuffer *out, char cmd, const char *addr)
{
	char buf[MAILADDR_FMT_MAX + 2];

	snprintf(buf, sizeof(buf), "<%s>", addr);
	milter_put_strs(out, cmd, (const char *[]){buf}, 1);
}

/* connect_packet - SMFIC_CONNECT: host name, family, port, address */
static void
connect_packet(struct session *s, struct evbuffer *out)
{
	struct evbuffer *d = evbuffer_new();
	const char *name = s->rdns ? s->rdns : s->peer_str;
	unsigned char port[2] = {(unsigned char)(s->peer_port >> 8),
	                         (unsigned char)(s->peer_port & 0xff)};
	char fam = s->peer.family == AF_INET6 ? '6' : '4';

	if (d == NULL)
		fatalx("milter: out of memory");
	evbuffer_add(d, name, strlen(name) + 1);
	evbuffer_add(d, &fam, 1);
	evbuffer_add(d, port, 2);
	evbuffer_add(d, s->peer_str, strlen(s->peer_str) + 1);
	milter_put(out, SMFIC_CONNECT, evbuffer_pullup(d, -1), evbuffer_get_length(d));
	evbuffer_free(d);
}

/* ---- verdicts ---- */

static int
has_enh(const char *t)
{
	return (t[0] == '4' || t[0] == '5') && t[1] == '.';
}

/* verdict_of - the refusal in a milter's reply, into v; 0 if none */
static int
verdict_of(const struct ext_service_conf *e, const struct milter_reply *r,
           struct verdict *v)
{
	memset(v, 0, sizeof(*v));
	v->rule = e->rule;
	switch (r->cmd) {
	case SMFIR_REJECT:
		v->kind = VERDICT_PERMFAIL;
		v->code = 550;
		v->enh = "5.7.1";
		snprintf(v->text, sizeof(v->text), "Command rejected");
		return 1;
	case SMFIR_TEMPFAIL:
		v->kind = VERDICT_TEMPFAIL;
		v->code = 451;
		v->enh = "4.7.1";
		snprintf(v->text, sizeof(v->text),
		         "Service unavailable - try again later");
		return 1;
	case SMFIR_REPLYCODE:
		v->kind = r->code >= 500 ? VERDICT_PERMFAIL : VERDICT_TEMPFAIL;
		v->code = r->code;
		/* the milter's lines keep their own enhanced codes */
		v->enh = has_enh(r->text) ? NULL : r->code >= 500 ? "5.7.1" : "4.7.1";
		snprintf(v->text, sizeof(v->text), "%s",
		         r->text[0] ? r->text : "Command rejected");
		return 1;
	default:
		return 0;
	}
}

/* sm_finish - the step's verdict goes to the session */
void
sm_finish(struct milter_sess *ms, const struct verdict *v)
{
	struct session *s = ms->s;
	milter_next next = ms->next;

	ms->next = NULL;
	s->wait = W_NONE;
	next(s, v);
}

/* refuse - the step ends refused: v (copied, the verdict outlives o) */
static void
refuse(struct milter_sess *ms, const struct verdict *v)
{
	ms->v = *v;
	sm_finish(ms, &ms->v);
}

/* failure - the current milter failed: on_error. The step goes on
 * without it (accept) or ends refused. */
void
sm_failure(struct milter_sess *ms, const char *why)
{
	static const char *const what[] = {[EXT_TEMPFAIL] = "tempfail",
	                                   [EXT_ACCEPT] = "accept",
	                                   [EXT_REJECT] = "reject"};
	struct milter_one *o = &ms->m[ms->cur];
	const struct ext_service_conf *e = o->conf;
	struct verdict *v = &o->refusal;
	char reason[160];

	/* why may be the connection's own text, which goes with it below */
	strlcpy(reason, why, sizeof(reason));
	why = reason;
	log_warnx("milter %s: sid=%s client=%s: %s; on_error=%s", e->name, ms->s->sid,
	          ms->s->peer_str, log_escape_str(why), what[e->on_error]);
	milter_conn_free(o->mc);
	o->mc = NULL;
	o->in_msg = 0;
	if (ms->body_replaced) {
		/* what it began to send of a new body is not the body */
		mmsg_body_begin(ms->msg);
		ms->body_replaced = 0;
	}
	if (e->on_error == EXT_ACCEPT) {
		o->state = MO_DONE;
		ms->cur++;
		sm_run(ms);
		return;
	}
	memset(v, 0, sizeof(*v));
	v->rule = e->rule;
	v->kind = e->on_error == EXT_TEMPFAIL ? VERDICT_TEMPFAIL : VERDICT_PERMFAIL;
	v->code = e->on_error == EXT_TEMPFAIL ? 451 : 550;
	v->enh = e->on_error == EXT_TEMPFAIL ? "4.7.1" : "5.7.1";
	snprintf(v->text, sizeof(v->text), "%s",
	         e->on_error == EXT_TEMPFAIL ? "Service unavailable - try again later"
	                                     : "Command rejected");
	snprintf(v->detail, sizeof(v->detail), "trouble=%s", log_escape_str(why));
	o->state = MO_REFUSING;
	refuse(ms, v);
}

/* ---- the end of the message ---- */

/* ---- the steps ---- */

static void step_done(struct milter_sess *ms, const struct milter_reply *r,
                      const char *why);

static void
on_reply(void *arg, const struct milter_reply *r, const char *why)
{
	step_done(arg, r, why);
}

/* ask - out as the current sub-step; a step the milter does not answer
 * (its NR_ flag) is written and goes on as if it said continue */
void
sm_ask(struct milter_sess *ms, struct evbuffer *out, uint32_t nr_flag, milter_mod_cb mods)
{
	struct milter_one *o = &ms->m[ms->cur];

	if (nr_flag != 0 && (milter_protocol(o->mc) & nr_flag)) {
		milter_write(o->mc, out);
		evbuffer_free(out);
		step_done(ms, &cont, NULL);
		return;
	}
	milter_ask(o->mc, out, on_reply, mods, ms);
	evbuffer_free(out);
}

/* send_sub - the current sub-step to the current milter */
void
sm_send_sub(struct milter_sess *ms)
{
	struct session *s = ms->s;
	struct milter_one *o = &ms->m[ms->cur];
	uint32_t p = milter_protocol(o->mc);
	struct evbuffer *out = evbuffer_new();
	const char *name, *value;

	if (out == NULL)
		fatalx("milter: out of memory");
	switch (ms->sub) {
	case SUB_CONNECT:
		if (p & SMFIP_NOCONNECT)
			break;
		macros(ms, out, SMFIC_CONNECT);
		connect_packet(s, out);
		sm_ask(ms, out, SMFIP_NR_CONN, NULL);
		return;
	case SUB_HELO:
		if ((p & SMFIP_NOHELO) || s->helo == NULL)
			break;
		macros(ms, out, SMFIC_HELO);
		milter_put_strs(out, SMFIC_HELO, (const char *[]){s->helo}, 1);
		sm_ask(ms, out, SMFIP_NR_HELO, NULL);
		return;
	case SUB_MAIL:
		o->in_msg = 1;
		if (p & SMFIP_NOMAIL)
			break;
		macros(ms, out, SMFIC_MAIL);
		addr_packet(out, SMFIC_MAIL, s->pending_addr);
		sm_ask(ms, out, SMFIP_NR_MAIL, NULL);
		return;
	case SUB_RCPT:
		if (p & SMFIP_NORCPT)
			break;
		macros(ms, out, SMFIC_RCPT);
		addr_packet(out, SMFIC_RCPT, s->pending_addr);
		sm_ask(ms, out, SMFIP_NR_RCPT, NULL);
		return;
	case SUB_DATA:
		if (p & SMFIP_NODATA)
			break;
		macros(ms, out, SMFIC_DATA);
		milter_put(out, SMFIC_DATA, NULL, 0);
		sm_ask(ms, out, SMFIP_NR_DATA, NULL);
		return;
	case SUB_HDR:
		if (p & SMFIP_NOHDRS)
			break;
		if (p & SMFIP_NR_HDR) {
			/* unanswered: all of them at once (a loop, not one call
			 * per field: a message may have thousands) */
			while ((name = mmsg_header(ms->msg, ms->hdr,
			                           (p & SMFIP_HDR_LEADSPC) != 0,
			                           &value)) != NULL) {
				ms->hdr++;
				milter_put_strs(out, SMFIC_HEADER,
				                (const char *[]){name, value}, 2);
			}
			milter_write(o->mc, out);
			evbuffer_free(out);
			ms->sub = SUB_EOH;
			sm_send_sub(ms);
			return;
		}
		if ((name = mmsg_header(ms->msg, ms->hdr, (p & SMFIP_HDR_LEADSPC) != 0,
		                        &value)) == NULL)
			break;
		ms->hdr++;
		milter_put_strs(out, SMFIC_HEADER, (const char *[]){name, value}, 2);
		sm_ask(ms, out, SMFIP_NR_HDR, NULL);
		return;
	case SUB_EOH:
		if (p & SMFIP_NOEOH)
			break;
		macros(ms, out, SMFIC_EOH);
		milter_put(out, SMFIC_EOH, NULL, 0);
		sm_ask(ms, out, SMFIP_NR_EOH, NULL);
		return;
	case SUB_BODY:
		evbuffer_free(out);
		if (p & SMFIP_NOBODY) {
			ms->sub = SUB_EOM;
			sm_send_sub(ms);
			return;
		}
		sm_send_body(ms);
		return;
	case SUB_EOM:
		macros(ms, out, SMFIC_BODYEOB);
		milter_put(out, SMFIC_BODYEOB, NULL, 0);
		ms->mod_err[0] = '\0';
		ms->body_replaced = 0;
		sm_ask(ms, out, 0, sm_on_mod);
		return;
	case SUB_NEG:
		break;
	}
	/* a step it does without: as if it said continue */
	evbuffer_free(out);
	step_done(ms, &cont, NULL);
}

/* next_sub - where a continue leads */
static int
next_sub(struct milter_sess *ms)
{
	switch (ms->sub) {
	case SUB_NEG:
		return SUB_CONNECT;
	case SUB_CONNECT:
		return SUB_HELO;
	case SUB_HELO:
		return SUB_MAIL;
	case SUB_DATA:
		return SUB_HDR;
	case SUB_HDR:
		/* the next field, until none is left */
		return ms->hdr < mmsg_nheaders(ms->msg) &&
		               !(milter_protocol(ms->m[ms->cur].mc) & SMFIP_NOHDRS)
		           ? SUB_HDR
		           : SUB_EOH;
	case SUB_EOH:
		return SUB_BODY;
	case SUB_BODY:
		return SUB_BODY;
	default:
		return -1; /* MAIL, RCPT, EOM: this milter is through */
	}
}

static void
step_done(struct milter_sess *ms, const struct milter_reply *r, const char *why)
{
	struct milter_one *o = &ms->m[ms->cur];
	struct verdict v;
	int greeting = ms->sub == SUB_CONNECT || ms->sub == SUB_HELO;
	int nxt;

	if (r == NULL) {
		sm_failure(ms, why);
		return;
	}
	if (ms->sub == SUB_EOM && ms->mod_err[0] != '\0') {
		sm_failure(ms, ms->mod_err);
		return;
	}
	if (ms->sub == SUB_NEG)
		o->state = MO_READY;
	if (verdict_of(o->conf, r, &v)) {
		if (greeting) {
			/* refused at connect or HELO: every MAIL hears it */
			o->state = MO_REFUSING;
			o->refusal = v;
		}
		refuse(ms, &v);
		return;
	}
	switch (r->cmd) {
	case SMFIR_CONTINUE:
		break;
	case SMFIR_ACCEPT:
		if (greeting)
			o->state = MO_DONE;
		else
			o->msg_done = 1;
		if (ms->body_replaced)
			mmsg_body_end(ms->msg);
		ms->cur++;
		sm_run(ms);
		return;
	case SMFIR_DISCARD:
		if (greeting) {
			sm_failure(ms, "discard before a message");
			return;
		}
		log_info("milter %s: sid=%s discard", o->conf->name, ms->s->sid);
		ms->discard = 1;
		/* the message is dropped: nobody needs to see more of it */
		for (size_t i = 0; i < ms->n; i++)
			ms->m[i].msg_done = 1;
		ms->cur = ms->n;
		sm_run(ms);
		return;
	case SMFIR_SKIP:
		if (ms->sub != SUB_BODY) {
			sm_failure(ms, "skip outside the body");
			return;
		}
		ms->sub = SUB_EOM;
		sm_send_sub(ms);
		return;
	default:
		sm_failure(ms, "a reply that does not fit the step");
		return;
	}
	if (ms->sub == SUB_EOM && ms->body_replaced)
		mmsg_body_end(ms->msg);
	nxt = next_sub(ms);
	if (ms->sub == SUB_HELO)
		o->greeted = 1;
	if (nxt == -1 || (nxt == SUB_MAIL && ms->step != ST_MAIL)) {
		ms->cur++;
		sm_run(ms);
		return;
	}
	ms->sub = (enum sub)nxt;
	sm_send_sub(ms);
}

/* run - the step at the current milter, or the next one due */
void
sm_run(struct milter_sess *ms)
{
	static const struct verdict ok;

	while (ms->cur < ms->n) {
		struct milter_one *o = &ms->m[ms->cur];

		if (o->state == MO_DONE || o->msg_done) {
			ms->cur++;
			continue;
		}
		if (o->state == MO_REFUSING) {
			refuse(ms, &o->refusal);
			return;
		}
		if (o->state == MO_IDLE) {
			if (ms->step != ST_MAIL) {
				/* not at MAIL: nothing to say to it yet */
				ms->cur++;
				continue;
			}
			o->mc = milter_conn_new(ms->s->sd->base, o->conf);
			ms->sub = SUB_NEG;
			milter_negotiate(o->mc, on_reply, ms);
			return;
		}
		ms->sub = ms->step == ST_MAIL   ? (o->greeted ? SUB_MAIL : SUB_CONNECT)
		          : ms->step == ST_RCPT ? SUB_RCPT
		                                : SUB_DATA;
		ms->hdr = 0;
		ms->body_off = 0;
		sm_send_sub(ms);
		return;
	}
	if (ms->step == ST_EOD) {
		sm_end_eod(ms);
		return;
	}
	sm_finish(ms, &ok);
}

static void
start(struct session *s, enum step step, milter_next next)
{
	struct milter_sess *ms = s->ml;

	ms->step = step;
	ms->cur = 0;
	ms->next = next;
	s->wait = W_POLICY;
	bufferevent_disable(s->bev, EV_READ);
	sm_run(ms);
}

void
session_milter_mail(struct session *s, milter_next next)
{
	start(s, ST_MAIL, next);
}

void
session_milter_rcpt(struct session *s, milter_next next)
{
	start(s, ST_RCPT, next);
}

void
session_milter_eod(struct session *s, milter_next next)
{
	struct milter_sess *ms = s->ml;

	ms->msg = mmsg_new(s->sd->spool, s->tx.msg, s->tx.own_len,
	                   (size_t)s->sd->conf->limits.message_size_max);
	if (ms->msg == NULL) {
		struct verdict v;
		memset(&v, 0, sizeof(v));
		v.kind = VERDICT_TEMPFAIL;
		v.code = 451;
		v.enh = "4.3.0";
		v.rule = "queue-error";
		snprintf(v.text, sizeof(v.text), "Error: queue file read error");
		ms->next = next;
		refuse(ms, &v);
		return;
	}
	start(s, ST_EOD, next);
}

void
session_milter_abort(struct session *s)
{
	struct milter_sess *ms = s->ml;

	if (ms == NULL)
		return;
	for (size_t i = 0; i < ms->n; i++) {
		struct milter_one *o = &ms->m[i];
		if (o->in_msg && o->mc != NULL && !milter_dead(o->mc)) {
			struct evbuffer *out = evbuffer_new();
			if (out == NULL)
				fatalx("milter: out of memory");
			milter_put(out, SMFIC_ABORT, NULL, 0);
			milter_write(o->mc, out);
			evbuffer_free(out);
		}
		o->in_msg = 0;
		o->msg_done = 0;
	}
	mmsg_free(ms->msg);
	ms->msg = NULL;
	ms->hold = ms->discard = ms->env_changed = 0;
}

void
session_milter_free(struct session *s)
{
	struct milter_sess *ms = s->ml;

	if (ms == NULL)
		return;
	for (size_t i = 0; i < ms->n; i++)
		milter_conn_free(ms->m[i].mc);
	mmsg_free(ms->msg);
	free(ms->m);
	free(ms);
	s->ml = NULL;
}
