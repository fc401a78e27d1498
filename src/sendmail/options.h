/* SPDX-License-Identifier: ISC */
/*
 * options.h - moat-sendmail's command line, as Postfix's sendmail(1)
 * reads it: the options cron, PHP, git and mail(1) use, the others
 * accepted and ignored where Postfix ignores them.
 */
#ifndef MOAT_SM_OPTIONS_H
#define MOAT_SM_OPTIONS_H

#include <stddef.h>

enum sm_mode {
	SM_MODE_DELIVER = 0, /* -bm, the default: a message on standard input */
	SM_MODE_SMTP,        /* -bs: SMTP on standard input and output */
	SM_MODE_QUEUE,       /* -bp, or called mailq: list the queue */
	SM_MODE_NOOP,        /* -bi, -I (newaliases): nothing to do */
};

struct sm_opts {
	enum sm_mode mode;
	int extract;          /* -t: recipients from To, Cc, Bcc as well */
	int dot_ends;         /* no -i / -oi: a line "." ends the message */
	const char *sender;   /* -f / -r, or NULL: the user's address */
	const char *fullname; /* -F, or NULL */
	const char *config;   /* -C, or NULL: MOAT_CONFIG, then the default */
	int verbose;          /* -v: the SMTP dialogue on standard error */
	char **rcpts;         /* the operands: recipient address lists */
	int nrcpts;
};

/*
 * sm_options_parse - argv into o; mailq: argv[0]'s base name is "mailq" or
 * "moat-mailq". 0, or -1 with err set (EX_USAGE). Uses getopt(3): not
 * reentrant.
 */
int sm_options_parse(int argc, char **argv, struct sm_opts *o, char *err, size_t errsz);

#endif
