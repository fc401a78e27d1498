/* SPDX-License-Identifier: ISC */
/*
 * conf_path.c - where the configuration's paths lead: a relative path is
 * taken from the configuration file's directory (not the working
 * directory), so moatd and moatctl find the same files from anywhere;
 * "." and ".." are resolved lexically. And the check of a file that must
 * be private to its owner (a private key, a password file).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/xmalloc.h"
#include "conf/conf.h"
#include "conf/conf_int.h"

/* the directory of the file being parsed (conf_set_base) */
static char *conf_dir;

/*
 * tidy - "/a/./b//../c" → "/a/c" in place, for an absolute path. A ".."
 * is taken lexically: it follows a realpath()ed directory (conf_dir_of())
 * in "../var/spool", and the paths root checks by prefix (pathcheck.c,
 * privsep_inside()) must not hide a directory behind one. Never above "/".
 */
static void
tidy(char *path)
{
	char *out = path, *in = path;

	while (*in != '\0') {
		while (*in == '/')
			in++;
		size_t len = strcspn(in, "/");
		if (len == 0 || (len == 1 && in[0] == '.')) {
			in += len;
		} else if (len == 2 && in[0] == '.' && in[1] == '.') {
			while (out > path && *--out != '/')
				;
			in += len;
		} else {
			*out++ = '/';
			memmove(out, in, len);
			out += len;
			in += len;
		}
	}
	if (out == path)
		*out++ = '/';
	*out = '\0';
}

char *
conf_path_at(const char *dir, const char *p, size_t n)
{
	char *out;

	if ((n > 0 && p[0] == '/') || dir == NULL)
		xasprintf(&out, "%.*s", (int)n, p);
	else
		xasprintf(&out, "%s/%.*s", dir, (int)n, p);
	if (out[0] == '/')
		tidy(out);
	return out;
}

char *
conf_dir_of(const char *path)
{
	char cwd[4096], real[PATH_MAX];
	const char *slash = strrchr(path, '/');
	char *dir, *out;

	/* "moat.conf" is in ".", "/moat.conf" in "/" */
	if (slash == NULL)
		dir = xstrdup(".");
	else
		xasprintf(&dir, "%.*s", slash == path ? 1 : (int)(slash - path), path);
	if (realpath(dir, real) != NULL)
		out = xstrdup(real);
	else if (dir[0] != '/' && getcwd(cwd, sizeof(cwd)) != NULL)
		out = conf_path_at(cwd, dir, strlen(dir));
	else
		out = xstrdup(dir);
	free(dir);
	return out;
}

char *
conf_abs_path(const char *p)
{
	return conf_path_at(conf_dir, p, strlen(p));
}

/* conf_set_base - relative paths from here on are the file path's */
void
conf_set_base(const char *path)
{
	free(conf_dir);
	conf_dir = conf_dir_of(path);
}

const char *
conf_base_dir(void)
{
	return conf_dir;
}

int
conf_key_file_check(const char *path, char *err, size_t errsz)
{
	struct stat st;

	if (stat(path, &st) == -1) {
		snprintf(err, errsz, "key_file \"%s\": %s", path, strerror(errno));
		return -1;
	}
	/* Group read is allowed for Debian's ssl-cert group convention. */
	if (st.st_mode & (S_IROTH | S_IWOTH | S_IWGRP)) {
		snprintf(err, errsz,
		         "key_file \"%s\" is accessible to other users (mode %04o); "
		         "chmod 600 it",
		         path, (unsigned)(st.st_mode & 07777));
		return -1;
	}
	return 0;
}
