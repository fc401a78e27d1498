/* SPDX-License-Identifier: ISC */
/*
 * access.c - access list files: parse once, match in order. The screen
 * section's files are read when a policy is built (policy_new(), in each
 * SMTP worker, as the run user) and checked by moatd before it starts or
 * reloads (access_lists_check()).
 *
 * SECURITY: parses the administrator's files (bounded lines, every field
 * validated); matches client data that the SMTP layer has bounded.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/ascii.h"
#include "common/mailaddr.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "policy/access.h"

#define ACCESS_LINE_MAX 1024

enum pat_kind { PAT_CIDR, PAT_NAME, PAT_WILD, PAT_ADDR, PAT_DOMAIN, PAT_NULL };

struct rule {
	enum pat_kind pk;
	struct cidr cidr;
	char *pat; /* lower case: name, domain (without "*." or "@"), address */
	enum access_action action;
	char *text;
	int line;
};

struct access_list {
	char *file;
	enum access_kind kind;
	struct rule *r;
	size_t n;
};

/* parse_pattern - one pattern for this kind of list; -1 if not valid */
static int
parse_pattern(enum access_kind kind, const char *p, struct rule *r)
{
	size_t len = strlen(p);

	if (kind == ACCESS_CLIENT && cidr_parse(&r->cidr, p) == 0) {
		r->pk = PAT_CIDR;
		return 0;
	}
	if (kind == ACCESS_HELO && p[0] == '[' && p[len - 1] == ']') {
		r->pk = PAT_NAME; /* an address literal, compared as text */
		r->pat = xstrdup(p);
		return 0;
	}
	if (kind == ACCESS_SENDER && strcmp(p, "<>") == 0) {
		r->pk = PAT_NULL;
		return 0;
	}
	if (strncmp(p, "*.", 2) == 0) {
		if (!domain_valid(p + 2, len - 2))
			return -1;
		r->pk = PAT_WILD;
		r->pat = xstrdup(p + 2);
		return 0;
	}
	if (kind == ACCESS_SENDER) {
		const char *at = strrchr(p, '@');
		if (at == p) {
			if (!domain_valid(p + 1, len - 1))
				return -1;
			r->pk = PAT_DOMAIN;
			r->pat = xstrdup(p + 1);
			return 0;
		}
		if (at != NULL) {
			if (at - p > MAILADDR_LOCAL_MAX ||
			    !domain_valid(at + 1, strlen(at + 1)))
				return -1;
			r->pk = PAT_ADDR;
			r->pat = xstrdup(p);
			return 0;
		}
		if (!domain_valid(p, len))
			return -1;
		r->pk = PAT_DOMAIN;
		r->pat = xstrdup(p);
		return 0;
	}
	if (!domain_valid(p, len))
		return -1;
	r->pk = PAT_NAME;
	r->pat = xstrdup(p);
	return 0;
}

struct access_list *
access_load(const char *path, enum access_kind kind, void *errfp)
{
	FILE *fp, *err = errfp;
	struct access_list *l;
	char line[ACCESS_LINE_MAX + 2];
	int lineno = 0, bad = 0;

	if ((fp = fopen(path, "r")) == NULL) {
		fprintf(err, "%s: %s\n", path, strerror(errno));
		return NULL;
	}
	l = xcalloc(1, sizeof(*l));
	l->file = xstrdup(path);
	l->kind = kind;
	while (fgets(line, sizeof(line), fp) != NULL) {
		char *save = NULL, *pat, *act, *text, *hash;
		struct rule r;

		lineno++;
		if (strchr(line, '\n') == NULL && !feof(fp)) {
			fprintf(err, "%s:%d: line longer than %d octets\n", path, lineno,
			        ACCESS_LINE_MAX);
			bad = 1;
			int c;
			while ((c = fgetc(fp)) != EOF && c != '\n')
				;
			continue;
		}
		if ((hash = strchr(line, '#')) != NULL)
			*hash = '\0';
		if ((pat = strtok_r(line, " \t\r\n", &save)) == NULL)
			continue;
		act = strtok_r(NULL, " \t\r\n", &save);
		text = strtok_r(NULL, "\r\n", &save);
		memset(&r, 0, sizeof(r));
		r.line = lineno;
		if (act == NULL) {
			fprintf(err,
			        "%s:%d: \"%s\" has no action (allow, deny or tempfail)\n",
			        path, lineno, pat);
			bad = 1;
			continue;
		}
		if (strcasecmp(act, "allow") == 0)
			r.action = ACCESS_ALLOW;
		else if (strcasecmp(act, "deny") == 0)
			r.action = ACCESS_DENY;
		else if (strcasecmp(act, "tempfail") == 0)
			r.action = ACCESS_TEMPFAIL;
		else {
			fprintf(
			    err,
			    "%s:%d: unknown action \"%s\" (allow, deny or tempfail)\n",
			    path, lineno, act);
			bad = 1;
			continue;
		}
		ascii_lower(pat);
		if (parse_pattern(kind, pat, &r) == -1) {
			fprintf(err, "%s:%d: \"%s\" is not a valid %s pattern\n", path,
			        lineno, pat,
			        kind == ACCESS_CLIENT ? "client"
			        : kind == ACCESS_HELO ? "helo"
			                              : "sender");
			bad = 1;
			continue;
		}
		if (text != NULL) {
			while (*text == ' ' || *text == '\t')
				text++;
			/* Reply text goes to the wire: printable ASCII only. */
			for (char *t = text; *t; t++)
				if ((unsigned char)*t < 32 || (unsigned char)*t > 126)
					*t = '?';
			if (*text)
				r.text = xstrdup(text);
		}
		l->r = xreallocarray(l->r, l->n + 1, sizeof(*l->r));
		l->r[l->n++] = r;
	}
	fclose(fp);
	if (bad) {
		access_free(l);
		return NULL;
	}
	return l;
}

void
access_free(struct access_list *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->n; i++) {
		free(l->r[i].pat);
		free(l->r[i].text);
	}
	free(l->r);
	free(l->file);
	free(l);
}

int
access_lists_load(struct access_lists *al, const struct screen_conf *s, void *err)
{
	const char *path[] = {s->client_access, s->helo_access, s->sender_access};
	const enum access_kind kind[] = {ACCESS_CLIENT, ACCESS_HELO, ACCESS_SENDER};
	struct access_list **slot[] = {&al->client, &al->helo, &al->sender};
	int bad = 0;

	memset(al, 0, sizeof(*al));
	/* All three are read, so that one run reports every broken file. */
	for (size_t i = 0; i < 3; i++)
		if (path[i] != NULL &&
		    (*slot[i] = access_load(path[i], kind[i], err)) == NULL)
			bad = 1;
	if (bad)
		access_lists_free(al);
	return bad ? -1 : 0;
}

void
access_lists_free(struct access_lists *al)
{
	access_free(al->client);
	access_free(al->helo);
	access_free(al->sender);
	memset(al, 0, sizeof(*al));
}

int
access_lists_check(const struct screen_conf *s, void *err)
{
	struct access_lists al;

	if (access_lists_load(&al, s, err) == -1)
		return -1;
	access_lists_free(&al);
	return 0;
}

size_t
access_count(const struct access_list *l)
{
	return l ? l->n : 0;
}

/* under - name is a proper subdomain of dom (case-insensitive) */
static int
under(const char *name, const char *dom)
{
	size_t n = strlen(name), d = strlen(dom);
	return n > d + 1 && name[n - d - 1] == '.' && strcasecmp(name + n - d, dom) == 0;
}

static int
hit(const struct access_list *l, size_t i, struct access_match *m)
{
	m->action = l->r[i].action;
	m->text = l->r[i].text;
	m->line = l->r[i].line;
	m->file = l->file;
	return 1;
}

int
access_client(const struct access_list *l, const struct netaddr *na, const char *name,
              struct access_match *m)
{
	memset(m, 0, sizeof(*m));
	if (l == NULL)
		return 0;
	for (size_t i = 0; i < l->n; i++) {
		const struct rule *r = &l->r[i];
		if (r->pk == PAT_CIDR && cidr_match(&r->cidr, na))
			return hit(l, i, m);
		if (name == NULL || strcmp(name, "unknown") == 0)
			continue;
		if (r->pk == PAT_NAME && strcasecmp(r->pat, name) == 0)
			return hit(l, i, m);
		if (r->pk == PAT_WILD && under(name, r->pat))
			return hit(l, i, m);
	}
	return 0;
}

int
access_helo(const struct access_list *l, const char *helo, struct access_match *m)
{
	memset(m, 0, sizeof(*m));
	if (l == NULL || helo == NULL)
		return 0;
	for (size_t i = 0; i < l->n; i++) {
		const struct rule *r = &l->r[i];
		if (r->pk == PAT_NAME && strcasecmp(r->pat, helo) == 0)
			return hit(l, i, m);
		if (r->pk == PAT_WILD && under(helo, r->pat))
			return hit(l, i, m);
	}
	return 0;
}

int
access_sender(const struct access_list *l, const char *sender, struct access_match *m)
{
	const char *at;

	memset(m, 0, sizeof(*m));
	if (l == NULL)
		return 0;
	at = strrchr(sender, '@');
	for (size_t i = 0; i < l->n; i++) {
		const struct rule *r = &l->r[i];
		switch (r->pk) {
		case PAT_NULL:
			if (sender[0] == '\0')
				return hit(l, i, m);
			break;
		case PAT_ADDR:
			if (strcasecmp(r->pat, sender) == 0)
				return hit(l, i, m);
			break;
		case PAT_DOMAIN:
			if (at != NULL && strcasecmp(r->pat, at + 1) == 0)
				return hit(l, i, m);
			break;
		case PAT_WILD:
			if (at != NULL && under(at + 1, r->pat))
				return hit(l, i, m);
			break;
		default:
			break;
		}
	}
	return 0;
}
