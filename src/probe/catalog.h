/* SPDX-License-Identifier: ISC */
/*
 * catalog.h - the relay-trick battery.
 *
 * catalog_build() expands the test table for one target: its name (from the
 * greeting or --hostname), its address, its own mail domain, and the
 * external destination (--relay-domain, --relay-literal). catalog_list()
 * prints the table with its placeholders, for --list.
 */
#ifndef MOAT_PROBE_CATALOG_H
#define MOAT_PROBE_CATALOG_H

#include <stdio.h>

#include "probe/probe.h"

struct catalog_params {
	const char *sender;        /* tool-like sender, full address */
	const char *rcpt_local;    /* local part of the external recipient */
	const char *relay_domain;  /* external domain */
	const char *relay_literal; /* external address, as a literal "[..]" */
	const char *srvname;       /* the target's name */
	const char *ip_literal;    /* the target's address as a literal "[..]" */
	const char *domain;        /* the target's own mail domain */
	const char *pattern;       /* fnmatch(3) pattern on ids, or NULL */
};

/* catalog_build - the tests for one target; returns how many (0: none match) */
size_t catalog_build(const struct catalog_params *p, struct probe_test **out);
void catalog_list(FILE *fp);

/* catalog_literal - "[1.2.3.4]" or "[IPv6:...]" for a numeric address */
int catalog_literal(const char *ip, char *buf, size_t bufsz);

/* catalog_domain_of - the mail domain a host name suggests (drop first label) */
void catalog_domain_of(const char *srvname, char *buf, size_t bufsz);

#endif
