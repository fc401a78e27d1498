/* SPDX-License-Identifier: ISC */
/*
 * rcpt_lookup.c - the recipient lookups of one worker (rcpt_lookup.h):
 * one service client (svc_client.c) per domain with a recipient_lookup,
 * and one bounded cache of answers for all of them (the DNS cache's table,
 * under a type no DNS record has).
 * SECURITY: replies are parsed by lookup_proto.c; keys were parsed by
 * mailaddr.c and are refused here if a control octet would reach a
 * line-based protocol.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>

#include "common/log.h"
#include "common/mailaddr.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "dns/dnscache.h"
#include "policy/rcpt_lookup.h"
#include "policy/svc_client.h"

#define CACHE_MAX  10000
#define CACHE_TYPE 65536 /* above every DNS type: never a DNS answer's key */

struct rcpt_lookups {
	const struct moat_conf *conf;
	struct svc **svc; /* per domain, NULL without a lookup */
	struct dnscache *cache;
	unsigned next_id; /* Dovecot's request ids */
};

struct ask {
	struct rcpt_lookups *l;
	const struct domain_conf *d;
	char key[MAILADDR_FMT_MAX];
	unsigned id;
	rcpt_lookup_cb cb;
	void *arg;
};

struct rcpt_lookups *
rcpt_lookups_new(struct event_base *base, const struct moat_conf *conf)
{
	struct rcpt_lookups *l = xcalloc(1, sizeof(*l));

	l->conf = conf;
	l->svc = xcalloc(conf->ndomains + 1, sizeof(*l->svc));
	for (size_t i = 0; i < conf->ndomains; i++) {
		const struct rcpt_lookup_conf *lk = conf->domains[i].lookup;
		if (lk != NULL)
			l->svc[i] =
			    svc_new(base, &lk->svc,
			            lk->kind == LOOKUP_DOVECOT ? &userdb_protocol
			                                       : &socketmap_protocol);
	}
	l->cache = dnscache_new(CACHE_MAX);
	return l;
}

void
rcpt_lookups_stop(struct rcpt_lookups *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->conf->ndomains; i++)
		svc_stop(l->svc[i]);
}

void
rcpt_lookups_free(struct rcpt_lookups *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->conf->ndomains; i++)
		svc_free(l->svc[i]);
	free(l->svc);
	dnscache_free(l->cache);
	free(l);
}

static void
answered(void *arg, const char *reply, size_t len, const char *why)
{
	struct ask *a = arg;
	const struct rcpt_lookup_conf *lk = a->d->lookup;
	enum lookup_status st = LOOKUP_TROUBLE;
	char value[LOOKUP_VALUE_MAX], trouble[LOOKUP_VALUE_MAX + 64];
	int rc = -1;

	value[0] = '\0';
	if (reply != NULL) {
		if (lk->kind == LOOKUP_DOVECOT)
			rc = userdb_reply_parse(reply, len, a->id, &st, value,
			                        sizeof(value));
		else
			rc = socketmap_reply_parse(reply, len, &st, value, sizeof(value));
		if (rc == -1) {
			st = LOOKUP_TROUBLE;
			why = "a reply that is no answer";
		} else if (st == LOOKUP_TROUBLE) {
			snprintf(trouble, sizeof(trouble), "the server says: %s",
			         value[0] != '\0' ? value : "temporary failure");
			why = trouble;
		} else if (lk->cache_ttl > 0) {
			if (st != LOOKUP_FOUND || lk->kind == LOOKUP_DOVECOT)
				value[0] = '\0';
			dnscache_put(a->l->cache, a->key, CACHE_TYPE, (int)st,
			             (const unsigned char *)value, (int)strlen(value) + 1,
			             (unsigned)lk->cache_ttl, time(NULL));
		}
	}
	if (st != LOOKUP_FOUND || lk->kind == LOOKUP_DOVECOT)
		value[0] = '\0';
	a->cb(a->arg, st, value, st == LOOKUP_TROUBLE ? why : NULL);
	free(a);
}

void
rcpt_lookup(struct rcpt_lookups *l, const struct domain_conf *d, const char *key,
            rcpt_lookup_cb cb, void *arg)
{
	size_t i = (size_t)(d - l->conf->domains);
	unsigned char *cached;
	int status, clen;
	struct evbuffer *b;
	struct ask *a;

	if (dnscache_get(l->cache, key, CACHE_TYPE, time(NULL), &status, &cached,
	                 &clen)) {
		/* stored with its NUL */
		cb(arg, (enum lookup_status)status, clen > 0 ? (const char *)cached : "",
		   NULL);
		free(cached);
		return;
	}
	if ((b = evbuffer_new()) == NULL)
		fatalx("recipient lookup: out of memory");
	a = xcalloc(1, sizeof(*a));
	a->l = l;
	a->d = d;
	strlcpy(a->key, key, sizeof(a->key));
	a->cb = cb;
	a->arg = arg;
	if (d->lookup->kind == LOOKUP_SOCKETMAP)
		socketmap_request(b, d->lookup->map, key);
	else {
		if (++l->next_id == 0 || l->next_id > 0x7fffffff)
			l->next_id = 1;
		a->id = l->next_id;
		if (userdb_request(b, a->id, key) == -1) {
			/* no user name of Dovecot's has a control octet */
			evbuffer_free(b);
			free(a);
			cb(arg, LOOKUP_NOTFOUND, "", NULL);
			return;
		}
	}
	svc_ask(l->svc[i], b, answered, a);
}
