/* SPDX-License-Identifier: ISC */
/*
 * conn_tls.c - a configured next hop's TLS level and login, on a delivery
 * connection (conn.c). The levels are Postfix's smtp_tls_security_level:
 * none never says STARTTLS; may uses it when offered (RFC 7435); encrypt
 * requires it (a server without it, or a failed handshake, defers);
 * verify also requires the chain to verify against the next hop's
 * ca_file (else the system store and outbound_ca_file) and the
 * certificate to carry tls_name (else the host of the address). A level
 * not reached fails the address; it never falls back to plain text.
 *
 * An MX host has the level its address got in mx.c: mx_tls, or under
 * DANE (RFC 7672) what its TLSA records say: usable records make it dane
 * (the chain must match one of them, OpenSSL's DANE verifier, dane.c),
 * unusable ones encrypt. An MX host under an MTA-STS policy (RFC 8461)
 * and not under DANE (which comes first, RFC 8461 §2) is held to it here: under enforce
 * its certificate must verify against the system store and outbound_ca_file for the MX
 * host's name (§4.2), else the address fails; under testing a failure is logged as one
 * ("mta-sts testing: would fail") and delivery goes on.
 *
 * The login (RFC 4954) follows TLS: AUTH PLAIN if the server offers it,
 * else AUTH LOGIN. Credentials never go in plain text: a next hop with an
 * auth_file whose session did not reach TLS (tls = may, and no STARTTLS
 * offered) is deferred with that reason instead. A refused login (535) is
 * a deferral with the server's text, as Postfix does; only the user name
 * is ever logged.
 * SECURITY: the EHLO reply's AUTH list and the 334/235/535 replies are
 * untrusted; client.c bounds them, here only the code, the first line and
 * the mechanism names are used. The password is zeroed after encoding.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/base64.h"
#include "common/log.h"
#include "common/netaddr.h"
#include "conf/conf.h"
#include "deliver/conn_int.h"
#include "deliver/dane.h"
#include "deliver/mtasts.h"
#include "deliver/qmgr_int.h"
#include "smtp/client.h"

/* sts - the MTA-STS mode cn's address is under (MTASTS_NONE for none, for
 * a configured next hop, and for an MX host under DANE) */
static int
sts(const struct conn *cn)
{
	if (cn->d->nh != NULL || cn->tls == TLS_LEVEL_DANE)
		return MTASTS_NONE;
	return cn->d->addrs[cn->ai].sts;
}

/* level - cn's TLS level: the next hop's; an MX host's address's (mx.c),
 * raised to verify under an enforced MTA-STS policy */
static enum tls_level
level(const struct conn *cn)
{
	if (cn->d->nh != NULL)
		return cn->d->nh->tls;
	if (sts(cn) == MTASTS_ENFORCE && cn->tls < TLS_LEVEL_VERIFY)
		return TLS_LEVEL_VERIFY;
	return cn->tls;
}

const char *
conn_tls_level_word(const struct conn *cn)
{
	if (sts(cn) == MTASTS_ENFORCE)
		return "verify, mta-sts enforce";
	return conf_tls_level_name(level(cn));
}

const char *
conn_tls_sts_mode(const struct conn *cn)
{
	return sts(cn) != MTASTS_NONE ? mtasts_mode_name((enum mtasts_mode)sts(cn))
	                              : NULL;
}

/*
 * sts_fail - cn's MX host does not meet its MTA-STS policy (RFC 8461 §5):
 * under enforce the address fails (-1, conn_fail() called); under testing
 * it is logged as such, and delivery goes on (0)
 */
static int
sts_fail(struct conn *cn, const char *why)
{
	const struct dest_addr *a = &cn->d->addrs[cn->ai];

	if (a->sts != MTASTS_ENFORCE) {
		mtasts_count(MTASTS_EV_TESTING_FAILED);
		log_info("mta-sts testing: would fail: domain=%s relay=%s reason=%s",
		         log_escape_str(cn->d->name), log_escape_str(cn->relay),
		         log_escape_str(why));
		return 0;
	}
	mtasts_count(MTASTS_EV_ENFORCE_FAILED);
	conn_fail(cn, "local: 454 4.7.5 mta-sts enforce: %s: %s", a->host, why);
	return -1;
}

const char *
conn_tls_name(const struct conn *cn)
{
	struct netaddr na;

	if (cn->d->nh == NULL)
		/* under MTA-STS the MX host's name is the certificate's (§4.2) */
		return sts(cn) != MTASTS_NONE ? cn->d->addrs[cn->ai].host : NULL;
	if (cn->d->nh->tls_name != NULL)
		return cn->d->nh->tls_name;
	/* an address is no name (RFC 6066 §3: no IP literal in SNI) */
	return netaddr_parse(&na, cn->d->name) == 0 ? NULL : cn->d->name;
}

/* ssl_setup - the client's hook before each handshake */
static int
ssl_setup(SSL *ssl, void *arg)
{
	struct conn *cn = arg;
	char err[300];

	if (cn->d->nh == NULL) /* MTA-STS (conn_tls_opts()) */
		return mtasts_tls_setup(cn->d->q->sts, ssl, cn->d->addrs[cn->ai].host);
	/* a next hop's own ca_file is all it is trusted by; else the system
	 * store and outbound_ca_file */
	const char *ca = cn->d->nh->ca_file != NULL ? cn->d->nh->ca_file
	                                            : cn->d->q->conf->outbound_ca_file;
	int system = cn->d->nh->ca_file == NULL;

	if (outtls_setup(ssl, level(cn), ca, system, err, sizeof(err)) == -1) {
		log_warnx("deliver relay=%s tls setup failed: %s",
		          log_escape_str(cn->relay), log_escape_str(err));
		return -1;
	}
	return 0;
}

void
conn_tls_opts(struct conn *cn, struct smtp_client_opts *o)
{
	if (cn->d->nh == NULL) {
		if (level(cn) == TLS_LEVEL_DANE && cn->tlsa != NULL) {
			/* SNI and reference names: the TLSA base domain */
			o->ssl_setup = dane_ssl_setup;
			o->ssl_setup_arg = cn->tlsa;
		} else if (sts(cn) != MTASTS_NONE && cn->d->q->sts != NULL) {
			o->ssl_setup = ssl_setup;
			o->ssl_setup_arg = cn;
		}
		return;
	}
	o->implicit_tls = cn->d->nh->implicit_tls;
	o->servername = conn_tls_name(cn);
	o->ssl_setup = ssl_setup;
	o->ssl_setup_arg = cn;
}

int
conn_tls_wanted(const struct conn *cn)
{
	return cn->d->addrs[cn->ai].ss.ss_family != AF_UNIX &&
	       level(cn) != TLS_LEVEL_NONE;
}

int
conn_tls_required(const struct conn *cn)
{
	return level(cn) >= TLS_LEVEL_ENCRYPT;
}

int
conn_tls_no_starttls(struct conn *cn)
{
	if (sts(cn) != MTASTS_NONE)
		return sts_fail(cn, "STARTTLS is not offered");
	if (!conn_tls_required(cn))
		return 0;
	if (cn->d->nh == NULL)
		/* an MX host: mx_tls = encrypt, or TLSA records (RFC 7672 §2.2) */
		conn_fail(
		    cn,
		    "local: 454 4.7.4 TLS is required (%s), and STARTTLS is not offered",
		    level(cn) == TLS_LEVEL_DANE ? "TLSA records" : "mx_tls = encrypt");
	else
		conn_fail(cn,
		          "TLS is required (tls = %s) and the server does not offer "
		          "STARTTLS",
		          conn_tls_level_word(cn));
	return -1;
}

int
conn_tls_judge(struct conn *cn)
{
	SSL *ssl = smtp_client_ssl(cn->c);
	char why[400];

	if (cn->d->nh == NULL && level(cn) == TLS_LEVEL_DANE) {
		/* RFC 7672 §2.2: a chain no record matches takes the host out */
		if (dane_check(ssl, why, sizeof(why)) == -1) {
			conn_fail(cn, "local: 454 4.7.5 %s", why);
			return -1;
		}
		cn->reached = TLS_REACHED_DANE;
		return 0;
	}
	if (sts(cn) != MTASTS_NONE) {
		if (mtasts_tls_check(ssl, why, sizeof(why)) == 0) {
			cn->reached = TLS_REACHED_VERIFIED;
			return 0;
		}
		cn->reached = outtls_reached(ssl, TLS_LEVEL_MAY);
		return sts_fail(cn, why);
	}

	if (outtls_check(ssl, level(cn), why, sizeof(why)) == -1) {
		conn_fail(cn, "%s (tls = %s, name %s)", why, conn_tls_level_word(cn),
		          conn_tls_name(cn) != NULL ? conn_tls_name(cn) : "none");
		return -1;
	}
	cn->reached = outtls_reached(ssl, level(cn));
	return 0;
}

int
conn_auth_wanted(const struct conn *cn)
{
	return cn->d->nh != NULL && cn->d->nh->auth_user != NULL && !cn->authed;
}

/* has_mech - the EHLO AUTH list (RFC 4954 §3) names mech */
static int
has_mech(const char *list, const char *mech)
{
	size_t n = strlen(mech);

	for (const char *p = list; *p != '\0';) {
		p += strspn(p, " ");
		size_t w = strcspn(p, " ");
		if (w == n && strncasecmp(p, mech, n) == 0)
			return 1;
		p += w;
	}
	return 0;
}

/* send_b64 - one secret line: prefix, then src in base64 */
static void auth_cb(struct smtp_client *c, const struct smtp_reply *r, void *arg);

static void
send_b64(struct conn *cn, const char *prefix, const unsigned char *src, size_t len)
{
	char line[SMTP_CLIENT_CMD_MAX + 1];
	size_t n = strlen(prefix);

	strlcpy(line, prefix, sizeof(line));
	if (base64_encode(src, len, line + n, sizeof(line) - n) == -1)
		line[0] = '\0'; /* cannot be: conf bounds the user and password */
	smtp_client_cmd_secret(cn->c, auth_cb, cn, n, line);
	explicit_bzero(line, sizeof(line));
}

static void
auth_cb(struct smtp_client *c, const struct smtp_reply *r, void *arg)
{
	struct conn *cn = arg;
	const struct nexthop_conf *nh = cn->d->nh;
	char first[400];

	if (r->code == 235) {
		cn->authed = 1;
		conn_ready(cn);
		return;
	}
	if (r->code == 334 && cn->auth_step == 1) {
		cn->auth_step = 2;
		send_b64(cn, "", (const unsigned char *)nh->auth_user,
		         strlen(nh->auth_user));
		return;
	}
	if (r->code == 334 && cn->auth_step == 2) {
		cn->auth_step = 3;
		send_b64(cn, "", (const unsigned char *)nh->auth_pass,
		         strlen(nh->auth_pass));
		return;
	}
	conn_fail(cn, "SASL authentication failed (user %s): %s%d %s", nh->auth_user,
	          r->local ? "local: " : "", r->code,
	          smtp_reply_first(r, first, sizeof(first)));
}

void
conn_auth_start(struct conn *cn)
{
	const struct nexthop_conf *nh = cn->d->nh;
	const char *mechs;

	if (!smtp_client_tls(cn->c)) {
		conn_fail(
		    cn,
		    "not sending the login of %s in plain text: TLS was not reached "
		    "(tls = %s, and the server offers no STARTTLS)",
		    nh->auth_user, conn_tls_level_word(cn));
		return;
	}
	if ((mechs = smtp_client_ext_param(cn->c, "AUTH")) == NULL) {
		conn_fail(cn, "the server offers no AUTH; the login of %s is not used",
		          nh->auth_user);
		return;
	}
	if (has_mech(mechs, "PLAIN")) {
		/* RFC 4616: authzid (empty) NUL authcid NUL passwd */
		unsigned char buf[1 + 255 + 1 + 255];
		size_t u = strlen(nh->auth_user), p = strlen(nh->auth_pass);
		if (u > 255 || p > 255) {
			conn_fail(cn, "local: the login of %s is too long",
			          nh->auth_user);
			return;
		}
		buf[0] = '\0';
		memcpy(buf + 1, nh->auth_user, u);
		buf[1 + u] = '\0';
		memcpy(buf + 2 + u, nh->auth_pass, p);
		cn->auth_step = 3;
		send_b64(cn, "AUTH PLAIN ", buf, 2 + u + p);
		explicit_bzero(buf, sizeof(buf));
		return;
	}
	if (has_mech(mechs, "LOGIN")) {
		cn->auth_step = 1;
		smtp_client_cmd(cn->c, auth_cb, cn, "AUTH LOGIN");
		return;
	}
	conn_fail(cn, "the server offers AUTH %.100s: neither PLAIN nor LOGIN", mechs);
}
