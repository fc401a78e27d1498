/* SPDX-License-Identifier: ISC */
/*
 * conf_ext.c - the external services a session asks: policy_service
 * sections (Postfix's policy delegation protocol) and milter sections
 * (the Sendmail/Postfix milter protocol). Each names an endpoint
 * (inet:HOST:PORT or unix:/PATH), what its failure means (on_error), its
 * timeouts, the listeners it serves and whether trusted clients are asked
 * too; a policy service also the stage it is asked at.
 * SECURITY: administrator's input only.
 */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/netaddr.h"
#include "common/xmalloc.h"
#include "conf/conf_int.h"

int
ext_address_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	if (strncmp(s, "unix:", 5) == 0)
		return endpoint_parse(s, 0, ss, len, 1);
	if (strncmp(s, "inet:", 5) != 0)
		return -1;
	/* a port is required: there is no well-known one */
	if (endpoint_parse(s + 5, 0, ss, len, 0) == -1)
		return -1;
	if (ss->ss_family == AF_INET)
		return ((struct sockaddr_in *)ss)->sin_port != 0 ? 0 : -1;
	return ((struct sockaddr_in6 *)ss)->sin6_port != 0 ? 0 : -1;
}

static int
on_error_parse(const char *s, enum ext_on_error *e)
{
	if (strcmp(s, "tempfail") == 0)
		*e = EXT_TEMPFAIL;
	else if (strcmp(s, "accept") == 0)
		*e = EXT_ACCEPT;
	else if (strcmp(s, "reject") == 0)
		*e = EXT_REJECT;
	else
		return -1;
	return 0;
}

static int
stage_parse(const char *s, enum psvc_stage *st)
{
	if (strcmp(s, "rcpt") == 0)
		*st = PSVC_RCPT;
	else if (strcmp(s, "data") == 0)
		*st = PSVC_DATA;
	else if (strcmp(s, "end-of-data") == 0)
		*st = PSVC_EOD;
	else
		return -1;
	return 0;
}

/* range - an integer option of sec between lo and hi */
static int
range(cfg_t *sec, const char *kind, const char *opt, long lo, long hi)
{
	long v = cfg_getint(sec, opt);

	if (v < lo || v > hi) {
		cfg_error(sec, "%s \"%s\": %s = %ld: from %ld to %ld", kind,
		          cfg_title(sec), opt, v, lo, hi);
		return -1;
	}
	return 0;
}

/* validate_common - what both kinds of section have */
static int
validate_common(cfg_t *cfg, cfg_t *sec, const char *kind)
{
	const char *name = cfg_title(sec), *v;
	struct sockaddr_storage ss;
	socklen_t len;
	enum ext_on_error e;

	if (name == NULL || name[0] == '\0' || strlen(name) > 32 ||
	    strcspn(name, " \t\"=:") != strlen(name)) {
		cfg_error(cfg,
		          "%s: a name of 1 to 32 characters without spaces, quotes, "
		          "'=' or ':'",
		          kind);
		return -1;
	}
	if ((v = cfg_getstr(sec, "address")) == NULL) {
		cfg_error(cfg, "%s \"%s\": address is required", kind, name);
		return -1;
	}
	if (ext_address_parse(v, &ss, &len) == -1) {
		cfg_error(cfg,
		          "%s \"%s\": address \"%s\": inet:HOST:PORT, inet:[V6]:PORT or "
		          "unix:/PATH",
		          kind, name, v);
		return -1;
	}
	if (on_error_parse(cfg_getstr(sec, "on_error"), &e) == -1) {
		cfg_error(cfg, "%s \"%s\": on_error \"%s\": accept, tempfail or reject",
		          kind, name, cfg_getstr(sec, "on_error"));
		return -1;
	}
	return range(sec, kind, "timeout_connect_ms", 10, 60000) == -1 ||
	               range(sec, kind, "timeout_ms", 10, 600000) == -1
	           ? -1
	           : 0;
}

static int
validate_milter(cfg_t *cfg, cfg_opt_t *opt)
{
	return validate_common(cfg, cfg_opt_getnsec(opt, cfg_opt_size(opt) - 1),
	                       "milter");
}

static int
validate_policy_service(cfg_t *cfg, cfg_opt_t *opt)
{
	cfg_t *sec = cfg_opt_getnsec(opt, cfg_opt_size(opt) - 1);
	const char *name = cfg_title(sec), *v;
	enum psvc_stage st;

	if (validate_common(cfg, sec, "policy_service") == -1)
		return -1;
	if (stage_parse(cfg_getstr(sec, "stage"), &st) == -1) {
		cfg_error(cfg,
		          "policy_service \"%s\": stage \"%s\": rcpt, data or "
		          "end-of-data",
		          name, cfg_getstr(sec, "stage"));
		return -1;
	}
	if ((v = cfg_getstr(sec, "context")) != NULL) {
		for (const char *p = v; *p; p++)
			if (*p < 33 || *p > 126) {
				cfg_error(cfg,
				          "policy_service \"%s\": context: printable "
				          "ASCII without spaces",
				          name);
				return -1;
			}
		if (strlen(v) > 100) {
			cfg_error(cfg,
			          "policy_service \"%s\": context: at most 100 "
			          "octets",
			          name);
			return -1;
		}
	}
	if (range(sec, "policy_service", "max_idle", 1, 86400) == -1 ||
	    range(sec, "policy_service", "max_ttl", 1, 86400) == -1)
		return -1;
	return 0;
}

void
conf_ext_validators(cfg_t *cfg)
{
	cfg_set_validate_func(cfg, "policy_service", validate_policy_service);
	cfg_set_validate_func(cfg, "milter", validate_milter);
}

static int
has_listener(const struct moat_conf *c, const char *name)
{
	for (size_t i = 0; i < c->nlisteners; i++)
		if (strcmp(c->listeners[i].name, name) == 0)
			return 1;
	return 0;
}

/* build_common - the fields both kinds have; the problems found */
static int
build_common(const struct moat_conf *c, struct ext_service_conf *e, cfg_t *sec,
             const char *section, const char *kind)
{
	int problems = 0;
	size_t klen = strlen(kind);

	e->name = xstrdup(cfg_title(sec));
	/* "policy:NAME" / "milter:NAME" */
	e->rule = xmalloc(klen + strlen(e->name) + 2);
	memcpy(e->rule, kind, klen);
	e->rule[klen] = ':';
	memcpy(e->rule + klen + 1, e->name, strlen(e->name) + 1);
	e->address = xstrdup(cfg_getstr(sec, "address"));
	ext_address_parse(e->address, &e->ss, &e->sslen);
	on_error_parse(cfg_getstr(sec, "on_error"), &e->on_error);
	e->timeout_connect_ms = cfg_getint(sec, "timeout_connect_ms");
	e->timeout_ms = cfg_getint(sec, "timeout_ms");
	e->trusted = cfg_getbool(sec, "trusted");
	e->nlisteners = cfg_size(sec, "listeners");
	e->listeners = xcalloc(e->nlisteners + 1, sizeof(char *));
	for (size_t j = 0; j < e->nlisteners; j++) {
		const char *v = cfg_getnstr(sec, "listeners", j);
		e->listeners[j] = xstrdup(v);
		if (!has_listener(c, v)) {
			fprintf(stderr,
			        "%s: %s \"%s\": listeners: no listen section is called "
			        "\"%s\"\n",
			        c->path, section, e->name, v);
			problems++;
		}
	}
	return problems;
}

int
conf_ext_build(struct moat_conf *c, cfg_t *cfg)
{
	int problems = 0;

	c->npolicy_services = cfg_size(cfg, "policy_service");
	c->policy_services = xcalloc(c->npolicy_services, sizeof(*c->policy_services));
	for (size_t i = 0; i < c->npolicy_services; i++) {
		cfg_t *sec = cfg_getnsec(cfg, "policy_service", i);
		struct ext_service_conf *e = &c->policy_services[i];
		const char *v;

		problems += build_common(c, e, sec, "policy_service", "policy");
		stage_parse(cfg_getstr(sec, "stage"), &e->stage);
		if ((v = cfg_getstr(sec, "context")) != NULL)
			e->context = xstrdup(v);
		e->max_idle = cfg_getint(sec, "max_idle");
		e->max_ttl = cfg_getint(sec, "max_ttl");
	}
	c->nmilters = cfg_size(cfg, "milter");
	c->milters = xcalloc(c->nmilters, sizeof(*c->milters));
	for (size_t i = 0; i < c->nmilters; i++)
		problems += build_common(c, &c->milters[i], cfg_getnsec(cfg, "milter", i),
		                         "milter", "milter");
	return problems;
}

static void
free_list(struct ext_service_conf *list, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct ext_service_conf *e = &list[i];
		free(e->name);
		free(e->rule);
		free(e->address);
		free(e->context);
		for (size_t j = 0; j < e->nlisteners; j++)
			free(e->listeners[j]);
		free(e->listeners);
	}
	free(list);
}

void
conf_ext_free(struct moat_conf *c)
{
	free_list(c->policy_services, c->npolicy_services);
	free_list(c->milters, c->nmilters);
}
