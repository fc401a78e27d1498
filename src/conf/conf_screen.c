/* SPDX-License-Identifier: ISC */
/*
 * conf_screen.c - the screen section: what screening checks and the reply
 * class of each rule (the stages themselves are in src/policy/).
 * API: conf_int.h. The access list files stay paths here: that they can be
 * read is checked now, their lines when policy/access.c loads them.
 * SECURITY: reads only the administrator's configuration.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/xmalloc.h"
#include "conf/conf_dnsbl.h"
#include "conf/conf_int.h"

/* one_of - value is one of the NULL-terminated choices; its index or -1 */
static int
one_of(const char *value, const char *const *choices)
{
	for (int i = 0; choices[i] != NULL; i++)
		if (strcmp(value, choices[i]) == 0)
			return i;
	return -1;
}

static const char *const fcrdns_choices[] = {"ignore", "score", "reject", "tempfail",
                                             NULL};
static const char *const sdom_choices[] = {"off", "tempfail", "reject", NULL};
static const char *const action_choices[] = {"reject", "tempfail", NULL};
static const char *const talker_choices[] = {"off", "reject", NULL};

static int
validate_choice(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *name = cfg_opt_name(opt), *v = cfg_opt_getnstr(opt, 0);
	const char *const *choices = strcmp(name, "fcrdns") == 0          ? fcrdns_choices
	                             : strcmp(name, "sender_domain") == 0 ? sdom_choices
	                             : strcmp(name, "early_talker") == 0  ? talker_choices
	                                                                 : action_choices;
	if (one_of(v, choices) == -1) {
		char all[128] = "";
		for (int i = 0; choices[i]; i++) {
			strlcat(all, i ? ", " : "", sizeof(all));
			strlcat(all, choices[i], sizeof(all));
		}
		cfg_error(cfg, "%s = \"%s\": must be one of %s", name, v, all);
		return -1;
	}
	return 0;
}

static int
validate_dnsbl(cfg_t *cfg, cfg_opt_t *opt)
{
	struct dnsbl_zone z;
	char err[300];

	for (unsigned i = 0; i < cfg_opt_size(opt); i++)
		if (conf_dnsbl_parse(cfg_opt_getnstr(opt, i), &z, err, sizeof(err)) ==
		    -1) {
			cfg_error(cfg, "dnsbl: %s", err);
			return -1;
		}
	return 0;
}

/* validate_access - the file must be readable; its rules are checked with
 * file and line by policy/access.c (moatd -n, start and reload) */
static int
validate_access(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *name = cfg_opt_name(opt), *v = cfg_opt_getnstr(opt, 0);

	if (v == NULL)
		return 0;
	char *abs = conf_abs_path(v);
	int bad = access(abs, R_OK) == -1;
	if (bad)
		cfg_error(cfg, "%s = \"%s\": %s", name, abs, strerror(errno));
	free(abs);
	return bad ? -1 : 0;
}

void
conf_screen_validators(cfg_t *cfg)
{
	cfg_set_validate_func(cfg, "screen|dnsbl", validate_dnsbl);
	cfg_set_validate_func(cfg, "screen|dnsbl_action", validate_choice);
	cfg_set_validate_func(cfg, "screen|ban_action", validate_choice);
	cfg_set_validate_func(cfg, "screen|fcrdns", validate_choice);
	cfg_set_validate_func(cfg, "screen|sender_domain", validate_choice);
	cfg_set_validate_func(cfg, "screen|early_talker", validate_choice);
	cfg_set_validate_func(cfg, "screen|client_access", validate_access);
	cfg_set_validate_func(cfg, "screen|signatures_file", validate_access);
	cfg_set_validate_func(cfg, "screen|helo_access", validate_access);
	cfg_set_validate_func(cfg, "screen|sender_access", validate_access);
}

int
conf_screen_build(struct screen_conf *s, cfg_t *sec)
{
	char err[300];
	const char *v;
	int problems = 0;

	if ((v = cfg_getstr(sec, "client_access")) != NULL)
		s->client_access = conf_abs_path(v);
	if ((v = cfg_getstr(sec, "signatures_file")) != NULL)
		s->signatures_file = conf_abs_path(v);
	if ((v = cfg_getstr(sec, "helo_access")) != NULL)
		s->helo_access = conf_abs_path(v);
	if ((v = cfg_getstr(sec, "sender_access")) != NULL)
		s->sender_access = conf_abs_path(v);
	s->ndnsbl = cfg_size(sec, "dnsbl");
	s->dnsbl = xcalloc(s->ndnsbl ? s->ndnsbl : 1, sizeof(*s->dnsbl));
	for (size_t i = 0; i < s->ndnsbl; i++)
		if (conf_dnsbl_parse(cfg_getnstr(sec, "dnsbl", i), &s->dnsbl[i], err,
		                     sizeof(err)) == -1)
			problems++;
	s->dnsbl_tempfail = strcmp(cfg_getstr(sec, "dnsbl_action"), "tempfail") == 0;
	s->fcrdns = (enum fcrdns_policy)one_of(cfg_getstr(sec, "fcrdns"), fcrdns_choices);
	s->sender_domain = (enum sender_domain_policy)one_of(
	    cfg_getstr(sec, "sender_domain"), sdom_choices);
	s->early_talker = strcmp(cfg_getstr(sec, "early_talker"), "reject") == 0;
	if ((v = cfg_getstr(sec, "greet_teaser")) != NULL)
		s->greet_teaser = xstrdup(v);
	s->greylist = cfg_getbool(sec, "greylist");
	s->greylist_skip_clean = cfg_getbool(sec, "greylist_skip_clean");
	s->harvest = cfg_getbool(sec, "harvest");
	s->ban_reject = strcmp(cfg_getstr(sec, "ban_action"), "reject") == 0;
	return problems;
}

void
conf_screen_free(struct screen_conf *s)
{
	free(s->client_access);
	free(s->signatures_file);
	free(s->helo_access);
	free(s->sender_access);
	free(s->dnsbl);
	free(s->greet_teaser);
}
