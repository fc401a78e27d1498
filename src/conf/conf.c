/* SPDX-License-Identifier: ISC */
/*
 * conf.c - moat.conf → struct moat_conf, through libconfuse.
 *
 * Values are checked while libconfuse parses them (validate callbacks), so
 * each problem is reported with the file and line it came from. Problems
 * found afterwards (a missing listener, say) name the file. Every option
 * table is here, and the build of struct moat_conf from them; the values
 * of the options and sections below are checked by conf_check.c, the
 * limits and screen sections checked and built by conf_limits.c and
 * conf_screen.c (conf_int.h), DNSBL zones parsed by conf_dnsbl.c. conf/
 * depends on src/common only.
 * SECURITY: reads only the administrator's files (config, users files).
 */
#include <confuse.h>
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/ascii.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "conf/conf_int.h"

static cfg_opt_t limit_opts[] = {
#define LIMIT_OPT(name, def, min, max, what) CFG_INT(#name, def, CFGF_NONE),
    MOAT_LIMITS(LIMIT_OPT)
#undef LIMIT_OPT
        CFG_END()};

static cfg_opt_t listen_opts[] = {
    CFG_STR("address", NULL, CFGF_NODEFAULT),
    CFG_STR("role", "mx", CFGF_NONE),
    CFG_STR_LIST("proxy_from", "{}", CFGF_NONE),
    CFG_END(),
};

static cfg_opt_t domain_opts[] = {
    CFG_STR_LIST("users", "{}", CFGF_NONE),
    CFG_STR("users_file", NULL, CFGF_NONE),
    CFG_STR("aliases_file", NULL, CFGF_NONE),
    CFG_STR("delivery", "maildir", CFGF_NONE),
    CFG_STR("recipient_lookup", NULL, CFGF_NONE),
    CFG_INT("lookup_cache_ttl", 60, CFGF_NONE),
    CFG_INT("lookup_timeout_ms", 2000, CFGF_NONE),
    NEXTHOP_OPTS,
    CFG_END(),
};

/* More certificates for the listeners, chosen by the client's server_name
 * (smtp/tls_sni.c): the names each serves are its own (subjectAltName). */
static cfg_opt_t tls_cert_opts[] = {
    CFG_STR("cert_file", NULL, CFGF_NONE),
    CFG_STR("key_file", NULL, CFGF_NONE),
    CFG_END(),
};

static cfg_opt_t tls_opts[] = {
    CFG_STR("cert_file", NULL, CFGF_NONE),
    CFG_STR("key_file", NULL, CFGF_NONE),
    CFG_BOOL("self_signed", cfg_false, CFGF_NONE),
    CFG_SEC("certificate", tls_cert_opts, CFGF_MULTI),
    CFG_END(),
};

static cfg_opt_t auth_opts[] = {
    CFG_STR("password_file", NULL, CFGF_NONE),
    CFG_STR("dovecot_socket", NULL, CFGF_NONE),
    CFG_STR("sender_map", NULL, CFGF_NONE),
    CFG_END(),
};

static cfg_opt_t screen_opts[] = {
    CFG_STR("client_access", NULL, CFGF_NONE),
    CFG_STR("signatures_file", NULL, CFGF_NONE),
    CFG_STR("helo_access", NULL, CFGF_NONE),
    CFG_STR("sender_access", NULL, CFGF_NONE),
    CFG_STR_LIST("dnsbl", "{}", CFGF_NONE),
    CFG_STR("dnsbl_action", "reject", CFGF_NONE),
    CFG_STR("fcrdns", "ignore", CFGF_NONE),
    CFG_STR("sender_domain", "off", CFGF_NONE),
    CFG_STR("early_talker", "reject", CFGF_NONE),
    CFG_STR("greet_teaser", NULL, CFGF_NONE),
    CFG_BOOL("greylist", cfg_false, CFGF_NONE),
    CFG_BOOL("greylist_skip_clean", cfg_true, CFGF_NONE),
    CFG_BOOL("harvest", cfg_true, CFGF_NONE),
    CFG_STR("ban_action", "tempfail", CFGF_NONE),
    CFG_END(),
};

static cfg_opt_t bait_opts[] = {
    CFG_STR("secret_file", NULL, CFGF_NONE),     CFG_STR("domain", NULL, CFGF_NONE),
    CFG_STR("listen", NULL, CFGF_NONE),          CFG_STR("on_hit", "refuse", CFGF_NONE),
    CFG_STR_LIST("spamtraps", "{}", CFGF_NONE),  CFG_STR("export_file", NULL, CFGF_NONE),
    CFG_STR_LIST("proxy_from", "{}", CFGF_NONE), CFG_END(),
};

static cfg_opt_t redis_opts[] = {
    CFG_STR("address", NULL, CFGF_NONE),   CFG_STR("password_file", NULL, CFGF_NONE),
    CFG_INT("db", 0, CFGF_NONE),           CFG_STR("prefix", "moat:", CFGF_NONE),
    CFG_INT("timeout_ms", 500, CFGF_NONE), CFG_END(),
};

static cfg_opt_t policy_service_opts[] = {
    CFG_STR("address", NULL, CFGF_NODEFAULT),
    CFG_STR("stage", "rcpt", CFGF_NONE),
    CFG_STR("on_error", "tempfail", CFGF_NONE),
    CFG_INT("timeout_connect_ms", 2000, CFGF_NONE),
    CFG_INT("timeout_ms", 5000, CFGF_NONE),
    CFG_STR_LIST("listeners", "{}", CFGF_NONE),
    CFG_BOOL("trusted", cfg_false, CFGF_NONE),
    CFG_STR("context", NULL, CFGF_NONE),
    CFG_INT("max_idle", 300, CFGF_NONE),
    CFG_INT("max_ttl", 1000, CFGF_NONE),
    CFG_END(),
};

static cfg_opt_t milter_opts[] = {
    CFG_STR("address", NULL, CFGF_NODEFAULT),
    CFG_STR("on_error", "tempfail", CFGF_NONE),
    CFG_INT("timeout_connect_ms", 2000, CFGF_NONE),
    CFG_INT("timeout_ms", 30000, CFGF_NONE),
    CFG_STR_LIST("listeners", "{}", CFGF_NONE),
    CFG_BOOL("trusted", cfg_false, CFGF_NONE),
    CFG_END(),
};

static cfg_opt_t srs_opts[] = {
    CFG_STR("domain", NULL, CFGF_NONE),
    CFG_STR("secret_file", NULL, CFGF_NONE),
    CFG_STR("separator", "=", CFGF_NONE),
    CFG_INT("max_age", SRS_MAX_AGE, CFGF_NONE),
    CFG_END(),
};

static cfg_opt_t top_opts[] = {
    CFG_STR("hostname", NULL, CFGF_NONE),
    CFG_STR("user", "moat", CFGF_NONE),
    CFG_STR("spool_dir", CONF_DEFAULT_SPOOL_DIR, CFGF_NONE),
    CFG_STR("mail_dir", CONF_DEFAULT_MAIL_DIR, CFGF_NONE),
    CFG_STR("run_dir", CONF_DEFAULT_RUN_DIR, CFGF_NONE),
    CFG_STR("state_dir", CONF_DEFAULT_STATE_DIR, CFGF_NONE),
    CFG_STR("store", "lmdb", CFGF_NONE),
    CFG_SEC("redis", redis_opts, CFGF_NONE),
    CFG_BOOL("chroot", cfg_false, CFGF_NONE),
    CFG_INT("workers", 1, CFGF_NONE),
    CFG_STR("bare_newline", "reject", CFGF_NONE),
    CFG_STR("spool_sync", "journal", CFGF_NONE),
    CFG_STR("log_format", "text", CFGF_NONE),
    CFG_STR_LIST("trusted_networks", "{}", CFGF_NONE),
    CFG_STR_LIST("dns_servers", "{}", CFGF_NONE),
    CFG_BOOL("dns_validating", cfg_false, CFGF_NONE),
    CFG_STR("mx_tls", "may", CFGF_NONE),
    /* or a section: conf_top_opts() */
    CFG_STR("relayhost", NULL, CFGF_NONE),
    CFG_STR("outbound_ca_file", NULL, CFGF_NONE),
    CFG_BOOL("relay_to_private", cfg_false, CFGF_NONE),
    CFG_BOOL("mta_sts", cfg_true, CFGF_NONE),
    CFG_STR("aliases_file", NULL, CFGF_NONE),
    CFG_STR("recipient_delimiter", "+", CFGF_NONE),
    CFG_BOOL("maildir_extension_folders", cfg_false, CFGF_NONE),
    CFG_STR("metrics_listen", NULL, CFGF_NONE),
    CFG_BOOL("local_submission", cfg_true, CFGF_NONE),
    CFG_BOOL("auth_in_received", cfg_false, CFGF_NONE),
    CFG_SEC("listen", listen_opts, CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
    CFG_SEC("domain", domain_opts, CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
    CFG_SEC("limits", limit_opts, CFGF_NONE),
    CFG_SEC("tls", tls_opts, CFGF_NONE),
    CFG_SEC("auth", auth_opts, CFGF_NONE),
    CFG_SEC("screen", screen_opts, CFGF_NONE),
    CFG_SEC("bait", bait_opts, CFGF_NONE),
    CFG_SEC("policy_service", policy_service_opts,
            CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
    CFG_SEC("milter", milter_opts, CFGF_MULTI | CFGF_TITLE | CFGF_NO_TITLE_DUPES),
    CFG_SEC("srs", srs_opts, CFGF_NONE),
    CFG_END(),
};

cfg_opt_t *
conf_top_opts(const char *path)
{
	static cfg_opt_t as_str = CFG_STR("relayhost", NULL, CFGF_NONE);
	static cfg_opt_t as_sec = CFG_SEC("relayhost", conf_relayhost_opts, CFGF_NONE);

	/* cfg_init() copies the table: the entry can change between files */
	for (cfg_opt_t *o = top_opts; o->name != NULL; o++)
		if (strcmp(o->name, "relayhost") == 0)
			*o = conf_nexthop_form(path) ? as_sec : as_str;
	return top_opts;
}

static int conf_errors;
static const char *conf_file;
/* the directory of conf_file while it is loaded: relative paths start here */

/* conf_errfunc - every libconfuse and validation problem as file:line: text */
static void
conf_errfunc(cfg_t *cfg, const char *fmt, va_list ap)
{
	char msg[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	conf_errors++;
	if (cfg != NULL && cfg->line > 0)
		fprintf(stderr, "%s:%d: %s\n", cfg->filename ? cfg->filename : conf_file,
		        cfg->line, msg);
	else
		fprintf(stderr, "%s: %s\n", conf_file, msg);
}

/*
 * build_tls - the listeners' certificates in order: tls's own pair first
 * (the default), then each certificate section; tls_cert_file and
 * tls_key_file name the default (self_signed makes only tls's own pair)
 */
static void
build_tls(struct moat_conf *c, cfg_t *tls)
{
	size_t n = cfg_size(tls, "certificate");
	int own = cfg_getstr(tls, "cert_file") != NULL;

	c->tls_certs = xcalloc(n + 1, sizeof(*c->tls_certs));
	if (own) {
		c->tls_certs[0].cert_file = conf_abs_path(cfg_getstr(tls, "cert_file"));
		c->tls_certs[0].key_file = conf_abs_path(cfg_getstr(tls, "key_file"));
		c->tls_certs[0].line = tls->line;
		c->ntls_certs = 1;
		c->tls_self_signed = cfg_getbool(tls, "self_signed");
	}
	for (size_t i = 0; i < n; i++) {
		cfg_t *sec = cfg_getnsec(tls, "certificate", i);
		struct tls_cert_conf *t = &c->tls_certs[c->ntls_certs++];
		t->cert_file = conf_abs_path(cfg_getstr(sec, "cert_file"));
		t->key_file = conf_abs_path(cfg_getstr(sec, "key_file"));
		t->line = sec->line;
	}
	if (c->ntls_certs > 0) {
		c->tls_cert_file = xstrdup(c->tls_certs[0].cert_file);
		c->tls_key_file = xstrdup(c->tls_certs[0].key_file);
	}
}

/* cidr_list_build - a section's proxy_from (checked by conf_check.c) */
static struct cidr *
cidr_list_build(cfg_t *sec, size_t *n)
{
	struct cidr *list;

	*n = cfg_size(sec, "proxy_from");
	list = xcalloc(*n, sizeof(*list));
	for (size_t i = 0; i < *n; i++)
		cidr_parse(&list[i], cfg_getnstr(sec, "proxy_from", i));
	return list;
}

/* hostname_of - the hostname setting, or the system's name */
static char *
hostname_of(cfg_t *cfg)
{
	char host[256];
	const char *s;

	if ((s = cfg_getstr(cfg, "hostname")) == NULL) {
		if (gethostname(host, sizeof(host)) == -1)
			strlcpy(host, "localhost", sizeof(host));
		host[sizeof(host) - 1] = '\0';
		s = host;
	}
	return xstrdup(s);
}

static void
build(struct moat_conf *c, cfg_t *cfg)
{
	c->hostname = hostname_of(cfg);
	c->user = xstrdup(cfg_getstr(cfg, "user"));
	c->spool_dir = conf_abs_path(cfg_getstr(cfg, "spool_dir"));
	c->mail_dir = conf_abs_path(cfg_getstr(cfg, "mail_dir"));
	c->run_dir = conf_abs_path(cfg_getstr(cfg, "run_dir"));
	c->state_dir = conf_abs_path(cfg_getstr(cfg, "state_dir"));
	c->chroot = cfg_getbool(cfg, "chroot");
	c->workers = (int)cfg_getint(cfg, "workers");
	conf_errors += conf_relayhost_build(c, cfg);
	c->relay_to_private = cfg_getbool(cfg, "relay_to_private");
	c->mta_sts = cfg_getbool(cfg, "mta_sts");
	c->dns_validating = cfg_getbool(cfg, "dns_validating");
	conf_mx_tls_parse(cfg_getstr(cfg, "mx_tls"), &c->mx_tls);
	if (cfg_getstr(cfg, "aliases_file") != NULL)
		c->aliases_file = conf_abs_path(cfg_getstr(cfg, "aliases_file"));
	strlcpy(c->recipient_delimiter, cfg_getstr(cfg, "recipient_delimiter"),
	        sizeof(c->recipient_delimiter));
	c->maildir_extension_folders = cfg_getbool(cfg, "maildir_extension_folders");
	const char *ml = cfg_getstr(cfg, "metrics_listen");
	if (ml != NULL) {
		c->metrics_listen = xstrdup(ml);
		endpoint_parse(ml, 9325, &c->metrics_ss, &c->metrics_len, 0);
	}
	c->bare_newline_normalize =
	    strcmp(cfg_getstr(cfg, "bare_newline"), "normalize") == 0;
	c->log_json = strcmp(cfg_getstr(cfg, "log_format"), "json") == 0;
	const char *sync = cfg_getstr(cfg, "spool_sync");
	c->spool_sync = strcmp(sync, "file") == 0         ? SPOOL_SYNC_FILE
	                : strcmp(sync, "filesystem") == 0 ? SPOOL_SYNC_FILESYSTEM
	                                                  : SPOOL_SYNC_JOURNAL;

	c->ntrusted = cfg_size(cfg, "trusted_networks");
	c->trusted = xcalloc(c->ntrusted, sizeof(struct cidr));
	for (size_t i = 0; i < c->ntrusted; i++)
		cidr_parse(&c->trusted[i], cfg_getnstr(cfg, "trusted_networks", i));

	c->ndns_servers = cfg_size(cfg, "dns_servers");
	c->dns_servers = xcalloc(c->ndns_servers + 1, sizeof(char *));
	for (size_t i = 0; i < c->ndns_servers; i++)
		c->dns_servers[i] = xstrdup(cfg_getnstr(cfg, "dns_servers", i));

	c->nlisteners = cfg_size(cfg, "listen");
	c->local_submission = cfg_getbool(cfg, "local_submission");
	c->auth_in_received = cfg_getbool(cfg, "auth_in_received");
	c->listeners = xcalloc(c->nlisteners + 1, sizeof(struct listener_conf));
	for (size_t i = 0; i < c->nlisteners; i++) {
		cfg_t *sec = cfg_getnsec(cfg, "listen", i);
		struct listener_conf *l = &c->listeners[i];
		l->name = xstrdup(cfg_title(sec));
		l->address = xstrdup(cfg_getstr(sec, "address"));
		endpoint_parse(l->address, 25, &l->ss, &l->sslen, 0);
		conf_role_parse(cfg_getstr(sec, "role"), &l->role);
		l->proxy_from = cidr_list_build(sec, &l->nproxy_from);
	}
	/* moat-sendmail's way in (moat-sendmail(8)): a listener like the
	 * others, whose socket the master binds by name in run_dir */
	if (c->local_submission) {
		struct listener_conf *l = &c->listeners[c->nlisteners++];
		l->name = xstrdup(LOCAL_LISTENER_NAME);
		xasprintf(&l->address, "unix:%s/%s", c->run_dir, LOCAL_SUBMIT_SOCKET);
		l->ss.ss_family = AF_UNIX;
		l->sslen = sizeof(sa_family_t);
		l->role = ROLE_LOCAL;
	}

	c->ndomains = cfg_size(cfg, "domain");
	c->domains = xcalloc(c->ndomains, sizeof(struct domain_conf));
	for (size_t i = 0; i < c->ndomains; i++)
		if (conf_domain_build(&c->domains[i], cfg_getnsec(cfg, "domain", i)) ==
		    -1)
			conf_errors++;

	cfg_t *tls = cfg_getsec(cfg, "tls");
	if (tls != NULL)
		build_tls(c, tls);
	cfg_t *auth = cfg_getsec(cfg, "auth");
	if (auth != NULL) {
		if (cfg_getstr(auth, "password_file") != NULL)
			c->auth_password_file =
			    conf_abs_path(cfg_getstr(auth, "password_file"));
		if (cfg_getstr(auth, "dovecot_socket") != NULL)
			c->auth_dovecot_socket =
			    xstrdup(cfg_getstr(auth, "dovecot_socket"));
		if (cfg_getstr(auth, "sender_map") != NULL)
			c->auth_sender_map =
			    conf_abs_path(cfg_getstr(auth, "sender_map"));
	}

	conf_errors += conf_screen_build(&c->screen, cfg_getsec(cfg, "screen"));
	conf_errors += conf_store_build(c, cfg);
	conf_limits_build(&c->limits, cfg_getsec(cfg, "limits"));
}

static void
build_bait(struct moat_conf *c, cfg_t *sec)
{
	struct bait_conf *b = &c->bait;
	const char *v;

	if ((v = cfg_getstr(sec, "secret_file")) != NULL)
		b->secret_file = conf_abs_path(v);
	if ((v = cfg_getstr(sec, "domain")) != NULL)
		b->domain = xstrdup(v);
	else if (c->ndomains > 0)
		b->domain = xstrdup(c->domains[0].name);
	if ((v = cfg_getstr(sec, "listen")) != NULL) {
		b->listen = xstrdup(v);
		endpoint_parse(v, 80, &b->listen_ss, &b->listen_len, 0);
	}
	b->tarpit = strcmp(cfg_getstr(sec, "on_hit"), "tarpit") == 0;
	b->nspamtraps = cfg_size(sec, "spamtraps");
	b->spamtraps = xcalloc(b->nspamtraps + 1, sizeof(char *));
	for (size_t i = 0; i < b->nspamtraps; i++) {
		b->spamtraps[i] = xstrdup(cfg_getnstr(sec, "spamtraps", i));
		ascii_lower(b->spamtraps[i]);
	}
	if ((v = cfg_getstr(sec, "export_file")) != NULL)
		b->export_file = conf_abs_path(v);
	b->proxy_from = cidr_list_build(sec, &b->nproxy_from);
	if (b->domain != NULL && conf_domain_find(c, b->domain) == NULL) {
		fprintf(stderr, "%s: bait: domain \"%s\" is not one of our domains\n",
		        c->path, b->domain);
		conf_errors++;
	}
}

/* load_aliases - the global aliases file, then each domain's; the problems */
static int
load_aliases(struct moat_conf *c)
{
	int bad = 0;

	if (c->aliases_file != NULL &&
	    aliases_load(&c->aliases, c, c->aliases_file, NULL, stderr) == -1)
		bad++;
	for (size_t i = 0; i < c->ndomains; i++)
		if (c->domains[i].aliases_file != NULL &&
		    aliases_load(&c->aliases, c, c->domains[i].aliases_file,
		                 c->domains[i].name, stderr) == -1)
			bad++;
	if (aliases_finish(&c->aliases, c, stderr) == -1)
		bad++;
	return bad;
}

/* conf_begin - a parse of path about to start: its errors counted from
 * zero, its relative paths taken from its directory */
static cfg_t *
conf_begin(const char *path)
{
	cfg_t *cfg;

	conf_errors = 0;
	conf_file = path;
	conf_set_base(path);
	cfg = cfg_init(conf_top_opts(path), CFGF_NONE);
	cfg_set_error_function(cfg, conf_errfunc);
	return cfg;
}

struct moat_conf *
conf_load(const char *path)
{
	struct moat_conf *c;
	cfg_t *cfg;
	int ret;

	cfg = conf_begin(path);
	conf_limits_validators(cfg);
	conf_check_validators(cfg);
	conf_nexthop_validators(cfg);
	cfg_set_validate_func(cfg, "domain", conf_domain_validate);
	conf_screen_validators(cfg);
	conf_store_validators(cfg);
	conf_ext_validators(cfg);
	conf_srs_validators(cfg);

	ret = cfg_parse(cfg, path);
	if (ret == CFG_FILE_ERROR) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		cfg_free(cfg);
		return NULL;
	}
	if (ret != CFG_SUCCESS || conf_errors > 0) {
		cfg_free(cfg);
		return NULL;
	}
	c = xcalloc(1, sizeof(*c));
	c->path = xstrdup(path);
	c->dir = xstrdup(conf_base_dir());
	build(c, cfg);
	build_bait(c, cfg_getsec(cfg, "bait"));
	conf_errors += conf_ext_build(c, cfg);
	conf_errors += conf_srs_build(c, cfg);
	conf_errors += load_aliases(c);
	cfg_free(cfg);

	if (c->nlisteners == (size_t)(c->local_submission ? 1 : 0)) {
		fprintf(stderr, "%s: no listen section: moatd would accept nothing\n",
		        path);
		conf_errors++;
	}
	if (c->ndomains == 0) {
		fprintf(stderr, "%s: no domain section: moatd would accept no mail\n",
		        path);
		conf_errors++;
	}
	for (size_t i = 0; i < c->nlisteners; i++) {
		const struct listener_conf *l = &c->listeners[i];
		if (l->role == ROLE_LOCAL)
			continue;
		if (c->local_submission && strcmp(l->name, LOCAL_LISTENER_NAME) == 0) {
			fprintf(stderr,
			        "%s: listen \"%s\": the name is the local submission "
			        "socket's (local_submission = false frees it)\n",
			        path, l->name);
			conf_errors++;
		}
		if (l->role != ROLE_MX && c->tls_cert_file == NULL) {
			fprintf(stderr,
			        "%s: listen \"%s\": role %s needs a tls section\n", path,
			        l->name, l->role == ROLE_SMTPS ? "smtps" : "submission");
			conf_errors++;
		}
		if (l->role != ROLE_MX && c->auth_password_file == NULL &&
		    c->auth_dovecot_socket == NULL) {
			fprintf(stderr,
			        "%s: listen \"%s\": role %s needs an auth section\n",
			        path, l->name,
			        l->role == ROLE_SMTPS ? "smtps" : "submission");
			conf_errors++;
		}
	}
	if (geteuid() == 0) {
		struct passwd *pw = getpwnam(c->user);
		if (pw != NULL) {
			c->uid = pw->pw_uid;
			c->gid = pw->pw_gid;
			c->drop_privileges = 1;
		}
	} else {
		c->uid = geteuid();
		c->gid = getegid();
	}
	if (conf_errors > 0) {
		conf_free(c);
		return NULL;
	}
	return c;
}

int
conf_peek(const char *path, struct conf_peek *p)
{
	cfg_t *cfg;
	int ret;

	memset(p, 0, sizeof(*p));
	cfg = conf_begin(path);
	ret = cfg_parse(cfg, path);
	if (ret == CFG_FILE_ERROR)
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
	if (ret != CFG_SUCCESS || conf_errors > 0) {
		cfg_free(cfg);
		return -1;
	}
	p->hostname = hostname_of(cfg);
	p->run_dir = conf_abs_path(cfg_getstr(cfg, "run_dir"));
	p->local_submission = cfg_getbool(cfg, "local_submission");
	cfg_free(cfg);
	return 0;
}

void
conf_peek_free(struct conf_peek *p)
{
	free(p->hostname);
	free(p->run_dir);
	memset(p, 0, sizeof(*p));
}

void
conf_free(struct moat_conf *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->nlisteners; i++) {
		free(c->listeners[i].name);
		free(c->listeners[i].address);
		free(c->listeners[i].proxy_from);
	}
	for (size_t i = 0; i < c->ndomains; i++)
		conf_domain_free(&c->domains[i]);
	for (size_t i = 0; i < c->ndns_servers; i++)
		free(c->dns_servers[i]);
	free(c->dns_servers);
	free(c->listeners);
	free(c->domains);
	free(c->trusted);
	free(c->path);
	free(c->dir);
	free(c->hostname);
	free(c->user);
	free(c->spool_dir);
	free(c->mail_dir);
	free(c->run_dir);
	free(c->state_dir);
	conf_screen_free(&c->screen);
	conf_store_free(c);
	conf_ext_free(c);
	conf_srs_free(c);
	aliases_free(&c->aliases);
	free(c->aliases_file);
	free(c->bait.secret_file);
	free(c->bait.domain);
	free(c->bait.listen);
	free(c->metrics_listen);
	for (size_t i = 0; i < c->bait.nspamtraps; i++)
		free(c->bait.spamtraps[i]);
	free(c->bait.spamtraps);
	free(c->bait.export_file);
	free(c->bait.proxy_from);
	free(c->relayhost);
	conf_nexthop_free(&c->relayhost_tls);
	free(c->outbound_ca_file);
	free(c->tls_cert_file);
	free(c->tls_key_file);
	for (size_t i = 0; i < c->ntls_certs; i++) {
		free(c->tls_certs[i].cert_file);
		free(c->tls_certs[i].key_file);
	}
	free(c->tls_certs);
	free(c->auth_password_file);
	free(c->auth_dovecot_socket);
	free(c->auth_sender_map);
	free(c);
}

int
conf_is_trusted(const struct moat_conf *c, const struct netaddr *na)
{
	return conf_cidr_listed(c->trusted, c->ntrusted, na);
}

int
conf_cidr_listed(const struct cidr *list, size_t n, const struct netaddr *na)
{
	for (size_t i = 0; i < n; i++)
		if (cidr_match(&list[i], na))
			return 1;
	return 0;
}
