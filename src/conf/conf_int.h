/* SPDX-License-Identifier: ISC */
/*
 * conf_int.h - the sections conf.c hands to files of their own: the limits
 * (conf_limits.c) and the screen section (conf_screen.c), among others.
 * conf.c keeps every option table; each of these registers the validate
 * callbacks of its section before the parse and builds its part of struct
 * moat_conf after it. conf_check.c checks what is left: the top-level
 * options and the listen, tls, auth and bait sections, which conf.c
 * builds. A validator reports through cfg_error(), so every problem gets
 * the file and line it came from.
 */
#ifndef MOAT_CONF_INT_H
#define MOAT_CONF_INT_H

#include <confuse.h>

#include "conf/conf.h"

/* conf_top_opts - the option table of the whole file at path (conf_print.c):
 * relayhost in the form that file writes it (conf_nexthop_form()) */
cfg_opt_t *conf_top_opts(const char *path);

/* conf_check_validators - checks of the top-level options and of the
 * listen, tls, auth and bait sections */
void conf_check_validators(cfg_t *cfg);
/* conf_mx_tls_parse - mx_tls's value: a TLS level, but verify (-1) */
int conf_mx_tls_parse(const char *v, enum tls_level *out);
/* conf_role_parse - a listener's role: mx, submission or smtps (-1) */
int conf_role_parse(const char *s, enum listener_role *role);

/* conf_limits_validators - range checks for every limits.h row */
void conf_limits_validators(cfg_t *cfg);
/* conf_limits_build - the limits section's values into l */
void conf_limits_build(struct moat_limits *l, cfg_t *sec);

/* conf_screen_validators - checks of the screen section's values */
void conf_screen_validators(cfg_t *cfg);
/* conf_screen_build - the screen section into s; returns the problems found */
int conf_screen_build(struct screen_conf *s, cfg_t *sec);
/* conf_screen_free - what conf_screen_build() allocated */
void conf_screen_free(struct screen_conf *s);

/* conf_store_validators - checks of store and the redis section */
void conf_store_validators(cfg_t *cfg);
/* conf_store_build - store and redis into c; returns the problems found */
int conf_store_build(struct moat_conf *c, cfg_t *cfg);
void conf_store_free(struct moat_conf *c);

/* conf_ext_validators - checks of the policy_service sections */
void conf_ext_validators(cfg_t *cfg);
/* conf_ext_build - the policy_service sections into c (after the
 * listeners); returns the problems found */
int conf_ext_build(struct moat_conf *c, cfg_t *cfg);
void conf_ext_free(struct moat_conf *c);
/* conf_domain_validate - checks of one domain section (with file:line) */
void conf_srs_validators(cfg_t *cfg);
int conf_srs_build(struct moat_conf *c, cfg_t *cfg);
void conf_srs_free(struct moat_conf *c);

/* conf_nexthop.c: the relayhost (a string, or a section) and the same TLS
 * and AUTH keys in a domain section */
/* NEXTHOP_OPTS - the keys the relayhost section and a domain share */
#define NEXTHOP_OPTS                                                                     \
	CFG_STR("tls", "may", CFGF_NONE),                                                \
	    CFG_BOOL("implicit_tls", cfg_false, CFGF_NONE),                              \
	    CFG_STR("auth_file", NULL, CFGF_NONE), CFG_STR("ca_file", NULL, CFGF_NONE),  \
	    CFG_STR("tls_name", NULL, CFGF_NONE)
extern cfg_opt_t conf_relayhost_opts[];
/* conf_nexthop_form - 1 if the file at path writes relayhost as a section
 * (relayhost { ... }), 0 if as a string or not at all */
int conf_nexthop_form(const char *path);
void conf_nexthop_validators(cfg_t *cfg);
/* conf_nexthop_check - a section's TLS and AUTH keys (for "what", as in
 * "relayhost" or "domain \"x\""); -1 after cfg_error() */
int conf_nexthop_check(cfg_t *cfg, cfg_t *sec, const char *what);
/* conf_nexthop_build - sec's keys into n, the auth_file read; the problems
 * found (printed as path:line) */
int conf_nexthop_build(struct nexthop_conf *n, cfg_t *sec);
/* conf_relayhost_build - relayhost (either form) and outbound_ca_file */
int conf_relayhost_build(struct moat_conf *c, cfg_t *cfg);
/* conf_domain_nexthop_check - a domain section's keys (only with smtp:) */
int conf_domain_nexthop_check(cfg_t *cfg, cfg_t *sec, const char *name);
void conf_nexthop_free(struct nexthop_conf *n);

int conf_domain_validate(cfg_t *cfg, cfg_opt_t *opt);
/* conf_domain_build - a domain section into d; -1 after printing problems */
int conf_domain_build(struct domain_conf *d, cfg_t *sec);
void conf_domain_free(struct domain_conf *d);
/* conf_abs_path - a path of the file being loaded made absolute against
 * its directory (conf_path_at() with the directory conf_load() is in) */
char *conf_abs_path(const char *p);
/* conf_set_base - the file whose directory relative paths are taken from
 * (conf_path.c); conf_base_dir - that directory, absolute */
void conf_set_base(const char *path);
const char *conf_base_dir(void);

/* ext_address_parse - "inet:HOST:PORT", "inet:[V6]:PORT" or "unix:/PATH" */
int ext_address_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len);

#endif
