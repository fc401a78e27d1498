/* SPDX-License-Identifier: ISC */
/*
 * ban.c - the connect stage for what the store says about a client:
 * "allow:KEY" (moatctl allow: past every screening stage), "ban:KEY" (a
 * ban with a reason and an end: moatctl ban, harvesting, spamtraps once
 * published), "trapban:KEY" (a spamtrap's ban that is not published, see
 * trap.c), and "early:KEY" (it talked before our greeting recently).
 * SECURITY: keys are built from the kernel's peer address; values are our
 * own reason strings, shown only in logs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "conf/conf.h"
#include "policy/stages.h"
#include "store/store.h"

#define REASON_MAX 200

static void ban_early(struct policy_check *chk);

static void
copy_reason(char *dst, size_t dstsz, const void *val, size_t len)
{
	size_t n = len < dstsz - 1 ? len : dstsz - 1;
	memcpy(dst, val, n);
	dst[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)dst[i] < 32 || (unsigned char)dst[i] > 126)
			dst[i] = '?';
}

static void
early_done(enum store_status st, const void *val, size_t len, time_t expires, void *arg)
{
	struct policy_check *chk = arg;

	if (st == STORE_ERROR) {
		policy_tempfail(chk, "store", "early-talker lookup failed");
		return;
	}
	if (st == STORE_OK) {
		policy_detail(chk, "remembered-until=%lld", (long long)expires);
		policy_stop(
		    chk, VERDICT_PERMFAIL, 554, "5.7.1", "early-talker",
		    "Protocol error: you talked before our greeting; try again later");
		return;
	}
	policy_next(chk);
}

static void trapban(struct policy_check *chk);

static void
ban_done(enum store_status st, const void *val, size_t len, time_t expires, void *arg)
{
	struct policy_check *chk = arg;
	const struct moat_conf *c = policy_conf(chk->p);
	char reason[REASON_MAX];

	if (st == STORE_ERROR) {
		policy_tempfail(chk, "store", "ban lookup failed");
		return;
	}
	if (st == STORE_OK) {
		copy_reason(reason, sizeof(reason), val, len);
		policy_detail(chk, "reason=%s until=%lld", log_escape_str(reason),
		              (long long)expires);
		if (c->screen.ban_reject)
			policy_stop(chk, VERDICT_PERMFAIL, 554, "5.7.1", "ban",
			            "Client host [%s] blocked", chk->req.client.addr_str);
		else
			policy_stop(chk, VERDICT_TEMPFAIL, 421, "4.7.1", "ban",
			            "Client host [%s] blocked; try again later",
			            chk->req.client.addr_str);
		return;
	}
	trapban(chk);
}

/* trapban_done - a trap's ban here refuses like any other */
static void
trapban_done(enum store_status st, const void *val, size_t len, time_t expires, void *arg)
{
	struct policy_check *chk = arg;

	if (st == STORE_NOT_FOUND) {
		ban_early(chk);
		return;
	}
	ban_done(st, val, len, expires, arg);
}

/* trapban - "trapban:KEY", asked only when "ban:KEY" is not there */
static void
trapban(struct policy_check *chk)
{
	char key[80];

	memcpy(key, "trapban:", 8);
	policy_client_key(&chk->req.client.addr, key + 8, sizeof(key) - 8);
	store_get(policy_store(chk->p), key, trapban_done, chk);
}

static void
allow_done(enum store_status st, const void *val, size_t len, time_t expires, void *arg)
{
	struct policy_check *chk = arg;
	char key[80];

	if (st == STORE_ERROR) {
		policy_tempfail(chk, "store", "allow lookup failed");
		return;
	}
	if (st == STORE_OK) {
		chk->req.client.flags |= PC_ALLOWLISTED;
		policy_allow(chk, "allow");
		return;
	}
	policy_client_key(&chk->req.client.addr, key + 4, sizeof(key) - 4);
	memcpy(key, "ban:", 4);
	store_get(policy_store(chk->p), key, ban_done, chk);
}

static void
ban_early(struct policy_check *chk)
{
	char key[80];

	if (!policy_conf(chk->p)->screen.early_talker) {
		policy_next(chk);
		return;
	}
	memcpy(key, "early:", 6);
	policy_client_key(&chk->req.client.addr, key + 6, sizeof(key) - 6);
	store_get(policy_store(chk->p), key, early_done, chk);
}

static void
bans_run(struct policy_check *chk)
{
	char key[80];

	/* Trusted networks are ours; no store entry overrides that. */
	if (chk->req.client.flags & PC_TRUSTED) {
		policy_allow(chk, "trusted");
		return;
	}
	memcpy(key, "allow:", 6);
	policy_client_key(&chk->req.client.addr, key + 6, sizeof(key) - 6);
	store_get(policy_store(chk->p), key, allow_done, chk);
}

const struct stage stage_bans = {"bans", 1u << HOOK_CONNECT, bans_run};

void
policy_remember_early_talker(struct policy *p, const struct policy_client *client)
{
	char key[80];
	const struct moat_conf *c = policy_conf(p);

	memcpy(key, "early:", 6);
	policy_client_key(&client->addr, key + 6, sizeof(key) - 6);
	store_put(policy_store(p), key, "1", 1, (uint32_t)c->limits.early_talker_ttl,
	          NULL, NULL);
}
