/* SPDX-License-Identifier: ISC */
/*
 * sigset.c - reading the signatures file and compiling it (sig.h): each
 * rule is compiled alone first, so that an error names its line, then the
 * rules of each stage are joined into one PCRE2 expression, each
 * alternative ending in a callout that names its rule (sigmatch.c).
 * SECURITY: the file is the administrator's, read once at start and on
 * reload and bounded (SIGFILE_MAX, SIGLINE_MAX); nothing in it reaches a
 * shell or a format string.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/xmalloc.h"
#include "sig/sig_int.h"

#define SIGFILE_MAX  (1024 * 1024)
#define SIGLINE_MAX  8192
#define COMPILE_OPTS (PCRE2_NEVER_UTF | PCRE2_NEVER_UCP | PCRE2_NEVER_BACKSLASH_C)

static const char *const stage_names[SIG_NSTAGES] = {
    [SIG_CONNECT] = "connect", [SIG_COMMAND] = "command", [SIG_HELO] = "helo",
    [SIG_MAIL] = "mail",       [SIG_RCPT] = "rcpt",       [SIG_AUTH] = "auth",
    [SIG_HEADER] = "header",   [SIG_TLS] = "tls",         [SIG_DATA] = "data",
};
_Static_assert(sizeof(stage_names) / sizeof(stage_names[0]) == SIG_NSTAGES,
               "a name for every stage");

const char *
sig_stage_name(enum sig_stage st)
{
	return (unsigned)st < SIG_NSTAGES ? stage_names[st] : "?";
}

struct reader {
	const char *name;
	unsigned line;
	FILE *err;
	int errors;
};

static void
bad(struct reader *rd, const char *fmt, ...)
{
	va_list ap;

	rd->errors++;
	if (rd->err == NULL)
		return;
	fprintf(rd->err, "%s:%u: ", rd->name, rd->line);
	va_start(ap, fmt);
	vfprintf(rd->err, fmt, ap);
	va_end(ap);
	fputc('\n', rd->err);
}

/* next_token - the next blank-separated word of *p, NUL-terminated in place */
static char *
next_token(char **p)
{
	char *s = *p, *t;

	while (*s == ' ' || *s == '\t')
		s++;
	if (*s == '\0')
		return NULL;
	t = s;
	while (*s != '\0' && *s != ' ' && *s != '\t')
		s++;
	if (*s != '\0')
		*s++ = '\0';
	*p = s;
	return t;
}

static int
parse_stages(struct reader *rd, char *list, unsigned *out)
{
	char *save = NULL;

	*out = 0;
	for (char *w = strtok_r(list, ",", &save); w != NULL;
	     w = strtok_r(NULL, ",", &save)) {
		int i;
		for (i = 0; i < SIG_NSTAGES; i++)
			if (strcmp(w, stage_names[i]) == 0)
				break;
		if (i == SIG_NSTAGES) {
			bad(rd,
			    "unknown stage \"%.40s\" (connect, command, helo, mail, "
			    "rcpt, "
			    "auth, header, tls, data)",
			    w);
			return -1;
		}
		*out |= 1u << i;
	}
	if (*out == 0) {
		bad(rd, "no stage");
		return -1;
	}
	return 0;
}

static int
parse_number(const char *s, long max, long *out)
{
	char *end;
	long v;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < 0 || v > max)
		return -1;
	*out = v;
	return 0;
}

/* escape_literal - text as a PCRE2 expression that matches it exactly */
static char *
escape_literal(const char *text, size_t len)
{
	char *out = xmalloc(len * 6 + 1), *o = out;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];
		if (isalnum(c))
			*o++ = (char)c;
		else if (c > 32 && c < 127) {
			*o++ = '\\';
			*o++ = (char)c;
		} else
			o += snprintf(o, 7, "\\x{%02x}", c); /* 6 octets and the NUL */
	}
	*o = '\0';
	return out;
}

/*
 * balanced - no ')' of text closes a group it did not open: the rule is
 * put inside "(?:" and ")" and joined with others, and "a)|(b" would
 * leave its first half outside its group, without the callout that names
 * it. Escapes, \Q..\E, character classes and (?#...) comments are skipped
 * as PCRE2 reads them; what this misjudges, compiling alone then catches.
 */
static int
balanced(const char *t)
{
	int depth = 0;

	while (*t != '\0') {
		if (t[0] == '\\' && t[1] == 'Q') {
			const char *e = strstr(t + 2, "\\E");
			if (e == NULL)
				return depth == 0;
			t = e + 2;
		} else if (t[0] == '\\') {
			t += t[1] != '\0' ? 2 : 1;
		} else if (t[0] == '[') {
			t++;
			if (*t == '^')
				t++;
			if (*t == ']')
				t++;
			while (*t != '\0' && *t != ']') {
				if (t[0] == '[' && t[1] == ':') {
					const char *e = strstr(t + 2, ":]");
					t = e != NULL ? e + 2 : t + 1;
				} else if (t[0] == '\\' && t[1] != '\0')
					t += 2;
				else
					t++;
			}
			if (*t == ']')
				t++;
		} else if (t[0] == '(' && t[1] == '?' && t[2] == '#') {
			const char *e = strchr(t, ')');
			t = e != NULL ? e + 1 : t + strlen(t);
		} else {
			if (*t == '(')
				depth++;
			else if (*t == ')' && --depth < 0)
				return 0;
			t++;
		}
	}
	return depth == 0;
}

/* check_alone - compile one rule's expression by itself: its errors, its line */
static int
check_alone(struct reader *rd, const char *pat)
{
	int code;
	PCRE2_SIZE off;
	uint32_t backrefs = 0;
	pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED,
	                               COMPILE_OPTS, &code, &off, NULL);

	if (re == NULL) {
		PCRE2_UCHAR msg[160];
		pcre2_get_error_message(code, msg, sizeof(msg));
		bad(rd, "bad expression at offset %zu: %s", (size_t)off,
		    (const char *)msg);
		return -1;
	}
	(void)pcre2_pattern_info(re, PCRE2_INFO_BACKREFMAX, &backrefs);
	if (backrefs > 0) {
		bad(rd, "backreferences are not allowed (rules are joined into one "
		        "expression)");
		pcre2_code_free(re);
		return -1;
	}
	pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
	int rc = pcre2_match(re, (PCRE2_SPTR) "", 0, 0, 0, md, NULL);
	pcre2_match_data_free(md);
	pcre2_code_free(re);
	if (rc >= 0) {
		bad(rd, "the expression matches empty text (it would match every line)");
		return -1;
	}
	return 0;
}

/* parse_line - one rule; 0 and the rule filled, or -1 (reported) */
static int
parse_line(struct reader *rd, char *line, struct sig_rule *r, char **pattern)
{
	char *p = line, *id, *stages, *score, *ref, *rest;
	long v;

	id = next_token(&p);
	stages = next_token(&p);
	score = next_token(&p);
	ref = next_token(&p);
	while (*p == ' ' || *p == '\t')
		p++;
	rest = p;
	if (id == NULL || stages == NULL || score == NULL || ref == NULL ||
	    *rest == '\0') {
		bad(rd, "a rule is: ID STAGES SCORE REFERENCE [longer=N] KIND:TEXT");
		return -1;
	}
	memset(r, 0, sizeof(*r));
	r->line = rd->line;
	if (strlen(id) > SIG_ID_MAX ||
	    strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
	               "qrstuvwxyz0123456789._-") != strlen(id)) {
		bad(rd,
		    "rule id \"%.80s\": letters, digits, '.', '_' and '-', at most %d",
		    id, SIG_ID_MAX);
		return -1;
	}
	strlcpy(r->id, id, sizeof(r->id));
	if (parse_stages(rd, stages, &r->stages) == -1)
		return -1;
	if (parse_number(score, 1000, &v) == -1) {
		bad(rd, "score \"%.40s\": a number from 0 to 1000", score);
		return -1;
	}
	r->score = (int)v;
	if (strlen(ref) > SIG_REF_MAX) {
		bad(rd, "reference longer than %d octets", SIG_REF_MAX);
		return -1;
	}
	for (const char *c = ref; *c; c++)
		if (*c < 33 || *c > 126) {
			bad(rd, "reference: printable ASCII only");
			return -1;
		}
	strlcpy(r->ref, ref, sizeof(r->ref));
	if (strncmp(rest, "longer=", 7) == 0) {
		char *opt = next_token(&rest);
		if (parse_number(opt + 7, SIG_TEXT_MAX * 64L, &v) == -1 || v == 0) {
			bad(rd, "longer=N: a length from 1 to %ld", SIG_TEXT_MAX * 64L);
			return -1;
		}
		r->longer = (size_t)v;
		while (*rest == ' ' || *rest == '\t')
			rest++;
	}
	char *colon = strchr(rest, ':');
	if (colon == NULL || colon[1] == '\0') {
		bad(rd, "the match: lit:TEXT, icase:TEXT or re:EXPRESSION");
		return -1;
	}
	*colon = '\0';
	const char *text = colon + 1;
	size_t tlen = strlen(text);
	if (strcmp(rest, "lit") == 0 || strcmp(rest, "icase") == 0) {
		char *esc = escape_literal(text, tlen);
		size_t n = strlen(esc) + 8;
		*pattern = xmalloc(n);
		snprintf(*pattern, n, "%s%s)", rest[0] == 'i' ? "(?i:" : "(?:", esc);
		free(esc);
	} else if (strcmp(rest, "re") == 0) {
		/* verbs such as (*COMMIT) or (*ACCEPT), and callouts, would
		 * stop or confuse the other rules' alternatives */
		if (strstr(text, "(*") != NULL || strstr(text, "(?C") != NULL) {
			bad(rd,
			    "backtracking control verbs and callouts are not allowed");
			return -1;
		}
		if (!balanced(text)) {
			bad(rd, "unbalanced parentheses");
			return -1;
		}
		size_t n = tlen + 8;
		*pattern = xmalloc(n);
		snprintf(*pattern, n, "(?:%s)", text);
	} else {
		bad(rd, "match kind \"%.20s\": lit, icase or re", rest);
		return -1;
	}
	if (check_alone(rd, *pattern) == -1) {
		free(*pattern);
		*pattern = NULL;
		return -1;
	}
	return 0;
}

/* join - one expression for a stage: (?:rule)(?C{i})|... */
static int
join(struct sigset *set, char **patterns, int stage, FILE *err, const char *name)
{
	size_t cap = 1, n = 0;
	char *all;
	int code;
	PCRE2_SIZE off;

	for (size_t i = 0; i < set->nrules; i++)
		if (set->rules[i].stages & (1u << stage))
			cap += strlen(patterns[i]) + 24;
	if (cap == 1)
		return 0;
	all = xmalloc(cap);
	all[0] = '\0';
	for (size_t i = 0; i < set->nrules; i++)
		if (set->rules[i].stages & (1u << stage))
			n += (size_t)snprintf(all + n, cap - n, "%s%s(?C{%zu})",
			                      n ? "|" : "", patterns[i], i);
	set->stage_re[stage] =
	    pcre2_compile((PCRE2_SPTR)all, n, COMPILE_OPTS, &code, &off, NULL);
	free(all);
	if (set->stage_re[stage] == NULL) {
		PCRE2_UCHAR msg[160];
		pcre2_get_error_message(code, msg, sizeof(msg));
		if (err != NULL)
			fprintf(err, "%s: the %s rules together do not compile: %s\n",
			        name, stage_names[stage], (const char *)msg);
		return -1;
	}
	/* JIT where the CPU has it; the interpreter otherwise, same limits */
	(void)pcre2_jit_compile(set->stage_re[stage], PCRE2_JIT_COMPLETE);
	return 0;
}

struct sigset *
sigset_parse(const char *name, const char *buf, size_t len, FILE *err)
{
	struct reader rd = {name, 0, err, 0};
	struct sigset *set = xcalloc(1, sizeof(*set));
	char **patterns = xcalloc(SIG_RULES_MAX, sizeof(*patterns));
	char line[SIGLINE_MAX + 1];
	size_t pos = 0;

	set->rules = xcalloc(SIG_RULES_MAX, sizeof(*set->rules));
	while (pos < len) {
		const char *eol = memchr(buf + pos, '\n', len - pos);
		size_t n = eol ? (size_t)(eol - (buf + pos)) : len - pos;
		const char *l = buf + pos;

		pos += n + (eol != NULL);
		rd.line++;
		if (n > 0 && l[n - 1] == '\r')
			n--;
		if (n > SIGLINE_MAX) {
			bad(&rd, "line longer than %d octets", SIGLINE_MAX);
			continue;
		}
		if (memchr(l, '\0', n) != NULL) {
			bad(&rd, "NUL octet in the line");
			continue;
		}
		memcpy(line, l, n);
		line[n] = '\0';
		while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t'))
			line[--n] = '\0';
		size_t lead = strspn(line, " \t");
		if (line[lead] == '\0' || line[lead] == '#')
			continue;
		if (set->nrules == SIG_RULES_MAX) {
			bad(&rd, "more than %d rules", SIG_RULES_MAX);
			break;
		}
		struct sig_rule *r = &set->rules[set->nrules];
		if (parse_line(&rd, line + lead, r, &patterns[set->nrules]) == -1)
			continue;
		for (size_t i = 0; i < set->nrules; i++)
			if (strcmp(set->rules[i].id, r->id) == 0) {
				bad(&rd, "rule id %s again (first on line %u)", r->id,
				    set->rules[i].line);
				free(patterns[set->nrules]);
				patterns[set->nrules] = NULL;
				r = NULL;
				break;
			}
		if (r != NULL)
			set->nrules++;
	}
	for (int st = 0; st < SIG_NSTAGES && rd.errors == 0; st++)
		if (join(set, patterns, st, err, name) == -1)
			rd.errors++;
	for (size_t i = 0; i < SIG_RULES_MAX; i++)
		free(patterns[i]);
	free(patterns);
	if (rd.errors > 0) {
		sigset_free(set);
		return NULL;
	}
	sigmatch_setup(set);
	return set;
}

struct sigset *
sigset_load(const char *path, FILE *err)
{
	FILE *f = fopen(path, "r");
	struct sigset *set;
	char *buf;
	size_t len;

	if (f == NULL) {
		if (err != NULL)
			fprintf(err, "%s: %s\n", path, strerror(errno));
		return NULL;
	}
	buf = xmalloc(SIGFILE_MAX + 1);
	len = fread(buf, 1, SIGFILE_MAX + 1, f);
	if (ferror(f) || len > SIGFILE_MAX) {
		if (err != NULL)
			fprintf(err, "%s: %s\n", path,
			        ferror(f) ? strerror(errno) : "larger than 1 MiB");
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	set = sigset_parse(path, buf, len, err);
	free(buf);
	return set;
}

void
sigset_free(struct sigset *set)
{
	if (set == NULL)
		return;
	for (int st = 0; st < SIG_NSTAGES; st++)
		pcre2_code_free(set->stage_re[st]);
	sigmatch_teardown(set);
	free(set->rules);
	free(set);
}

size_t
sigset_count(const struct sigset *set, int stage)
{
	size_t n = 0;

	if (set == NULL)
		return 0;
	if (stage < 0)
		return set->nrules;
	for (size_t i = 0; i < set->nrules; i++)
		if (set->rules[i].stages & (1u << stage))
			n++;
	return n;
}
