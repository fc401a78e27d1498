/* SPDX-License-Identifier: ISC */
/*
 * conf_check.c - the checks of moat.conf's values that conf.c's own option
 * tables hold (the sections with files of their own check theirs): the
 * top-level options, and the listen, tls (with its certificate sections),
 * auth and bait sections. libconfuse calls each while it parses, so a
 * problem is reported through cfg_error() with the file and line it came
 * from; conf.c then builds struct moat_conf from values that passed.
 * API: conf_int.h (conf_check_validators(), and the two parsers conf.c's
 * build shares: conf_mx_tls_parse(), conf_role_parse()).
 * SECURITY: reads only the administrator's files (config, the files it
 * names: certificates, keys, the sender map), checked for access only.
 */
#include <confuse.h>
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/mailaddr.h"
#include "common/netaddr.h"
#include "conf/conf.h"
#include "conf/conf_int.h"

static int
validate_workers(cfg_t *cfg, cfg_opt_t *opt)
{
	long v = cfg_opt_getnint(opt, 0);
	if (v < 1 || v > 64) {
		cfg_error(cfg, "workers = %ld is out of range [1, 64]", v);
		return -1;
	}
	return 0;
}

static int
validate_cidr_list(cfg_t *cfg, cfg_opt_t *opt)
{
	struct cidr c;
	for (unsigned i = 0; i < cfg_opt_size(opt); i++) {
		const char *s = cfg_opt_getnstr(opt, i);
		if (cidr_parse(&c, s) == -1) {
			cfg_error(cfg, "%s: \"%s\" is not an address or CIDR block",
			          cfg_opt_name(opt), s);
			return -1;
		}
	}
	return 0;
}

static int
validate_dns_servers(cfg_t *cfg, cfg_opt_t *opt)
{
	struct sockaddr_storage ss;
	socklen_t len;
	for (unsigned i = 0; i < cfg_opt_size(opt); i++) {
		const char *s = cfg_opt_getnstr(opt, i);
		if (endpoint_parse(s, 53, &ss, &len, 0) == -1) {
			cfg_error(cfg, "dns_servers: \"%s\" is not ADDRESS[:PORT]", s);
			return -1;
		}
	}
	return 0;
}

/*
 * conf_mx_tls_parse - the TLS level of MX delivery: Postfix's words for
 * smtp_tls_security_level, but verify, which needs a name to check that
 * DNS did not give us (RFC 7672 §1.3: an MX host name from an insecure
 * lookup proves nothing): dane and MTA-STS authenticate MX hosts
 */
int
conf_mx_tls_parse(const char *v, enum tls_level *out)
{
	if (conf_tls_level_parse(v, out) == -1 || *out == TLS_LEVEL_VERIFY)
		return -1;
	return 0;
}

static int
validate_mx_tls(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *v = cfg_opt_getnstr(opt, 0);
	enum tls_level l;

	if (v != NULL && conf_mx_tls_parse(v, &l) == -1) {
		cfg_error(cfg,
		          "mx_tls = \"%s\": must be \"none\", \"may\", \"encrypt\" or "
		          "\"dane\"%s",
		          v,
		          strcmp(v, "verify") == 0
		              ? " (an MX host name from DNS is no name to verify: "
		                "use dane)"
		              : "");
		return -1;
	}
	return 0;
}

static int
validate_metrics_listen(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *v = cfg_opt_getnstr(opt, 0);
	struct sockaddr_storage ss;
	socklen_t len;

	if (v != NULL && endpoint_parse(v, 9325, &ss, &len, 0) == -1) {
		cfg_error(cfg,
		          "metrics_listen = \"%s\": must be IPv4:PORT or [IPv6]:PORT "
		          "(a numeric address)",
		          v);
		return -1;
	}
	return 0;
}

static int
validate_spool_sync(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *v = cfg_opt_getnstr(opt, 0);

	if (v != NULL && strcmp(v, "journal") != 0 && strcmp(v, "filesystem") != 0 &&
	    strcmp(v, "file") != 0) {
		cfg_error(cfg,
		          "spool_sync = \"%s\": must be \"journal\", \"file\" or "
		          "\"filesystem\"",
		          v);
		return -1;
	}
	return 0;
}

static int
validate_bare_newline(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *v = cfg_opt_getnstr(opt, 0);
	if (strcmp(v, "reject") != 0 && strcmp(v, "normalize") != 0) {
		cfg_error(
		    cfg, "bare_newline = \"%s\": must be \"reject\" or \"normalize\"", v);
		return -1;
	}
	return 0;
}

static int
validate_log_format(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *v = cfg_opt_getnstr(opt, 0);
	if (strcmp(v, "text") != 0 && strcmp(v, "json") != 0) {
		cfg_error(cfg, "log_format = \"%s\": must be \"text\" or \"json\"", v);
		return -1;
	}
	return 0;
}

static int
validate_hostname(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *v = cfg_opt_getnstr(opt, 0);
	if (v == NULL || !domain_valid(v, strlen(v))) {
		cfg_error(cfg, "hostname = \"%s\" is not a valid domain name",
		          v ? v : "");
		return -1;
	}
	return 0;
}

static int
validate_user(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *v = cfg_opt_getnstr(opt, 0);
	/* Only root can switch users; anyone else runs as themselves. */
	if (geteuid() == 0 && getpwnam(v) == NULL) {
		cfg_error(cfg, "user = \"%s\": no such user", v);
		return -1;
	}
	if (geteuid() == 0 && strcmp(v, "root") == 0) {
		cfg_error(cfg,
		          "user = \"root\": moatd must not serve the network as root");
		return -1;
	}
	return 0;
}

int
conf_role_parse(const char *s, enum listener_role *role)
{
	if (strcmp(s, "mx") == 0)
		*role = ROLE_MX;
	else if (strcmp(s, "submission") == 0)
		*role = ROLE_SUBMISSION;
	else if (strcmp(s, "smtps") == 0)
		*role = ROLE_SMTPS;
	else
		return -1;
	return 0;
}

static int
validate_listen(cfg_t *cfg, cfg_opt_t *opt)
{
	cfg_t *sec = cfg_opt_getnsec(opt, cfg_opt_size(opt) - 1);
	const char *addr = cfg_getstr(sec, "address");
	const char *role = cfg_getstr(sec, "role");
	struct sockaddr_storage ss;
	socklen_t len;
	enum listener_role r;

	if (addr == NULL) {
		cfg_error(cfg, "listen \"%s\": address is required", cfg_title(sec));
		return -1;
	}
	if (endpoint_parse(addr, 25, &ss, &len, 0) == -1) {
		cfg_error(cfg, "listen \"%s\": address \"%s\" is not ADDRESS:PORT",
		          cfg_title(sec), addr);
		return -1;
	}
	if (conf_role_parse(role, &r) == -1) {
		cfg_error(cfg,
		          "listen \"%s\": role \"%s\": must be mx, submission or smtps",
		          cfg_title(sec), role);
		return -1;
	}
	return 0;
}

/* tls_pair_check - one cert_file/key_file pair: both or neither, readable,
 * the key other users' in no way; 1: a pair, 0: none, -1: error */
static int
tls_pair_check(cfg_t *cfg, cfg_t *sec, const char *what, int self_signed)
{
	const char *cert = cfg_getstr(sec, "cert_file");
	const char *key = cfg_getstr(sec, "key_file");
	char err[512];

	if ((cert == NULL) != (key == NULL)) {
		cfg_error(cfg, "%s: cert_file and key_file go together", what);
		return -1;
	}
	if (cert == NULL)
		return 0;
	char *cert_abs = conf_abs_path(cert), *key_abs = conf_abs_path(key);
	int rc = -1;
	/* A certificate still to be made on first start is no error. */
	if (self_signed && access(cert_abs, F_OK) == -1 && access(key_abs, F_OK) == -1)
		rc = 1;
	else if (access(cert_abs, R_OK) == -1)
		cfg_error(cfg, "%s: cert_file \"%s\": %s", what, cert_abs,
		          strerror(errno));
	else if (conf_key_file_check(key_abs, err, sizeof(err)) == -1)
		cfg_error(cfg, "%s: %s", what, err);
	else
		rc = 1;
	free(cert_abs);
	free(key_abs);
	return rc;
}

static int
validate_tls(cfg_t *cfg, cfg_opt_t *opt)
{
	cfg_t *sec = cfg_opt_getnsec(opt, 0);
	int pair = tls_pair_check(cfg, sec, "tls", cfg_getbool(sec, "self_signed"));

	if (pair == -1)
		return -1;
	if (pair == 0 && cfg_getbool(sec, "self_signed")) {
		cfg_error(cfg, "tls: self_signed needs cert_file and key_file");
		return -1;
	}
	return 0;
}

/* validate_tls_cert - a certificate section: a whole pair */
static int
validate_tls_cert(cfg_t *cfg, cfg_opt_t *opt)
{
	cfg_t *sec = cfg_opt_getnsec(opt, cfg_opt_size(opt) - 1);
	int pair = tls_pair_check(cfg, sec, "tls: certificate", 0);

	if (pair == 0)
		cfg_error(cfg, "tls: certificate: cert_file and key_file are required");
	return pair == 1 ? 0 : -1;
}

static int
validate_auth(cfg_t *cfg, cfg_opt_t *opt)
{
	cfg_t *sec = cfg_opt_getnsec(opt, 0);
	const char *pw = cfg_getstr(sec, "password_file");
	const char *dc = cfg_getstr(sec, "dovecot_socket");
	const char *map = cfg_getstr(sec, "sender_map");

	if (pw != NULL && dc != NULL) {
		cfg_error(cfg, "auth: password_file and dovecot_socket: choose one");
		return -1;
	}
	if (pw == NULL && dc == NULL) {
		cfg_error(cfg, "auth: password_file or dovecot_socket is required");
		return -1;
	}
	if (dc != NULL && dc[0] != '/') {
		cfg_error(cfg, "auth: dovecot_socket \"%s\" must be an absolute path",
		          dc);
		return -1;
	}
	if (map != NULL) {
		char *abs = conf_abs_path(map);
		int bad = access(abs, R_OK) == -1;
		if (bad)
			cfg_error(cfg, "auth: sender_map \"%s\": %s", abs,
			          strerror(errno));
		free(abs);
		if (bad)
			return -1;
	}
	return 0;
}

static int
validate_bait(cfg_t *cfg, cfg_opt_t *opt)
{
	cfg_t *sec = cfg_opt_getnsec(opt, 0);
	const char *v;
	struct sockaddr_storage ss;
	socklen_t len;

	if ((v = cfg_getstr(sec, "domain")) != NULL && !domain_valid(v, strlen(v))) {
		cfg_error(cfg, "bait: domain \"%s\" is not a valid domain", v);
		return -1;
	}
	if ((v = cfg_getstr(sec, "listen")) != NULL &&
	    endpoint_parse(v, 80, &ss, &len, 0) == -1) {
		cfg_error(cfg, "bait: listen \"%s\" is not ADDRESS:PORT", v);
		return -1;
	}
	v = cfg_getstr(sec, "on_hit");
	if (strcmp(v, "refuse") != 0 && strcmp(v, "tarpit") != 0) {
		cfg_error(cfg, "bait: on_hit = \"%s\": must be refuse or tarpit", v);
		return -1;
	}
	for (unsigned i = 0; i < cfg_size(sec, "spamtraps"); i++) {
		struct mailaddr a;
		char buf[MAILADDR_PATH_MAX + 3];
		size_t used;
		v = cfg_getnstr(sec, "spamtraps", i);
		snprintf(buf, sizeof(buf), "<%s>", v);
		if (mailaddr_parse_path(buf, strlen(buf), 0, &a, &used) != MAE_OK) {
			cfg_error(cfg, "bait: spamtrap \"%s\" is not an address", v);
			return -1;
		}
	}
	if (cfg_getstr(sec, "listen") != NULL && cfg_getstr(sec, "secret_file") == NULL) {
		cfg_error(cfg, "bait: a listen address needs a secret_file");
		return -1;
	}
	return 0;
}

static int
validate_delimiter(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *v = cfg_opt_getnstr(opt, 0);

	if (v != NULL && v[0] != '\0' && (v[1] != '\0' || strchr("+-_=", v[0]) == NULL)) {
		cfg_error(cfg, "recipient_delimiter = \"%s\": one of + - _ =, or \"\"",
		          v);
		return -1;
	}
	return 0;
}

/* conf_check_validators - the checks above, on the options they check */
void
conf_check_validators(cfg_t *cfg)
{
	cfg_set_validate_func(cfg, "workers", validate_workers);
	cfg_set_validate_func(cfg, "trusted_networks", validate_cidr_list);
	cfg_set_validate_func(cfg, "listen|proxy_from", validate_cidr_list);
	cfg_set_validate_func(cfg, "bait|proxy_from", validate_cidr_list);
	cfg_set_validate_func(cfg, "dns_servers", validate_dns_servers);
	cfg_set_validate_func(cfg, "bare_newline", validate_bare_newline);
	cfg_set_validate_func(cfg, "spool_sync", validate_spool_sync);
	cfg_set_validate_func(cfg, "metrics_listen", validate_metrics_listen);
	cfg_set_validate_func(cfg, "mx_tls", validate_mx_tls);
	cfg_set_validate_func(cfg, "log_format", validate_log_format);
	cfg_set_validate_func(cfg, "recipient_delimiter", validate_delimiter);
	cfg_set_validate_func(cfg, "hostname", validate_hostname);
	cfg_set_validate_func(cfg, "user", validate_user);
	cfg_set_validate_func(cfg, "listen", validate_listen);
	cfg_set_validate_func(cfg, "tls", validate_tls);
	cfg_set_validate_func(cfg, "tls|certificate", validate_tls_cert);
	cfg_set_validate_func(cfg, "auth", validate_auth);
	cfg_set_validate_func(cfg, "bait", validate_bait);
}
