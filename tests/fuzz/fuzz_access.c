/* SPDX-License-Identifier: ISC */
/*
 * fuzz_access.c - libFuzzer target for the access list files (src/policy/
 * access.c): access_load() on arbitrary file text, as a client, a helo and
 * a sender list, and the matching of client data against a list that loads.
 *
 * access_load() takes a path, so the input is written to a file in a
 * scratch directory (on tmpfs when there is one) and loaded as each kind.
 * Checked against a plain reading of the format written here (access.h;
 * cidr_parse() and domain_valid() judge the parts of a pattern): a list
 * loads exactly when every line fits (1024 octets), has no NUL before its
 * end of line and is blank, a comment or a rule with a known action and a
 * pattern valid for the kind; it then holds one rule per such line. Every
 * rule is looked up with a subject it names (the pattern in the file's own
 * letters, a name under a "*." domain, the address of a block, an address
 * in a domain): the first match is at that line or an earlier one. Every
 * word of the file is also tried as a client name and address, a HELO name
 * and a sender. Whatever matches gives the file's name and the line, action
 * and reply text (printable, trimmed) of a rule of the file.
 */
#include <fcntl.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/mailaddr.h"
#include "common/netaddr.h"
#include "fuzz.h"
#include "policy/access.h"

#define LINE_MAX_OCTETS 1024 /* ACCESS_LINE_MAX in access.c */
#define WORDS_MAX       64   /* words of a file tried as subjects */

/* one line of the file as the reference reads it */
struct ref_line {
	int rule;                  /* a rule (not blank, not a comment) */
	char pat[LINE_MAX_OCTETS]; /* as written, before lower-casing */
	enum access_action action;
	char text[LINE_MAX_OCTETS]; /* the reply text as stored; "" for none */
};

struct ref {
	struct ref_line *line; /* line[0] is line 1 */
	int nlines;
	size_t nrules;
	int ok; /* the whole file is valid for this kind */
};

static char dir[256], path[300];
static FILE *devnull;

static void
cleanup(void)
{
	unlink(path);
	rmdir(dir);
}

static void
setup(void)
{
	struct stat st;
	const char *base = stat("/dev/shm", &st) == 0 ? "/dev/shm" : "/tmp";

	snprintf(dir, sizeof(dir), "%s/fuzz-access-XXXXXX", base);
	REQUIRE(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/access", dir);
	devnull = fopen("/dev/null", "w");
	REQUIRE(devnull != NULL);
	atexit(cleanup);
}

static void
put(const uint8_t *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);

	REQUIRE(fd != -1);
	REQUIRE(size == 0 || write(fd, data, size) == (ssize_t)size);
	close(fd);
}

static int
is_delim(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* action_of - the action a word names, ACCESS_NONE for none */
static enum access_action
action_of(const char *w, size_t n)
{
	if (n == 5 && strncasecmp(w, "allow", 5) == 0)
		return ACCESS_ALLOW;
	if (n == 4 && strncasecmp(w, "deny", 4) == 0)
		return ACCESS_DENY;
	if (n == 8 && strncasecmp(w, "tempfail", 8) == 0)
		return ACCESS_TEMPFAIL;
	return ACCESS_NONE;
}

/* pattern_ok - access.h's patterns for each kind of list */
static int
pattern_ok(enum access_kind kind, const char *p)
{
	size_t len = strlen(p);
	struct cidr c;
	const char *at;

	if (kind == ACCESS_CLIENT && cidr_parse(&c, p) == 0)
		return 1;
	if (kind == ACCESS_HELO && p[0] == '[' && len >= 2 && p[len - 1] == ']')
		return 1;
	if (kind == ACCESS_SENDER && strcmp(p, "<>") == 0)
		return 1;
	if (strncmp(p, "*.", 2) == 0)
		return domain_valid(p + 2, len - 2);
	if (kind != ACCESS_SENDER)
		return domain_valid(p, len);
	if ((at = strrchr(p, '@')) == NULL)
		return domain_valid(p, len);
	return (size_t)(at - p) <= MAILADDR_LOCAL_MAX &&
	       domain_valid(at + 1, strlen(at + 1));
}

/*
 * read_line - one line (s, n octets, without its LF; a NUL ends what is
 * seen of it) into l; 0 if it is valid for kind
 */
static int
read_line(enum access_kind kind, const char *s, size_t n, struct ref_line *l)
{
	size_t i = 0, j, pn, an;
	const char *pat, *act;
	char lower[LINE_MAX_OCTETS];

	memset(l, 0, sizeof(*l));
	n = strnlen(s, n);
	for (j = 0; j < n; j++)
		if (s[j] == '#')
			n = j;
	while (i < n && is_delim(s[i]))
		i++;
	if (i == n)
		return 0;
	l->rule = 1;
	pat = s + i;
	while (i < n && !is_delim(s[i]))
		i++;
	pn = (size_t)(s + i - pat);
	memcpy(l->pat, pat, pn);
	while (i < n && is_delim(s[i]))
		i++;
	act = s + i;
	while (i < n && !is_delim(s[i]))
		i++;
	an = (size_t)(s + i - act);
	if (an == 0 || (l->action = action_of(act, an)) == ACCESS_NONE)
		return -1;
	/* The text: after the octet that ended the action, up to a CR; CRs
	 * before it are skipped, then blanks; the rest shows as printable. */
	if (i < n) {
		i++;
		while (i < n && s[i] == '\r')
			i++;
		j = i;
		while (j < n && s[j] != '\r')
			j++;
		while (i < j && (s[i] == ' ' || s[i] == '\t'))
			i++;
		for (size_t k = 0; i + k < j; k++) {
			unsigned char c = (unsigned char)s[i + k];
			l->text[k] = c < 32 || c > 126 ? '?' : (char)c;
		}
	}
	for (j = 0; j <= pn; j++)
		lower[j] = l->pat[j] >= 'A' && l->pat[j] <= 'Z' ? (char)(l->pat[j] + 32)
		                                                : l->pat[j];
	return pattern_ok(kind, lower) ? 0 : -1;
}

/* reference - how the file reads as a list of kind */
static void
reference(enum access_kind kind, const char *data, size_t size, struct ref *r)
{
	const char *p = data, *end = data + size;
	size_t lines = 1;

	for (const char *q = data; q < end; q++)
		lines += *q == '\n';
	r->line = calloc(lines, sizeof(*r->line));
	REQUIRE(r->line != NULL);
	r->nlines = 0;
	r->nrules = 0;
	r->ok = 1;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		struct ref_line *l = &r->line[r->nlines++];

		if (n > LINE_MAX_OCTETS || (nl != NULL && memchr(p, '\0', n) != NULL))
			r->ok = 0; /* too long, or cut short by a NUL */
		else if (read_line(kind, p, n, l) == -1)
			r->ok = 0;
		else if (l->rule)
			r->nrules++;
		p = nl != NULL ? nl + 1 : end;
	}
}

/* check_hit - a match names a rule of the file, with its action and text */
static void
check_hit(const struct ref *r, const struct access_match *m)
{
	const struct ref_line *l;

	REQUIRE(m->file != NULL && strcmp(m->file, path) == 0);
	REQUIRE(m->line >= 1 && m->line <= r->nlines);
	l = &r->line[m->line - 1];
	REQUIRE(l->rule && m->action == l->action);
	if (m->text == NULL)
		REQUIRE(l->text[0] == '\0');
	else
		REQUIRE(m->text[0] != '\0' && strcmp(m->text, l->text) == 0);
}

/* expect - found at line no or before it */
static void
expect(const struct ref *r, int found, const struct access_match *m, int no)
{
	REQUIRE(found == 1);
	check_hit(r, m);
	REQUIRE(m->line <= no);
}

/* lookup - subject s of the list's kind; a hit is a rule of the file */
static int
lookup(const struct access_list *al, enum access_kind kind, const struct ref *r,
       const struct netaddr *na, const char *s, struct access_match *m)
{
	int found;

	if (kind == ACCESS_CLIENT)
		found = access_client(al, na, s, m);
	else if (kind == ACCESS_HELO)
		found = access_helo(al, s, m);
	else
		found = access_sender(al, s, m);
	REQUIRE(found == 0 || found == 1);
	if (found)
		check_hit(r, m);
	else
		REQUIRE(m->action == ACCESS_NONE && m->text == NULL);
	return found;
}

/* check_rule - a subject that rule no names is found there or earlier */
static void
check_rule(const struct access_list *al, enum access_kind kind, const struct ref *r,
           int no)
{
	const char *p = r->line[no - 1].pat;
	char s[LINE_MAX_OCTETS + 8];
	struct netaddr na;
	struct access_match m;
	struct cidr c;

	netaddr_parse(&na, "192.0.2.1");
	if (kind == ACCESS_CLIENT && cidr_parse(&c, p) == 0) {
		/* the address as written, before any "/prefix" */
		snprintf(s, sizeof(s), "%.*s", (int)strcspn(p, "/"), p);
		REQUIRE(netaddr_parse(&na, s) == 0);
		expect(r, lookup(al, kind, r, &na, NULL, &m), &m, no);
		return;
	}
	if (kind == ACCESS_SENDER) {
		if (strcmp(p, "<>") == 0)
			s[0] = '\0'; /* the null sender */
		else if (strncmp(p, "*.", 2) == 0)
			snprintf(s, sizeof(s), "x@y.%s", p + 2);
		else if (strrchr(p, '@') == p) /* "@domain"; "@a@b" is an address */
			snprintf(s, sizeof(s), "x%s", p);
		else if (strchr(p, '@') == NULL)
			snprintf(s, sizeof(s), "x@%s", p);
		else
			snprintf(s, sizeof(s), "%s", p);
	} else if (strncmp(p, "*.", 2) == 0)
		snprintf(s, sizeof(s), "x.%s", p + 2);
	else
		snprintf(s, sizeof(s), "%s", p);
	/* "unknown" is the client without a confirmed name: no name rule
	 * applies to it */
	if (kind == ACCESS_CLIENT && strcmp(s, "unknown") == 0)
		return;
	expect(r, lookup(al, kind, r, &na, s, &m), &m, no);
}

/* try_words - every word of the file as a subject of any kind */
static void
try_words(const struct access_list *al, enum access_kind kind, const struct ref *r,
          const char *text)
{
	const char *p = text;
	int nwords = 0;

	while (*p != '\0' && nwords < WORDS_MAX) {
		size_t n = strcspn(p, " \t\r\n");
		char w[LINE_MAX_OCTETS + 8];
		struct access_match m;
		struct netaddr na;

		if (n == 0 || n >= sizeof(w)) {
			p += n == 0 ? 1 : n;
			continue;
		}
		memcpy(w, p, n);
		w[n] = '\0';
		p += n;
		nwords++;
		if (kind == ACCESS_CLIENT) {
			/* the word as an address (a block's, without its prefix) */
			char a[LINE_MAX_OCTETS + 8];
			memcpy(a, w, n + 1);
			a[strcspn(a, "/")] = '\0';
			if (netaddr_parse(&na, a) == 0)
				lookup(al, kind, r, &na, NULL, &m);
		}
		netaddr_parse(&na, "2001:db8::1");
		lookup(al, kind, r, &na, w, &m);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum access_kind kinds[] = {ACCESS_CLIENT, ACCESS_HELO,
	                                         ACCESS_SENDER};
	char *text;

	if (dir[0] == '\0')
		setup();
	put(data, size);
	text = malloc(size + 1);
	REQUIRE(text != NULL);
	memcpy(text, data, size);
	text[size] = '\0';

	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		struct access_list *al = access_load(path, kinds[k], devnull);
		struct ref r;

		reference(kinds[k], text, size, &r);
		REQUIRE((al != NULL) == r.ok);
		if (al != NULL) {
			REQUIRE(access_count(al) == r.nrules);
			for (int i = 1; i <= r.nlines; i++)
				if (r.line[i - 1].rule)
					check_rule(al, kinds[k], &r, i);
			try_words(al, kinds[k], &r, text);
			access_free(al);
		}
		free(r.line);
	}
	free(text);
	return 0;
}
