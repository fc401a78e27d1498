/* SPDX-License-Identifier: ISC */
/*
 * greylist.c - greylisting at RCPT: the first attempt of a (client
 * network, sender, recipient) triplet gets 451 4.7.1; a retry after
 * greylist_delay and within greylist_window passes, and the client network
 * (/24, or /64 for IPv6) is then known for greylist_pass_ttl and not
 * greylisted again. Skipped for trusted networks, authenticated users,
 * allowlisted and DNSWL-listed clients, and (greylist_skip_clean) clients
 * with a forward-confirmed name and no DNSBL score.
 * Store keys: "greyok:NET", and "grey:" + SHA-256 of the triplet, whose
 * value is the time of the first attempt (TTL greylist_window).
 * SECURITY: the triplet is client data; it is hashed, never stored as text.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/log.h"
#include "conf/conf.h"
#include "policy/stages.h"
#include "store/store.h"

static void
net_key(const struct policy_client *cl, char *buf, size_t bufsz)
{
	struct netaddr n = cl->addr;
	char s[NETADDR_STRLEN];

	netaddr_mask(&n, n.family == AF_INET ? 24 : 64);
	snprintf(buf, bufsz, "greyok:%s/%d", netaddr_str(&n, s, sizeof(s)),
	         n.family == AF_INET ? 24 : 64);
}

static void
triplet_key(const struct policy_check *chk, char *buf, size_t bufsz)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char net[96];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	net_key(&chk->req.client, net, sizeof(net));
	if (ctx != NULL) {
		EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
		EVP_DigestUpdate(ctx, net, strlen(net) + 1);
		EVP_DigestUpdate(ctx, chk->req.sender, strlen(chk->req.sender) + 1);
		EVP_DigestUpdate(ctx, chk->req.rcpt, strlen(chk->req.rcpt));
		EVP_DigestFinal_ex(ctx, md, &mdlen);
		EVP_MD_CTX_free(ctx);
	}
	size_t n = (size_t)snprintf(buf, bufsz, "grey:");
	for (unsigned i = 0; i < mdlen && n + 3 <= bufsz; i++)
		n += (size_t)snprintf(buf + n, bufsz - n, "%02x", md[i]);
}

static void
greylisted(struct policy_check *chk, long wait)
{
	policy_detail(chk, "retry-in=%lds", wait);
	policy_stop(
	    chk, VERDICT_TEMPFAIL, 451, "4.7.1", "greylist",
	    "<%s>: Recipient address rejected: Greylisted, try again in %ld seconds",
	    chk->req.rcpt, wait);
}

/* first_put - the first attempt is on record: ask for the retry; a store
 * that cannot keep it must not make every retry the first (fail open) */
static void
first_put(enum store_status st, void *arg)
{
	struct policy_check *chk = arg;

	if (st != STORE_OK) {
		policy_store_trouble(chk->p, "greylist record");
		policy_detail(chk, "greylist=skipped (store)");
		policy_next(chk);
		return;
	}
	greylisted(chk, policy_conf(chk->p)->limits.greylist_delay);
}

/* passed_put - the pass is on record (or the store failed: it passes all
 * the same, fail open) */
static void
passed_put(enum store_status st, void *arg)
{
	struct policy_check *chk = arg;

	if (st != STORE_OK)
		policy_store_trouble(chk->p, "greylist pass record");
	policy_next(chk);
}

static void
triplet_done(enum store_status st, const void *val, size_t len, time_t expires, void *arg)
{
	struct policy_check *chk = arg;
	const struct moat_conf *c = policy_conf(chk->p);
	struct store *s = policy_store(chk->p);
	int64_t now = store_now(s) / 1000;
	char key[96], buf[24];

	if (st == STORE_ERROR) {
		policy_store_trouble(chk->p, "greylist lookup");
		policy_next(chk);
		return;
	}
	if (st == STORE_NOT_FOUND) {
		/* first attempt: remember when, and ask for a retry */
		triplet_key(chk, key, sizeof(key));
		int n = snprintf(buf, sizeof(buf), "%lld", (long long)now);
		store_put(s, key, buf, (size_t)n, (uint32_t)c->limits.greylist_window,
		          first_put, chk);
		return;
	}
	size_t n = len < sizeof(buf) - 1 ? len : sizeof(buf) - 1;
	memcpy(buf, val, n);
	buf[n] = '\0';
	long long first = strtoll(buf, NULL, 10);
	if (now - first < c->limits.greylist_delay) {
		greylisted(chk, (long)(c->limits.greylist_delay - (now - first)));
		return;
	}
	/* it came back in time: the network is known from now on, on record
	 * before the client hears it (its next retry may reach another MX
	 * sharing the store within a millisecond) */
	char passed[64];
	snprintf(passed, sizeof(passed), "passed after %llds", (long long)(now - first));
	policy_detail(chk, "greylist=%s", log_escape_str(passed));
	triplet_key(chk, key, sizeof(key));
	store_del(s, key, NULL, NULL);
	net_key(&chk->req.client, key, sizeof(key));
	store_put(s, key, "1", 1, (uint32_t)c->limits.greylist_pass_ttl, passed_put, chk);
}

static void
net_done(enum store_status st, const void *val, size_t len, time_t expires, void *arg)
{
	struct policy_check *chk = arg;
	char key[96];

	if (st == STORE_ERROR) {
		policy_store_trouble(chk->p, "greylist lookup");
		policy_next(chk);
		return;
	}
	if (st == STORE_OK) {
		policy_next(chk);
		return;
	}
	triplet_key(chk, key, sizeof(key));
	store_get(policy_store(chk->p), key, triplet_done, chk);
}

static void
greylist_run(struct policy_check *chk)
{
	const struct moat_conf *c = policy_conf(chk->p);
	const struct policy_client *cl = &chk->req.client;
	char key[96];

	if (!c->screen.greylist || chk->req.rcpt_unknown ||
	    (cl->flags & (PC_TRUSTED | PC_AUTHED | PC_ALLOWLISTED | PC_DNSWL)) ||
	    (c->screen.greylist_skip_clean && (cl->flags & PC_FCRDNS) && cl->score <= 0 &&
	     c->screen.ndnsbl > 0)) {
		policy_next(chk);
		return;
	}
	net_key(cl, key, sizeof(key));
	store_get(policy_store(chk->p), key, net_done, chk);
}

const struct stage stage_greylist = {"greylist", 1u << HOOK_RCPT, greylist_run};
