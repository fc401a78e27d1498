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

#include "common/ascii.h"
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
    {"PROXY", V_PROXY},
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
	if ((err = mailaddr_parse_path(
	         p, end - p,
	         MA_ALLOW_NULL | ((opts & PARSE_ALLOW_UTF8) ? MA_ALLOW_UTF8 : 0), from,
	         &used)) != MAE_OK)
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
		} else if (kw_is(kw, kwlen, "SMTPUTF8") && (opts & PARSE_ALLOW_UTF8)) {
			/* RFC 6531 §3.4: no value */
			if (mp->smtputf8)
				return PE_PARAM_DUP;
			if (val != NULL)
				return PE_PARAM_SYNTAX;
			mp->smtputf8 = 1;
		} else if (kw_is(kw, kwlen, "RET")) {
			/* RFC 3461 §4.3 */
			if (mp->ret != 0)
				return PE_PARAM_DUP;
			if (val != NULL && vallen == 4 &&
			    strncasecmp(val, "FULL", 4) == 0)
				mp->ret = DSN_RET_FULL;
			else if (val != NULL && vallen == 4 &&
			         strncasecmp(val, "HDRS", 4) == 0)
				mp->ret = DSN_RET_HDRS;
			else
				return PE_PARAM_SYNTAX;
		} else if (kw_is(kw, kwlen, "ENVID")) {
			/* §4.4: xtext, at most 100 characters */
			if (mp->envid[0] != '\0')
				return PE_PARAM_DUP;
			if (val == NULL || vallen > DSN_ENVID_MAX ||
			    xtext_decode(val, vallen, mp->envid, sizeof(mp->envid)) ==
			        -1 ||
			    mp->envid[0] == '\0')
				return PE_PARAM_SYNTAX;
		} else
			return PE_PARAM_UNKNOWN;
	}
	/* a UTF-8 sender without SMTPUTF8 (RFC 6531 §3.5: 553 5.6.7) */
	if (r == 0 && (from->flags & MA_UTF8) && !mp->smtputf8)
		return MAE_8BIT;
	return r == 0 ? MAE_OK : r;
}

/* parse_notify - "NEVER", or SUCCESS, FAILURE and DELAY in a comma list
 * (RFC 3461 §4.1); 0 if it is neither */
static unsigned
parse_notify(const char *v, size_t n)
{
	static const struct {
		const char *word;
		unsigned bit;
	} words[] = {{"SUCCESS", DSN_NOTIFY_SUCCESS},
	             {"FAILURE", DSN_NOTIFY_FAILURE},
	             {"DELAY", DSN_NOTIFY_DELAY}};
	unsigned bits = 0;

	if (n == 5 && strncasecmp(v, "NEVER", 5) == 0)
		return DSN_NOTIFY_NEVER;
	while (n > 0) {
		const char *comma = memchr(v, ',', n);
		size_t wl = comma != NULL ? (size_t)(comma - v) : n, i;
		for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
			if (strlen(words[i].word) == wl &&
			    strncasecmp(v, words[i].word, wl) == 0)
				break;
		if (i == sizeof(words) / sizeof(words[0]) || (bits & words[i].bit))
			return 0;
		bits |= words[i].bit;
		if (comma == NULL)
			break;
		n -= wl + 1;
		v = comma + 1;
		if (n == 0)
			return 0; /* a trailing comma */
	}
	return bits;
}

int
smtp_parse_rcpt(const char *args, size_t len, unsigned opts, struct mailaddr *to,
                struct rcpt_params *rp)
{
	const char *p = args, *end = args + len, *kw, *val;
	size_t used, kwlen, vallen;
	struct rcpt_params scratch;
	int err, r;

	if (rp == NULL)
		rp = &scratch;
	memset(rp, 0, sizeof(*rp));
	if (keyword(&p, end, "TO:") == -1)
		return PE_KEYWORD;
	if ((err = mailaddr_parse_path(
	         p, end - p,
	         MA_ALLOW_NODOMAIN | ((opts & PARSE_ALLOW_UTF8) ? MA_ALLOW_UTF8 : 0), to,
	         &used)) != MAE_OK)
		return err;
	p += used;
	if (p < end && *p != ' ')
		return MAE_SYNTAX;
	/* DSN's parameters (RFC 3461 §4.1, §4.2) are the only ones */
	while ((r = next_param(&p, end, &kw, &kwlen, &val, &vallen)) == 1) {
		if (kw_is(kw, kwlen, "NOTIFY")) {
			if (rp->notify != 0)
				return PE_PARAM_DUP;
			if (val == NULL || (rp->notify = parse_notify(val, vallen)) == 0)
				return PE_PARAM_SYNTAX;
		} else if (kw_is(kw, kwlen, "ORCPT")) {
			/* addr-type ";" xtext */
			const char *semi = val != NULL ? memchr(val, ';', vallen) : NULL;
			size_t tl = semi != NULL ? (size_t)(semi - val) : 0;
			if (rp->orcpt[0] != '\0')
				return PE_PARAM_DUP;
			if (semi == NULL || tl == 0 || tl > 32 || vallen > DSN_ORCPT_MAX)
				return PE_PARAM_SYNTAX;
			for (size_t i = 0; i < tl; i++)
				if (!is_alnum((unsigned char)val[i]) && val[i] != '-')
					return PE_PARAM_SYNTAX;
			memcpy(rp->orcpt, val, tl + 1);
			if (xtext_decode(semi + 1, vallen - tl - 1, rp->orcpt + tl + 1,
			                 sizeof(rp->orcpt) - tl - 1) == -1 ||
			    rp->orcpt[tl + 1] == '\0')
				return PE_PARAM_SYNTAX;
		} else
			return PE_PARAM_UNKNOWN;
	}
	return r == 0 ? MAE_OK : r;
}

int
xtext_decode(const char *in, size_t len, char *out, size_t outsz)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c == '+') {
			int hi, lo;
			if (i + 2 >= len || (hi = ascii_hexval(in[i + 1])) < 0 ||
			    (lo = ascii_hexval(in[i + 2])) < 0)
				return -1;
			c = (unsigned char)(hi << 4 | lo);
			i += 2;
		} else if (c < 33 || c > 126 || c == '=')
			return -1;
		/* what is decoded goes into logs, queue files and reports */
		if (c < 32 || c > 126 || o + 1 >= outsz)
			return -1;
		out[o++] = (char)c;
	}
	if (outsz == 0)
		return -1;
	out[o] = '\0';
	return 0;
}

void
xtext_encode(const char *s, char *out, size_t outsz)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	if (outsz == 0)
		return;
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if (c >= 33 && c <= 126 && c != '+' && c != '=') {
			if (o + 1 >= outsz)
				break;
			out[o++] = (char)c;
		} else {
			if (o + 3 >= outsz)
				break;
			out[o++] = '+';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
}

const char *
dsn_notify_format(unsigned notify, char *buf, size_t sz)
{
	buf[0] = '\0';
	if (notify & DSN_NOTIFY_NEVER) {
		strlcpy(buf, "NEVER", sz);
		return buf;
	}
	if (notify & DSN_NOTIFY_SUCCESS)
		strlcat(buf, "SUCCESS", sz);
	if (notify & DSN_NOTIFY_FAILURE)
		strlcat(buf, buf[0] ? ",FAILURE" : "FAILURE", sz);
	if (notify & DSN_NOTIFY_DELAY)
		strlcat(buf, buf[0] ? ",DELAY" : "DELAY", sz);
	return buf;
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
