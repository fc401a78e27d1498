/* SPDX-License-Identifier: ISC */
/*
 * session_milter_msg.c - the end of the message for the milters: the body
 * steps (read back from the spool, paced when a milter leaves them
 * unanswered), the modifications each milter makes (header fields and
 * body through milter/milter_msg.c; recipients, sender and quarantine
 * here), and, once every milter has seen it, the message written anew
 * into the spool if any of them changed it.
 * SECURITY: an address a milter gives is parsed as an SMTP client's would
 * be (smtp_parse_mail/smtp_parse_rcpt) before it enters the envelope; a
 * modification a milter did not announce in its negotiation fails it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>

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

/* the most octets of body steps queued to a milter before waiting */
#define BODY_BACKLOG (256 * 1024)

/* allowed - a modification the milter said it would make (SMFIF_*) */
static int
allowed(const struct milter_one *o, char cmd)
{
	uint32_t a = milter_actions(o->mc), need;

	switch (cmd) {
	case SMFIR_ADDHEADER:
	case SMFIR_INSHEADER:
		need = SMFIF_ADDHDRS;
		break;
	case SMFIR_CHGHEADER:
		need = SMFIF_CHGHDRS;
		break;
	case SMFIR_REPLBODY:
		need = SMFIF_CHGBODY;
		break;
	case SMFIR_ADDRCPT:
		need = SMFIF_ADDRCPT;
		break;
	case SMFIR_ADDRCPT_PAR:
		need = SMFIF_ADDRCPT_PAR;
		break;
	case SMFIR_DELRCPT:
		need = SMFIF_DELRCPT;
		break;
	case SMFIR_CHGFROM:
		need = SMFIF_CHGFROM;
		break;
	case SMFIR_QUARANTINE:
		need = SMFIF_QUARANTINE;
		break;
	default:
		return 0;
	}
	return (a & need) != 0;
}

/* env_addr - an address a milter gives ("<a@b>" or "a@b"), as a client's
 * would be parsed, formatted into out; -1 if it is none */
static int
env_addr(const char *given, int sender, char *out, size_t outsz)
{
	char buf[MAILADDR_FMT_MAX + 16];
	struct mailaddr a;
	struct mail_params mp;
	size_t len = strlen(given);
	int n;

	if (len >= 2 && given[0] == '<' && given[len - 1] == '>') {
		given++;
		len -= 2;
	}
	n = snprintf(buf, sizeof(buf), "%s:<%.*s>", sender ? "FROM" : "TO", (int)len,
	             given);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -1;
	if ((sender ? smtp_parse_mail(buf, (size_t)n, 0, &a, &mp)
	            : smtp_parse_rcpt(buf, (size_t)n, 0, &a, NULL)) != MAE_OK)
		return -1;
	mailaddr_format(&a, out, outsz);
	return 0;
}

/* envelope - ADDRCPT, DELRCPT, CHGFROM: the transaction's envelope */
static int
envelope(struct milter_sess *ms, const struct milter_reply *r, char *err, size_t errsz)
{
	struct session *s = ms->s;
	struct transaction *tx = &s->tx;
	char addr[MAILADDR_FMT_MAX];

	if (env_addr(r->addr, r->cmd == SMFIR_CHGFROM, addr, sizeof(addr)) == -1) {
		snprintf(err, errsz, "an address that is none: %s",
		         log_escape_str(r->addr));
		return -1;
	}
	if (r->cmd == SMFIR_CHGFROM) {
		free(tx->sender);
		tx->sender = xstrdup(addr);
	} else if (r->cmd == SMFIR_DELRCPT) {
		for (size_t i = 0; i < tx->nrcpts; i++)
			if (strcasecmp(tx->rcpts[i], addr) == 0) {
				tx_rcpt_remove(tx, i);
				break;
			}
	} else {
		for (size_t i = 0; i < tx->nrcpts; i++)
			if (strcasecmp(tx->rcpts[i], addr) == 0)
				return 0;
		if ((long)tx->nrcpts >= s->sd->conf->limits.recipients_max) {
			snprintf(err, errsz, "more recipients than recipients_max");
			return -1;
		}
		tx_rcpt_push(tx, addr, 0, NULL);
	}
	log_info("milter %s: sid=%s %s %s", ms->m[ms->cur].conf->name, s->sid,
	         r->cmd == SMFIR_CHGFROM   ? "sender"
	         : r->cmd == SMFIR_DELRCPT ? "delrcpt"
	                                   : "addrcpt",
	         log_escape_addr(addr));
	ms->env_changed = 1;
	return 0;
}

/* on_mod - a modification before the end of message's final reply */
void
sm_on_mod(void *arg, const struct milter_reply *r)
{
	struct milter_sess *ms = arg;
	struct milter_one *o = &ms->m[ms->cur];
	int leadspc = (milter_protocol(o->mc) & SMFIP_HDR_LEADSPC) != 0;
	char *err = ms->mod_err;
	size_t errsz = sizeof(ms->mod_err);

	if (err[0] != '\0')
		return; /* failed already: the rest is ignored */
	if (!allowed(o, r->cmd)) {
		snprintf(err, errsz, "a '%c' modification it did not negotiate", r->cmd);
		return;
	}
	switch (r->cmd) {
	case SMFIR_QUARANTINE:
		log_info("milter %s: sid=%s quarantine: %s", o->conf->name, ms->s->sid,
		         log_escape_str(r->value));
		ms->hold = 1;
		return;
	case SMFIR_ADDRCPT:
	case SMFIR_ADDRCPT_PAR:
	case SMFIR_DELRCPT:
	case SMFIR_CHGFROM:
		envelope(ms, r, err, errsz);
		return;
	case SMFIR_REPLBODY:
		if (!ms->body_replaced) {
			mmsg_body_begin(ms->msg);
			ms->body_replaced = 1;
		}
		/* FALLTHROUGH */
	default:
		mmsg_apply(ms->msg, r, leadspc, err, errsz);
		return;
	}
}

static void
body_drained(void *arg)
{
	struct milter_sess *ms = arg;
	struct milter_one *o = &ms->m[ms->cur];

	if (milter_dead(o->mc)) {
		sm_failure(ms, milter_why(o->mc));
		return;
	}
	sm_send_sub(ms);
}

/* send_body - the body steps of the current milter, from body_off */
void
sm_send_body(struct milter_sess *ms)
{
	struct milter_one *o = &ms->m[ms->cur];
	unsigned char chunk[MILTER_CHUNK];

	for (;;) {
		ssize_t n = mmsg_body_read(ms->msg, ms->body_off, chunk, sizeof(chunk));
		struct evbuffer *out;

		if (n < 0) {
			sm_failure(ms, "the message cannot be read back from the spool");
			return;
		}
		if (n == 0) {
			ms->sub = SUB_EOM;
			sm_send_sub(ms);
			return;
		}
		ms->body_off += (size_t)n;
		if ((out = evbuffer_new()) == NULL)
			fatalx("milter: out of memory");
		milter_put(out, SMFIC_BODY, chunk, (size_t)n);
		if (!(milter_protocol(o->mc) & SMFIP_NR_BODY)) {
			/* answered: step_done() comes back here */
			sm_ask(ms, out, 0, NULL);
			return;
		}
		milter_write(o->mc, out);
		evbuffer_free(out);
		if (milter_backlog(o->mc) > BODY_BACKLOG) {
			milter_drained(o->mc, BODY_BACKLOG / 2, body_drained, ms);
			return;
		}
	}
}

/* end_eod - every milter has seen the message: write it anew if changed */
void
sm_end_eod(struct milter_sess *ms)
{
	struct session *s = ms->s;
	struct transaction *tx = &s->tx;
	struct verdict ok;

	memset(&ok, 0, sizeof(ok));
	if (ms->hold)
		tx->hold = 1;
	if (ms->discard || tx->nrcpts == 0)
		tx->discard = 1; /* no recipient left: nothing to deliver */
	if (!tx->discard &&
	    ((ms->msg != NULL && mmsg_changed(ms->msg)) || ms->env_changed)) {
		struct spool_env_in in;
		struct spool_msg *nm;

		session_env_in(s, &in);
		if ((nm = spool_begin(s->sd->spool, &in)) == NULL ||
		    mmsg_write(ms->msg, nm) == -1) {
			if (nm != NULL)
				spool_abort(nm);
			memset(&ok, 0, sizeof(ok));
			ok.kind = VERDICT_TEMPFAIL;
			ok.code = 451;
			ok.enh = "4.3.0";
			ok.rule = "queue-error";
			snprintf(ok.text, sizeof(ok.text),
			         "Error: queue file write error");
		} else {
			log_info("smtp milter-rewrite sid=%s id=%s new_id=%s", s->sid,
			         spool_msg_id(tx->msg), spool_msg_id(nm));
			spool_abort(tx->msg);
			tx->msg = nm;
		}
	}
	mmsg_free(ms->msg);
	ms->msg = NULL;
	for (size_t i = 0; i < ms->n; i++) {
		ms->m[i].in_msg = 0;
		ms->m[i].msg_done = 0;
	}
	ms->hold = ms->discard = ms->env_changed = 0;
	sm_finish(ms, &ok);
}
