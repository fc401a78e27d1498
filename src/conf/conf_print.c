/* SPDX-License-Identifier: ISC */
/*
 * conf_print.c - moatd -N: the settings of a configuration that differ
 * from the defaults, one "name = value" a line, in the file's own syntax,
 * for a bug report (as Postfix's postconf -n).
 *
 * A top-level setting is printed by its name (workers = 4), one of a
 * section as section.name (limits.retry_min = 5), one of a titled section
 * as section[title].name (domain[example.test].users = {"alice"}), one of
 * an untitled repeated section by its place, from 0
 * (tls.certificate[1].cert_file = "..."). A
 * setting is shown when its value differs from the default, whether or not
 * the file writes it out; a titled section whose settings are all defaults
 * is shown as section[title] = {}, since it exists only by the file. The
 * file is checked by conf_load() first: this only reads it again.
 * SECURITY: reads only the administrator's configuration file.
 */
#include <confuse.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "conf/conf_int.h"

/* opt_text - "name = value\n" as libconfuse prints it; NULL if no memory */
static char *
opt_text(cfg_opt_t *opt)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (f == NULL)
		return NULL;
	cfg_opt_print_indent(opt, f, 0);
	fclose(f);
	return buf;
}

/* print_changed - sec's settings that differ from def's (the same options,
 * nothing set: cfg_init() of the table); the number printed */
static int
print_changed(cfg_t *sec, cfg_t *def, const char *prefix, FILE *out)
{
	char name[512];
	int printed = 0;

	for (cfg_opt_t *opt = sec->opts; opt->name != NULL; opt++) {
		if (opt->type == CFGT_SEC && (opt->flags & CFGF_MULTI)) {
			for (unsigned i = 0; i < cfg_opt_size(opt); i++) {
				cfg_t *s = cfg_opt_getnsec(opt, i);
				cfg_t *d = cfg_init(opt->subopts, CFGF_NONE);
				const char *title = cfg_title(s);
				if (title != NULL)
					snprintf(name, sizeof(name), "%s%s[%s]", prefix,
					         opt->name, title);
				else
					snprintf(name, sizeof(name), "%s%s[%u]", prefix,
					         opt->name, i);
				size_t n = strlen(name);
				strlcat(name, ".", sizeof(name));
				if (print_changed(s, d, name, out) == 0) {
					name[n] = '\0';
					fprintf(out, "%s = {}\n", name);
				}
				printed++;
				cfg_free(d);
			}
			continue;
		}
		if (opt->type == CFGT_SEC) {
			cfg_t *s = cfg_opt_getnsec(opt, 0);
			cfg_t *d = cfg_init(opt->subopts, CFGF_NONE);
			snprintf(name, sizeof(name), "%s%s.", prefix, opt->name);
			if (s != NULL)
				printed += print_changed(s, d, name, out);
			cfg_free(d);
			continue;
		}
		char *text = opt_text(opt);
		char *deftext = opt_text(cfg_getopt(def, opt->name));
		if (text != NULL && (deftext == NULL || strcmp(text, deftext) != 0)) {
			/* libconfuse writes "name=1" but "name = {...}": one form */
			const char *v = text + strlen(opt->name);
			v += strspn(v, " =");
			fprintf(out, "%s%s = %s", prefix, opt->name, v);
			printed++;
		}
		free(text);
		free(deftext);
	}
	return printed;
}

/* quiet - libconfuse's complaints: conf_load() made them already */
static void
quiet(cfg_t *cfg, const char *fmt, va_list ap)
{
}

int
conf_print_changed(const char *path, FILE *out)
{
	cfg_t *cfg = cfg_init(conf_top_opts(path), CFGF_NONE);
	cfg_t *def = cfg_init(conf_top_opts(path), CFGF_NONE);
	int rc = -1;

	cfg_set_error_function(cfg, quiet);
	if (cfg_parse(cfg, path) == CFG_SUCCESS) {
		print_changed(cfg, def, "", out);
		rc = 0;
	}
	cfg_free(cfg);
	cfg_free(def);
	return rc;
}
