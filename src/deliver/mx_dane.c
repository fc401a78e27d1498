/* SPDX-License-Identifier: ISC */
/*
 * mx_dane.c - the TLS level of each host of a destination (mx.c), once its
 * addresses are known. mx_tls applies to MX hosts, a fixed next hop's
 * level is its own (conn_tls.c). With mx_tls = dane (RFC 7672 §2.2), a
 * validated (AD) MX RRset, and a host whose address records are validated
 * too, the host's TLSA records at _PORT._tcp.HOST decide its addresses'
 * level: usable ones make it dane, only unusable ones encrypt, none (or an
 * insecure answer) may; a failed TLSA lookup takes the host out (none
 * left: defer). A host name that is a CNAME (one link) has its TLSA
 * records looked up at the target first, then at its own name (§2.2.2);
 * both are reference names.
 * SECURITY: TLSA answers are untrusted; dns/tlsa.c reads them (bounded,
 * fuzzed), and only an answer the validating resolver marked secure
 * counts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "deliver/dane.h"
#include "deliver/mx_int.h"
#include "deliver/qmgr_int.h"
#include "dns/resolver.h"
#include "dns/tlsa.h"

/* tlsa_name - _PORT._tcp.HOST (RFC 7672 §2.2.3 names the TLSA RRset); -1 */
static int
tlsa_name(char *buf, size_t bufsz, int port, const char *host)
{
	int n = snprintf(buf, bufsz, "_%d._tcp.%s", port, host);
	return n < 0 || (size_t)n >= bufsz ? -1 : 0;
}

struct tlsaq {
	struct mxctx *x;
	size_t host;
	int at_cname; /* asked at the CNAME target (h->cname) */
};

static void tlsa_done(void *arg, enum dns_status st, const unsigned char *abuf, int alen);

/* tlsa_ask - the TLSA lookup of host i, at its CNAME target or its name;
 * 0, or -1 if the name is too long for one (no TLSA can exist there) */
static int
tlsa_ask(struct mxctx *x, size_t i, int at_cname)
{
	struct mxhost *h = &x->hosts[i];
	char name[MAILADDR_DOMAIN_MAX + 32];
	struct tlsaq *tq;

	if (tlsa_name(name, sizeof(name), x->d->port, at_cname ? h->cname : h->name) ==
	    -1)
		return -1;
	tq = xcalloc(1, sizeof(*tq));
	tq->x = x;
	tq->host = i;
	tq->at_cname = at_cname;
	dns_query(x->d->q->res, name, DNS_TYPE_TLSA, tlsa_done, tq);
	return 0;
}

/* tlsa_done - a secure host's TLSA answer decides its level (RFC 7672 §2.2) */
static void
tlsa_done(void *arg, enum dns_status st, const unsigned char *abuf, int alen)
{
	struct tlsaq *tq = arg;
	struct mxctx *x = tq->x;
	struct mxhost *h = &x->hosts[tq->host];
	const char *what = "none";
	int nrecs = 0;

	/* RFC 7672 §2.2.2: nothing secure at the CNAME target: the name itself */
	if (tq->at_cname && st != DNS_TEMPFAIL &&
	    (st != DNS_OK || !dns_secure(x->d->q->res, abuf, alen))) {
		free(tq);
		if (tlsa_ask(x, (size_t)(h - x->hosts), 0) == 0)
			return; /* the pending count carries over to that lookup */
		if (--x->pending == 0)
			mx_hosts_done(x);
		return;
	}
	if (st == DNS_TEMPFAIL) {
		h->tlsa_failed = 1;
		what = "lookup-failed";
	} else if (st == DNS_OK && !dns_secure(x->d->q->res, abuf, alen))
		what = "insecure"; /* §2.2: as if there were none */
	else if (st == DNS_OK) {
		/* base domain: the name the records were found at; the other
		 * is a reference name too (§3.2.2) */
		h->tlsa = tq->at_cname
		              ? dane_tlsa_new(h->cname, h->name, abuf, alen, &nrecs)
		              : dane_tlsa_new(h->name, h->cname[0] ? h->cname : NULL,
		                              abuf, alen, &nrecs);
		if (h->tlsa != NULL) {
			h->tls = TLS_LEVEL_DANE;
			what = "usable";
		} else if (nrecs > 0) {
			/* §2.2: TLS, but nothing to authenticate it with */
			h->tls = TLS_LEVEL_ENCRYPT;
			what = "unusable";
		} else if (nrecs < 0) {
			h->tlsa_failed = 1;
			what = "malformed";
		}
	}
	log_info("deliver dane destination=%s host=%s%s%s tlsa=%s records=%zu level=%s",
	         log_escape_str(x->d->name), log_escape_str(h->name),
	         tq->at_cname ? " cname=" : "",
	         tq->at_cname ? log_escape_str(h->cname) : "", what,
	         dane_tlsa_count(h->tlsa),
	         h->tls == TLS_LEVEL_DANE      ? "dane"
	         : h->tls == TLS_LEVEL_ENCRYPT ? "encrypt"
	                                       : "may");
	free(tq);
	if (--x->pending == 0)
		mx_hosts_done(x);
}

/*
 * mx_addrs_done - every address is known; with mx_tls = dane and a secure MX
 * answer, each host whose addresses are secure too has its TLSA records
 * looked up before the list is made (RFC 7672 §2.2); the others are at may
 */
void
mx_addrs_done(struct mxctx *x)
{
	struct dest *d = x->d;
	enum tls_level mx_tls = d->q->conf->mx_tls;

	/* mx_tls is for MX hosts; a fixed next hop's level is its own */
	for (size_t i = 0; i < x->nhosts; i++)
		x->hosts[i].tls = d->kind != DEST_MX || mx_tls == TLS_LEVEL_DANE
		                      ? TLS_LEVEL_MAY
		                      : mx_tls;
	if (mx_tls != TLS_LEVEL_DANE || d->kind != DEST_MX || !x->secure) {
		if (mx_tls == TLS_LEVEL_DANE && d->kind == DEST_MX)
			log_info("deliver dane destination=%s mx=insecure level=may",
			         log_escape_str(d->name));
		mx_hosts_done(x);
		return;
	}
	x->pending = 1;
	for (size_t i = 0; i < x->nhosts; i++) {
		struct mxhost *h = &x->hosts[i];
		if (h->naddrs == 0 || h->insecure)
			continue;
		/* counted first: the lookup may be a cached answer */
		x->pending++;
		if ((h->cname[0] == '\0' || tlsa_ask(x, i, 1) == -1) &&
		    tlsa_ask(x, i, 0) == -1)
			x->pending--;
	}
	if (--x->pending == 0)
		mx_hosts_done(x);
}
