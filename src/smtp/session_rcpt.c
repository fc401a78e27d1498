/* SPDX-License-Identifier: ISC */
/*
 * session_rcpt.c - RCPT TO and the recipients of a transaction: the
 * screening verdict turned into a reply, the address expanded through the
 * aliases, a recipient lookup's targets or an SRS bounce's sender (at most
 * ALIAS_EXPAND_MAX, one copy each), with the RCPT's DSN parameters, and the
 * forwards to remote addresses noted for the Delivered-To: loop check.
 * SECURITY: the argument is untrusted; it is parsed and bounded by
 * command.c/mailaddr.c, and a lookup's targets are parsed the same way
 * before they become recipients.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/ascii.h"
#include "common/log.h"
#include "common/mailaddr.h"
#include "common/xmalloc.h"
#include "conf/aliases.h"
#include "conf/conf.h"
#include "smtp/session_int.h"
#include "smtp/smtpd.h"

static int
rcpt_known(const struct transaction *tx, const char *addr)
{
	for (size_t i = 0; i < tx->nrcpts; i++)
		if (strcasecmp(tx->rcpts[i], addr) == 0)
			return 1;
	return 0;
}

void
tx_rcpt_push(struct transaction *tx, const char *addr, unsigned notify, const char *orcpt)
{
	if (tx->nrcpts == tx->rcap) {
		tx->rcap = tx->rcap ? tx->rcap * 2 : 4;
		tx->rcpts = xreallocarray(tx->rcpts, tx->rcap, sizeof(char *));
		tx->rnotify = xreallocarray(tx->rnotify, tx->rcap, sizeof(unsigned));
		tx->rorcpt = xreallocarray(tx->rorcpt, tx->rcap, sizeof(char *));
	}
	tx->rcpts[tx->nrcpts] = xstrdup(addr);
	tx->rnotify[tx->nrcpts] = notify;
	tx->rorcpt[tx->nrcpts] =
	    orcpt != NULL && orcpt[0] != '\0' ? xstrdup(orcpt) : NULL;
	tx->nrcpts++;
}

void
tx_rcpt_remove(struct transaction *tx, size_t i)
{
	free(tx->rcpts[i]);
	free(tx->rorcpt[i]);
	tx->nrcpts--;
	tx->rcpts[i] = tx->rcpts[tx->nrcpts];
	tx->rnotify[i] = tx->rnotify[tx->nrcpts];
	tx->rorcpt[i] = tx->rorcpt[tx->nrcpts];
}

/* rcpt_expanded - a recipient an alias leads to (one copy each), with the
 * DSN parameters of the RCPT it came from; its original recipient is that
 * RCPT's address unless the client named one (RFC 3461 §4.2) */
static void
rcpt_expanded(struct session *s, const char *addr, const char *given)
{
	struct transaction *tx = &s->tx;
	char orcpt[DSN_ORCPT_MAX + 1];

	if (rcpt_known(tx, addr))
		return;
	if (s->pending_rparams.orcpt[0] != '\0')
		strlcpy(orcpt, s->pending_rparams.orcpt, sizeof(orcpt));
	else
		snprintf(orcpt, sizeof(orcpt), "rfc822;%s", given);
	tx_rcpt_push(tx, addr, s->pending_rparams.notify, orcpt);
}

/* rcpt_add - an accepted recipient (the same mailbox twice gets one copy);
 * 0 if a duplicate ended the session (junk) */
static int
rcpt_add(struct session *s, const char *addr)
{
	struct transaction *tx = &s->tx;

	tx->nrcpt_ok++;
	if (rcpt_known(tx, addr))
		return session_junk(s);
	tx_rcpt_push(tx, addr, s->pending_rparams.notify, s->pending_rparams.orcpt);
	if (s->state != S_RCPT)
		session_enter(s, S_RCPT);
	return 1;
}

/*
 * lookup_expand - a socketmap's targets ("a@b, c@d", as Postfix's
 * virtual_alias_maps) expanded through the aliases; the count and the
 * addresses as conf_rcpt_expand() gives them. A target that is no address
 * is skipped.
 */
static size_t
lookup_expand(const struct moat_conf *c, const char *targets, char ***out)
{
	char *copy = xstrdup(targets), *save = NULL, **list = NULL;
	size_t n = 0, cap = 0;

	for (char *t = strtok_r(copy, ", \t", &save); t != NULL;
	     t = strtok_r(NULL, ", \t", &save)) {
		struct mailaddr a;
		char path[MAILADDR_FMT_MAX + 2], addr[MAILADDR_FMT_MAX], **sub;
		size_t m, used;
		int len = snprintf(path, sizeof(path), "<%s>", t);

		if (len < 0 || (size_t)len >= sizeof(path) ||
		    mailaddr_parse_path(path, (size_t)len, 0, &a, &used) != MAE_OK ||
		    used != (size_t)len) {
			log_warnx(
			    "recipient_lookup: target \"%s\" is no address; skipped",
			    log_escape_str(t));
			continue;
		}
		ascii_lower(a.domain);
		mailaddr_format(&a, addr, sizeof(addr));
		m = conf_target_expand(c, addr, &sub);
		for (size_t i = 0; i < m; i++) {
			if (n < ALIAS_EXPAND_MAX) {
				if (n == cap) {
					cap = cap ? cap * 2 : 4;
					list = xreallocarray(list, cap, sizeof(char *));
				}
				list[n++] = sub[i];
			} else
				free(sub[i]);
		}
		free(sub);
	}
	free(copy);
	*out = list;
	return n;
}

/* note_forward - addr (a recipient the client gave) leads to a remote
 * address: its Delivered-To: field marks the copy that leaves, so that
 * the copy that comes back is known */
static void
note_forward(struct transaction *tx, const char *addr)
{
	for (size_t i = 0; i < tx->nforwards; i++)
		if (strcasecmp(tx->forwards[i], addr) == 0)
			return;
	if (tx->nforwards == FORWARDS_MAX)
		return;
	tx->forwards = xreallocarray(tx->forwards, tx->nforwards + 1, sizeof(char *));
	tx->forwards[tx->nforwards++] = xstrdup(addr);
}

/*
 * rcpt_accept - an accepted RCPT: at a local domain, the mailboxes and
 * remote addresses its aliases lead to (what the queue file records); 0 if
 * the session ended (junk), or a loop refused it.
 */
static int
rcpt_accept(struct session *s, const char *addr)
{
	const struct moat_conf *c = s->sd->conf;
	const char *at = strrchr(addr, '@');
	char **list;
	size_t n;

	if (s->pending_targets != NULL)
		n = lookup_expand(c, s->pending_targets, &list);
	else if (s->pending_found || c->aliases.n == 0 || at == NULL ||
	         conf_domain_find(c, at + 1) == NULL)
		return rcpt_add(s, addr);
	else
		n = conf_rcpt_expand(c, addr, &list);
	if (n == 0) {
		/* aliases that lead back to themselves and to nobody */
		session_refuse(s, "rcpt", "alias-loop", addr, 550, "5.4.6",
		               "<%s>: Recipient address rejected: mail forwarding loop",
		               addr);
		client_error(s);
		session_resume(s);
		return 0;
	}
	if (n == 1 && strcasecmp(list[0], addr) == 0) {
		free(list[0]);
		free(list);
		return rcpt_add(s, addr);
	}
	s->tx.nrcpt_ok++;
	for (size_t i = 0; i < n; i++) {
		const char *tat = strrchr(list[i], '@');
		if (tat != NULL && conf_domain_find(c, tat + 1) == NULL)
			note_forward(&s->tx, addr);
		rcpt_expanded(s, list[i], addr);
		free(list[i]);
	}
	free(list);
	log_info("smtp alias sid=%s rcpt=%s expanded=%zu", s->sid, log_escape_addr(addr),
	         n);
	if (s->state != S_RCPT)
		session_enter(s, S_RCPT);
	return 1;
}

static void
rcpt_passed(struct session *s, const struct verdict *v)
{
	if (v->kind != VERDICT_OK) {
		long delay = s->tarpit_ms; /* a harvest delay, from screened() */

		session_refuse_verdict(s, "rcpt", v, s->pending_addr);
		s->sd->stats.rejected_rcpts++;
		if (v->disconnect) {
			/* RFC 5321 §3.8: the server hangs up only after a 421 */
			if (v->code != 421)
				reply(s, 421, "4.7.0", "%s closing connection",
				      s->sd->conf->hostname);
			session_close(s, v->rule ? v->rule : "refused");
			return;
		}
		if (v->kind == VERDICT_PERMFAIL) {
			/* client_error() sets the tarpit from the error count
			 * alone; a longer harvest delay must not be lost */
			client_error(s);
			if (s->state != S_CLOSING && delay > s->tarpit_ms)
				s->tarpit_ms = delay;
		}
		session_resume(s);
		return;
	}
	if (!rcpt_accept(s, s->pending_addr))
		return;
	reply(s, 250, "2.1.5", "Ok");
	session_resume(s);
}

static void
rcpt_screened(struct session *s, const struct verdict *v)
{
	if (v->kind == VERDICT_OK && session_milters(s)) {
		session_milter_rcpt(s, rcpt_passed);
		return;
	}
	rcpt_passed(s, v);
}

void
cmd_rcpt(struct session *s, enum smtp_verb v, const char *arg, size_t len)
{
	const struct moat_conf *c = s->sd->conf;
	struct transaction *tx = &s->tx;
	struct mailaddr to;
	int err;

	/* duplicates count: each one costs a lookup and a reply */
	if ((long)tx->nrcpt_ok >= c->limits.recipients_max) {
		/* RFC 5321 §4.5.3.1.10: 452, and the client sends the rest later */
		session_refuse(s, "rcpt", "recipients-max", NULL, 452, "4.5.3",
		               "Error: too many recipients");
		client_error(s);
		return;
	}
	if ((err = smtp_parse_rcpt(arg, len, tx->params.smtputf8 ? PARSE_ALLOW_UTF8 : 0,
	                           &to, &s->pending_rparams)) != MAE_OK) {
		session_path_error(s, err, 1);
		return;
	}
	/* The relay decision is the first RCPT stage (relay_stage.c). */
	session_screen(s, HOOK_RCPT, s->tx.sender, &to, rcpt_screened);
}
