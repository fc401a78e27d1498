/* SPDX-License-Identifier: ISC */
/*
 * mtasts_policy.c - the MTA-STS TXT record and policy file (RFC 8461 §3.1,
 * §3.2) and MX pattern matching (§4.1).
 *
 * The grammar's field names and keywords are case-sensitive (%s"..."), so
 * they are compared as they are; MX names are DNS names and are compared
 * without case. Blank lines in a policy are passed over: the grammar has
 * none, but publishers leave a trailing one, and skipping it hides nothing.
 * SECURITY: both inputs are untrusted network bytes (a TXT answer, an HTTPS
 * body of at most MTASTS_POLICY_MAX octets): every read is checked against
 * the end, control octets are refused, at most MTASTS_MX_MAX patterns of
 * at most MTASTS_PATTERN_MAX octets are kept, and a number is read digit by
 * digit with its length bounded before it can overflow.
 */
#include <ares.h>
#include <stdio.h>
#include <string.h>

#include "common/ascii.h"
#include "common/mailaddr.h"
#include "deliver/mtasts_policy.h"

static int
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

static int
is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

const char *
mtasts_mode_name(enum mtasts_mode m)
{
	static const char *const names[] = {[MTASTS_NONE] = "none",
	                                    [MTASTS_TESTING] = "testing",
	                                    [MTASTS_ENFORCE] = "enforce"};
	_Static_assert(sizeof(names) / sizeof(names[0]) == MTASTS_ENFORCE + 1,
	               "mode names");

	return (unsigned)m <= MTASTS_ENFORCE ? names[m] : "none";
}

/*
 * mtasts_txt_parse - sts-text-record = sts-version 1*(sts-field-delim
 * sts-field) [sts-field-delim]; sts-field-delim = *WSP ";" *WSP; a field
 * is id=1*32(ALPHA/DIGIT) or an extension name=value (§3.1).
 */
int
mtasts_txt_parse(const char *txt, size_t len, char id[MTASTS_ID_MAX + 1])
{
	const char *p = txt, *end = txt + len;
	int have_id = 0;

	id[0] = '\0';
	if (len < 7 || memcmp(p, "v=STSv1", 7) != 0)
		return -1;
	p += 7;
	for (;;) {
		/* a delimiter, then a field or the end */
		while (p < end && is_wsp(*p))
			p++;
		if (p == end)
			break;
		if (*p != ';')
			return -1;
		p++;
		while (p < end && is_wsp(*p))
			p++;
		if (p == end)
			break;
		const char *name = p;
		while (p < end && (is_alnum(*p) || *p == '_' || *p == '-' || *p == '.'))
			p++;
		size_t nlen = (size_t)(p - name);
		if (nlen == 0 || nlen > 32 || p == end || *p != '=' || !is_alnum(*name))
			return -1;
		p++;
		const char *val = p;
		while (p < end && *p >= 0x21 && *p <= 0x7e && *p != ';' && *p != '=')
			p++;
		size_t vlen = (size_t)(p - val);
		if (vlen == 0)
			return -1;
		if (nlen == 2 && memcmp(name, "id", 2) == 0) {
			if (have_id)
				continue; /* the first one counts */
			if (vlen > MTASTS_ID_MAX)
				return -1;
			for (size_t i = 0; i < vlen; i++)
				if (!is_alnum(val[i]))
					return -1;
			memcpy(id, val, vlen);
			id[vlen] = '\0';
			have_id = 1;
		}
	}
	return have_id ? 0 : -1;
}

/* MTASTS_TXT_MAX - a record's strings joined; an id record is far shorter */
#define MTASTS_TXT_MAX 1024

/* sts_record - txt begins like an MTA-STS record ("v=STSv1" and a delimiter) */
static int
sts_record(const unsigned char *txt, size_t len)
{
	return len >= 7 && memcmp(txt, "v=STSv1", 7) == 0 &&
	       (len == 7 || txt[7] == ';' || txt[7] == ' ' || txt[7] == '\t');
}

int
mtasts_txt_answer(const unsigned char *abuf, int alen, char id[MTASTS_ID_MAX + 1])
{
	struct ares_txt_ext *txt = NULL;
	char rec[MTASTS_TXT_MAX];
	size_t len = 0;
	int nsts = 0, ok = 0, over = 0;

	id[0] = '\0';
	if (ares_parse_txt_reply_ext(abuf, alen, &txt) != ARES_SUCCESS)
		return -1;
	/* chunks of one record are joined (RFC 7208 §3.3 does the same for SPF);
	 * a record is judged when the next one starts, and at the end */
	for (struct ares_txt_ext *t = txt;; t = t->next) {
		if (t == NULL || t->record_start) {
			if (len > 0 || over) {
				if (sts_record((const unsigned char *)rec, len)) {
					nsts++;
					ok = !over && mtasts_txt_parse(rec, len, id) == 0;
				}
			}
			if (t == NULL)
				break;
			len = 0;
			over = 0;
		}
		if (t->length > sizeof(rec) - len)
			over = 1;
		else {
			memcpy(rec + len, t->txt, t->length);
			len += t->length;
		}
	}
	ares_free_data(txt);
	/* §3.1: not exactly one STSv1 record, or an invalid one: no policy */
	if (nsts != 1 || !ok) {
		id[0] = '\0';
		return -1;
	}
	return 0;
}

static void
seterr(char *err, size_t errsz, const char *msg, size_t lineno)
{
	if (err != NULL && errsz > 0)
		snprintf(err, errsz, "line %zu: %s", lineno, msg);
}

/* pattern_ok - ["*."] Domain (§3.2 sts-policy-mx-value) */
static int
pattern_ok(const char *v, size_t len)
{
	if (len >= 2 && v[0] == '*' && v[1] == '.') {
		v += 2;
		len -= 2;
	}
	return len > 0 && domain_valid(v, len);
}

/* parse_max_age - 1*10DIGIT; above a year is a year */
static int
parse_max_age(const char *v, size_t len, long *out)
{
	long n = 0;

	if (len == 0 || len > 10)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		n = n * 10 + (v[i] - '0'); /* at most 9999999999: fits a long */
	}
	*out = n > MTASTS_MAX_AGE_MAX ? MTASTS_MAX_AGE_MAX : n;
	return 0;
}

int
mtasts_policy_parse(const char *buf, size_t len, struct mtasts_policy *p, char *err,
                    size_t errsz)
{
	const char *s = buf, *end = buf + len;
	int have_version = 0, have_mode = 0, have_age = 0;
	size_t lineno = 0;

	memset(p, 0, sizeof(*p));
	if (len > MTASTS_POLICY_MAX) {
		seterr(err, errsz, "policy too long", 0);
		return -1;
	}
	while (s < end) {
		const char *eol = memchr(s, '\n', (size_t)(end - s));
		const char *le = eol != NULL ? eol : end;
		const char *next = eol != NULL ? eol + 1 : end;
		lineno++;
		if (le > s && le[-1] == '\r')
			le--;
		for (const char *q = s; q < le; q++)
			if ((unsigned char)*q < 0x20 && *q != '\t') {
				seterr(err, errsz, "control character", lineno);
				return -1;
			}
		/* trailing WSP is part of the grammar; leading is not */
		while (le > s && is_wsp(le[-1]))
			le--;
		if (le == s) {
			s = next;
			continue;
		}
		const char *colon = memchr(s, ':', (size_t)(le - s));
		if (colon == NULL || colon == s) {
			seterr(err, errsz, "not a key: value line", lineno);
			return -1;
		}
		size_t klen = (size_t)(colon - s);
		const char *v = colon + 1;
		while (v < le && is_wsp(*v))
			v++;
		size_t vlen = (size_t)(le - v);
		if (klen == 7 && memcmp(s, "version", 7) == 0) {
			if (!have_version) {
				if (vlen != 5 || memcmp(v, "STSv1", 5) != 0) {
					seterr(err, errsz, "version is not STSv1",
					       lineno);
					return -1;
				}
				have_version = 1;
			}
		} else if (klen == 4 && memcmp(s, "mode", 4) == 0) {
			if (!have_mode) {
				if (vlen == 7 && memcmp(v, "enforce", 7) == 0)
					p->mode = MTASTS_ENFORCE;
				else if (vlen == 7 && memcmp(v, "testing", 7) == 0)
					p->mode = MTASTS_TESTING;
				else if (vlen == 4 && memcmp(v, "none", 4) == 0)
					p->mode = MTASTS_NONE;
				else {
					seterr(err, errsz, "unknown mode", lineno);
					return -1;
				}
				have_mode = 1;
			}
		} else if (klen == 7 && memcmp(s, "max_age", 7) == 0) {
			if (!have_age) {
				if (parse_max_age(v, vlen, &p->max_age) == -1) {
					seterr(err, errsz, "max_age is not a number",
					       lineno);
					return -1;
				}
				have_age = 1;
			}
		} else if (klen == 2 && memcmp(s, "mx", 2) == 0) {
			if (vlen > MTASTS_PATTERN_MAX || !pattern_ok(v, vlen)) {
				seterr(err, errsz, "bad mx pattern", lineno);
				return -1;
			}
			if (p->nmx == MTASTS_MX_MAX) {
				seterr(err, errsz, "too many mx lines", lineno);
				return -1;
			}
			memcpy(p->mx[p->nmx], v, vlen);
			p->mx[p->nmx][vlen] = '\0';
			ascii_lower(p->mx[p->nmx]);
			p->nmx++;
		}
		/* other keys: extensions, ignored (§3.2) */
		s = next;
	}
	if (!have_version || !have_mode || !have_age) {
		seterr(err, errsz,
		       !have_version ? "no version"
		       : !have_mode  ? "no mode"
		                     : "no max_age",
		       lineno);
		return -1;
	}
	if (p->nmx == 0 && p->mode != MTASTS_NONE) {
		seterr(err, errsz, "no mx", lineno);
		return -1;
	}
	return 0;
}

int
mtasts_policy_format(const struct mtasts_policy *p, char *buf, size_t bufsz)
{
	size_t o = 0;
	int n;

	n = snprintf(buf, bufsz, "version: STSv1\nmode: %s\nmax_age: %ld\n",
	             mtasts_mode_name(p->mode), p->max_age);
	if (n < 0 || (size_t)n >= bufsz)
		return -1;
	o = (size_t)n;
	for (size_t i = 0; i < p->nmx; i++) {
		n = snprintf(buf + o, bufsz - o, "mx: %s\n", p->mx[i]);
		if (n < 0 || (size_t)n >= bufsz - o)
			return -1;
		o += (size_t)n;
	}
	return (int)o;
}

int
mtasts_mx_match(const struct mtasts_policy *p, const char *host)
{
	char h[MTASTS_PATTERN_MAX + 2];
	size_t len = ascii_lower_copy(h, host, sizeof(h));

	if (len >= sizeof(h))
		return 0; /* too long to be any pattern */
	if (len > 0 && h[len - 1] == '.')
		h[--len] = '\0';
	const char *dot = strchr(h, '.');
	for (size_t i = 0; i < p->nmx; i++) {
		const char *pat = p->mx[i];
		if (pat[0] == '*' && pat[1] == '.') {
			/* "*" is one whole label: "a.b.example.net" is not matched */
			if (dot != NULL && dot > h && strcmp(dot + 1, pat + 2) == 0)
				return 1;
		} else if (strcmp(h, pat) == 0)
			return 1;
	}
	return 0;
}
