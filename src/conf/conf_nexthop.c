/* SPDX-License-Identifier: ISC */
/*
 * conf_nexthop.c - the TLS and AUTH of the next hops the administrator
 * names: relayhost, as a string ("host:port", shorthand for tls = "may")
 * or as a section (address, tls, implicit_tls, auth_file, ca_file,
 * tls_name), and the same keys in a domain section whose delivery is
 * "smtp:...". Also outbound_ca_file, the CA bundle verified next hops are
 * checked against when they name none (default: the system store).
 *
 * libconfuse cannot take one name as both a string and a section, so
 * conf_nexthop_form() looks at the file first (a small scanner that knows
 * its comments and quotes) and the option table gets relayhost in the
 * form the file uses.
 *
 * The auth_file ("user password" on one line; the password is everything
 * after the first run of blanks) must belong to the user moatd starts as
 * (root) and be private to it (mode 0600): it is read here, at start and
 * on SIGHUP, before privileges are dropped; the children inherit it in
 * memory, and conf_nexthop_free() zeroes it.
 * SECURITY: administrator's input only; auth_file lines are bounded, the
 * secret is never printed (errors name the file and line only).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/mailaddr.h"
#include "common/netaddr.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "conf/conf_int.h"

#define AUTH_LINE_MAX 600 /* a user and a password of 255 octets each, and blanks */

cfg_opt_t conf_relayhost_opts[] = {
    CFG_STR("address", NULL, CFGF_NONE),
    NEXTHOP_OPTS,
    CFG_END(),
};

static const char *const level_names[] = {
    [TLS_LEVEL_NONE] = "none",       [TLS_LEVEL_MAY] = "may",
    [TLS_LEVEL_ENCRYPT] = "encrypt", [TLS_LEVEL_VERIFY] = "verify",
    [TLS_LEVEL_DANE] = "dane",
};
_Static_assert(sizeof(level_names) / sizeof(level_names[0]) == TLS_LEVEL_DANE + 1,
               "a name for every level");

int
conf_tls_level_parse(const char *s, enum tls_level *level)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcmp(s, level_names[i]) == 0) {
			*level = (enum tls_level)i;
			return 0;
		}
	return -1;
}

const char *
conf_tls_level_name(enum tls_level level)
{
	return (unsigned)level <= TLS_LEVEL_DANE ? level_names[level] : "?";
}

const char *
conf_auth_parse(const char *line, char *user, size_t usersz, char *pass, size_t passsz)
{
	size_t n;

	line += strspn(line, " \t");
	n = strcspn(line, " \t");
	if (n == 0)
		return "no user name";
	if (n >= usersz)
		return "the user name is too long";
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)line[i] < 0x21 || line[i] == 0x7f)
			return "a control character in the user name";
	memcpy(user, line, n);
	user[n] = '\0';
	line += n;
	line += strspn(line, " \t");
	n = strlen(line);
	if (n == 0)
		return "no password after the user name (\"user password\")";
	if (n >= passsz)
		return "the password is too long";
	for (size_t i = 0; i < n; i++)
		if (((unsigned char)line[i] < 0x20 && line[i] != '\t') || line[i] == 0x7f)
			return "a control character in the password";
	memcpy(pass, line, n + 1);
	return NULL;
}

/* skip_blank - past blanks and comments (# and // to the line's end, C's) */
static const char *
skip_blank(const char *p, const char *end)
{
	while (p < end) {
		if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
			p++;
		else if (*p == '#' || (*p == '/' && p + 1 < end && p[1] == '/'))
			while (p < end && *p != '\n')
				p++;
		else if (*p == '/' && p + 1 < end && p[1] == '*') {
			p += 2;
			while (p + 1 < end && !(p[0] == '*' && p[1] == '/'))
				p++;
			p = p + 2 < end ? p + 2 : end;
		} else
			break;
	}
	return p;
}

int
conf_nexthop_form(const char *path)
{
	FILE *f = fopen(path, "r");
	char *text = NULL;
	size_t len = 0;
	int depth = 0, section = 0;

	if (f == NULL)
		return 0; /* the parse that follows says why */
	if (getdelim(&text, &len, '\0', f) == -1) {
		fclose(f);
		free(text);
		return 0;
	}
	len = strlen(text);
	fclose(f);
	for (const char *p = text, *end = text + len; p < end;) {
		p = skip_blank(p, end);
		if (p >= end)
			break;
		if (*p == '"' || *p == '\'') {
			char q = *p++;
			while (p < end && *p != q)
				p += (*p == '\\' && q == '"' && p + 1 < end) ? 2 : 1;
			p++;
		} else if (*p == '{' || *p == '}') {
			depth += *p++ == '{' ? 1 : -1;
		} else if (depth == 0 && strncmp(p, "relayhost", 9) == 0 &&
		           strchr("_-abcdefghijklmnopqrstuvwxyz0123456789", p[9]) ==
		               NULL) {
			p = skip_blank(p + 9, end);
			section = p < end && *p == '{';
		} else
			p++;
	}
	free(text);
	return section;
}

/* private_file_check - path is a regular file of ours, private to us */
static int
private_file_check(const char *path, char *err, size_t errsz)
{
	struct stat st;

	if (lstat(path, &st) == -1) {
		snprintf(err, errsz, "%s", strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errsz, "not a regular file");
		return -1;
	}
	if (st.st_uid != geteuid()) {
		snprintf(err, errsz, "owned by uid %u, not by %s", (unsigned)st.st_uid,
		         geteuid() == 0 ? "root" : "the user moatd runs as");
		return -1;
	}
	if (st.st_mode & 077) {
		snprintf(err, errsz,
		         "accessible to other users (mode %04o); chmod 600 it",
		         (unsigned)(st.st_mode & 07777));
		return -1;
	}
	return 0;
}

int
conf_nexthop_check(cfg_t *cfg, cfg_t *sec, const char *what)
{
	const char *tls = cfg_getstr(sec, "tls"), *v;
	enum tls_level level;
	char err[256];

	if (conf_tls_level_parse(tls, &level) == -1) {
		cfg_error(cfg, "%s: tls = \"%s\": must be none, may, encrypt or verify",
		          what, tls);
		return -1;
	}
	if (level == TLS_LEVEL_DANE) {
		cfg_error(cfg,
		          "%s: tls = \"dane\": DANE (RFC 7672) is for MX delivery, where "
		          "the TLSA records of the MX host apply; a fixed next hop takes "
		          "none, may, encrypt or verify",
		          what);
		return -1;
	}
	if (level == TLS_LEVEL_NONE && cfg_getbool(sec, "implicit_tls")) {
		cfg_error(cfg, "%s: implicit_tls = true contradicts tls = \"none\"",
		          what);
		return -1;
	}
	if ((v = cfg_getstr(sec, "auth_file")) != NULL) {
		if (level == TLS_LEVEL_NONE && !cfg_getbool(sec, "implicit_tls")) {
			cfg_error(cfg,
			          "%s: auth_file with tls = \"none\": the password would "
			          "go in plain text; use may, encrypt or verify",
			          what);
			return -1;
		}
		char *abs = conf_abs_path(v);
		int bad = private_file_check(abs, err, sizeof(err));
		if (bad)
			cfg_error(cfg, "%s: auth_file \"%s\": %s", what, abs, err);
		free(abs);
		if (bad)
			return -1;
	}
	if ((v = cfg_getstr(sec, "ca_file")) != NULL) {
		char *abs = conf_abs_path(v);
		int bad = access(abs, R_OK) == -1;
		if (bad)
			cfg_error(cfg, "%s: ca_file \"%s\": %s", what, abs,
			          strerror(errno));
		free(abs);
		if (bad)
			return -1;
	}
	if ((v = cfg_getstr(sec, "tls_name")) != NULL && !domain_valid(v, strlen(v))) {
		cfg_error(cfg, "%s: tls_name = \"%s\" is not a host name", what, v);
		return -1;
	}
	return 0;
}

/* nexthop_default - the section sets none of the TLS and AUTH keys */
static int
nexthop_default(cfg_t *sec)
{
	return strcmp(cfg_getstr(sec, "tls"), "may") == 0 &&
	       !cfg_getbool(sec, "implicit_tls") &&
	       cfg_getstr(sec, "auth_file") == NULL &&
	       cfg_getstr(sec, "ca_file") == NULL && cfg_getstr(sec, "tls_name") == NULL;
}

/* verify_needs_name - tls = verify to an IP address, without a tls_name:
 * there is no name to check the certificate for */
static int
verify_needs_name(cfg_t *cfg, cfg_t *sec, const char *what, const char *target)
{
	char host[256];
	int port;
	struct netaddr na;

	if (strcmp(cfg_getstr(sec, "tls"), "verify") != 0 ||
	    cfg_getstr(sec, "tls_name") != NULL ||
	    nexthop_parse(target, 25, host, sizeof(host), &port, 0) == -1 ||
	    netaddr_parse(&na, host) == -1)
		return 0;
	cfg_error(cfg,
	          "%s: tls = \"verify\" to the address %s needs tls_name, the name "
	          "its certificate must carry",
	          what, host);
	return -1;
}

/* conf_domain_nexthop_check - a domain's keys: only with smtp: delivery */
int
conf_domain_nexthop_check(cfg_t *cfg, cfg_t *sec, const char *name)
{
	char what[300];
	const char *delivery = cfg_getstr(sec, "delivery");

	snprintf(what, sizeof(what), "domain \"%s\"", name);
	if (strncmp(delivery, "smtp:", 5) != 0) {
		if (nexthop_default(sec))
			return 0;
		cfg_error(cfg,
		          "%s: tls, implicit_tls, auth_file, ca_file and tls_name go "
		          "with delivery = \"smtp:HOST:PORT\"",
		          what);
		return -1;
	}
	if (conf_nexthop_check(cfg, sec, what) == -1)
		return -1;
	return verify_needs_name(cfg, sec, what, delivery + 5);
}

static int
validate_relayhost(cfg_t *cfg, cfg_opt_t *opt)
{
	char host[256];
	int port;
	const char *v;

	if (opt->type == CFGT_STR) {
		v = cfg_opt_getnstr(opt, 0);
		if (v != NULL &&
		    nexthop_parse(v, 25, host, sizeof(host), &port, 0) == -1) {
			cfg_error(
			    cfg, "relayhost = \"%s\": must be HOST[:PORT] or [HOST]:PORT",
			    v);
			return -1;
		}
		return 0;
	}
	cfg_t *sec = cfg_opt_getnsec(opt, 0);
	v = cfg_getstr(sec, "address");
	if (v == NULL) {
		cfg_error(cfg, "relayhost: address is required");
		return -1;
	}
	if (nexthop_parse(v, 25, host, sizeof(host), &port, 0) == -1) {
		cfg_error(cfg,
		          "relayhost: address = \"%s\": must be HOST[:PORT] or "
		          "[HOST]:PORT",
		          v);
		return -1;
	}
	if (conf_nexthop_check(cfg, sec, "relayhost") == -1)
		return -1;
	return verify_needs_name(cfg, sec, "relayhost", v);
}

static int
validate_ca_file(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *v = cfg_opt_getnstr(opt, 0);

	if (v == NULL)
		return 0;
	char *abs = conf_abs_path(v);
	int bad = access(abs, R_OK) == -1;
	if (bad)
		cfg_error(cfg, "outbound_ca_file = \"%s\": %s", abs, strerror(errno));
	free(abs);
	return bad ? -1 : 0;
}

void
conf_nexthop_validators(cfg_t *cfg)
{
	cfg_set_validate_func(cfg, "relayhost", validate_relayhost);
	cfg_set_validate_func(cfg, "outbound_ca_file", validate_ca_file);
}

/* read_auth - the one credential line of path into n; its problems as
 * path:line */
static int
read_auth(struct nexthop_conf *n, const char *path)
{
	char line[AUTH_LINE_MAX + 2], user[256], pass[256], err[256];
	const char *why;
	int fd, lineno = 0, found = 0, bad = 0;
	FILE *f;

	if (private_file_check(path, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s: auth_file: %s\n", path, err);
		return -1;
	}
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1 ||
	    (f = fdopen(fd, "r")) == NULL) {
		fprintf(stderr, "%s: auth_file: %s\n", path, strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	while (!bad && fgets(line, sizeof(line), f) != NULL) {
		size_t len = strcspn(line, "\r\n");
		lineno++;
		if (line[len] == '\0' && !feof(f)) {
			fprintf(stderr, "%s:%d: a line longer than %d octets\n", path,
			        lineno, AUTH_LINE_MAX);
			bad = 1;
			break;
		}
		line[len] = '\0';
		const char *p = line + strspn(line, " \t");
		if (*p == '\0' || *p == '#')
			continue;
		if (found) {
			fprintf(stderr,
			        "%s:%d: a second credential line (one \"user password\" "
			        "line only)\n",
			        path, lineno);
			bad = 1;
		} else if ((why = conf_auth_parse(line, user, sizeof(user), pass,
		                                  sizeof(pass))) != NULL) {
			fprintf(stderr, "%s:%d: %s\n", path, lineno, why);
			bad = 1;
		} else
			found = 1;
	}
	explicit_bzero(line, sizeof(line));
	fclose(f);
	if (!bad && !found) {
		fprintf(stderr, "%s: auth_file holds no \"user password\" line\n", path);
		bad = 1;
	}
	if (!bad) {
		n->auth_user = xstrdup(user);
		n->auth_pass = xstrdup(pass);
	}
	explicit_bzero(pass, sizeof(pass));
	return bad ? -1 : 0;
}

int
conf_nexthop_build(struct nexthop_conf *n, cfg_t *sec)
{
	const char *v;

	memset(n, 0, sizeof(*n));
	n->tls = TLS_LEVEL_MAY;
	if (sec == NULL)
		return 0;
	conf_tls_level_parse(cfg_getstr(sec, "tls"), &n->tls);
	n->implicit_tls = cfg_getbool(sec, "implicit_tls");
	if ((v = cfg_getstr(sec, "ca_file")) != NULL)
		n->ca_file = conf_abs_path(v);
	if ((v = cfg_getstr(sec, "tls_name")) != NULL)
		n->tls_name = xstrdup(v);
	if ((v = cfg_getstr(sec, "auth_file")) != NULL) {
		n->auth_file = conf_abs_path(v);
		if (read_auth(n, n->auth_file) == -1)
			return 1;
	}
	return 0;
}

int
conf_relayhost_build(struct moat_conf *c, cfg_t *cfg)
{
	cfg_opt_t *opt = cfg_getopt(cfg, "relayhost");
	const char *v;

	if ((v = cfg_getstr(cfg, "outbound_ca_file")) != NULL)
		c->outbound_ca_file = conf_abs_path(v);
	if (opt->type == CFGT_STR) {
		if ((v = cfg_getstr(cfg, "relayhost")) != NULL)
			c->relayhost = xstrdup(v);
		return conf_nexthop_build(&c->relayhost_tls, NULL);
	}
	/* a section that was not written still has its defaults: no address */
	cfg_t *sec = cfg_getsec(cfg, "relayhost");
	if (sec == NULL || (v = cfg_getstr(sec, "address")) == NULL)
		return conf_nexthop_build(&c->relayhost_tls, NULL);
	c->relayhost = xstrdup(v);
	return conf_nexthop_build(&c->relayhost_tls, sec);
}

void
conf_nexthop_free(struct nexthop_conf *n)
{
	free(n->ca_file);
	free(n->tls_name);
	free(n->auth_file);
	free(n->auth_user);
	if (n->auth_pass != NULL) {
		explicit_bzero(n->auth_pass, strlen(n->auth_pass));
		free(n->auth_pass);
	}
	memset(n, 0, sizeof(*n));
}
