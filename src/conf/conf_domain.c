/* SPDX-License-Identifier: ISC */
/*
 * conf_domain.c - the domain sections: a domain's users (inline and from a
 * users_file), its delivery, its own aliases file and its recipient lookup
 * (a Dovecot userdb or a socketmap server that knows the users moat does
 * not list). conf.c keeps the option table and calls these.
 * SECURITY: reads only the administrator's files (config, users files).
 */
#include <confuse.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/ascii.h"
#include "common/mailaddr.h"
#include "common/netaddr.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "conf/conf_int.h"

static int
delivery_parse(const char *s, enum delivery_kind *kind, const char **target)
{
	char host[256];
	int port;

	*target = NULL;
	if (strcmp(s, "maildir") == 0) {
		*kind = DELIVER_MAILDIR;
		return 0;
	}
	if (strncmp(s, "lmtp:", 5) == 0) {
		*kind = DELIVER_LMTP;
		*target = s + 5;
		return nexthop_parse(*target, 24, host, sizeof(host), &port, 1);
	}
	if (strncmp(s, "smtp:", 5) == 0) {
		*kind = DELIVER_SMTP;
		*target = s + 5;
		return nexthop_parse(*target, 25, host, sizeof(host), &port, 0);
	}
	return -1;
}

/*
 * lookup_parse - "dovecot:ADDRESS" (an auth-userdb socket; a bare /PATH is
 * unix:/PATH) or "socketmap:ADDRESS:NAME" as Postfix writes it, ADDRESS
 * being unix:/PATH or inet:HOST:PORT
 */
static int
lookup_parse(const char *s, enum lookup_kind *kind, char *map, size_t mapsz,
             struct sockaddr_storage *ss, socklen_t *sslen)
{
	char addr[1024];
	const char *colon;

	map[0] = '\0';
	if (strncmp(s, "dovecot:", 8) == 0) {
		*kind = LOOKUP_DOVECOT;
		s += 8;
		if (s[0] == '/')
			snprintf(addr, sizeof(addr), "unix:%s", s);
		else
			strlcpy(addr, s, sizeof(addr));
		return ext_address_parse(addr, ss, sslen);
	}
	if (strncmp(s, "socketmap:", 10) != 0)
		return -1;
	*kind = LOOKUP_SOCKETMAP;
	s += 10;
	/* the map's name follows the last colon (a path may hold colons) */
	if ((colon = strrchr(s, ':')) == NULL || colon[1] == '\0' ||
	    (size_t)(colon - s) >= sizeof(addr) || strlen(colon + 1) >= mapsz)
		return -1;
	for (const char *c = colon + 1; *c != '\0'; c++)
		if (*c <= ' ' || *c >= 0x7f)
			return -1;
	snprintf(addr, sizeof(addr), "%.*s", (int)(colon - s), s);
	strlcpy(map, colon + 1, mapsz);
	return ext_address_parse(addr, ss, sslen);
}

int
conf_mailbox_name_ok(const char *u, size_t n)
{
	return n > 0 && n <= MAILADDR_LOCAL_MAX && local_is_dotstring(u, n) &&
	       memchr(u, '/', n) == NULL;
}

int
conf_domain_validate(cfg_t *cfg, cfg_opt_t *opt)
{
	cfg_t *sec = cfg_opt_getnsec(opt, cfg_opt_size(opt) - 1);
	const char *name = cfg_title(sec);
	const char *delivery = cfg_getstr(sec, "delivery");
	const char *file = cfg_getstr(sec, "users_file");
	enum delivery_kind kind;
	const char *target, *lookup;
	enum lookup_kind lk;
	char map[LOOKUP_MAP_MAX];
	struct sockaddr_storage ss;
	socklen_t sslen;

	char alabel[MAILADDR_DOMAIN_MAX + 1];
	/* an internationalized name may be written in U-labels (kept as its
	 * A-labels, the form addresses are matched in) */
	if (!domain_valid(name, strlen(name)) &&
	    domain_to_ascii(name, alabel, sizeof(alabel)) == -1) {
		cfg_error(cfg, "domain \"%s\" is not a valid domain name", name);
		return -1;
	}
	/* Domains match without regard to case (conf_domain_find()), but
	 * libconfuse refuses only a title given twice in the same letters: a
	 * second "A.test" after "a.test" was accepted and never used. */
	for (unsigned i = 0; i + 1 < cfg_opt_size(opt); i++)
		if (strcasecmp(cfg_title(cfg_opt_getnsec(opt, i)), name) == 0) {
			cfg_error(cfg, "domain \"%s\" is given twice", name);
			return -1;
		}
	if (delivery_parse(delivery, &kind, &target) == -1) {
		cfg_error(cfg,
		          "domain \"%s\": delivery \"%s\": must be maildir, "
		          "lmtp:HOST:PORT, lmtp:unix:/PATH or smtp:HOST:PORT",
		          name, delivery);
		return -1;
	}
	for (unsigned i = 0; i < cfg_size(sec, "users"); i++) {
		const char *u = cfg_getnstr(sec, "users", i);
		if (!conf_mailbox_name_ok(u, strlen(u))) {
			cfg_error(cfg,
			          "domain \"%s\": user \"%s\" is not a valid local part",
			          name, u);
			return -1;
		}
	}
	if (file != NULL) {
		char *abs = conf_abs_path(file);
		int bad = access(abs, R_OK) == -1;
		if (bad)
			cfg_error(cfg, "domain \"%s\": users_file \"%s\": %s", name, abs,
			          strerror(errno));
		free(abs);
		if (bad)
			return -1;
	}
	if ((lookup = cfg_getstr(sec, "recipient_lookup")) != NULL &&
	    lookup_parse(lookup, &lk, map, sizeof(map), &ss, &sslen) == -1) {
		cfg_error(cfg,
		          "domain \"%s\": recipient_lookup \"%s\": must be "
		          "dovecot:unix:/PATH, dovecot:inet:HOST:PORT, "
		          "socketmap:unix:/PATH:NAME or socketmap:inet:HOST:PORT:NAME",
		          name, lookup);
		return -1;
	}
	if (conf_domain_nexthop_check(cfg, sec, name) == -1)
		return -1;
	if (cfg_getint(sec, "lookup_cache_ttl") < 0 ||
	    cfg_getint(sec, "lookup_cache_ttl") > 86400) {
		cfg_error(cfg, "domain \"%s\": lookup_cache_ttl = %ld: from 0 to 86400",
		          name, cfg_getint(sec, "lookup_cache_ttl"));
		return -1;
	}
	if (cfg_getint(sec, "lookup_timeout_ms") < 10 ||
	    cfg_getint(sec, "lookup_timeout_ms") > 60000) {
		cfg_error(cfg, "domain \"%s\": lookup_timeout_ms = %ld: from 10 to 60000",
		          name, cfg_getint(sec, "lookup_timeout_ms"));
		return -1;
	}
	return 0;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* load_users_file - one local part per line; '#' starts a comment */
static int
load_users_file(struct domain_conf *d, const char *path, size_t *cap)
{
	FILE *fp = fopen(path, "r");
	char *line = NULL;
	size_t linesz = 0;
	ssize_t n;
	int lineno = 0, bad = 0;

	if (fp == NULL) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	while ((n = getline(&line, &linesz, fp)) != -1) {
		char *p = line, *e;
		lineno++;
		if ((e = strchr(p, '#')) != NULL)
			*e = '\0';
		while (*p == ' ' || *p == '\t')
			p++;
		e = p + strlen(p);
		while (e > p &&
		       (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
			*--e = '\0';
		if (*p == '\0')
			continue;
		if (!conf_mailbox_name_ok(p, strlen(p))) {
			fprintf(stderr, "%s:%d: \"%s\" is not a valid local part\n", path,
			        lineno, p);
			bad = 1;
			continue;
		}
		if (d->nusers == *cap) {
			*cap = *cap ? *cap * 2 : 16;
			d->users = xreallocarray(d->users, *cap, sizeof(char *));
		}
		d->users[d->nusers] = xstrdup(p);
		ascii_lower(d->users[d->nusers++]);
	}
	free(line);
	fclose(fp);
	return bad ? -1 : 0;
}

int
conf_domain_build(struct domain_conf *d, cfg_t *sec)
{
	size_t cap = 0;
	const char *target;

	memset(d, 0, sizeof(*d));
	char alabel[MAILADDR_DOMAIN_MAX + 1];
	if (domain_to_ascii(cfg_title(sec), alabel, sizeof(alabel)) == 0)
		d->name = xstrdup(alabel);
	else
		d->name = xstrdup(cfg_title(sec));
	ascii_lower(d->name);
	if (delivery_parse(cfg_getstr(sec, "delivery"), &d->delivery, &target) == 0 &&
	    target != NULL)
		d->delivery_target = xstrdup(target);
	if (conf_nexthop_build(&d->nexthop, d->delivery == DELIVER_SMTP ? sec : NULL) !=
	    0)
		return -1;
	for (unsigned i = 0; i < cfg_size(sec, "users"); i++) {
		if (d->nusers == cap) {
			cap = cap ? cap * 2 : 16;
			d->users = xreallocarray(d->users, cap, sizeof(char *));
		}
		d->users[d->nusers] = xstrdup(cfg_getnstr(sec, "users", i));
		ascii_lower(d->users[d->nusers++]);
	}
	if (cfg_getstr(sec, "users_file") != NULL) {
		char *file = conf_abs_path(cfg_getstr(sec, "users_file"));
		int rc = load_users_file(d, file, &cap);
		free(file);
		if (rc == -1)
			return -1;
	}
	if (cfg_getstr(sec, "aliases_file") != NULL)
		d->aliases_file = conf_abs_path(cfg_getstr(sec, "aliases_file"));
	if (cfg_getstr(sec, "recipient_lookup") != NULL) {
		struct rcpt_lookup_conf *l = xcalloc(1, sizeof(*l));
		char map[LOOKUP_MAP_MAX];

		l->svc.name = xstrdup(d->name);
		xasprintf(&l->svc.rule, "lookup:%s", d->name);
		l->svc.address = xstrdup(cfg_getstr(sec, "recipient_lookup"));
		lookup_parse(l->svc.address, &l->kind, map, sizeof(map), &l->svc.ss,
		             &l->svc.sslen);
		l->map = xstrdup(map);
		l->svc.timeout_connect_ms = cfg_getint(sec, "lookup_timeout_ms");
		l->svc.timeout_ms = cfg_getint(sec, "lookup_timeout_ms");
		/* Postfix's proxymap defaults, as for policy services */
		l->svc.max_idle = 300;
		l->svc.max_ttl = 1000;
		l->cache_ttl = cfg_getint(sec, "lookup_cache_ttl");
		d->lookup = l;
	}
	/* A domain may have no users (users = {}, an empty users_file): users
	 * is NULL then, and qsort() must not be given NULL, even for 0. */
	if (d->nusers > 0)
		qsort(d->users, d->nusers, sizeof(char *), cmp_str);
	return 0;
}

struct domain_conf *
conf_domain_find(const struct moat_conf *c, const char *domain)
{
	for (size_t i = 0; i < c->ndomains; i++)
		if (strcasecmp(c->domains[i].name, domain) == 0)
			return &c->domains[i];
	return NULL;
}

static int
cmp_key_ci(const void *key, const void *elem)
{
	return strcasecmp((const char *)key, *(char *const *)elem);
}

int
conf_domain_has_user(const struct domain_conf *d, const char *local)
{
	/* users[] is lower case and sorted, so a case-insensitive key compares
	 * consistently with the sort order. A domain without users has users
	 * NULL, which bsearch() must not be given (RCPT TO reaches this). */
	if (d->nusers == 0)
		return 0;
	return bsearch(local, d->users, d->nusers, sizeof(char *), cmp_key_ci) != NULL;
}

void
conf_domain_free(struct domain_conf *d)
{
	for (size_t j = 0; j < d->nusers; j++)
		free(d->users[j]);
	free(d->users);
	free(d->name);
	free(d->delivery_target);
	conf_nexthop_free(&d->nexthop);
	free(d->aliases_file);
	if (d->lookup != NULL) {
		free(d->lookup->svc.name);
		free(d->lookup->svc.rule);
		free(d->lookup->svc.address);
		free(d->lookup->map);
		free(d->lookup);
	}
}
