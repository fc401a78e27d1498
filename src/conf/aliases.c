/* SPDX-License-Identifier: ISC */
/*
 * aliases.c - aliases files, the lookup of a local recipient, and the
 * expansion of an alias into its final recipients (aliases.h).
 *
 * Expansion walks the aliases depth first. An address met again on its
 * own path is a loop: a user's mailbox there is delivered ("alice: alice,
 * bob" keeps a copy for alice, as in sendmail and Postfix), an alias is
 * not expanded twice. An alias overrides a user of the same name; the
 * catch-all is used only for names nothing else knows.
 * SECURITY: reads only the administrator's files; bounded (the line and
 * target lengths, ALIAS_EXPAND_MAX, ALIAS_DEPTH_MAX). The fuzz target
 * reads arbitrary text through aliases_load_buf().
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/ascii.h"
#include "common/mailaddr.h"
#include "common/xmalloc.h"
#include "conf/aliases.h"
#include "conf/conf.h"

#define ADDR_MAX (MAILADDR_LOCAL_MAX + MAILADDR_DOMAIN_MAX + 2)

static int
cmp_alias(const void *a, const void *b)
{
	return strcmp(((const struct alias *)a)->key, ((const struct alias *)b)->key);
}

const struct alias *
aliases_find(const struct aliases *al, const char *key)
{
	struct alias k = {.key = (char *)key};

	if (al->n == 0)
		return NULL;
	return bsearch(&k, al->a, al->n, sizeof(*al->a), cmp_alias);
}

/* qualify - "local" at domain, or "local@domain" checked; lower case into
 * out (ADDR_MAX); -1 if it is no address. Remote domains keep the case of
 * their local part (it is theirs to interpret). */
static int
qualify(const struct moat_conf *c, const char *s, size_t n, const char *domain, char *out)
{
	const char *at = memchr(s, '@', n);
	size_t ll = at != NULL ? (size_t)(at - s) : n;

	if (at == NULL) {
		if (domain == NULL || !conf_mailbox_name_ok(s, n))
			return -1;
		snprintf(out, ADDR_MAX, "%.*s@%s", (int)n, s, domain);
		ascii_lower(out);
		return 0;
	}
	if (!conf_mailbox_name_ok(s, ll) || !domain_valid(at + 1, n - ll - 1))
		return -1;
	snprintf(out, ADDR_MAX, "%.*s", (int)n, s);
	if (conf_domain_find(c, at + 1) != NULL)
		ascii_lower(out);
	else
		ascii_lower(out + ll + 1);
	return 0;
}

static void
add_alias(struct aliases *al, const char *key, char **targets, size_t nt, int global)
{
	if (al->n == al->cap) {
		al->cap = al->cap ? al->cap * 2 : 16;
		al->a = xreallocarray(al->a, al->cap, sizeof(*al->a));
	}
	al->a[al->n].key = xstrdup(key);
	al->a[al->n].targets = targets;
	al->a[al->n].ntargets = nt;
	al->a[al->n].global = global;
	al->n++;
}

/* entry - one "name: targets" (continuations joined), for one domain (or,
 * dom NULL and a bare name, every local domain) */
static int
entry(struct aliases *al, const struct moat_conf *c, char *text, const char *name,
      int line, const char *dom, FILE *err)
{
	char *colon = strchr(text, ':'), *p, *tok, key[ADDR_MAX];
	size_t nk;

	if (colon == NULL) {
		fprintf(err, "%s:%d: \"name: target, ...\" expected\n", name, line);
		return -1;
	}
	*colon = '\0';
	nk = strlen(text);
	while (nk > 0 && (text[nk - 1] == ' ' || text[nk - 1] == '\t'))
		text[--nk] = '\0';
	/* the names this entry is at: one, or every domain's */
	int everywhere = dom == NULL && strchr(text, '@') == NULL;
	size_t ndom = everywhere ? c->ndomains : 1;
	for (size_t di = 0; di < ndom; di++) {
		const char *d = dom != NULL  ? dom
		                : everywhere ? c->domains[di].name
		                             : NULL;
		char **targets = NULL;
		size_t nt = 0, cap = 0;

		if (text[0] == '@') {
			const char *cd = text[1] != '\0' ? text + 1 : d;
			if (cd == NULL || conf_domain_find(c, cd) == NULL ||
			    (dom != NULL && strcasecmp(cd, dom) != 0)) {
				fprintf(err,
				        "%s:%d: catch-all \"%s\": not one of this file's "
				        "local domains\n",
				        name, line, text);
				return -1;
			}
			snprintf(key, sizeof(key), "@%s", cd);
			ascii_lower(key);
		} else if (qualify(c, text, nk, d, key) == -1 ||
		           conf_domain_find(c, strchr(key, '@') + 1) == NULL ||
		           (dom != NULL && strcasecmp(strchr(key, '@') + 1, dom) != 0)) {
			fprintf(err, "%s:%d: alias \"%s\": not a name at %s\n", name,
			        line, text, dom != NULL ? dom : "a local domain");
			return -1;
		}
		/* each domain's pass reads its own copy of the targets */
		char *list = xstrdup(colon + 1);
		p = list;
		while ((tok = strsep(&p, ",")) != NULL) {
			char addr[ADDR_MAX];
			size_t n;
			while (*tok == ' ' || *tok == '\t')
				tok++;
			n = strlen(tok);
			while (n > 0 && (tok[n - 1] == ' ' || tok[n - 1] == '\t'))
				tok[--n] = '\0';
			if (n == 0)
				continue;
			if (tok[0] == '|' || tok[0] == '/' ||
			    strncasecmp(tok, ":include:", 9) == 0 || tok[0] == '"') {
				fprintf(err,
				        "%s:%d: target \"%s\": program, file and "
				        ":include: targets "
				        "are not supported (moat.conf(5))\n",
				        name, line, tok);
				free(list);
				goto bad;
			}
			if (qualify(c, tok, n, strchr(key, '@') + 1, addr) == -1) {
				fprintf(err, "%s:%d: target \"%s\" is not an address\n",
				        name, line, tok);
				free(list);
				goto bad;
			}
			if (nt == cap) {
				cap = cap ? cap * 2 : 4;
				targets = xreallocarray(targets, cap, sizeof(char *));
			}
			targets[nt++] = xstrdup(addr);
		}
		free(list);
		if (nt == 0) {
			fprintf(err, "%s:%d: alias \"%s\" has no target\n", name, line,
			        text);
			goto bad;
		}
		add_alias(al, key, targets, nt, everywhere);
		continue;
	bad:
		for (size_t i = 0; i < nt; i++)
			free(targets[i]);
		free(targets);
		return -1;
	}
	return 0;
}

int
aliases_load_buf(struct aliases *al, const struct moat_conf *c, const char *buf,
                 size_t len, const char *name, const char *domain, FILE *err)
{
	char *text = NULL;
	size_t tlen = 0, tcap = 0, off = 0;
	int line = 0, start = 0, bad = 0;

	while (off <= len) {
		const char *nl = off < len ? memchr(buf + off, '\n', len - off) : NULL;
		size_t n = nl != NULL ? (size_t)(nl - (buf + off)) : len - off;
		const char *l = buf + off;
		int cont = off < len && (l[0] == ' ' || l[0] == '\t');
		size_t m = n;

		if (off < len)
			line++;
		if (memchr(l, '\0', n) != NULL) {
			fprintf(err, "%s:%d: a NUL in the line\n", name, line);
			bad = 1;
			m = 0;
		}
		/* a comment ends the line */
		const char *hash = memchr(l, '#', m);
		if (hash != NULL)
			m = (size_t)(hash - l);
		while (m > 0 && (l[m - 1] == '\r' || l[m - 1] == ' ' || l[m - 1] == '\t'))
			m--;
		if (!cont || off >= len) {
			/* the entry so far is complete */
			if (tlen > 0) {
				text[tlen] = '\0';
				if (entry(al, c, text, name, start, domain, err) == -1)
					bad = 1;
			}
			tlen = 0;
			start = line;
			if (off >= len)
				break;
		} else if (tlen == 0 && m > 0) {
			fprintf(err, "%s:%d: a continuation line without an entry\n",
			        name, line);
			bad = 1;
			m = 0;
		}
		if (m > 0) {
			if (tlen + m + 2 > 65536) {
				fprintf(err, "%s:%d: an entry longer than 64 KiB\n", name,
				        line);
				bad = 1;
			} else {
				if (tlen + m + 2 > tcap) {
					tcap = tlen + m + 256;
					text = xreallocarray(text, tcap, 1);
				}
				if (tlen > 0)
					text[tlen++] = ' ';
				memcpy(text + tlen, l, m);
				tlen += m;
			}
		}
		off += n + 1;
	}
	free(text);
	return bad ? -1 : 0;
}

int
aliases_load(struct aliases *al, const struct moat_conf *c, const char *path,
             const char *domain, FILE *err)
{
	FILE *fp = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;
	int rc;

	if (fp == NULL) {
		fprintf(err, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	do {
		if (len + 65536 > cap) {
			cap = len + 65536;
			buf = xreallocarray(buf, cap, 1);
		}
		n = fread(buf + len, 1, cap - len, fp);
		len += n;
	} while (n > 0 && len < 64 * 1024 * 1024);
	fclose(fp);
	rc = aliases_load_buf(al, c, buf != NULL ? buf : "", len, path, domain, err);
	free(buf);
	return rc;
}

/* user_of - a user of domain d has this local part, or its base */
static int
user_of(const struct moat_conf *c, const struct domain_conf *d, const char *local)
{
	char base[MAILADDR_LOCAL_MAX + 1];

	return conf_domain_has_user(d, local) ||
	       conf_domain_has_user(d, conf_rcpt_base(c, local, base, sizeof(base)));
}

/* alias_of - the alias of local@d, or of its base */
static const struct alias *
alias_of(const struct moat_conf *c, const struct domain_conf *d, const char *local)
{
	char key[ADDR_MAX], base[MAILADDR_LOCAL_MAX + 1];
	const struct alias *a;

	snprintf(key, sizeof(key), "%s@%s", local, d->name);
	if ((a = aliases_find(&c->aliases, key)) != NULL)
		return a;
	snprintf(key, sizeof(key), "%s@%s", conf_rcpt_base(c, local, base, sizeof(base)),
	         d->name);
	return aliases_find(&c->aliases, key);
}

static const struct alias *
catchall_of(const struct moat_conf *c, const struct domain_conf *d)
{
	char key[MAILADDR_DOMAIN_MAX + 2];

	snprintf(key, sizeof(key), "@%s", d->name);
	return aliases_find(&c->aliases, key);
}

int
conf_rcpt_known(const struct moat_conf *c, const struct domain_conf *d, const char *local)
{
	return conf_rcpt_listed(c, d, local) || catchall_of(c, d) != NULL;
}

int
conf_rcpt_listed(const struct moat_conf *c, const struct domain_conf *d,
                 const char *local)
{
	return user_of(c, d, local) || alias_of(c, d, local) != NULL;
}

const char *
conf_rcpt_base(const struct moat_conf *c, const char *local, char *buf, size_t bufsz)
{
	const char *delim = c->recipient_delimiter[0] != '\0'
	                        ? strchr(local, c->recipient_delimiter[0])
	                        : NULL;

	/* "+tag" alone is no user's */
	if (delim == NULL || delim == local) {
		strlcpy(buf, local, bufsz);
		return buf;
	}
	snprintf(buf, bufsz, "%.*s", (int)(delim - local), local);
	return buf;
}

struct expansion {
	const struct moat_conf *c;
	char **out;
	size_t n, cap;
	const char *path[ALIAS_DEPTH_MAX + 1];
	size_t depth;
	int target; /* addr is a target, not the client's recipient */
};

static int
on_path(const struct expansion *x, const char *key)
{
	for (size_t i = 0; i < x->depth; i++)
		if (strcmp(x->path[i], key) == 0)
			return 1;
	return 0;
}

static void
emit(struct expansion *x, const char *addr)
{
	for (size_t i = 0; i < x->n; i++)
		if (strcasecmp(x->out[i], addr) == 0)
			return;
	if (x->n >= ALIAS_EXPAND_MAX)
		return;
	if (x->n == x->cap) {
		x->cap = x->cap ? x->cap * 2 : 4;
		x->out = xreallocarray(x->out, x->cap, sizeof(char *));
	}
	x->out[x->n++] = xstrdup(addr);
}

static void expand(struct expansion *x, const char *addr);

/* through - the targets of alias a, reached by key */
static void
through(struct expansion *x, const struct alias *a)
{
	if (x->depth >= ALIAS_DEPTH_MAX)
		return;
	x->path[x->depth++] = a->key;
	for (size_t i = 0; i < a->ntargets; i++)
		expand(x, a->targets[i]);
	x->depth--;
}

static void
expand(struct expansion *x, const char *addr)
{
	const char *at = strrchr(addr, '@');
	const struct domain_conf *d = at != NULL ? conf_domain_find(x->c, at + 1) : NULL;
	char local[MAILADDR_LOCAL_MAX + 1];
	const struct alias *a;

	if (d == NULL) {
		emit(x, addr); /* remote */
		return;
	}
	snprintf(local, sizeof(local), "%.*s", (int)(at - addr), addr);
	if ((a = alias_of(x->c, d, local)) != NULL && !on_path(x, a->key)) {
		through(x, a);
		return;
	}
	/* a domain with a lookup knows more users than it lists: the
	 * targets of aliases there are mailboxes (the lookup is asked at RCPT
	 * about the client's recipient, which reaches this only when it was
	 * not found: then the catch-all is next) */
	if (user_of(x->c, d, local) || strcasecmp(local, "postmaster") == 0 ||
	    (d->lookup != NULL && (x->depth > 0 || x->target))) {
		emit(x, addr);
		return;
	}
	if (a == NULL && (a = catchall_of(x->c, d)) != NULL && !on_path(x, a->key))
		through(x, a);
	/* else: a loop through aliases only, or nobody: nothing */
}

size_t
conf_rcpt_expand(const struct moat_conf *c, const char *addr, char ***out)
{
	struct expansion x = {.c = c};

	expand(&x, addr);
	*out = x.out;
	return x.n;
}

size_t
conf_target_expand(const struct moat_conf *c, const char *addr, char ***out)
{
	struct expansion x = {.c = c, .target = 1};

	expand(&x, addr);
	*out = x.out;
	return x.n;
}

int
aliases_finish(struct aliases *al, const struct moat_conf *c, FILE *err)
{
	size_t o = 0;
	int bad = 0;

	if (al->n > 0)
		qsort(al->a, al->n, sizeof(*al->a), cmp_alias);
	/* the same name twice: a domain's own beats the global file's bare
	 * name; twice from the same kind of file is an error */
	for (size_t i = 0; i < al->n; i++) {
		if (o > 0 && strcmp(al->a[o - 1].key, al->a[i].key) == 0) {
			struct alias *keep = &al->a[o - 1], *drop = &al->a[i];
			if (keep->global == drop->global) {
				fprintf(err, "%s: alias \"%s\" is given twice\n", c->path,
				        drop->key);
				bad = 1;
			} else if (keep->global) {
				struct alias t = *keep;
				*keep = *drop;
				*drop = t;
			}
			for (size_t t = 0; t < drop->ntargets; t++)
				free(drop->targets[t]);
			free(drop->targets);
			free(drop->key);
			continue;
		}
		al->a[o++] = al->a[i];
	}
	al->n = o;
	/* every local target must lead somewhere */
	for (size_t i = 0; i < al->n; i++)
		for (size_t t = 0; t < al->a[i].ntargets; t++) {
			const char *tg = al->a[i].targets[t], *at = strrchr(tg, '@');
			const struct domain_conf *d = conf_domain_find(c, at + 1);
			char local[MAILADDR_LOCAL_MAX + 1];
			if (d == NULL)
				continue;
			snprintf(local, sizeof(local), "%.*s", (int)(at - tg), tg);
			/* a domain with a lookup may know it: asked at RCPT */
			if (!conf_rcpt_known(c, d, local) && d->lookup == NULL &&
			    strcasecmp(local, "postmaster") != 0) {
				fprintf(err,
				        "%s: alias \"%s\": target \"%s\" is no user or "
				        "alias\n",
				        c->path, al->a[i].key, tg);
				bad = 1;
			}
		}
	return bad ? -1 : 0;
}

void
aliases_free(struct aliases *al)
{
	for (size_t i = 0; i < al->n; i++) {
		for (size_t t = 0; t < al->a[i].ntargets; t++)
			free(al->a[i].targets[t]);
		free(al->a[i].targets);
		free(al->a[i].key);
	}
	free(al->a);
	memset(al, 0, sizeof(*al));
}
