/* SPDX-License-Identifier: ISC */
/*
 * smconf.c - moat-sendmail takes the three settings it needs from
 * moat.conf (smconf.h) through conf_peek(): moatd's own table, so every
 * valid file reads, without conf_load()'s checks of the files it names,
 * which a local user may not read (TLS keys, password files).
 * SECURITY: the file is the administrator's; a local user choosing
 * another with -C or MOAT_CONFIG only chooses which socket to talk to,
 * and moatd still checks who is on the other end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xmalloc.h"
#include "conf/conf.h"
#include "sendmail/smconf.h"

const char *
sm_conf_path(const char *opt)
{
	const char *env = getenv(SM_CONFIG_ENV);

	if (opt != NULL)
		return opt;
	if (env != NULL && env[0] != '\0')
		return env;
	return SM_CONFIG_DEFAULT;
}

int
sm_conf_read(const char *path, struct sm_conf *c)
{
	struct conf_peek p;

	memset(c, 0, sizeof(*c));
	if (conf_peek(path, &p) == -1)
		return -1; /* conf_peek() said why, with file and line */
	c->path = xstrdup(path);
	c->run_dir = p.run_dir;
	c->hostname = p.hostname;
	c->local_submission = p.local_submission;
	return 0;
}

void
sm_conf_free(struct sm_conf *c)
{
	free(c->path);
	free(c->run_dir);
	free(c->hostname);
	memset(c, 0, sizeof(*c));
}
