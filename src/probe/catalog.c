/* SPDX-License-Identifier: ISC */
/*
 * catalog.c - the relay-trick battery as one table of templates.
 *
 * Placeholders: {F} tool sender, {T} external local part, {R} external
 * domain, {X} external address literal, {S} target's name, {I} target's
 * address literal, {L} target's own domain, {SU}/{LU} the same upper-cased.
 * Rows flagged BOTH run twice: with the tool sender ("-t") and with the
 * null sender <> ("-n"), since many servers judge bounces differently.
 * The first sixteen rows are nmap's smtp-open-relay tests, in its order.
 */
#include <ctype.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/netaddr.h"
#include "common/xmalloc.h"
#include "probe/catalog.h"

#define BOTH 0x01

struct row {
	const char *id;
	const char *group;
	const char *what;
	const char *from; /* NULL for rows flagged BOTH */
	const char *to;
	int flags;
};

static const struct row rows[] = {
    /* nmap smtp-open-relay, tests 1-16 (sender "antispam", its "domain" is {R}) */
    {"nmap-01", "nmap", "null sender, external recipient", "", "{T}@{R}", 0},
    {"nmap-02", "nmap", "external sender", "antispam@{R}", "{T}@{R}", 0},
    {"nmap-03", "nmap", "sender at target's name", "antispam@{S}", "{T}@{R}", 0},
    {"nmap-04", "nmap", "sender at target's literal", "antispam@{I}", "{T}@{R}", 0},
    {"nmap-05", "nmap", "% via target's literal", "antispam@{I}", "{T}%{R}@{I}", 0},
    {"nmap-06", "nmap", "% via target's name", "antispam@{I}", "{T}%{R}@{S}", 0},
    {"nmap-07", "nmap", "quoted @, no domain", "antispam@{I}", "\"{T}@{R}\"", 0},
    {"nmap-08", "nmap", "quoted %, no domain", "antispam@{I}", "\"{T}%{R}\"", 0},
    {"nmap-09", "nmap", "double @ via literal", "antispam@{I}", "{T}@{R}@{I}", 0},
    {"nmap-10", "nmap", "quoted @ via literal", "antispam@{I}", "\"{T}@{R}\"@{I}", 0},
    {"nmap-11", "nmap", "double @ via name", "antispam@{I}", "{T}@{R}@{S}", 0},
    {"nmap-12", "nmap", "source route via literal", "antispam@{I}", "@{I}:{T}@{R}", 0},
    {"nmap-13", "nmap", "source route via name", "antispam@{I}", "@{S}:{T}@{R}", 0},
    {"nmap-14", "nmap", "bang path, no domain", "antispam@{I}", "{R}!{T}", 0},
    {"nmap-15", "nmap", "bang path via literal", "antispam@{I}", "{R}!{T}@{I}", 0},
    {"nmap-16", "nmap", "bang path via name", "antispam@{I}", "{R}!{T}@{S}", 0},

    /* forged and odd senders, plain external recipient (RFC 2505 2.6-2.9) */
    {"from-null", "sender", "null sender", "", "{T}@{R}", 0},
    {"from-local", "sender", "forged local sender", "postmaster@{L}", "{T}@{R}", 0},
    {"from-host", "sender", "sender at target's name", "moat-probe@{S}", "{T}@{R}", 0},
    {"from-iplit", "sender", "sender at target's literal", "moat-probe@{I}", "{T}@{R}",
     0},
    {"from-localhost", "sender", "sender at localhost", "moat-probe@localhost", "{T}@{R}",
     0},
    {"from-unqual", "sender", "unqualified sender", "moat-probe", "{T}@{R}", 0},

    /* recipient tricks, each with the tool sender and with <> */
    {"plain", "rcpt", "external recipient", NULL, "{T}@{R}", BOTH},
    {"pct-host", "percent", "% via target's name", NULL, "{T}%{R}@{S}", BOTH},
    {"pct-iplit", "percent", "% via target's literal", NULL, "{T}%{R}@{I}", BOTH},
    {"pct-local", "percent", "% via local domain", NULL, "{T}%{R}@{L}", BOTH},
    {"quote-at", "quoted", "quoted @, no domain", NULL, "\"{T}@{R}\"", BOTH},
    {"quote-at-host", "quoted", "quoted @ via name", NULL, "\"{T}@{R}\"@{S}", BOTH},
    {"quote-at-iplit", "quoted", "quoted @ via literal", NULL, "\"{T}@{R}\"@{I}", BOTH},
    {"quote-at-local", "quoted", "quoted @ via local domain", NULL, "\"{T}@{R}\"@{L}",
     BOTH},
    {"quote-pct", "quoted", "quoted %, no domain", NULL, "\"{T}%{R}\"", BOTH},
    {"quote-pct-host", "quoted", "quoted % via name", NULL, "\"{T}%{R}\"@{S}", BOTH},
    {"quote-pct-local", "quoted", "quoted % via local domain", NULL, "\"{T}%{R}\"@{L}",
     BOTH},
    {"dblat-host", "double-at", "double @ via name", NULL, "{T}@{R}@{S}", BOTH},
    {"dblat-iplit", "double-at", "double @ via literal", NULL, "{T}@{R}@{I}", BOTH},
    {"dblat-local", "double-at", "double @ via local domain", NULL, "{T}@{R}@{L}", BOTH},
    {"route-host", "route", "source route via name", NULL, "@{S}:{T}@{R}", BOTH},
    {"route-iplit", "route", "source route via literal", NULL, "@{I}:{T}@{R}", BOTH},
    {"route-local", "route", "source route via local domain", NULL, "@{L}:{T}@{R}", BOTH},
    {"route-2hop", "route", "two-hop source route", NULL, "@{S},@{L}:{T}@{R}", BOTH},
    {"route-2hop-iplit", "route", "two-hop route from literal", NULL, "@{I},@{S}:{T}@{R}",
     BOTH},
    {"bang", "bang", "bang path, no domain", NULL, "{R}!{T}", BOTH},
    {"bang-host", "bang", "bang path @ target's name", NULL, "{R}!{T}@{S}", BOTH},
    {"bang-iplit", "bang", "bang path @ target's literal", NULL, "{R}!{T}@{I}", BOTH},
    {"bang-local", "bang", "bang path @ local domain", NULL, "{R}!{T}@{L}", BOTH},
    {"bang-2hop", "bang", "bang through target first", NULL, "{S}!{R}!{T}", BOTH},
    {"bang-quoted", "bang", "quoted bang path @ local domain", NULL, "\"{R}!{T}\"@{L}",
     BOTH},
    {"bang-pct", "bang", "bang to local, then %", NULL, "{L}!{T}%{R}", BOTH},
    {"lit-ext", "literal", "external address literal", NULL, "{T}@{X}", BOTH},
    {"lit-ext-pct", "literal", "% to external literal via local", NULL, "{T}%{X}@{L}",
     BOTH},
    {"lit-ext-route", "literal", "route to external literal", NULL, "@{S}:{T}@{X}", BOTH},
    {"case-local", "variant", "% via upper-case local domain", NULL, "{T}%{R}@{LU}",
     BOTH},
    {"dot-local", "variant", "% via local domain with trailing dot", NULL, "{T}%{R}@{L}.",
     BOTH},
    {"case-host", "variant", "% via upper-case name", NULL, "{T}%{R}@{SU}", BOTH},
    {"dot-host", "variant", "% via name with trailing dot", NULL, "{T}%{R}@{S}.", BOTH},
    {"case-bang", "variant", "bang path @ upper-case local domain", NULL, "{R}!{T}@{LU}",
     BOTH},
    {"dot-route", "variant", "route via local domain with trailing dot", NULL,
     "@{L}.:{T}@{R}", BOTH},
};

/* upper - bounded upper-case copy */
static void
upper(const char *s, char *buf, size_t bufsz)
{
	size_t i;

	for (i = 0; s[i] != '\0' && i + 1 < bufsz; i++)
		buf[i] = (char)toupper((unsigned char)s[i]);
	buf[i] = '\0';
}

/* expand - fill in a template; -1 if it does not fit */
static int
expand(const char *tpl, const struct catalog_params *p, char *buf, size_t bufsz)
{
	char su[PROBE_NAME_MAX], lu[PROBE_NAME_MAX];
	size_t n = 0;

	upper(p->srvname, su, sizeof(su));
	upper(p->domain, lu, sizeof(lu));
	while (*tpl != '\0') {
		const char *val = NULL;
		size_t skip = 0, len;

		if (*tpl == '{') {
			static const char *const names[] = {"F", "T", "R",  "X", "S",
			                                    "I", "L", "SU", "LU"};
			const char *vals[] = {
			    p->sender,  p->rcpt_local, p->relay_domain, p->relay_literal,
			    p->srvname, p->ip_literal, p->domain,       su,
			    lu};
			const char *close = strchr(tpl, '}');
			for (size_t i = 0; close && i < sizeof(names) / sizeof(names[0]);
			     i++)
				if (strlen(names[i]) == (size_t)(close - tpl - 1) &&
				    strncmp(names[i], tpl + 1, close - tpl - 1) == 0) {
					val = vals[i];
					skip = close - tpl + 1;
				}
		}
		if (val == NULL) {
			val = tpl;
			skip = len = 1;
		} else {
			len = strlen(val);
		}
		if (n + len >= bufsz)
			return -1;
		memcpy(buf + n, val, len);
		n += len;
		tpl += skip;
	}
	buf[n] = '\0';
	return 0;
}

static int
add(const struct row *r, const char *suffix, const char *from,
    const struct catalog_params *p, struct probe_test *t)
{
	memset(t, 0, sizeof(*t));
	if (snprintf(t->id, sizeof(t->id), "%s%s", r->id, suffix) >= (int)sizeof(t->id))
		return -1;
	if (p->pattern != NULL && fnmatch(p->pattern, t->id, 0) != 0)
		return -1;
	t->group = r->group;
	t->what = r->what;
	if (expand(from, p, t->from, sizeof(t->from)) < 0 ||
	    expand(r->to, p, t->to, sizeof(t->to)) < 0)
		return -1;
	return 0;
}

size_t
catalog_build(const struct catalog_params *p, struct probe_test **out)
{
	size_t nrows = sizeof(rows) / sizeof(rows[0]), n = 0;
	struct probe_test *t = xcalloc(2 * nrows, sizeof(*t));

	for (size_t i = 0; i < nrows; i++) {
		const struct row *r = &rows[i];
		if (r->flags & BOTH) {
			if (add(r, "-t", "{F}", p, &t[n]) == 0)
				n++;
			if (add(r, "-n", "", p, &t[n]) == 0)
				n++;
		} else if (add(r, "", r->from, p, &t[n]) == 0) {
			n++;
		}
	}
	*out = t;
	return n;
}

void
catalog_list(FILE *fp)
{
	fprintf(fp, "%-22s %-9s %-20s %-22s %s\n", "TEST", "GROUP", "MAIL FROM",
	        "RCPT TO", "WHAT");
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		char id[PROBE_ID_MAX + 8], from[64], to[96];

		snprintf(id, sizeof(id), "%s%s", r->id, r->flags & BOTH ? "-{t,n}" : "");
		snprintf(from, sizeof(from), "%s", r->flags & BOTH ? "<{F}> | <>" : "");
		if (!(r->flags & BOTH))
			snprintf(from, sizeof(from), "<%s>", r->from);
		snprintf(to, sizeof(to), "<%s>", r->to);
		fprintf(fp, "%-22s %-9s %-20s %-22s %s\n", id, r->group, from, to,
		        r->what);
	}
	fprintf(fp, "\n{F} tool sender  {T} external local part  {R} external domain  "
	            "{X} external literal\n{S} target's name  {I} target's literal  "
	            "{L} target's domain  {SU},{LU} upper-cased\n");
}

int
catalog_literal(const char *ip, char *buf, size_t bufsz)
{
	int n;

	if (strchr(ip, ':') != NULL)
		n = snprintf(buf, bufsz, "[IPv6:%s]", ip); /* RFC 5321 §4.1.3 */
	else
		n = snprintf(buf, bufsz, "[%s]", ip);
	return n < 0 || (size_t)n >= bufsz ? -1 : 0;
}

void
catalog_domain_of(const char *srvname, char *buf, size_t bufsz)
{
	const char *dot = strchr(srvname, '.');

	/* mx.example.org -> example.org; example.org and "localhost" stay. */
	if (dot != NULL && strchr(dot + 1, '.') != NULL)
		strlcpy(buf, dot + 1, bufsz);
	else
		strlcpy(buf, srvname, bufsz);
}
