/* SPDX-License-Identifier: ISC */
/*
 * pathcheck.c - every configured path root works with, checked against the
 * run user before root touches it: `moatd -n` prints the problems, a start
 * refuses them, a reload keeps the running configuration.
 *
 * Files root reads for the workers (the trap secret, the TLS certificate
 * and key, access lists, users files, next hops' auth_file) and the
 * password file must be
 * reached through directories the run user cannot write, must not be
 * writable by it, and must not lie in the user's directories (spool_dir,
 * mail_dir, state_dir); the secret and the key must be root's alone.
 * spool_dir and run_dir are root's, so their parents must be too. With
 * chroot = true the Dovecot socket must be under spool_dir, the SMTP
 * workers' root. The line of each key is found by reading the file again:
 * access lists and users files are not kept in struct moat_conf, so those
 * keys are taken from that reading too (the real parse has accepted them),
 * their values made absolute as conf.c does (against the file's directory).
 * SECURITY: paths come from root's configuration; the file system under
 * them may be the run user's. Only looks, through safefile.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/safefile.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "moatd/pathcheck.h"
#include "moatd/privsep.h"

enum kind {
	ROOT_READ,   /* root reads it */
	ROOT_SECRET, /* root reads it, and it is root's alone */
	ROOT_DIR,    /* a directory root owns */
};

struct check {
	const struct moat_conf *c;
	char *text; /* the configuration file, NUL-terminated, or NULL */
	void (*report)(const char *, void *);
	void *arg;
	int problems;
};

/*
 * scan - the n-th `key = "value"` of the file (0-based): its line and its
 * value made absolute; 0 when there is none. Comments are skipped.
 */
static int
scan(const struct check *k, const char *key, int nth, char **value)
{
	size_t klen = strlen(key);
	int line = 1;

	if (value != NULL)
		*value = NULL;
	for (const char *p = k->text; p != NULL && *p; line++) {
		const char *eol = strchr(p, '\n');
		const char *end = eol ? eol : p + strlen(p);
		for (const char *q = p; q + klen <= end; q++) {
			if (*q == '#')
				break;
			if (*q == '"') { /* a string: no key inside it */
				const char *close =
				    memchr(q + 1, '"', (size_t)(end - q - 1));
				if (close == NULL)
					break;
				q = close;
				continue;
			}
			if (strncmp(q, key, klen) != 0 ||
			    (q > p && (q[-1] == '_' || (q[-1] >= 'a' && q[-1] <= 'z'))))
				continue;
			const char *v = q + klen;
			while (v < end && (*v == ' ' || *v == '\t'))
				v++;
			if (v >= end || *v != '=')
				continue;
			v++;
			while (v < end && (*v == ' ' || *v == '\t'))
				v++;
			if (v >= end || *v != '"')
				continue;
			const char *close = memchr(v + 1, '"', (size_t)(end - v - 1));
			if (close == NULL)
				continue;
			if (nth-- > 0) {
				q = close;
				continue;
			}
			if (value != NULL)
				*value = conf_path_at(k->c->dir, v + 1,
				                      (size_t)(close - v - 1));
			return line;
		}
		p = eol ? eol + 1 : NULL;
	}
	return 0;
}

/* line_of - the line that sets key to path (else the first setting key), or 0 */
static int
line_of(const struct check *k, const char *key, const char *path)
{
	int first = 0, line;
	char *v;

	for (int i = 0; (line = scan(k, key, i, &v)) > 0; i++) {
		int same = strcmp(v, path) == 0;
		free(v);
		if (same)
			return line;
		if (first == 0)
			first = line;
	}
	return first;
}

static void __attribute__((format(printf, 5, 6)))
problem(struct check *k, const char *section, const char *key, const char *path,
        const char *fmt, ...)
{
	char why[1200], line[2048];
	va_list ap;
	int n = line_of(k, key, path);

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (n > 0)
		snprintf(line, sizeof(line), "%s:%d: %s%s%s \"%s\": %s", k->c->path, n,
		         section, section[0] ? ": " : "", key, path, why);
	else
		snprintf(line, sizeof(line), "%s: %s%s%s \"%s\": %s", k->c->path, section,
		         section[0] ? ": " : "", key, path, why);
	k->report(line, k->arg);
	k->problems++;
}

/* users_dir - the run user's directory path is in ("spool_dir", ...), or NULL */
static const char *
users_dir(const struct moat_conf *c, const char *path, const char **dir)
{
	const char *names[] = {"spool_dir", "mail_dir", "state_dir"};
	const char *dirs[] = {c->spool_dir, c->mail_dir, c->state_dir};

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		char *in = privsep_inside(dirs[i], path);
		if (in != NULL) {
			free(in);
			*dir = dirs[i];
			return names[i];
		}
	}
	return NULL;
}

static void
one(struct check *k, const char *section, const char *key, const char *path,
    enum kind kind)
{
	char err[1200], name[256];
	const char *dir, *which;
	struct stat st;
	int fd;

	if (path == NULL)
		return;
	if (kind == ROOT_DIR) {
		fd = safe_dir(path, SAFE_STRICT, 0, NULL, err, sizeof(err));
		if (fd == -1 && errno == ENOENT) /* made at start: its parent counts */
			fd = safe_parent(path, SAFE_STRICT, name, sizeof(name), err,
			                 sizeof(err));
	} else {
		fd =
		    safe_open(path, SAFE_STRICT | (kind == ROOT_SECRET ? SAFE_SECRET : 0),
		              &st, err, sizeof(err));
		if (fd == -1 && errno == ENOENT) /* made at start, or reported already */
			fd = safe_parent(path, SAFE_STRICT, name, sizeof(name), err,
			                 sizeof(err));
	}
	if (fd != -1)
		close(fd);
	else if (errno != ENOENT) {
		problem(k, section, key, path, "%s", err);
		return;
	}
	if (safe_distrusted() == NULL ||
	    (kind == ROOT_DIR && strcmp(key, "spool_dir") == 0))
		return;
	if ((which = users_dir(k->c, path, &dir)) != NULL)
		problem(k, section, key, path, "inside %s (%s), which user %s can write",
		        which, dir, safe_distrusted());
}

/* listed - the keys struct moat_conf does not keep: each setting in the file */
static void
listed(struct check *k, const char *section, const char *key)
{
	char *v;

	for (int i = 0; scan(k, key, i, &v) > 0; i++) {
		one(k, section, key, v, ROOT_READ);
		free(v);
	}
}

static char *
slurp(const char *path)
{
	char err[1200];
	struct stat st;
	char *buf;
	int fd;

	if ((fd = safe_open(path, 0, &st, err, sizeof(err))) == -1)
		return NULL;
	if (st.st_size > 16 * 1024 * 1024) {
		close(fd);
		return NULL;
	}
	buf = xmalloc((size_t)st.st_size + 1);
	ssize_t n = read(fd, buf, (size_t)st.st_size);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

int
pathcheck_conf(const struct moat_conf *c, void (*report)(const char *, void *), void *arg)
{
	struct check k = {c, NULL, report, arg, 0};
	const char *base;
	char *conf;

	privsep_distrust(c);
	k.text = slurp(c->path);
	/* the file itself, where its directory really is */
	base = strrchr(c->path, '/') != NULL ? strrchr(c->path, '/') + 1 : c->path;
	conf = conf_path_at(c->dir, base, strlen(base));
	one(&k, "", "configuration file", conf, ROOT_READ);
	free(conf);
	one(&k, "", "spool_dir", c->spool_dir, ROOT_DIR);
	one(&k, "", "run_dir", c->run_dir, ROOT_DIR);
	one(&k, "bait", "secret_file", c->bait.secret_file, ROOT_SECRET);
	one(&k, "srs", "secret_file", c->srs_secret_file, ROOT_SECRET);
	one(&k, "tls", "cert_file", c->tls_cert_file, ROOT_READ);
	one(&k, "tls", "key_file", c->tls_key_file, ROOT_SECRET);
	for (size_t i = 1; i < c->ntls_certs; i++) {
		one(&k, "tls", "cert_file", c->tls_certs[i].cert_file, ROOT_READ);
		one(&k, "tls", "key_file", c->tls_certs[i].key_file, ROOT_SECRET);
	}
	one(&k, "auth", "password_file", c->auth_password_file, ROOT_READ);
	/* next hops' logins (conf_nexthop.c), read by root at load */
	one(&k, "relayhost", "auth_file", c->relayhost_tls.auth_file, ROOT_SECRET);
	for (size_t i = 0; i < c->ndomains; i++)
		one(&k, "domain", "auth_file", c->domains[i].nexthop.auth_file,
		    ROOT_SECRET);
	listed(&k, "screen", "client_access");
	listed(&k, "screen", "helo_access");
	listed(&k, "screen", "sender_access");
	listed(&k, "domain", "users_file");
	if (c->chroot && c->auth_dovecot_socket != NULL) {
		char *in = privsep_inside(c->spool_dir, c->auth_dovecot_socket);
		if (in == NULL)
			problem(
			    &k, "auth", "dovecot_socket", c->auth_dovecot_socket,
			    "is outside spool_dir (%s), the root of the chrooted SMTP "
			    "workers: have Dovecot listen under it, or set chroot = "
			    "false",
			    c->spool_dir);
		free(in);
	}
	free(k.text);
	return k.problems;
}
