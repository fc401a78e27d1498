/* SPDX-License-Identifier: ISC */
/*
 * psvc_stage.c - the policy_service sections as the pipeline's last stage:
 * at RCPT, DATA or the end of data, each service configured for that
 * stage (and this listener) is asked in the order written, and its access(5)
 * action decides as in Postfix's check_policy_service:
 *
 *   OK                 pass; no later service is asked
 *   DUNNO              no opinion; the next one is asked
 *   REJECT, 5NN        refused (554 5.7.1 unless the service said)
 *   DEFER, 4NN         refused for now (450 4.7.1 unless the service said)
 *   DEFER_IF_PERMIT    450, unless a later service refuses
 *   DEFER_IF_REJECT    a later refusal becomes a 450
 *   PREPEND header     added on top of the message (before end of data)
 *   WARN, INFO text    logged
 *   HOLD               the message is kept in the queue, held
 *   DISCARD            accepted and dropped; no later service is asked
 *   FILTER, REDIRECT, BCC: logged as not supported, then as DUNNO
 *
 * A service that cannot be asked (down, slow, garbage) gets its on_error:
 * accept (as DUNNO), tempfail (451 4.3.5) or reject (554 5.3.5), and one
 * log line. Trusted networks, authenticated users and allowlisted clients
 * are not asked unless the section says trusted = yes.
 * SECURITY: the actions come parsed and cleaned from psvc_proto.c; the
 * request is made of values the SMTP layer parsed, control octets
 * replaced (psvc_attr).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "common/log.h"
#include "conf/conf.h"
#include "policy/psvc_proto.h"
#include "policy/svc_client.h"
#include "policy/stages.h"

static enum psvc_stage
stage_of(enum policy_hook hook)
{
	return hook == HOOK_RCPT ? PSVC_RCPT : hook == HOOK_DATA ? PSVC_DATA : PSVC_EOD;
}

static int
serves(const struct ext_service_conf *e, enum policy_hook hook, const char *listener)
{
	if (hook != HOOK_RCPT && hook != HOOK_DATA && hook != HOOK_EOD)
		return 0;
	if (e->stage != stage_of(hook))
		return 0;
	if (e->nlisteners == 0)
		return 1;
	for (size_t i = 0; i < e->nlisteners; i++)
		if (strcmp(e->listeners[i], listener) == 0)
			return 1;
	return 0;
}

int
policy_services_at(const struct policy *p, enum policy_hook hook, const char *listener)
{
	const struct moat_conf *c = policy_conf(p);

	for (size_t i = 0; i < c->npolicy_services; i++)
		if (serves(&c->policy_services[i], hook, listener))
			return 1;
	return 0;
}

static int
asks(const struct ext_service_conf *e, const struct policy_req *req)
{
	if (!serves(e, req->hook, req->smtp.listener))
		return 0;
	return e->trusted ||
	       !(req->client.flags & (PC_TRUSTED | PC_AUTHED | PC_ALLOWLISTED));
}

static void
attr_num(struct evbuffer *b, const char *name, unsigned long v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%lu", v);
	psvc_attr(b, name, buf);
}

/* request - the attributes of SMTPD_POLICY_README, as Postfix sends them */
static struct evbuffer *
request(const struct policy_check *chk, const struct ext_service_conf *e)
{
	const struct policy_req *r = &chk->req;
	const struct policy_smtp *m = &r->smtp;
	struct evbuffer *b = evbuffer_new();
	static const char *const states[] = {
	    [HOOK_RCPT] = "RCPT", [HOOK_DATA] = "DATA", [HOOK_EOD] = "END-OF-MESSAGE"};

	if (b == NULL)
		fatalx("policy_service: out of memory");
	psvc_attr(b, "request", "smtpd_access_policy");
	psvc_attr(b, "protocol_state", states[r->hook]);
	psvc_attr(b, "protocol_name", m->esmtp ? "ESMTP" : "SMTP");
	psvc_attr(b, "helo_name", r->client.helo);
	psvc_attr(b, "queue_id", m->queue_id);
	psvc_attr(b, "sender", r->sender);
	psvc_attr(b, "recipient", r->rcpt);
	attr_num(b, "recipient_count", r->hook == HOOK_RCPT ? 0 : m->nrcpts);
	psvc_attr(b, "client_address", r->client.addr_str);
	psvc_attr(b, "client_name", r->client.rdns[0] ? r->client.rdns : "unknown");
	psvc_attr(b, "reverse_client_name",
	          r->client.rdns[0] ? r->client.rdns : "unknown");
	psvc_attr(b, "instance", m->instance);
	psvc_attr(b, "sasl_method", (r->client.flags & PC_AUTHED) ? m->sasl_method : "");
	psvc_attr(b, "sasl_username",
	          (r->client.flags & PC_AUTHED) ? r->client.login : "");
	psvc_attr(b, "sasl_sender", "");
	if (m->size > 0)
		attr_num(b, "size", m->size);
	else
		psvc_attr(b, "size", "0");
	psvc_attr(b, "ccert_subject", "");
	psvc_attr(b, "ccert_issuer", "");
	psvc_attr(b, "ccert_fingerprint", "");
	psvc_attr(b, "ccert_pubkey_fingerprint", "");
	psvc_attr(b, "encryption_protocol", m->tls_version);
	psvc_attr(b, "encryption_cipher", m->tls_cipher);
	if (m->tls_version[0] != '\0')
		attr_num(b, "encryption_keysize", (unsigned long)m->tls_bits);
	else
		psvc_attr(b, "encryption_keysize", "0");
	psvc_attr(b, "etrn_domain", "");
	psvc_attr(b, "stress", m->stress ? "yes" : "");
	attr_num(b, "client_port", (unsigned long)m->client_port);
	psvc_attr(b, "policy_context", e->context != NULL ? e->context : "");
	psvc_attr(b, "server_address", m->server_addr);
	attr_num(b, "server_port", (unsigned long)m->server_port);
	evbuffer_add(b, "\n", 1); /* the request's end */
	return b;
}

static void ask_next(struct policy_check *chk);

/* refused - the service's refusal, worded as Postfix words it */
static void
refused(struct policy_check *chk, const struct ext_service_conf *e,
        enum verdict_kind kind, int code, const char *enh, const char *text)
{
	const struct policy_req *r = &chk->req;

	if (r->hook == HOOK_RCPT)
		policy_stop(chk, kind, code, enh, e->rule,
		            "<%s>: Recipient address rejected: %s", r->rcpt, text);
	else if (r->hook == HOOK_DATA)
		policy_stop(chk, kind, code, enh, e->rule,
		            "<DATA>: Data command rejected: %s", text);
	else
		policy_stop(chk, kind, code, enh, e->rule,
		            "<END-OF-MESSAGE>: End-of-data rejected: %s", text);
}

/* enh_of - the enhanced status code a service gave, kept in buf (the
 * verdict points to it: buf is the check's), or ours */
static const char *
enh_of(const struct psvc_action *a, int cls, char *buf, size_t bufsz)
{
	if (a->enh[0] == '\0')
		return cls == 5 ? "5.7.1" : "4.7.1";
	strlcpy(buf, a->enh, bufsz);
	return buf;
}

static void
failed(struct policy_check *chk, const struct ext_service_conf *e, const char *why)
{
	static const char *const what[] = {[EXT_TEMPFAIL] = "tempfail",
	                                   [EXT_ACCEPT] = "accept",
	                                   [EXT_REJECT] = "reject"};

	log_warnx("policy_service %s: sid=%s client=%s: %s; on_error=%s", e->name,
	          chk->req.client.sid, chk->req.client.addr_str, log_escape_str(why),
	          what[e->on_error]);
	policy_detail(chk, "trouble=%s", log_escape_str(why));
	switch (e->on_error) {
	case EXT_ACCEPT:
		ask_next(chk);
		break;
	case EXT_TEMPFAIL:
		policy_stop(chk, VERDICT_TEMPFAIL, 451, "4.3.5", e->rule,
		            "Server configuration problem");
		break;
	case EXT_REJECT:
		policy_stop(chk, VERDICT_PERMFAIL, 554, "5.3.5", e->rule,
		            "Server configuration problem");
		break;
	}
}

static void
prepend(struct policy_check *chk, const struct ext_service_conf *e, const char *header)
{
	struct policy_out *o = &chk->req.out;
	size_t have = strlen(o->prepend), need = strlen(header) + 2;

	/* Postfix: PREPEND must come before the end of data */
	if (chk->req.hook == HOOK_EOD) {
		log_warnx("policy_service %s: sid=%s: PREPEND must come before the "
		          "end of data; ignored",
		          e->name, chk->req.client.sid);
		return;
	}
	if (have + need >= sizeof(o->prepend)) {
		log_warnx("policy_service %s: sid=%s: more than %zu octets of "
		          "PREPEND headers; \"%s\" ignored",
		          e->name, chk->req.client.sid, sizeof(o->prepend) - 1,
		          log_escape_str(header));
		return;
	}
	memcpy(o->prepend + have, header, need - 2);
	memcpy(o->prepend + have + need - 2, "\r\n", 3);
}

/* noted - WARN, INFO, HOLD, DISCARD: a log line; the last two mark the
 * message for the session */
static void
noted(struct policy_check *chk, const struct ext_service_conf *e,
      const struct psvc_action *a)
{
	static const char *const what[] = {[PA_WARN] = "warn",
	                                   [PA_INFO] = "info",
	                                   [PA_HOLD] = "hold",
	                                   [PA_DISCARD] = "discard"};

	if (a->kind == PA_HOLD)
		chk->req.out.hold = 1;
	if (a->kind == PA_DISCARD)
		chk->req.out.discard = 1;
	if (a->kind == PA_HOLD || a->kind == PA_DISCARD)
		policy_detail(chk, "%s=%s", what[a->kind], e->rule);
	log_info("policy_service %s: sid=%s client=%s %s: %s", e->name,
	         chk->req.client.sid, chk->req.client.addr_str, what[a->kind],
	         log_escape_str(a->text));
}

static void
answered(void *arg, const char *reply, size_t len, const char *why)
{
	struct policy_check *chk = arg;
	const struct moat_conf *c = policy_conf(chk->p);
	const struct ext_service_conf *e = &c->policy_services[chk->psvc.next];
	const char *sid = chk->req.client.sid;
	struct psvc_action action, *a = NULL;
	char err[160];

	/* the framing held, so a bad action spoils this answer only */
	if (reply != NULL && psvc_reply_parse(reply, len, &action, err, sizeof(err)) == 0)
		a = &action;
	else if (reply != NULL)
		why = err;

	chk->psvc.next++;
	if (chk->cancelled) {
		policy_next(chk); /* the session is gone: finish */
		return;
	}
	if (a == NULL) {
		failed(chk, e, why);
		return;
	}
	switch (a->kind) {
	case PA_OK:
		chk->psvc.next = c->npolicy_services;
		ask_next(chk);
		return;
	case PA_DUNNO:
		ask_next(chk);
		return;
	case PA_REJECT:
		if (chk->psvc.if_reject[0] != '\0') {
			/* an earlier DEFER_IF_REJECT turns it into a 450 */
			policy_detail(chk, "reject=%s", e->rule);
			policy_stop(chk, VERDICT_TEMPFAIL, 450, "4.7.1",
			            chk->psvc.if_reject_rule, "%s", chk->psvc.if_reject);
			return;
		}
		refused(chk, e, VERDICT_PERMFAIL, a->code,
		        enh_of(a, 5, chk->psvc.enh, sizeof(chk->psvc.enh)),
		        a->text[0] ? a->text : "Access denied");
		return;
	case PA_DEFER:
		refused(chk, e, VERDICT_TEMPFAIL, a->code,
		        enh_of(a, 4, chk->psvc.enh, sizeof(chk->psvc.enh)),
		        a->text[0] ? a->text : "Service unavailable");
		return;
	case PA_DEFER_IF_PERMIT: {
		/* the answer unless a later stage or service refuses */
		struct verdict d;
		memset(&d, 0, sizeof(d));
		d.kind = VERDICT_TEMPFAIL;
		d.code = 450;
		d.enh = enh_of(a, 4, chk->psvc.enh_defer, sizeof(chk->psvc.enh_defer));
		d.rule = e->rule;
		if (chk->req.hook == HOOK_RCPT)
			snprintf(d.text, sizeof(d.text),
			         "<%s>: Recipient address rejected: %s", chk->req.rcpt,
			         a->text[0] ? a->text : "Service unavailable");
		else
			snprintf(d.text, sizeof(d.text), "%s",
			         a->text[0] ? a->text : "Service unavailable");
		policy_defer(chk, &d);
		ask_next(chk);
		return;
	}
	case PA_DEFER_IF_REJECT:
		if (chk->req.hook == HOOK_RCPT)
			snprintf(chk->psvc.if_reject, sizeof(chk->psvc.if_reject),
			         "<%s>: Recipient address rejected: %s", chk->req.rcpt,
			         a->text[0] ? a->text : "Service unavailable");
		else
			snprintf(chk->psvc.if_reject, sizeof(chk->psvc.if_reject), "%s",
			         a->text[0] ? a->text : "Service unavailable");
		chk->psvc.if_reject_rule = e->rule;
		ask_next(chk);
		return;
	case PA_PREPEND:
		prepend(chk, e, a->text);
		ask_next(chk);
		return;
	case PA_WARN:
	case PA_INFO:
	case PA_HOLD:
	case PA_DISCARD:
		noted(chk, e, a);
		/* DISCARD ends the asking, as OK does */
		if (a->kind == PA_DISCARD)
			chk->psvc.next = c->npolicy_services;
		ask_next(chk);
		return;
	case PA_UNSUPPORTED:
		log_warnx("policy_service %s: sid=%s: action %s is not supported; "
		          "ignored",
		          e->name, sid, a->word);
		ask_next(chk);
		return;
	}
	failed(chk, e, "unknown action");
}

static void
ask_next(struct policy_check *chk)
{
	const struct moat_conf *c = policy_conf(chk->p);

	while (chk->psvc.next < c->npolicy_services) {
		const struct ext_service_conf *e = &c->policy_services[chk->psvc.next];
		if (!asks(e, &chk->req)) {
			chk->psvc.next++;
			continue;
		}
		svc_ask(policy_service(chk->p, chk->psvc.next), request(chk, e), answered,
		        chk);
		return;
	}
	policy_next(chk);
}

static void
run(struct policy_check *chk)
{
	chk->psvc.next = 0;
	chk->psvc.if_reject[0] = '\0';
	ask_next(chk);
}

const struct stage stage_policy_services = {
    "policy-services",
    (1u << HOOK_RCPT) | (1u << HOOK_DATA) | (1u << HOOK_EOD),
    run,
};
