/* SPDX-License-Identifier: ISC */
/*
 * submit_limits.c - what one login may send (issue 28): a stolen password
 * is worth its budget, not what the client-address limits allow from every
 * address the thief has.
 *   mail: messages per login (submit_msg_rate), then, when configured,
 *         messages per sender address of authenticated mail
 *         (submit_sender_rate);
 *   rcpt: recipients per login (submit_rcpt_rate).
 * Each is a token bucket in the store (store_take) of submit_*_rate tokens
 * that refills over submit_rate_window, so moat hosts sharing a Redis
 * store share the budget. Only sessions with a login count: a trusted
 * network or the local socket without one is the operator's own. The
 * store's trouble lets the mail through (policy_store_trouble), as the
 * client-address rates do.
 * Keys: "rate:user-msg:LOGIN", "rate:user-rcpt:LOGIN" and
 * "rate:sender:ADDRESS", lower-cased: a login or an address written in
 * another case is the same budget.
 * SECURITY: the login is one the credential backend accepted, the sender a
 * parsed, bounded address; both are bounded by the key's size before they
 * are copied and escaped before they are logged.
 */
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "conf/conf.h"
#include "policy/stages.h"
#include "store/store.h"

/* which budget an answer is about */
enum budget { B_MSG, B_SENDER, B_RCPT };

/* the refusal of each budget: 450 4.7.1 (RFC 3463: delivery not
 * authorized), temporary, for the budget refills */
static const struct {
	const char *rule;
	const char *text;
} refusal[] = {
    [B_MSG] = {"submit-msg-rate", "Too many messages from your login; try again later"},
    [B_SENDER] = {"submit-sender-rate",
                  "Too many messages from this sender address; try again later"},
    [B_RCPT] = {"submit-rcpt-rate",
                "Too many recipients from your login; try again later"},
};
_Static_assert(sizeof(refusal) / sizeof(refusal[0]) == B_RCPT + 1, "refusal rows");

static void take(struct policy_check *chk, enum budget b);

/* submit_bucket - rate tokens that refill over window seconds */
static void
submit_bucket(long rate, long window, struct store_bucket *b)
{
	long long ms = (long long)window * 1000 / rate;

	b->capacity = (uint32_t)rate;
	/* limits.h bounds the window to a day: at most STORE_REFILL_MAX */
	b->refill_ms = ms < 1 ? 1 : (uint32_t)ms;
}

/* key_of - prefix and the lower-cased name; -1 if it does not fit */
static int
key_of(const char *prefix, const char *name, char *key, size_t keysz)
{
	size_t n = strlen(prefix), len = strlen(name);

	if (n + len + 1 > keysz || n + len > STORE_KEY_MAX)
		return -1;
	memcpy(key, prefix, n);
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		key[n + i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	key[n + len] = '\0';
	return 0;
}

static void
refuse(struct policy_check *chk, enum budget b, uint32_t wait_ms)
{
	policy_detail(chk, "user=%s", log_escape_str(chk->req.client.login));
	policy_detail(chk, "retry-after-ms=%u", wait_ms);
	policy_stop(chk, VERDICT_TEMPFAIL, 450, "4.7.1", refusal[b].rule, "%s",
	            refusal[b].text);
}

/* answered - one bucket's answer: refuse, or go on to the next budget */
static void
answered(struct policy_check *chk, enum budget b, enum store_status st,
         const struct store_take_result *res)
{
	if (st != STORE_OK)
		policy_store_trouble(chk->p, "submission rate limit");
	else if (!res->allowed) {
		refuse(chk, b, res->wait_ms);
		return;
	}
	if (b == B_MSG)
		take(chk, B_SENDER);
	else
		policy_next(chk);
}

static void
msg_done(enum store_status st, const struct store_take_result *res, void *arg)
{
	answered(arg, B_MSG, st, res);
}

static void
sender_done(enum store_status st, const struct store_take_result *res, void *arg)
{
	answered(arg, B_SENDER, st, res);
}

static void
rcpt_done(enum store_status st, const struct store_take_result *res, void *arg)
{
	answered(arg, B_RCPT, st, res);
}

/* take - a token from budget b, or the next step when it is off */
static void
take(struct policy_check *chk, enum budget b)
{
	const struct moat_limits *l = &policy_conf(chk->p)->limits;
	const struct policy_client *cl = &chk->req.client;
	struct store_bucket bucket;
	char key[STORE_KEY_MAX + 1];
	long rate;
	int fits;
	store_take_cb *cb;

	switch (b) {
	case B_MSG:
		rate = l->submit_msg_rate;
		fits = key_of("rate:user-msg:", cl->login, key, sizeof(key));
		cb = msg_done;
		break;
	case B_SENDER:
		/* the null sender claims no address (RFC 5321 §4.5.5) */
		rate = chk->req.sender[0] == '\0' ? 0 : l->submit_sender_rate;
		fits = key_of("rate:sender:", chk->req.sender, key, sizeof(key));
		cb = sender_done;
		break;
	default:
		rate = l->submit_rcpt_rate;
		fits = key_of("rate:user-rcpt:", cl->login, key, sizeof(key));
		cb = rcpt_done;
		break;
	}
	if (rate == 0) {
		answered(chk, b, STORE_OK, &(struct store_take_result){.allowed = 1});
		return;
	}
	if (fits == -1) {
		/* cannot happen with the session's bounds (a login of 255
		 * octets, an address of MAILADDR_FMT_MAX): our own trouble */
		policy_tempfail(chk, refusal[b].rule, "key too long");
		return;
	}
	submit_bucket(rate, l->submit_rate_window, &bucket);
	store_take(policy_store(chk->p), key, &bucket, 1, cb, chk);
}

static void
submit_limits_run(struct policy_check *chk)
{
	const struct policy_client *cl = &chk->req.client;

	if (!(cl->flags & PC_AUTHED) || cl->login[0] == '\0') {
		policy_next(chk);
		return;
	}
	take(chk, chk->req.hook == HOOK_MAIL ? B_MSG : B_RCPT);
}

const struct stage stage_submit_limits = {
    "submit-limits", (1u << HOOK_MAIL) | (1u << HOOK_RCPT), submit_limits_run};
