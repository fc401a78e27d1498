/* SPDX-License-Identifier: ISC */
/*
 * session_auth.c - SMTP AUTH (RFC 4954) with the PLAIN (RFC 4616) and LOGIN
 * mechanisms, offered only on submission listeners and only under TLS.
 *
 * A failed login is answered after a pause that doubles with each failure
 * in the session (a timer on the event loop, so nobody else waits). The
 * budget is per client, in the store (policy/authfail.c): a slot is taken
 * before the password is checked, and past auth_failures_max within
 * auth_failure_window nothing is checked and the address gets 421 for
 * auth_ban_time on the submission ports.
 * SECURITY: AUTH lines are untrusted and up to 12288 octets (the session
 * enforces the limit before copying). Base64 is decoded strictly into a
 * fixed buffer; malformed input is a 501, never a crash (the Exim
 * CVE-2018-6789 family). Passwords are never logged, and wiped after use.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/bufferevent.h>
#include <event2/event.h>

#include "auth/authdb.h"
#include "common/base64.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "policy/authfail.h"
#include "smtp/session_int.h"
#include "smtp/smtpd.h"

#define SASL_FIELD_MAX   255 /* authzid, authcid */
#define SASL_PASS_MAX    1024
#define SASL_DECODED_MAX (12288 / 4 * 3)
#define AUTH_DELAY_MAX   8 /* seconds: the longest pause before a 535 */

int
auth_extension(const struct session *s)
{
	return s->lc->role != ROLE_MX && s->lc->role != ROLE_LOCAL &&
	       (s->flags & F_TLS) && s->sd->authdb != NULL;
}

int
auth_offered(const struct session *s)
{
	return auth_extension(s) && !(s->flags & F_AUTHED);
}

void
auth_cleanup(struct session *s)
{
	if (s->auth_req != NULL) {
		authdb_cancel(s->auth_req);
		s->auth_req = NULL;
	}
	if (s->auth_slot_req != NULL) {
		authfail_cancel(s->auth_slot_req); /* hands a slot back */
		s->auth_slot_req = NULL;
	}
	if (s->auth_pass != NULL) {
		explicit_bzero(s->auth_pass, strlen(s->auth_pass));
		free(s->auth_pass);
		s->auth_pass = NULL;
	}
	if (s->delay_ev != NULL) {
		event_free(s->delay_ev);
		s->delay_ev = NULL;
	}
	if (s->auth_pending != NULL) {
		explicit_bzero(s->auth_pending, strlen(s->auth_pending));
		free(s->auth_pending);
		s->auth_pending = NULL;
	}
	s->auth_step = AS_NONE;
	if (s->wait == W_AUTH || s->wait == W_DELAY)
		s->wait = W_NONE;
}

static void
auth_log(struct session *s, const char *user, const char *result)
{

	log_info("smtp auth sid=%s client=%s:%d mech=%s user=%s result=%s failures=%d",
	         s->sid, s->peer_str, s->peer_port, s->auth_mech, log_escape_str(user),
	         result, s->auth_failures);
}

/* delayed_fail - the pause is over: answer the failed login */
static void
delayed_fail(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	int banned = s->auth_banned;

	event_free(s->delay_ev);
	s->delay_ev = NULL;
	session_refuse(s, "auth", "auth-failed", NULL, 535, "5.7.8",
	               "Error: authentication failed");
	if (banned) {
		session_refuse(s, "auth", "auth-failures", NULL, 421, "4.7.0",
		               "%s Error: too many failed logins", s->sd->conf->hostname);
		session_close(s, "too many failed logins");
		return;
	}
	client_error(s);
	session_resume(s);
}

static void
verify_done(void *arg, enum auth_result r)
{
	struct session *s = arg;
	char *user = s->auth_pending;

	s->auth_req = NULL;
	s->auth_pending = NULL;
	s->auth_banned =
	    authfail_result(s->sd->policy, &s->peer, s->auth_slot, r == AUTH_FAIL);
	switch (r) {
	case AUTH_OK:
		s->flags |= F_AUTHED;
		s->pc.flags |= PC_AUTHED;
		s->auth_user = user;
		strlcpy(s->pc.login, user, sizeof(s->pc.login));
		session_idle_update(s);
		auth_log(s, user, "ok");
		reply(s, 235, "2.7.0", "Authentication successful");
		session_resume(s);
		return;
	case AUTH_TEMPFAIL:
		auth_log(s, user, "tempfail");
		free(user);
		session_refuse(s, "auth", "auth-tempfail", NULL, 454, "4.7.0",
		               "Temporary authentication failure");
		session_resume(s);
		return;
	case AUTH_FAIL:
		break;
	}
	s->auth_failures++;
	auth_log(s, user, "fail");
	free(user);
	/* 1, 2, 4, 8... seconds: guessing gets slower with every miss. */
	int delay = 1 << (s->auth_failures - 1 < 3 ? s->auth_failures - 1 : 3);
	struct timeval tv = {delay > AUTH_DELAY_MAX ? AUTH_DELAY_MAX : delay, 0};
	s->wait = W_DELAY;
	s->delay_ev = evtimer_new(s->sd->base, delayed_fail, s);
	evtimer_add(s->delay_ev, &tv);
}

/* slot_answered - the client's login budget answered: check, or refuse */
static void
slot_answered(void *arg, int check, int64_t slot)
{
	struct session *s = arg;
	struct auth_info info = {s->peer_str, session_local(s), (s->flags & F_TLS) != 0};
	char *pass = s->auth_pass;

	s->auth_slot_req = NULL;
	s->auth_pass = NULL;
	s->auth_slot = slot;
	if (!check) {
		/* spent, or banned: no password is checked, a right one neither */
		explicit_bzero(pass, strlen(pass));
		free(pass);
		auth_log(s, s->auth_pending, "refused");
		free(s->auth_pending);
		s->auth_pending = NULL;
		s->wait = W_NONE;
		session_refuse(s, "auth", "auth-failures", NULL, 421, "4.7.0",
		               "%s Error: too many failed logins; try again later",
		               s->sd->conf->hostname);
		session_close(s, "too many failed logins");
		return;
	}
	s->auth_req =
	    authdb_verify(s->sd->authdb, s->auth_pending, pass, &info, verify_done, s);
	explicit_bzero(pass, strlen(pass));
	free(pass);
	if (s->auth_req == NULL) {
		/* the verifier's queue is full: our trouble, 4xx */
		authfail_result(s->sd->policy, &s->peer, slot, 0);
		free(s->auth_pending);
		s->auth_pending = NULL;
		session_refuse(s, "auth", "auth-busy", NULL, 454, "4.7.0",
		               "Temporary authentication failure; try again later");
		session_resume(s);
	}
}

/* verify - take a slot of the client's login budget, then hand user/pass
 * to the backend; the session waits meanwhile */
static void
verify(struct session *s, const char *user, const char *pass)
{
	s->auth_step = AS_NONE;
	session_sig(s, SIG_AUTH, user, strlen(user), strlen(user)); /* never pass */
	free(s->auth_pending);
	s->auth_pending = xstrdup(user);
	s->auth_pass = xstrdup(pass);
	s->wait = W_AUTH;
	bufferevent_disable(s->bev, EV_READ);
	s->auth_slot_req = authfail_take(s->sd->policy, &s->peer, slot_answered, s);
}

static void
bad_exchange(struct session *s, const char *why)
{
	auth_cleanup(s);
	session_refuse(s, "auth", "auth-syntax", NULL, 501, "5.5.2", "Error: %s", why);
	client_error(s);
}

/* printable - a user name must be printable UTF-8-agnostic text, no controls */
static int
printable(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] < 0x20 || p[i] == 0x7f)
			return 0;
	return 1;
}

/* plain - RFC 4616: [authzid] NUL authcid NUL passwd */
static void
plain(struct session *s, const unsigned char *d, size_t n)
{
	const unsigned char *nul1 = memchr(d, '\0', n), *nul2;
	char user[SASL_FIELD_MAX + 1], pass[SASL_PASS_MAX + 1];
	size_t zlen, ulen, plen;

	if (nul1 == NULL || (nul2 = memchr(nul1 + 1, '\0', n - (nul1 + 1 - d))) == NULL) {
		bad_exchange(s, "invalid PLAIN response");
		return;
	}
	zlen = (size_t)(nul1 - d);
	ulen = (size_t)(nul2 - nul1 - 1);
	plen = n - (size_t)(nul2 + 1 - d);
	if (ulen == 0 || ulen > SASL_FIELD_MAX || zlen > SASL_FIELD_MAX || plen == 0 ||
	    plen > SASL_PASS_MAX || memchr(nul2 + 1, '\0', plen) != NULL ||
	    !printable(nul1 + 1, ulen)) {
		bad_exchange(s, "invalid PLAIN response");
		return;
	}
	/* We act for nobody else: an authzid must name the same user. */
	if (zlen > 0 && (zlen != ulen || memcmp(d, nul1 + 1, ulen) != 0)) {
		bad_exchange(s, "authorization identity not allowed");
		return;
	}
	memcpy(user, nul1 + 1, ulen);
	user[ulen] = '\0';
	memcpy(pass, nul2 + 1, plen);
	pass[plen] = '\0';
	verify(s, user, pass);
	explicit_bzero(pass, sizeof(pass));
}

/* step - one decoded client response in the current exchange */
static void
step(struct session *s, const unsigned char *d, size_t n)
{
	char buf[SASL_PASS_MAX + 1];

	switch (s->auth_step) {
	case AS_PLAIN:
		plain(s, d, n);
		return;
	case AS_LOGIN_USER:
		if (n == 0 || n > SASL_FIELD_MAX || !printable(d, n)) {
			bad_exchange(s, "invalid user name");
			return;
		}
		free(s->auth_pending);
		s->auth_pending = xstrndup((const char *)d, n);
		s->auth_step = AS_LOGIN_PASS;
		reply(s, 334, NULL, "UGFzc3dvcmQ6"); /* "Password:" */
		return;
	case AS_LOGIN_PASS: {
		char *user = s->auth_pending;
		if (n == 0 || n > SASL_PASS_MAX || memchr(d, '\0', n) != NULL) {
			bad_exchange(s, "invalid password");
			return;
		}
		memcpy(buf, d, n);
		buf[n] = '\0';
		s->auth_pending = NULL;
		verify(s, user, buf);
		free(user);
		explicit_bzero(buf, sizeof(buf));
		return;
	}
	case AS_NONE:
		break;
	}
}

/* decode_and_step - a base64 client response ("=" is the empty response) */
static void
decode_and_step(struct session *s, const char *b64, size_t len)
{
	unsigned char dec[SASL_DECODED_MAX + 4];
	int n;

	if (len == 1 && b64[0] == '=')
		n = 0;
	else if ((n = base64_decode(b64, len, dec, sizeof(dec))) < 0) {
		bad_exchange(s, "invalid base64 data");
		return;
	}
	step(s, dec, (size_t)n);
	explicit_bzero(dec, sizeof(dec));
}

void
auth_response(struct session *s, const char *line, size_t len)
{
	s->last_verb = V_AUTH;
	if (len == 1 && line[0] == '*') {
		/* RFC 4954 §4: the client cancelled */
		auth_cleanup(s);
		session_refuse(s, "auth", "auth-cancelled", NULL, 501, "5.7.0",
		               "Authentication aborted");
		(void)session_junk(s);
		return;
	}
	decode_and_step(s, line, len);
}

void
cmd_auth(struct session *s, enum smtp_verb v, const char *arg, size_t len)
{
	const char *sp = memchr(arg, ' ', len), *ir = NULL;
	size_t mlen = sp ? (size_t)(sp - arg) : len, irlen = 0;

	if (s->lc->role == ROLE_MX || s->lc->role == ROLE_LOCAL ||
	    s->sd->authdb == NULL) {
		session_refuse(s, "auth", "auth-not-offered", NULL, 503, "5.5.1",
		               "Error: authentication not enabled");
		client_error(s);
		return;
	}
	if (!(s->flags & F_TLS)) {
		/* RFC 4954 §4 + RFC 3207: no passwords in the clear */
		session_refuse(s, "auth", "auth-needs-tls", NULL, 530, "5.7.0",
		               "Must issue a STARTTLS command first");
		client_error(s);
		return;
	}
	if (s->flags & F_AUTHED) {
		session_refuse(s, "auth", "bad-sequence", NULL, 503, "5.5.1",
		               "Error: already authenticated");
		client_error(s);
		return;
	}
	if (session_state_in_transaction(s->state)) {
		session_refuse(s, "auth", "bad-sequence", NULL, 503, "5.5.1",
		               "Error: MAIL transaction in progress");
		client_error(s);
		return;
	}
	if (sp != NULL) {
		ir = sp + 1;
		irlen = len - mlen - 1;
	}
	if (mlen == 5 && strncasecmp(arg, "PLAIN", 5) == 0) {
		s->auth_mech = "PLAIN";
		s->auth_step = AS_PLAIN;
		if (ir == NULL)
			reply(s, 334, NULL, "%s", ""); /* RFC 4954: an empty challenge */
		else
			decode_and_step(s, ir, irlen);
		return;
	}
	if (mlen == 5 && strncasecmp(arg, "LOGIN", 5) == 0) {
		s->auth_mech = "LOGIN";
		s->auth_step = AS_LOGIN_USER;
		if (ir == NULL)
			reply(s, 334, NULL, "VXNlcm5hbWU6"); /* "Username:" */
		else
			decode_and_step(s, ir, irlen);
		return;
	}
	session_refuse(s, "auth", "auth-mechanism", NULL, 504, "5.5.4",
	               "Unsupported authentication mechanism");
	client_error(s);
}
