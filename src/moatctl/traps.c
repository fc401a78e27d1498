/* SPDX-License-Identifier: ISC */
/*
 * traps.c - moatctl's trap commands that need no daemon, only the secret:
 *   trap decode ADDRESS   who harvested a trap address, and when
 *   bait page --for IP    a bait page with addresses minted for IP (for a
 *                         static web site)
 * SECURITY: reads the secret file (root); ADDRESS is a command argument,
 * checked by trap_verify() like any RCPT.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bait/page.h"
#include "bait/trapaddr.h"
#include "common/mailaddr.h"
#include "conf/conf.h"
#include "moatctl/traps.h"

static int
secret(const struct moat_conf *conf, struct trap_secret *s)
{
	char err[512];

	if (conf->bait.secret_file == NULL) {
		fprintf(stderr, "moatctl: %s has no bait { secret_file }\n", conf->path);
		return -1;
	}
	if (trap_secret_load(conf->bait.secret_file, 0, s, err, sizeof(err)) == -1) {
		fprintf(stderr, "moatctl: %s\n", err);
		return -1;
	}
	return 0;
}

int
trap_decode_cmd(const struct moat_conf *conf, const char *address)
{
	struct trap_secret s;
	struct netaddr h;
	time_t when;
	char local[MAILADDR_LOCAL_MAX + 1], ip[NETADDR_STRLEN], ts[32];
	const char *at = strrchr(address, '@');
	size_t n = at ? (size_t)(at - address) : strlen(address);

	if (secret(conf, &s) == -1)
		return 1;
	if (n >= sizeof(local)) {
		printf("%s: not a trap address\n", address);
		return 1;
	}
	memcpy(local, address, n);
	local[n] = '\0';
	if (!trap_verify(&s, local, conf->limits.bait_max_age, time(NULL), &h, &when)) {
		printf("%s: not a trap address (forged, altered, expired or ordinary)\n",
		       address);
		return 1;
	}
	struct tm tm;
	gmtime_r(&when, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	printf("%s: trap address harvested by %s at %s\n", address,
	       netaddr_str(&h, ip, sizeof(ip)), ts);
	return 0;
}

int
bait_page_cmd(const struct moat_conf *conf, const char *ip)
{
	struct trap_secret s;
	struct netaddr na;
	char *page;

	if (netaddr_parse(&na, ip) == -1) {
		fprintf(stderr, "moatctl: \"%s\" is not an IP address\n", ip);
		return 2;
	}
	if (secret(conf, &s) == -1)
		return 1;
	if ((page = bait_page(&s, &na, time(NULL), conf->bait.domain,
	                      (int)conf->limits.bait_addresses)) == NULL)
		return 1;
	fputs(page, stdout);
	free(page);
	return 0;
}
