/* SPDX-License-Identifier: ISC */
/*
 * conf_srs.c - the srs section: the domain of rewritten senders, the
 * secrets (postsrsd's file: one a line, the first signs, all are tried
 * when a bounce comes back), the separator and how many days a rewritten
 * address is honoured. The secrets are read here, as root may have to,
 * and the children inherit them in memory.
 * SECURITY: administrator's input only; the secret file must not be
 * readable by other users, its lines are bounded.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/xmalloc.h"
#include "conf/conf_int.h"

#define SECRET_MAX     255
#define SECRET_MIN_LEN 16 /* the signing one: postsrsd's Debian setup makes 24 */

static int
validate_srs(cfg_t *cfg, cfg_opt_t *opt)
{
	cfg_t *sec = cfg_opt_getnsec(opt, cfg_opt_size(opt) - 1);
	const char *dom = cfg_getstr(sec, "domain"), *sep = cfg_getstr(sec, "separator");
	long age = cfg_getint(sec, "max_age");

	if (dom == NULL || dom[0] == '\0' || strlen(dom) > 200 ||
	    strspn(dom,
	           "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") !=
	        strlen(dom) ||
	    strchr(dom, '.') == NULL) {
		cfg_error(cfg,
		          "srs: domain = \"%s\": a domain name is needed (where bounces "
		          "to rewritten senders come back)",
		          dom != NULL ? dom : "");
		return -1;
	}
	if (cfg_getstr(sec, "secret_file") == NULL) {
		cfg_error(cfg, "srs: a secret_file is needed");
		return -1;
	}
	if (strlen(sep) != 1 || strchr("=+-", sep[0]) == NULL) {
		cfg_error(cfg, "srs: separator = \"%s\": one of = + -", sep);
		return -1;
	}
	if (age < 1 || age > 365) {
		cfg_error(cfg, "srs: max_age = %ld: from 1 to 365 days", age);
		return -1;
	}
	return 0;
}

void
conf_srs_validators(cfg_t *cfg)
{
	cfg_set_validate_func(cfg, "srs", validate_srs);
}

/* load_secrets - path's lines into srs (the file's own errors as
 * path:line) */
static int
load_secrets(const char *path, struct srs *srs)
{
	char line[SECRET_MAX + 3];
	struct stat st;
	FILE *f;
	int lineno = 0, bad = 0;

	if ((f = fopen(path, "r")) == NULL || fstat(fileno(f), &st) == -1) {
		fprintf(stderr, "%s: srs secret_file: %s\n", path, strerror(errno));
		if (f != NULL)
			fclose(f);
		return -1;
	}
	if (st.st_mode & (S_IROTH | S_IWOTH | S_IWGRP)) {
		fprintf(stderr,
		        "%s: srs secret_file is accessible to other users (mode %04o); "
		        "chmod 600 it\n",
		        path, (unsigned)(st.st_mode & 07777));
		fclose(f);
		return -1;
	}
	while (!bad && fgets(line, sizeof(line), f) != NULL) {
		size_t n = strcspn(line, "\r\n");
		lineno++;
		if (line[n] == '\0' && !feof(f)) {
			fprintf(stderr, "%s:%d: a secret longer than %d octets\n", path,
			        lineno, SECRET_MAX);
			bad = 1;
			break;
		}
		line[n] = '\0';
		if (n == 0)
			continue;
		if (srs->nsecrets == SRS_SECRETS_MAX) {
			fprintf(stderr, "%s:%d: more than %d secrets\n", path, lineno,
			        SRS_SECRETS_MAX);
			bad = 1;
		} else if (srs->nsecrets == 0 && n < SECRET_MIN_LEN) {
			fprintf(
			    stderr,
			    "%s:%d: the signing secret (the first) has %zu octets, fewer "
			    "than %d: anyone could forge bounces to it\n",
			    path, lineno, n, SECRET_MIN_LEN);
			bad = 1;
		} else
			srs->secrets[srs->nsecrets++] = xstrdup(line);
	}
	explicit_bzero(line, sizeof(line));
	fclose(f);
	if (!bad && srs->nsecrets == 0) {
		fprintf(stderr, "%s: srs secret_file holds no secret\n", path);
		bad = 1;
	}
	return bad ? -1 : 0;
}

int
conf_srs_build(struct moat_conf *c, cfg_t *cfg)
{
	cfg_t *sec = cfg_getsec(cfg, "srs");
	struct srs *srs;

	/* libconfuse gives a section that was not written its defaults: no
	 * domain is no srs section (validate_srs() wants one in a written one) */
	if (sec == NULL || cfg_getstr(sec, "domain") == NULL)
		return 0;
	srs = xcalloc(1, sizeof(*srs));
	c->srs = srs;
	c->srs_domain = xstrdup(cfg_getstr(sec, "domain"));
	c->srs_secret_file = conf_abs_path(cfg_getstr(sec, "secret_file"));
	srs->domain = c->srs_domain;
	srs->sep = cfg_getstr(sec, "separator")[0];
	srs->max_age = (int)cfg_getint(sec, "max_age");
	return load_secrets(c->srs_secret_file, srs) == -1 ? 1 : 0;
}

void
conf_srs_free(struct moat_conf *c)
{
	if (c->srs != NULL) {
		for (size_t i = 0; i < c->srs->nsecrets; i++) {
			explicit_bzero(c->srs->secrets[i], strlen(c->srs->secrets[i]));
			free(c->srs->secrets[i]);
		}
		free(c->srs);
	}
	free(c->srs_domain);
	free(c->srs_secret_file);
}
