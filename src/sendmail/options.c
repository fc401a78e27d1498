/* SPDX-License-Identifier: ISC */
/*
 * options.c - moat-sendmail's command line (options.h), after Postfix's
 * sendmail(1): -t, -i/-oi, -f/-r, -F, -C, -bm, -bs, -bp, -bi/-I, -v; the
 * options Postfix ignores or that only change its own delivery (-B, -N,
 * -R, -V, -X, -L, -h, -G, -U, -m, -n, -c, -e, -x, -p, -O, -oX... but -oi)
 * are taken and ignored, so a program written for sendmail works.
 * SECURITY: the arguments of any local user. Nothing is copied: the
 * values point into argv; the address lists are read later by
 * sm_addrlist_parse() with its bounds.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "sendmail/options.h"

/* getopt(3) letters: Postfix's sendmail's set */
#define SM_OPTSTRING ":B:C:F:GIL:N:O:R:UV:X:b:ce:f:h:imno:p:q::r:tvx"

/* base_is - argv[0]'s base name is name */
static int
base_is(const char *argv0, const char *name)
{
	const char *slash = strrchr(argv0, '/');
	return strcmp(slash ? slash + 1 : argv0, name) == 0;
}

static int
usage_err(char *err, size_t errsz, const char *fmt, const char *arg)
{
	snprintf(err, errsz, fmt, arg);
	return -1;
}

/* b_mode - -bX: the mode X names */
static int
b_mode(struct sm_opts *o, const char *arg, char *err, size_t errsz)
{
	if (strcmp(arg, "m") == 0)
		o->mode = SM_MODE_DELIVER;
	else if (strcmp(arg, "s") == 0)
		o->mode = SM_MODE_SMTP;
	else if (strcmp(arg, "p") == 0)
		o->mode = SM_MODE_QUEUE;
	else if (strcmp(arg, "i") == 0)
		o->mode = SM_MODE_NOOP;
	else
		return usage_err(err, errsz,
		                 "-b%s is not supported (only -bm, -bs, -bp and -bi)",
		                 arg);
	return 0;
}

int
sm_options_parse(int argc, char **argv, struct sm_opts *o, char *err, size_t errsz)
{
	int c;

	memset(o, 0, sizeof(*o));
	o->dot_ends = 1;
	if (argc > 0 && (base_is(argv[0], "mailq") || base_is(argv[0], "moat-mailq")))
		o->mode = SM_MODE_QUEUE;
	optind = 0; /* glibc: start over, as for a new argv */
	opterr = 0;
	while ((c = getopt(argc, argv, SM_OPTSTRING)) != -1) {
		switch (c) {
		case 'b':
			if (b_mode(o, optarg, err, errsz) == -1)
				return -1;
			break;
		case 'C':
			o->config = optarg;
			break;
		case 'F':
			o->fullname = optarg;
			break;
		case 'f':
		case 'r': /* the old name of -f */
			o->sender = optarg;
			break;
		case 'I':
			o->mode = SM_MODE_NOOP;
			break;
		case 'i':
			o->dot_ends = 0;
			break;
		case 'o':
			/* -oi as -i; -oem, -odb, -oA... change nothing here */
			if (strcmp(optarg, "i") == 0)
				o->dot_ends = 0;
			break;
		case 'q':
			return usage_err(
			    err, errsz,
			    "-q%s is not supported: moatd runs its queue itself "
			    "(moatctl queue retry)",
			    optarg ? optarg : "");
		case 't':
			o->extract = 1;
			break;
		case 'v':
			o->verbose = 1;
			break;
		case ':':
			snprintf(err, errsz, "option -%c needs an argument", optopt);
			return -1;
		case '?':
			snprintf(err, errsz, "unknown option -%c", optopt);
			return -1;
		default:
			/* -B -N -R -V -X -L -h -O -p -e: their argument is
			 * ignored, as are -G -U -c -m -n -x */
			break;
		}
	}
	o->rcpts = argv + optind;
	o->nrcpts = argc - optind;
	return 0;
}
