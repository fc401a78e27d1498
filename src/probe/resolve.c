/* SPDX-License-Identifier: ISC */
/*
 * resolve.c - A/AAAA lookups for target names (c-ares via dns/resolver.c).
 * SECURITY: DNS answers are parsed by c-ares only (ares_parse_a_reply,
 * ares_parse_aaaa_reply); we copy one fixed-size address out of them.
 */
#include <ares.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "dns/resolver.h"
#include "probe/resolve.h"
#include "probe/survey.h"

#define T_A    1
#define T_AAAA 28

struct lookup {
	struct probe_host *h;
	int type;
};

static struct resolver *res;
static struct moat_conf rconf;
static char *rservers[1];
static int pending;
static void (*done_cb)(void *);
static void *done_arg;

static void answer_cb(void *arg, enum dns_status st, const unsigned char *abuf, int alen);

static void
lookup(struct probe_host *h, int type)
{
	struct lookup *l = xcalloc(1, sizeof(*l));

	l->h = h;
	l->type = type;
	pending++;
	dns_query(res, h->name, type, answer_cb, l);
}

static void
answer_cb(void *arg, enum dns_status st, const unsigned char *abuf, int alen)
{
	struct lookup *l = arg;
	struct probe_host *h = l->h;
	struct netaddr na;

	memset(&na, 0, sizeof(na));
	if (st == DNS_OK && l->type == T_A) {
		struct ares_addrttl a[1];
		int na4 = 1;
		if (ares_parse_a_reply(abuf, alen, NULL, a, &na4) == ARES_SUCCESS &&
		    na4 > 0) {
			na.family = AF_INET;
			memcpy(na.addr, &a[0].ipaddr, 4);
		}
	} else if (st == DNS_OK && l->type == T_AAAA) {
		struct ares_addr6ttl a[1];
		int na6 = 1;
		if (ares_parse_aaaa_reply(abuf, alen, NULL, a, &na6) == ARES_SUCCESS &&
		    na6 > 0) {
			na.family = AF_INET6;
			memcpy(na.addr, &a[0].ip6addr, 16);
		}
	}
	if (na.family != 0)
		target_set_addr(h, &na, h->port);
	else if (l->type == T_A && st != DNS_TEMPFAIL)
		lookup(h, T_AAAA);
	else
		log_warnx("cannot resolve %s", log_escape_str(h->name));
	free(l);
	if (--pending == 0)
		done_cb(done_arg);
}

int
resolve_hosts(struct event_base *base, const char *dns, struct probe_host *hosts,
              size_t n, void (*done)(void *arg), void *arg)
{
	int started = 0;

	done_cb = done;
	done_arg = arg;
	for (size_t i = 0; i < n; i++) {
		if (hosts[i].resolved)
			continue;
		if (res == NULL) {
			rconf.limits.dns_timeout_ms = 3000;
			rconf.limits.dns_attempts = 2;
			if (dns != NULL) {
				rservers[0] = (char *)dns;
				rconf.dns_servers = rservers;
				rconf.ndns_servers = 1;
			}
			res = resolver_new(base, &rconf);
		}
		/* Count the lookup before it starts: its answer may be immediate. */
		pending++;
		lookup(&hosts[i], T_A);
		pending--;
		started++;
	}
	if (started > 0 && pending == 0)
		done(arg);
	return started;
}

void
resolve_free(void)
{
	resolver_free(res);
	res = NULL;
}
