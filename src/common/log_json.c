/* SPDX-License-Identifier: ISC */
/*
 * log_json.c - a logfmt log line turned into one JSON object (log_json.h).
 *
 * The message is read twice: once for its words (the "msg" member), once
 * for its fields, so that the object reads in the order of the text line's
 * head. A field is KEY=VALUE with KEY of letters, digits, '_', '.' and
 * '-'; VALUE is bare up to the next space, or quoted as log_escape() quotes
 * (a quote that is not closed takes the rest of the line). Anything else
 * is a word.
 * SECURITY: the message holds client text, escaped by log_escape(); it is
 * read within its NUL, each value is decoded into a buffer as long as the
 * message, and json_quote() bounds what is written.
 */
#include <stdio.h>
#include <string.h>

#include "common/ascii.h"
#include "common/json.h"
#include "common/log_json.h"

struct token {
	const char *key, *val; /* key NULL: a word (in val) */
	size_t keylen, vallen;
	int quoted;
};

static int
key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

/* next_token - the token at *p (spaces skipped); 0 at the end of msg */
static int
next_token(const char **p, struct token *t)
{
	const char *s = *p, *k;

	while (*s == ' ')
		s++;
	if (*s == '\0')
		return 0;
	memset(t, 0, sizeof(*t));
	for (k = s; key_char(*k); k++)
		;
	if (k > s && *k == '=') {
		t->key = s;
		t->keylen = (size_t)(k - s);
		s = k + 1;
		if (*s == '"') {
			t->quoted = 1;
			t->val = ++s;
			while (*s != '\0' && *s != '"') {
				if (*s == '\\' && s[1] != '\0')
					s++;
				s++;
			}
			t->vallen = (size_t)(s - t->val);
			if (*s == '"')
				s++;
			*p = s;
			return 1;
		}
	}
	t->val = s; /* a bare value, or a word */
	while (*s != '\0' && *s != ' ')
		s++;
	t->vallen = (size_t)(s - t->val);
	*p = s;
	return 1;
}

/* unquote - a quoted logfmt value back to its octets; out holds len */
static size_t
unquote(char *out, const char *v, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		if (v[i] == '\\' && i + 1 < len &&
		    (v[i + 1] == '"' || v[i + 1] == '\\')) {
			out[o++] = v[++i];
		} else if (v[i] == '\\' && i + 3 < len && v[i + 1] == 'x' &&
		           ascii_hexval(v[i + 2]) >= 0 && ascii_hexval(v[i + 3]) >= 0) {
			out[o++] =
			    (char)(ascii_hexval(v[i + 2]) << 4 | ascii_hexval(v[i + 3]));
			i += 3;
		} else
			out[o++] = v[i];
	}
	return o;
}

/* The object being written: room for "}\n" is kept back. */
struct jout {
	char *d;
	size_t sz; /* dstsz less "}\n" */
	size_t o;
	int full;
};

/* member - "key":"value" (a comma before all but the first) */
static void
member(struct jout *j, const char *key, size_t keylen, int rename, const char *val,
       size_t vallen)
{
	/* ,"key_": then at least an empty string and the NUL */
	size_t need = 1 + 1 + keylen + 1 + 2 + 8;

	if (j->full || j->o + need > j->sz) {
		j->full = 1;
		return;
	}
	if (j->o > 1)
		j->d[j->o++] = ',';
	j->d[j->o++] = '"';
	memcpy(j->d + j->o, key, keylen);
	j->o += keylen;
	if (rename)
		j->d[j->o++] = '_';
	j->d[j->o++] = '"';
	j->d[j->o++] = ':';
	j->o = json_quote(j->d, j->sz, j->o, val, vallen);
}

static int
reserved(const char *key, size_t len)
{
	static const char *const names[] = {"time", "level", "process", "pid", "msg"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i]) == len && memcmp(names[i], key, len) == 0)
			return 1;
	return 0;
}

size_t
log_json_line(char *dst, size_t dstsz, const char *time, const char *level,
              const char *process, int pid, const char *msg)
{
	char words[LOG_MSG_MAX], val[LOG_MSG_MAX], num[16];
	size_t nwords = 0, msglen = strlen(msg);
	struct jout j = {dst, dstsz - 2, 0, 0};
	struct token t;
	const char *p;

	if (dstsz < 64) { /* not even the head: nothing */
		if (dstsz > 0)
			dst[0] = '\0';
		return 0;
	}
	if (msglen >= LOG_MSG_MAX)
		msglen = LOG_MSG_MAX - 1; /* as the text line is cut */
	dst[j.o++] = '{';
	if (time != NULL) /* syslog stamps its own */
		member(&j, "time", 4, 0, time, strlen(time));
	member(&j, "level", 5, 0, level, strlen(level));
	member(&j, "process", 7, 0, process, strlen(process));
	snprintf(num, sizeof(num), "%d", pid);
	member(&j, "pid", 3, 0, num, strlen(num));
	/* The words, one space apart. */
	for (p = msg; p < msg + msglen && next_token(&p, &t);)
		if (t.key == NULL && nwords + t.vallen + 1 < sizeof(words)) {
			if (nwords > 0)
				words[nwords++] = ' ';
			memcpy(words + nwords, t.val, t.vallen);
			nwords += t.vallen;
		}
	member(&j, "msg", 3, 0, words, nwords);
	for (p = msg; p < msg + msglen && next_token(&p, &t);) {
		if (t.key == NULL)
			continue;
		size_t n = t.vallen < sizeof(val) ? t.vallen : sizeof(val);
		if (t.quoted)
			n = unquote(val, t.val, n);
		else
			memcpy(val, t.val, n);
		member(&j, t.key, t.keylen, reserved(t.key, t.keylen), val, n);
	}
	dst[j.o++] = '}';
	dst[j.o++] = '\n';
	dst[j.o] = '\0';
	return j.o;
}
