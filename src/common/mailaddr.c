/* SPDX-License-Identifier: ISC */
/*
 * mailaddr.c - RFC 5321 path parser and formatter.
 *
 * SECURITY: untrusted data read directly from the network. Each read is
 * checked against the end pointer; each copy is checked against the limit of
 * its destination first. UTF-8 (SMTPUTF8 only) is checked to be well-formed
 * before it is kept; a U-label domain is handed to libidn2 (which allocates
 * its answer, freed at once) and kept as A-labels.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <idn2.h>
#include <stdlib.h>

#include "common/mailaddr.h"

/* utf8_seq - the length of the well-formed non-ASCII UTF-8 sequence at
 * p[0..end), or 0 (RFC 3629 §4) */
static size_t
utf8_seq(const unsigned char *p, const unsigned char *end)
{
	size_t n;
	unsigned lo = 0x80, hi = 0xbf;

	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3;
		if (p[0] == 0xe0)
			lo = 0xa0; /* overlong */
		else if (p[0] == 0xed)
			hi = 0x9f; /* surrogates */
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		if (p[0] == 0xf0)
			lo = 0x90;
		else if (p[0] == 0xf4)
			hi = 0x8f; /* above U+10FFFF */
	} else
		return 0;
	if ((size_t)(end - p) < n || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

int
utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + n;

	while (p < end) {
		size_t k = *p < 0x80 ? (*p != 0) : utf8_seq(p, end);
		if (k == 0)
			return 0;
		p += k;
	}
	return 1;
}

int
domain_to_ascii(const char *d, char *out, size_t outsz)
{
	char *a = NULL;
	int rc;

	if (!utf8_valid(d, strlen(d)))
		return -1;
	rc = idn2_to_ascii_8z(d, &a, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
	if (rc != IDN2_OK || a == NULL || strlen(a) >= outsz ||
	    !domain_valid(a, strlen(a))) {
		free(a);
		return -1;
	}
	strlcpy(out, a, outsz);
	free(a);
	return 0;
}

/* RFC 5322 atext */
static int
is_atext(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return 1;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static int
is_letdig(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

int
domain_valid(const char *d, size_t len)
{
	size_t i, label = 0;

	if (len == 0 || len > MAILADDR_DOMAIN_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)d[i];
		if (c == '.') {
			/* empty label, or label ending in '-' */
			if (label == 0 || d[i - 1] == '-')
				return 0;
			label = 0;
			continue;
		}
		if (is_letdig(c))
			;
		else if (c == '-' && label > 0)
			;
		else
			return 0;
		if (++label > 63)
			return 0;
	}
	return label > 0 && d[len - 1] != '-';
}

int
local_is_dotstring(const char *l, size_t len)
{
	size_t i;

	if (len == 0 || l[0] == '.' || l[len - 1] == '.')
		return 0;
	for (i = 0; i < len; i++) {
		if (l[i] == '.') {
			if (l[i + 1] == '.')
				return 0;
		} else if ((unsigned char)l[i] >= 0x80) {
			/* RFC 6531 atext: well-formed UTF-8 only */
			size_t k = utf8_seq((const unsigned char *)l + i,
			                    (const unsigned char *)l + len);
			if (k == 0)
				return 0;
			i += k - 1;
		} else if (!is_atext((unsigned char)l[i]))
			return 0;
	}
	return 1;
}

/* parse_domain - Domain or address-literal at s[0..end); returns bytes used */
static int
parse_domain(const char *s, const char *end, unsigned opts, struct mailaddr *out,
             size_t *used)
{
	const char *p = s;

	if (p < end && *p == '[') {
		const char *q = memchr(p, ']', end - p);
		char lit[64];
		unsigned char bin[16];
		size_t n;

		if (q == NULL)
			return MAE_SYNTAX;
		n = q - p - 1;
		if (n == 0 || n >= sizeof(lit))
			return MAE_LITERAL;
		/* inet_pton() stops at a NUL: "[192.0.2.1\0junk]" would pass, and
		 * the stored domain would lose its ']'. */
		if (memchr(p + 1, '\0', n) != NULL)
			return MAE_LITERAL;
		memcpy(lit, p + 1, n);
		lit[n] = '\0';
		if (strncasecmp(lit, "IPv6:", 5) == 0) {
			if (inet_pton(AF_INET6, lit + 5, bin) != 1)
				return MAE_LITERAL;
		} else if (inet_pton(AF_INET, lit, bin) != 1)
			return MAE_LITERAL; /* General-address-literal: not supported */
		memcpy(out->domain, p, n + 2);
		out->domain[n + 2] = '\0';
		out->flags |= MA_LITERAL;
		*used = n + 2;
		return MAE_OK;
	}
	int utf8 = 0;
	for (;;) {
		size_t k;
		if (p < end && (is_letdig((unsigned char)*p) || *p == '-' || *p == '.'))
			p++;
		else if (p < end && (unsigned char)*p >= 0x80) {
			if (!(opts & MA_ALLOW_UTF8))
				return MAE_8BIT;
			if ((k = utf8_seq((const unsigned char *)p,
			                  (const unsigned char *)end)) == 0)
				return MAE_DOMAIN;
			p += k;
			utf8 = 1;
		} else
			break;
	}
	if (utf8) {
		/* U-labels: kept as their A-labels, so that every later
		 * comparison, route and DNS question sees one form */
		char u[4 * MAILADDR_DOMAIN_MAX + 1];
		if ((size_t)(p - s) >= sizeof(u))
			return MAE_DOMAIN;
		memcpy(u, s, p - s);
		u[p - s] = '\0';
		if (domain_to_ascii(u, out->domain, sizeof(out->domain)) == -1)
			return MAE_DOMAIN;
		out->flags |= MA_UTF8;
		*used = p - s;
		return MAE_OK;
	}
	if (!domain_valid(s, p - s))
		return MAE_DOMAIN;
	memcpy(out->domain, s, p - s);
	out->domain[p - s] = '\0';
	*used = p - s;
	return MAE_OK;
}

/* parse_route - A-d-l ":" (RFC 5321 §4.1.2); syntax checked, then ignored */
static int
parse_route(const char **pp, const char *end)
{
	const char *p = *pp;
	struct mailaddr scratch;

	for (;;) {
		size_t used;
		int err;
		if (p >= end || *p != '@')
			return MAE_SYNTAX;
		p++;
		if (p < end && *p == '[')
			return MAE_SYNTAX; /* At-domain is a Domain, never a literal */
		memset(&scratch, 0, sizeof(scratch));
		if ((err = parse_domain(p, end, 0, &scratch, &used)) != MAE_OK)
			return err;
		p += used;
		if (p < end && *p == ',') {
			p++;
			continue;
		}
		if (p < end && *p == ':') {
			*pp = p + 1;
			return MAE_OK;
		}
		return MAE_SYNTAX;
	}
}

/* take_utf8 - the UTF-8 sequence at *pp into out->local at *n (SMTPUTF8
 * only, well-formed only) */
static int
take_utf8(const char **pp, const char *end, unsigned opts, struct mailaddr *out,
          size_t *n)
{
	size_t k;

	if (!(opts & MA_ALLOW_UTF8))
		return MAE_8BIT;
	if ((k = utf8_seq((const unsigned char *)*pp, (const unsigned char *)end)) == 0)
		return MAE_SYNTAX;
	if (*n + k > MAILADDR_LOCAL_MAX)
		return MAE_LOCAL_TOO_LONG;
	memcpy(out->local + *n, *pp, k);
	*n += k;
	*pp += k;
	out->flags |= MA_UTF8;
	return MAE_OK;
}

/* parse_local - Dot-string or Quoted-string into out->local */
static int
parse_local(const char **pp, const char *end, unsigned opts, struct mailaddr *out)
{
	const char *p = *pp, *start = p;
	size_t n = 0;

	if (p < end && *p == '"') {
		p++;
		for (;;) {
			unsigned char c;
			if (p >= end)
				return MAE_SYNTAX;
			c = (unsigned char)*p;
			if (c == '"')
				break;
			if (c == '\\') {
				/* quoted-pairSMTP = %d92 %d32-126 */
				if (p + 1 >= end)
					return MAE_SYNTAX;
				c = (unsigned char)p[1];
				if (c >= 0x80)
					return MAE_8BIT;
				if (c < 32 || c > 126)
					return MAE_SYNTAX;
				p += 2;
			} else if (c >= 0x80) {
				/* RFC 6531 §3.3: qtextSMTP =/ UTF8-non-ascii */
				int err = take_utf8(&p, end, opts, out, &n);
				if (err != MAE_OK)
					return err;
				continue;
			} else {
				/* qtextSMTP = %d32-33 / %d35-91 / %d93-126 */
				if (c < 32 || c > 126)
					return MAE_SYNTAX;
				p++;
			}
			if (n >= MAILADDR_LOCAL_MAX)
				return MAE_LOCAL_TOO_LONG;
			out->local[n++] = (char)c;
		}
		p++; /* closing quote */
		out->flags |= MA_QUOTED;
	} else {
		for (;;) {
			int err;
			if (p < end && (is_atext((unsigned char)*p) || *p == '.')) {
				if (n >= MAILADDR_LOCAL_MAX)
					return MAE_LOCAL_TOO_LONG;
				out->local[n++] = *p++;
				continue;
			}
			if (p >= end || (unsigned char)*p < 0x80)
				break;
			/* RFC 6531 §3.3: atext =/ UTF8-non-ascii */
			if ((err = take_utf8(&p, end, opts, out, &n)) != MAE_OK)
				return err;
		}
		if (!local_is_dotstring(out->local, n))
			return MAE_SYNTAX;
	}
	/* RFC 5321 §4.5.3.1.1 counts the local part as transmitted. */
	if ((size_t)(p - start) > MAILADDR_LOCAL_MAX)
		return MAE_LOCAL_TOO_LONG;
	out->local[n] = '\0';
	if (n == 0)
		return MAE_SYNTAX; /* "" is not a mailbox */
	if (memchr(out->local, '%', n))
		out->flags |= MA_PERCENT;
	if (memchr(out->local, '!', n))
		out->flags |= MA_BANG;
	if (memchr(out->local, '@', n))
		out->flags |= MA_AT_IN_LOCAL;
	*pp = p;
	return MAE_OK;
}

int
mailaddr_parse_path(const char *s, size_t len, unsigned opts, struct mailaddr *out,
                    size_t *consumed)
{
	const char *p = s, *end = s + len, *close;
	size_t used;
	int err;

	memset(out, 0, sizeof(*out));
	if (p >= end || *p != '<')
		return MAE_SYNTAX;
	p++;
	if (p < end && *p == '>') {
		if (!(opts & MA_ALLOW_NULL))
			return MAE_NULL;
		out->flags |= MA_NULL;
		*consumed = 2;
		return MAE_OK;
	}
	if (p < end && *p == '@') {
		if ((err = parse_route(&p, end)) != MAE_OK)
			return err;
		out->flags |= MA_ROUTE;
	}
	if ((err = parse_local(&p, end, opts, out)) != MAE_OK)
		return err;
	if (p < end && *p == '>') {
		/*
		 * Only <postmaster> (RFC 5321 §4.1.1.3) and bang paths, whose
		 * destination is inside the local part, may omit the domain.
		 */
		if (!(opts & MA_ALLOW_NODOMAIN) ||
		    (!mailaddr_is_postmaster(out) && !(out->flags & MA_BANG)) ||
		    (out->flags & MA_ROUTE))
			return MAE_NODOMAIN;
		out->flags |= MA_NODOMAIN;
		close = p;
	} else {
		if (p >= end || *p != '@')
			return MAE_SYNTAX;
		p++;
		if ((err = parse_domain(p, end, opts, out, &used)) != MAE_OK)
			return err;
		p += used;
		if (p >= end || *p != '>')
			return MAE_SYNTAX;
		close = p;
	}
	if ((size_t)(close - s + 1) > MAILADDR_PATH_MAX)
		return MAE_PATH_TOO_LONG;
	if (out->flags & MA_UTF8) {
		/* A-labels are longer than their U-labels: the path as it will
		 * be written on must still fit (fuzz_mailaddr found one that
		 * did not) */
		char fmt[MAILADDR_FMT_MAX];
		if (mailaddr_format(out, fmt, sizeof(fmt)) + 2 > MAILADDR_PATH_MAX)
			return MAE_PATH_TOO_LONG;
	}
	*consumed = close - s + 1;
	return MAE_OK;
}

const char *
mailaddr_strerror(int err)
{
	switch (err) {
	case MAE_OK:
		return "ok";
	case MAE_SYNTAX:
		return "address syntax error";
	case MAE_PATH_TOO_LONG:
		return "path too long";
	case MAE_LOCAL_TOO_LONG:
		return "local part too long";
	case MAE_DOMAIN:
		return "invalid domain";
	case MAE_8BIT:
		return "non-ASCII address without SMTPUTF8";
	case MAE_NODOMAIN:
		return "address needs a domain";
	case MAE_LITERAL:
		return "unsupported address literal";
	case MAE_NULL:
		return "null path not allowed here";
	}
	return "unknown error";
}

int
mailaddr_is_postmaster(const struct mailaddr *a)
{
	return strcasecmp(a->local, "postmaster") == 0;
}

size_t
mailaddr_format(const struct mailaddr *a, char *buf, size_t bufsz)
{
	char local[2 * MAILADDR_LOCAL_MAX + 3];
	size_t llen = strlen(a->local), n = 0, i;
	int ret;

	if (a->flags & MA_NULL) {
		if (bufsz > 0)
			buf[0] = '\0';
		return 0;
	}
	if (local_is_dotstring(a->local, llen)) {
		memcpy(local, a->local, llen + 1);
	} else {
		local[n++] = '"';
		for (i = 0; i < llen; i++) {
			if (a->local[i] == '"' || a->local[i] == '\\')
				local[n++] = '\\';
			local[n++] = a->local[i];
		}
		local[n++] = '"';
		local[n] = '\0';
	}
	if (a->domain[0] == '\0')
		ret = snprintf(buf, bufsz, "%s", local);
	else
		ret = snprintf(buf, bufsz, "%s@%s", local, a->domain);
	return ret < 0 ? 0 : (size_t)ret;
}
