/* SPDX-License-Identifier: ISC */
/*
 * relay.c - may this recipient be accepted, and where does it really go?
 *
 * SECURITY: the address comes from the client (already parsed and bounded by
 * mailaddr.c). HELO and MAIL FROM never enter this decision; only the
 * client's network (trusted) or its authentication does (RFC 2505 §2.1).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/ascii.h"
#include "conf/conf.h"
#include "policy/relay.h"

#define RESOLVE_ROUNDS 8

static void
set(struct verdict *v, enum verdict_kind k, int code, const char *enh, const char *rule)
{
	memset(v, 0, sizeof(*v));
	v->kind = k;
	v->code = code;
	v->enh = enh;
	v->rule = rule;
}

/* is_local - the domain is one of ours (case-insensitive, RFC 5321 §2.4) */
static const struct domain_conf *
is_local(const struct moat_conf *conf, const struct mailaddr *a)
{
	if (a->flags & MA_LITERAL || a->domain[0] == '\0')
		return NULL;
	return conf_domain_find(conf, a->domain);
}

/* split - local part s at position pos into user and destination domain */
static int
split(struct mailaddr *out, const char *user, size_t ulen, const char *dom)
{
	char local[MAILADDR_LOCAL_MAX + 1];

	if (ulen == 0 || ulen > MAILADDR_LOCAL_MAX || !domain_valid(dom, strlen(dom)))
		return -1;
	memcpy(local, user, ulen);
	local[ulen] = '\0';
	strlcpy(out->local, local, sizeof(out->local));
	strlcpy(out->domain, dom, sizeof(out->domain));
	out->flags &= ~(MA_NODOMAIN | MA_LITERAL);
	out->flags &= ~(MA_PERCENT | MA_BANG | MA_AT_IN_LOCAL);
	if (strchr(out->local, '%'))
		out->flags |= MA_PERCENT;
	if (strchr(out->local, '!'))
		out->flags |= MA_BANG;
	if (strchr(out->local, '@'))
		out->flags |= MA_AT_IN_LOCAL;
	return 0;
}

int
relay_resolve(const struct moat_conf *conf, const struct mailaddr *in,
              struct mailaddr *out)
{
	*out = *in;
	for (int round = 0; round < RESOLVE_ROUNDS; round++) {
		char *p;
		/* Only our own domains (or none) interpret the local part; a
		 * remote domain's local part is the remote's business. */
		int ours = (out->flags & MA_NODOMAIN) || is_local(conf, out) != NULL;

		if (ours && (out->flags & MA_AT_IN_LOCAL)) {
			/* "user@other"@here: the quoted address is the destination.
			 * Only here: "user@other"@remote.test is a mailbox of
			 * remote.test, and sending it to "other" would misroute it. */
			p = strrchr(out->local, '@');
			if (split(out, out->local, p - out->local, p + 1) == -1)
				return -1;
		} else if (ours && (out->flags & MA_PERCENT)) {
			/* user%other@here: the percent hack, rightmost '%' */
			p = strrchr(out->local, '%');
			if (split(out, out->local, p - out->local, p + 1) == -1)
				return -1;
		} else if (ours && (out->flags & MA_BANG)) {
			/* other!user@here: UUCP bang path, first hop first */
			char host[MAILADDR_DOMAIN_MAX + 1];
			p = strchr(out->local, '!');
			if ((size_t)(p - out->local) >= sizeof(host))
				return -1;
			memcpy(host, out->local, p - out->local);
			host[p - out->local] = '\0';
			if (split(out, p + 1, strlen(p + 1), host) == -1)
				return -1;
		} else
			return 0;
	}
	return -1;
}

/*
 * srs_rcpt - an address at the SRS domain: 0 and the verdict if it is an
 * SRS address (one of ours goes to the address it was made from, whoever
 * sends it; a forged or expired one is an unknown user), -1 if it is an
 * ordinary name there
 */
static int
srs_rcpt(const struct moat_conf *conf, const struct mailaddr *a, struct rcpt_dest *dest,
         struct verdict *v)
{
	char orig[MAILADDR_FMT_MAX], path[MAILADDR_FMT_MAX + 2], shown[MAILADDR_FMT_MAX];
	enum srs_result r =
	    srs_reverse(conf->srs, a->local, time(NULL), orig, sizeof(orig));
	struct mailaddr check;
	size_t used;
	int len;

	if (r == SRS_NOT)
		return -1;
	mailaddr_format(a, shown, sizeof(shown));
	/* what it decodes to must be an address, as if a client had sent it */
	len = snprintf(path, sizeof(path), "<%s>", orig);
	if (r == SRS_OK && len > 0 && (size_t)len < sizeof(path) &&
	    mailaddr_parse_path(path, (size_t)len, 0, &check, &used) == MAE_OK &&
	    used == (size_t)len && !(check.flags & MA_NODOMAIN)) {
		mailaddr_format(a, dest->addr, sizeof(dest->addr));
		strlcpy(dest->srs, orig, sizeof(dest->srs));
		set(v, VERDICT_OK, 250, "2.1.5", "srs");
		return 0;
	}
	dest->local = is_local(conf, a);
	dest->unknown = dest->local != NULL;
	mailaddr_format(a, dest->addr, sizeof(dest->addr));
	set(v, VERDICT_PERMFAIL, 550, "5.1.1", "srs-invalid");
	snprintf(v->text, sizeof(v->text),
	         "<%s>: Recipient address rejected: invalid or expired SRS address",
	         shown);
	return 0;
}

void
relay_check_rcpt(const struct moat_conf *conf, const struct mailaddr *to, int may_relay,
                 struct rcpt_dest *dest, struct verdict *v)
{
	struct mailaddr final;
	const struct domain_conf *d;
	char shown[MAILADDR_FMT_MAX];

	mailaddr_format(to, shown, sizeof(shown));
	dest->local = NULL;
	dest->unknown = 0;
	dest->lookup = 0;
	dest->catchall = 0;
	dest->addr[0] = '\0';
	dest->srs[0] = '\0';

	/* <postmaster> and postmaster@<ours> are always accepted (RFC 5321 §4.5.1). */
	if ((to->flags & MA_NODOMAIN) && mailaddr_is_postmaster(to)) {
		dest->local = &conf->domains[0];
		snprintf(dest->addr, sizeof(dest->addr), "postmaster@%s",
		         conf->domains[0].name);
		set(v, VERDICT_OK, 250, "2.1.5", "postmaster");
		return;
	}

	if (to->flags & (MA_PERCENT | MA_BANG | MA_AT_IN_LOCAL)) {
		if (!may_relay) {
			/* These forms exist to route through us: never for strangers. */
			set(v, VERDICT_PERMFAIL, 554, "5.7.1", "relay-trick");
			snprintf(v->text, sizeof(v->text), "<%s>: Relay access denied",
			         shown);
			return;
		}
		if (relay_resolve(conf, to, &final) == -1) {
			set(v, VERDICT_PERMFAIL, 501, "5.1.3", "bad-destination");
			snprintf(v->text, sizeof(v->text),
			         "<%s>: Bad recipient address syntax", shown);
			return;
		}
	} else
		final = *to;

	if (conf->srs != NULL && strcasecmp(final.domain, conf->srs->domain) == 0 &&
	    srs_rcpt(conf, &final, dest, v) == 0)
		return;
	if ((d = is_local(conf, &final)) != NULL) {
		char lower[MAILADDR_LOCAL_MAX + 1];
		int pm = mailaddr_is_postmaster(&final);

		/* Local mailboxes are case-insensitive: one spelling per box. */
		ascii_lower_copy(lower, final.local, sizeof(lower));
		dest->local = d;
		snprintf(dest->addr, sizeof(dest->addr), "%s@%s", lower, d->name);
		/* a user or an alias (an extension is allowed), then the
		 * domain's lookup, then its catch-all */
		/* (a name that cannot be a mailbox directory is never asked:
		 * a lookup server may answer OK to anything) */
		if (!pm && d->lookup != NULL && !conf_rcpt_listed(conf, d, lower) &&
		    conf_mailbox_name_ok(lower, strlen(lower))) {
			dest->lookup = 1;
			dest->catchall = conf_rcpt_known(conf, d, lower);
		}
		if (!pm && (dest->lookup || !conf_rcpt_known(conf, d, lower))) {
			set(v, VERDICT_PERMFAIL, 550, "5.1.1", "unknown-user");
			dest->unknown = 1;
			snprintf(v->text, sizeof(v->text),
			         "<%s>: Recipient address rejected: User unknown", shown);
			return;
		}
		set(v, VERDICT_OK, 250, "2.1.5", "local");
		return;
	}
	if (!may_relay) {
		set(v, VERDICT_PERMFAIL, 554, "5.7.1", "relay-denied");
		snprintf(v->text, sizeof(v->text), "<%s>: Relay access denied", shown);
		return;
	}
	mailaddr_format(&final, dest->addr, sizeof(dest->addr));
	set(v, VERDICT_OK, 250, "2.1.5", "relay");
}
