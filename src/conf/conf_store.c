/* SPDX-License-Identifier: ISC */
/*
 * conf_store.c - where the state store lives: store = "lmdb" (state_dir,
 * the default) or "redis" with its section (address, password_file, db,
 * prefix, timeout_ms). The Redis password is read from its file here, once,
 * as root may have to (the file should be root's or the run user's, mode
 * 0600 or 0640).
 * SECURITY: administrator's input only; the password file is bounded and
 * checked like a private key (conf_key_file_check).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xmalloc.h"
#include "conf/conf_int.h"

#define PASSWORD_MAX 255

static int
validate_store(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *v = cfg_opt_getnstr(opt, 0);

	if (v != NULL && strcmp(v, "lmdb") != 0 && strcmp(v, "redis") != 0) {
		cfg_error(cfg, "store = \"%s\": lmdb or redis", v);
		return -1;
	}
	return 0;
}

static int
validate_address(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *v = cfg_opt_getnstr(opt, 0), *colon, *bad = NULL;

	if (v == NULL)
		return 0;
	if (v[0] == '/')
		return strlen(v) < 200 ? 0
		                       : (cfg_error(cfg, "address: path too long"), -1);
	colon = strrchr(v, ':');
	if (colon != NULL)
		(void)strtonum(colon + 1, 1, 65535, &bad);
	if (colon == NULL || colon == v || bad != NULL || strlen(v) >= 200) {
		cfg_error(cfg, "address = \"%s\": host:port, [v6]:port or a socket path",
		          v);
		return -1;
	}
	return 0;
}

/* in_range - an integer option between lo and hi */
static int
in_range(cfg_t *cfg, cfg_opt_t *opt, long lo, long hi)
{
	long v = cfg_opt_getnint(opt, 0);

	if (v < lo || v > hi) {
		cfg_error(cfg, "%s = %ld: from %ld to %ld", cfg_opt_name(opt), v, lo, hi);
		return -1;
	}
	return 0;
}

static int
validate_db(cfg_t *cfg, cfg_opt_t *opt)
{
	return in_range(cfg, opt, 0, 15);
}

static int
validate_timeout(cfg_t *cfg, cfg_opt_t *opt)
{
	return in_range(cfg, opt, 10, 60000);
}

static int
validate_prefix(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *v = cfg_opt_getnstr(opt, 0);

	if (v == NULL)
		return 0;
	if (strlen(v) > 48) {
		cfg_error(cfg, "prefix: at most 48 octets");
		return -1;
	}
	for (const char *p = v; *p; p++)
		if (*p < 33 || *p > 126) {
			cfg_error(cfg, "prefix: printable ASCII without spaces");
			return -1;
		}
	return 0;
}

void
conf_store_validators(cfg_t *cfg)
{
	cfg_set_validate_func(cfg, "store", validate_store);
	cfg_set_validate_func(cfg, "redis|address", validate_address);
	cfg_set_validate_func(cfg, "redis|db", validate_db);
	cfg_set_validate_func(cfg, "redis|timeout_ms", validate_timeout);
	cfg_set_validate_func(cfg, "redis|prefix", validate_prefix);
}

/* read_password - the first line of path, without its newline */
static int
read_password(const char *path, char *out, size_t outsz, char *err, size_t errsz)
{
	FILE *f;
	size_t n;

	if (conf_key_file_check(path, err, errsz) == -1)
		return -1;
	if ((f = fopen(path, "r")) == NULL) {
		snprintf(err, errsz, "%s", strerror(errno));
		return -1;
	}
	if (fgets(out, (int)outsz, f) == NULL) {
		out[0] = '\0';
		snprintf(err, errsz, "empty");
		fclose(f);
		return -1;
	}
	fclose(f);
	n = strcspn(out, "\r\n");
	if (out[n] == '\0' && n == outsz - 1) {
		snprintf(err, errsz, "longer than %zu octets", outsz - 2);
		return -1;
	}
	out[n] = '\0';
	return 0;
}

int
conf_store_build(struct moat_conf *c, cfg_t *cfg)
{
	cfg_t *sec = cfg_getsec(cfg, "redis");
	const char *v;

	c->store_redis = strcmp(cfg_getstr(cfg, "store"), "redis") == 0;
	if (!c->store_redis)
		return 0;
	if (sec == NULL || (v = cfg_getstr(sec, "address")) == NULL) {
		cfg_error(cfg, "store = \"redis\" needs a redis section with an address");
		return 1;
	}
	c->redis_address = xstrdup(v);
	c->redis_db = (int)cfg_getint(sec, "db");
	c->redis_prefix = xstrdup(cfg_getstr(sec, "prefix"));
	c->redis_timeout_ms = (unsigned)cfg_getint(sec, "timeout_ms");
	if ((v = cfg_getstr(sec, "password_file")) != NULL) {
		char pw[PASSWORD_MAX + 2], err[200];
		char *file = conf_abs_path(v);
		int rc = read_password(file, pw, sizeof(pw), err, sizeof(err));
		if (rc == -1)
			cfg_error(sec, "password_file = \"%s\": %s", file, err);
		free(file);
		if (rc == -1)
			return 1;
		c->redis_password = xstrdup(pw);
		explicit_bzero(pw, sizeof(pw));
	}
	return 0;
}

void
conf_store_free(struct moat_conf *c)
{
	free(c->redis_address);
	free(c->redis_prefix);
	if (c->redis_password != NULL) {
		explicit_bzero(c->redis_password, strlen(c->redis_password));
		free(c->redis_password);
	}
}
