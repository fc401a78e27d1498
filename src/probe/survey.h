/* SPDX-License-Identifier: ISC */
/*
 * survey.h - targets: one HOST[:PORT], or a survey file of hosts and CIDR
 * ranges; and the survey's resumable state file.
 *
 * targets_add() appends the hosts one spec names: a numeric address with an
 * optional port ("192.0.2.7", "192.0.2.7:2525", "[2001:db8::7]:25"), a host
 * name (resolved later, see resolve.h), or a CIDR range ("192.0.2.0/28",
 * optionally ":PORT"), which needs the owner's word (--i-own-these) when it
 * holds more than one address. survey_load() reads a file of such specs.
 * state_load() marks hosts an earlier run finished; state_append() records
 * a finished host (one line, flushed and synced).
 * SECURITY: the survey and state files are local, user-supplied text; lines
 * are read with a bounded getline and parsed with the netaddr parsers.
 */
#ifndef MOAT_PROBE_SURVEY_H
#define MOAT_PROBE_SURVEY_H

#include "probe/probe.h"

#define SURVEY_HOSTS_MAX 65536 /* addresses in one run */
#define SURVEY_LINE_MAX  512

struct targets {
	struct probe_host *hosts;
	size_t n, cap;
};

int targets_add(struct targets *t, const char *spec, int default_port, int i_own,
                char *err, size_t errsz);
int survey_load(struct targets *t, const char *path, int default_port, int i_own,
                char *err, size_t errsz);
/* target_set_addr - fill ss/ip/key of h from a numeric address and port */
int target_set_addr(struct probe_host *h, const struct netaddr *na, int port);

int state_load(const char *path, struct probe_host *hosts, size_t n, char *err,
               size_t errsz);
int state_append(const char *path, const struct probe_host *h, int status);

#endif
