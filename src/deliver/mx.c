/* SPDX-License-Identifier: ISC */
/*
 * mx.c - a destination's addresses, in the order to try them.
 *
 * MX destinations follow RFC 5321 §5.1: MX records in preference order
 * (equal preferences shuffled), then each host's A and AAAA records; no MX
 * record means the domain's own A/AAAA ("implicit MX"); a null MX (RFC 7505:
 * a single MX ".") fails at once. MX hosts that are ourselves, and every
 * host at or below our own preference, are dropped (mail loops).
 * Fixed next hops resolve their host name, or use the IP or unix socket.
 * Addresses from MX lookups and recipients' address literals that are
 * private (loopback, RFC 1918, link-local, ULA: netaddr_private) are
 * dropped and logged unless relay_to_private; none left is a bounce.
 * For MX destinations under an MTA-STS policy (RFC 8461 §4.1, mtasts.c),
 * looked up before the MX records: in enforce mode only MX hosts the
 * policy names are kept (the others are logged and skipped; none left
 * defers the mail), and each address carries the mode, which conn.c turns
 * into a TLS condition; in testing mode the mismatch is logged only.
 * Once every address is known, mx_dane.c gives each host its TLS level
 * (mx_tls; under DANE, its TLSA records) before the list is made.
 * Everything runs through the c-ares resolver on the event loop.
 * SECURITY: DNS answers are untrusted; c-ares parses them, names are checked
 * with domain_valid(), and lists are bounded (MX_HOSTS_MAX, ADDRS_MAX).
 */
#include <ares.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>

#include "common/log.h"
#include "common/mailaddr.h"
#include "common/netaddr.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "deliver/dane.h"
#include "deliver/mtasts.h"
#include "deliver/mx_int.h"
#include "deliver/qmgr_int.h"
#include "dns/resolver.h"

static void
result(struct dest *d, enum dstatus st, const char *fmt, const char *arg)
{
	memset(&d->resolve_fail, 0, sizeof(d->resolve_fail));
	d->resolve_fail.status = st;
	strlcpy(d->resolve_fail.relay, d->name, sizeof(d->resolve_fail.relay));
	snprintf(d->resolve_fail.text, sizeof(d->resolve_fail.text), fmt, arg);
}

static void
finish(struct mxctx *x, int ok)
{
	struct dest *d = x->d;
	mx_cb cb = x->cb;

	d->resolving = 0;
	free(x->sts);
	for (size_t i = 0; i < x->nhosts; i++)
		dane_tlsa_unref(x->hosts[i].tlsa);
	free(x);
	cb(d, ok);
}

void
mx_addrs_free(struct dest *d)
{
	for (size_t i = 0; i < d->naddrs; i++)
		dane_tlsa_unref(d->addrs[i].tlsa);
	free(d->addrs);
	d->addrs = NULL;
	d->naddrs = 0;
}

/* set_addrs - d's addresses from now on; their TLSA references move there */
static void
set_addrs(struct dest *d, const struct dest_addr *a, size_t n)
{
	mx_addrs_free(d);
	d->addrs = xcalloc(n ? n : 1, sizeof(*a));
	memcpy(d->addrs, a, n * sizeof(*a));
	d->naddrs = n;
	d->addrs_expire = time(NULL) + ADDR_TTL;
}

static int
host_addr(struct dest_addr *out, const char *host, int family, const void *ip, int port)
{
	memset(out, 0, sizeof(*out));
	strlcpy(out->host, host, sizeof(out->host));
	out->tls = TLS_LEVEL_MAY;
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&out->ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		memcpy(&sin->sin_addr, ip, 4);
		out->len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		memcpy(&sin6->sin6_addr, ip, 16);
		out->len = sizeof(*sin6);
	}
	return 0;
}

/* is_self - one of our own listeners (an MX that points back at us) */
static int
is_self(const struct moat_conf *c, const struct dest_addr *a)
{
	for (size_t i = 0; i < c->nlisteners; i++) {
		const struct listener_conf *l = &c->listeners[i];
		if (l->sslen == a->len && memcmp(&l->ss, &a->ss, a->len) == 0)
			return 1;
	}
	return 0;
}

/*
 * screened - must d's addresses stay out of private space? Those an MX
 * lookup found or a recipient's address literal named do, unless
 * relay_to_private: a DNS record or a sender must not point delivery at
 * this host or the inside network. The operator's next hops may.
 */
static int
screened(const struct dest *d)
{
	return (d->kind == DEST_MX || d->kind == DEST_LITERAL) &&
	       !d->q->conf->relay_to_private;
}

/* private_addr - a's address is private (netaddr_private), as text in buf */
static int
private_addr(const struct dest_addr *a, char *buf, size_t bufsz)
{
	struct netaddr na;

	if (netaddr_from_sockaddr(&na, (const struct sockaddr *)&a->ss) == -1 ||
	    !netaddr_private(&na))
		return 0;
	netaddr_str(&na, buf, bufsz);
	return 1;
}

/* refuse_private - log an address we will not connect to; 1 if refused */
static int
refuse_private(const struct dest *d, const struct dest_addr *a, char *first,
               size_t firstsz)
{
	char ip[NETADDR_STRLEN];

	if (!screened(d) || !private_addr(a, ip, sizeof(ip)))
		return 0;
	log_info("deliver refused destination=%s host=%s address=%s "
	         "reason=private-address",
	         log_escape_str(d->name), log_escape_str(a->host), ip);
	if (first[0] == '\0')
		snprintf(first, firstsz, "%s[%s]", a->host, ip);
	return 1;
}

void
mx_hosts_done(struct mxctx *x)
{
	struct dest *d = x->d;
	struct dest_addr all[ADDRS_MAX];
	char refused[300] = "";
	const char *tlsa_failed = NULL;
	size_t n = 0;
	int temp = 0;

	for (size_t i = 0; i < x->nhosts; i++) {
		struct mxhost *h = &x->hosts[i];
		if (h->st4 == DNS_TEMPFAIL || h->st6 == DNS_TEMPFAIL)
			temp = 1;
		/* RFC 7672 §2.2: no TLSA answer for a secure host, no host */
		if (h->tlsa_failed) {
			if (tlsa_failed == NULL)
				tlsa_failed = h->name;
			continue;
		}
		for (size_t j = 0; j < h->naddrs && n < ADDRS_MAX; j++)
			if (!is_self(d->q->conf, &h->addrs[j]) &&
			    !refuse_private(d, &h->addrs[j], refused, sizeof(refused))) {
				all[n] = h->addrs[j];
				all[n].sts = h->sts;
				all[n].tls = h->tls;
				all[n++].tlsa = dane_tlsa_ref(h->tlsa);
			}
	}
	if (n == 0) {
		char text[400];
		if (tlsa_failed != NULL)
			result(d, DS_DEFER,
			       "4.7.5 TLSA lookup for the mail host %s failed: not used "
			       "(RFC 7672)",
			       tlsa_failed);
		else if (temp)
			result(d, DS_DEFER, "4.4.3 cannot resolve the mail hosts of %s",
			       d->name);
		else if (refused[0] != '\0') {
			/* Like an MX without a usable address, which Postfix
			 * bounces (smtp_defer_if_no_mx_address_found = no): DNS
			 * named only private space; asking again will not help. */
			snprintf(text, sizeof(text),
			         "5.4.4 mail for %s goes only to private addresses "
			         "(%s): refused, relay_to_private is off",
			         d->name, refused);
			result(d, DS_BOUNCE, "%s", text);
		} else
			result(d, DS_BOUNCE,
			       "5.4.4 no usable address for the mail hosts of %s",
			       d->name);
		finish(x, 0);
		return;
	}
	set_addrs(d, all, n);
	finish(x, 1);
}

/*
 * note_cname - h's name was a CNAME: its target, when the chain had one
 * link (c-ares names the first target only; a longer chain keeps the name
 * alone, and its TLSA records, if any, at the name)
 */
static void
note_cname(struct mxhost *h, struct hostent *he)
{
	size_t len;

	if (he == NULL)
		return;
	if (h->cname[0] == '\0' && he->h_name != NULL && he->h_aliases != NULL &&
	    he->h_aliases[0] != NULL && he->h_aliases[1] == NULL) {
		len = strlen(he->h_name);
		if (len > 0 && he->h_name[len - 1] == '.')
			len--;
		if (domain_valid(he->h_name, len) && len < sizeof(h->cname) &&
		    !(strlen(h->name) == len &&
		      strncasecmp(h->name, he->h_name, len) == 0)) {
			memcpy(h->cname, he->h_name, len);
			h->cname[len] = '\0';
		}
	}
	ares_free_hostent(he);
}

struct addrq {
	struct mxctx *x;
	size_t host;
	int family;
};

static void
addr_done(void *arg, enum dns_status st, const unsigned char *abuf, int alen)
{
	struct addrq *aq = arg;
	struct mxctx *x = aq->x;
	struct mxhost *h = &x->hosts[aq->host];
	int port = x->d->port;

	if (st == DNS_OK && !dns_secure(x->d->q->res, abuf, alen))
		h->insecure = 1;
	if (aq->family == AF_INET) {
		h->st4 = st;
		struct ares_addrttl ttls[8];
		struct hostent *he = NULL;
		int n = 8;
		if (st == DNS_OK &&
		    ares_parse_a_reply(abuf, alen, &he, ttls, &n) == ARES_SUCCESS)
			for (int i = 0; i < n && h->naddrs < 8; i++)
				host_addr(&h->addrs[h->naddrs++], h->name, AF_INET,
				          &ttls[i].ipaddr, port);
		note_cname(h, he);
	} else {
		h->st6 = st;
		struct ares_addr6ttl ttls[8];
		struct hostent *he = NULL;
		int n = 8;
		if (st == DNS_OK &&
		    ares_parse_aaaa_reply(abuf, alen, &he, ttls, &n) == ARES_SUCCESS)
			for (int i = 0; i < n && h->naddrs < 8; i++)
				host_addr(&h->addrs[h->naddrs++], h->name, AF_INET6,
				          &ttls[i].ip6addr, port);
		note_cname(h, he);
	}
	free(aq);
	if (--x->pending == 0)
		mx_addrs_done(x);
}

static void
resolve_hosts(struct mxctx *x)
{
	struct resolver *r = x->d->q->res;

	/* The counter covers every query before any can finish. */
	x->pending = (int)x->nhosts * 2 + 1;
	for (size_t i = 0; i < x->nhosts; i++) {
		for (int f = 0; f < 2; f++) {
			struct addrq *aq = xcalloc(1, sizeof(*aq));
			aq->x = x;
			aq->host = i;
			aq->family = f == 0 ? AF_INET : AF_INET6;
			dns_query(r, x->hosts[i].name, f == 0 ? ns_t_a : ns_t_aaaa,
			          addr_done, aq);
		}
	}
	if (--x->pending == 0)
		mx_addrs_done(x);
}

/*
 * sts_filter - the MX hosts an MTA-STS policy allows (RFC 8461 §4.1): in
 * enforce mode the others are dropped, in testing mode they are kept and
 * the would-be failure logged. 0, or -1 when none is left (finished).
 */
static int
sts_filter(struct mxctx *x)
{
	struct dest *d = x->d;
	size_t kept = 0;

	if (x->sts == NULL)
		return 0;
	for (size_t i = 0; i < x->nhosts; i++) {
		struct mxhost *h = &x->hosts[i];
		if (mtasts_mx_match(x->sts, h->name)) {
			h->sts = (int)x->sts->mode;
			x->hosts[kept++] = *h;
			continue;
		}
		if (x->sts->mode == MTASTS_TESTING) {
			mtasts_count(MTASTS_EV_TESTING_FAILED);
			log_info("mta-sts testing: would fail: domain=%s mx=%s "
			         "reason=\"not in the policy\"",
			         log_escape_str(d->name), log_escape_str(h->name));
			h->sts = MTASTS_NONE; /* reported; not checked again */
			x->hosts[kept++] = *h;
			continue;
		}
		mtasts_count(MTASTS_EV_ENFORCE_FAILED);
		log_info("deliver mta-sts domain=%s mx=%s mode=enforce action=skipped "
		         "reason=\"not in the policy\"",
		         log_escape_str(d->name), log_escape_str(h->name));
	}
	x->nhosts = kept;
	if (kept > 0)
		return 0;
	/* never a bounce: the policy or the MX records may be fixed soon */
	result(d, DS_DEFER, "4.7.5 mta-sts: no MX host of %s matches its policy",
	       d->name);
	finish(x, 0);
	return -1;
}

static int
cmp_mx(const void *a, const void *b)
{
	const struct mxhost *x = a, *y = b;
	if (x->pref != y->pref)
		return x->pref - y->pref;
	return x->tiebreak - y->tiebreak;
}

static void
mx_done(void *arg, enum dns_status st, const unsigned char *abuf, int alen)
{
	struct mxctx *x = arg;
	struct dest *d = x->d;
	struct ares_mx_reply *mx = NULL, *p;
	const char *self = d->q->conf->hostname;
	int self_pref = -1;

	if (st == DNS_NXDOMAIN) {
		result(d, DS_BOUNCE, "5.1.2 domain %s does not exist", d->name);
		finish(x, 0);
		return;
	}
	if (st == DNS_TEMPFAIL) {
		result(d, DS_DEFER, "4.4.3 DNS lookup of MX for %s failed", d->name);
		finish(x, 0);
		return;
	}
	/* RFC 7672 §2.2.1: TLSA records count only below a validated MX
	 * RRset, or a validated denial of one (the implicit MX) */
	x->secure = dns_secure(d->q->res, abuf, alen);
	if (st == DNS_OK && ares_parse_mx_reply(abuf, alen, &mx) != ARES_SUCCESS)
		st = DNS_NODATA;
	if (st == DNS_NODATA || mx == NULL) {
		/* RFC 5321 §5.1: no MX, the domain itself is the mail host */
		x->implicit = 1;
		x->nhosts = 1;
		strlcpy(x->hosts[0].name, d->name, sizeof(x->hosts[0].name));
		if (sts_filter(x) == 0)
			resolve_hosts(x);
		return;
	}
	/* RFC 7505: a single MX "." (root) at preference 0 says "no mail". */
	if (mx->next == NULL && (mx->host[0] == '\0' || strcmp(mx->host, ".") == 0)) {
		ares_free_data(mx);
		result(d, DS_BOUNCE, "5.1.10 domain %s accepts no mail (null MX)",
		       d->name);
		finish(x, 0);
		return;
	}
	for (p = mx; p != NULL; p = p->next)
		if (strcasecmp(p->host, self) == 0 &&
		    (self_pref < 0 || p->priority < self_pref))
			self_pref = p->priority;
	for (p = mx; p != NULL && x->nhosts < MX_HOSTS_MAX; p = p->next) {
		size_t len = strlen(p->host);
		if (len > 0 && p->host[len - 1] == '.')
			len--;
		if (!domain_valid(p->host, len))
			continue;
		/* RFC 5321 §5.1: never to ourselves or to hosts we rank above */
		if (self_pref >= 0 && p->priority >= self_pref)
			continue;
		struct mxhost *h = &x->hosts[x->nhosts++];
		memcpy(h->name, p->host, len);
		h->name[len] = '\0';
		h->pref = p->priority;
		h->tiebreak = (int)arc4random_uniform(1 << 16);
	}
	ares_free_data(mx);
	if (x->nhosts == 0) {
		result(d, DS_BOUNCE, "5.4.6 mail for %s loops back to myself", d->name);
		finish(x, 0);
		return;
	}
	if (sts_filter(x) == -1)
		return;
	qsort(x->hosts, x->nhosts, sizeof(x->hosts[0]), cmp_mx);
	resolve_hosts(x);
}

/* sts_done - the domain's MTA-STS policy (or none): now its MX records */
static void
sts_done(void *arg, const struct mtasts_policy *p, int stopping)
{
	struct mxctx *x = arg;

	if (stopping) {
		x->d->resolving = 0;
		free(x);
		return;
	}
	if (p != NULL && p->mode != MTASTS_NONE) {
		x->sts = xmalloc(sizeof(*x->sts));
		*x->sts = *p;
	}
	dns_query(x->d->q->res, x->d->name, ns_t_mx, mx_done, x);
}

void
mx_resolve(struct dest *d, mx_cb cb)
{
	struct mxctx *x = xcalloc(1, sizeof(*x));
	struct dest_addr a;
	struct netaddr na;

	x->d = d;
	x->cb = cb;
	if (d->kind == DEST_MX) {
		/* DANE, where it applies, stands in for MTA-STS (RFC 8461 §2) */
		if (d->q->sts != NULL && !d->dane) {
			mtasts_lookup(d->q->sts, d->name, sts_done, x);
			return;
		}
		dns_query(d->q->res, d->name, ns_t_mx, mx_done, x);
		return;
	}
	/* a fixed next hop */
	if (strncmp(d->name, "unix:", 5) == 0) {
		struct sockaddr_un *sun = (struct sockaddr_un *)&a.ss;
		memset(&a, 0, sizeof(a));
		sun->sun_family = AF_UNIX;
		strlcpy(sun->sun_path, d->name + 5, sizeof(sun->sun_path));
		a.len = sizeof(*sun);
		strlcpy(a.host, d->name, sizeof(a.host));
		set_addrs(d, &a, 1);
		finish(x, 1);
		return;
	}
	if (netaddr_parse(&na, d->name) == 0) {
		char refused[300] = "", text[400];
		host_addr(&a, d->name, na.family, na.addr, d->port);
		/* a recipient's address literal goes where MX mail goes, at
		 * mx_tls; without a name no TLSA can apply (dane: may) */
		if (d->kind == DEST_LITERAL && d->q->conf->mx_tls != TLS_LEVEL_DANE)
			a.tls = d->q->conf->mx_tls;
		if (refuse_private(d, &a, refused, sizeof(refused))) {
			/* The sender named the place: a policy refusal (RFC 3463
			 * 5.7.1), final like Postfix's refusals of a destination. */
			snprintf(text, sizeof(text),
			         "5.7.1 address literal [%s] is a private address: "
			         "refused, relay_to_private is off",
			         d->name);
			result(d, DS_BOUNCE, "%s", text);
			finish(x, 0);
			return;
		}
		set_addrs(d, &a, 1);
		finish(x, 1);
		return;
	}
	x->nhosts = 1;
	strlcpy(x->hosts[0].name, d->name, sizeof(x->hosts[0].name));
	resolve_hosts(x);
}
