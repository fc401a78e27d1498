/* SPDX-License-Identifier: ISC */
/*
 * smconf.h - what moat-sendmail needs of moat.conf: run_dir (where the
 * local submission socket and the control socket are) and hostname (the
 * domain of a local user's address).
 */
#ifndef MOAT_SM_CONF_H
#define MOAT_SM_CONF_H

#include <stddef.h>

#define SM_CONFIG_DEFAULT "/etc/moat/moat.conf"
#define SM_CONFIG_ENV     "MOAT_CONFIG"

struct sm_conf {
	char *path;
	char *run_dir;  /* absolute */
	char *hostname; /* as moatd takes it: the setting, or gethostname() */
	int local_submission;
};

/* sm_conf_path - -C's file, else $MOAT_CONFIG, else SM_CONFIG_DEFAULT */
const char *sm_conf_path(const char *opt);
/* sm_conf_read - 0, or -1 after "file:line: problem" on stderr: the file
 * cannot be read or is no moat.conf; its other settings are not checked
 * (moatd -n does that) */
int sm_conf_read(const char *path, struct sm_conf *c);
void sm_conf_free(struct sm_conf *c);

#endif
