/* SPDX-License-Identifier: ISC */
/*
 * command.c - SMTP command line parsing (RFC 5321 §4.1, RFC 1870, RFC 6152).
 *
 * SECURITY: untrusted data read directly from the network. Lengths are passed
 * in, never taken from NUL termination; nothing is copied except into the
 * fixed-size fields of struct mailaddr, which mailaddr.c bounds.
 */
#include <string.h>
#include <strings.h>

#include "smtp/command.h"

static const struct {
	const char *name;
	enum smtp_verb verb;
} verbs[] = {
    {"HELO", V_HELO},         {"EHLO", V_EHLO}, {"MAIL", V_MAIL},    {"RCPT", V_RCPT},
    {"DATA", V_DATA},         {"RSET", V_RSET}, {"NOOP", V_NOOP},    {"QUIT", V_QUIT},
    {"HELP", V_HELP},         {"VRFY", V_VRFY}, {"EXPN", V_EXPN},    {"ETRN", V_ETRN},
    {"STARTTLS", V_STARTTLS}, {"AUTH", V_AUTH}, {"BDAT", V_BDAT},    {"GET", V_HTTP},
    {"POST", V_HTTP},         {"HEAD", V_HTTP}, {"CONNECT", V_HTTP}, {"PUT", V_HTTP},
};

const char *
smtp_verb_name(enum smtp_verb v)
{
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (verbs[i].verb == v)
			return verbs[i].name;
	return "UNKNOWN";
}

enum line_status
smtp_line_check(const char *line, size_t len)
{
	if (memchr(line, '\0', len) != NULL)
		return LINE_NUL;
	if (len < 2 || line[len - 1] != '\n' || line[len - 2] != '\r') {
		if (len >= 1 && line[len - 1] == '\n')
			return LINE_BARE_LF;
		return LINE_BARE_CR;
	}
	/* The only CR and LF allowed are the final pair (RFC 5321 §2.3.8). */
	if (memchr(line, '\n', len - 1) != NULL)
		return LINE_BARE_LF;
	if (memchr(line, '\r', len - 2) != NULL)
		return LINE_BARE_CR;
	return LINE_OK;
}

enum smtp_verb
smtp_verb_parse(const char *line, size_t len, const char **args, size_t *argslen)
{
	size_t n = 0;

	while (n < len && line[n] != ' ')
		n++;
	*args = line + n;
	*argslen = 0;
	if (n < len) {
		*args = line + n + 1;
		*argslen = len - n - 1;
	}
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strlen(verbs[i].name) == n &&
		    strncasecmp(line, verbs[i].name, n) == 0)
			return verbs[i].verb;
	return V_UNKNOWN;
}

/* keyword - match "FROM:"/"TO:" and skip the blanks many clients add */
static int
keyword(const char **p, const char *end, const char *kw)
{
	size_t kl = strlen(kw);

	if ((size_t)(end - *p) < kl || strncasecmp(*p, kw, kl) != 0)
		return -1;
	*p += kl;
	while (*p < end && **p == ' ')
		(*p)++;
	return 0;
}

static int
is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/*
 * next_param - esmtp-param = esmtp-keyword ["=" esmtp-value] (RFC 5321 §4.1.2);
 * returns 1 with a param, 0 at the end, or a PE_ error.
 */
static int
next_param(const char **pp, const char *end, const char **kw, size_t *kwlen,
           const char **val, size_t *vallen)
{
	const char *p = *pp;

	while (p < end && *p == ' ')
		p++;
	if (p >= end)
		return 0;
	*kw = p;
	if (!is_alnum((unsigned char)*p))
		return PE_PARAM_SYNTAX;
	while (p < end && (is_alnum((unsigned char)*p) || *p == '-'))
		p++;
	*kwlen = p - *kw;
	*val = NULL;
	*vallen = 0;
	if (p < end && *p == '=') {
		p++;
		*val = p;
		/* esmtp-value = 1*(%d33-60 / %d62-126) */
		while (p < end && (unsigned char)*p >= 33 && (unsigned char)*p <= 126 &&
		       *p != '=')
			p++;
		*vallen = p - *val;
		if (*vallen == 0)
			return PE_PARAM_SYNTAX;
	}
	if (p < end && *p != ' ')
		return PE_PARAM_SYNTAX;
	*pp = p;
	return 1;
}

static int
kw_is(const char *kw, size_t kwlen, const char *name)
{
	return strlen(name) == kwlen && strncasecmp(kw, name, kwlen) == 0;
}

int
smtp_parse_mail(const char *args, size_t len, unsigned opts, struct mailaddr *from,
                struct mail_params *mp)
{
	const char *p = args, *end = args + len, *kw, *val;
	size_t used, kwlen, vallen;
	int err, r;

	memset(mp, 0, sizeof(*mp));
	mp->size = -1;
	if (keyword(&p, end, "FROM:") == -1)
		return PE_KEYWORD;
	if ((err = mailaddr_parse_path(p, end - p, MA_ALLOW_NULL, from, &used)) != MAE_OK)
		return err;
	p += used;
	if (p < end && *p != ' ')
		return MAE_SYNTAX;
	while ((r = next_param(&p, end, &kw, &kwlen, &val, &vallen)) == 1) {
		if (kw_is(kw, kwlen, "SIZE")) {
			/* RFC 1870: size-value = 1*20DIGIT */
			long long v = 0;
			if (mp->size != -1)
				return PE_PARAM_DUP;
			if (val == NULL || vallen > 20)
				return PE_PARAM_SYNTAX;
			for (size_t i = 0; i < vallen; i++) {
				if (val[i] < '0' || val[i] > '9')
					return PE_PARAM_SYNTAX;
				/* saturate: anything this large is over every limit */
				if (v < 1000000000000000LL)
					v = v * 10 + (val[i] - '0');
			}
			mp->size = v;
		} else if (kw_is(kw, kwlen, "BODY")) {
			if (mp->body != BODY_NONE)
				return PE_PARAM_DUP;
			if (val != NULL && vallen == 4 &&
			    strncasecmp(val, "7BIT", 4) == 0)
				mp->body = BODY_7BIT;
			else if (val != NULL && vallen == 8 &&
			         strncasecmp(val, "8BITMIME", 8) == 0)
				mp->body = BODY_8BITMIME;
			else
				return PE_PARAM_SYNTAX;
		} else if (kw_is(kw, kwlen, "AUTH") && (opts & PARSE_ALLOW_AUTH)) {
			/* RFC 4954 §5: accepted, and not trusted: we only believe our
			 * own authentication. */
			if (mp->has_auth)
				return PE_PARAM_DUP;
			if (val == NULL)
				return PE_PARAM_SYNTAX;
			mp->has_auth = 1;
		} else
			return PE_PARAM_UNKNOWN;
	}
	return r == 0 ? MAE_OK : r;
}

int
smtp_parse_rcpt(const char *args, size_t len, struct mailaddr *to)
{
	const char *p = args, *end = args + len, *kw, *val;
	size_t used, kwlen, vallen;
	int err, r;

	if (keyword(&p, end, "TO:") == -1)
		return PE_KEYWORD;
	if ((err = mailaddr_parse_path(p, end - p, MA_ALLOW_NODOMAIN, to, &used)) !=
	    MAE_OK)
		return err;
	p += used;
	if (p < end && *p != ' ')
		return MAE_SYNTAX;
	/* No RCPT parameters are advertised (no DSN): any is unknown. */
	r = next_param(&p, end, &kw, &kwlen, &val, &vallen);
	if (r == 1)
		return PE_PARAM_UNKNOWN;
	return r == 0 ? MAE_OK : r;
}

const char *
smtp_parse_strerror(int err)
{
	switch (err) {
	case PE_PARAM_SYNTAX:
		return "parameter syntax error";
	case PE_PARAM_UNKNOWN:
		return "unsupported parameter";
	case PE_PARAM_DUP:
		return "duplicate parameter";
	case PE_KEYWORD:
		return "syntax error";
	}
	return mailaddr_strerror(err);
}

int
smtp_helo_valid(const char *arg, size_t len)
{
	if (len == 0 || len > 255)
		return 0;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)arg[i] < 33 || (unsigned char)arg[i] > 126)
			return 0;
	return 1;
}
