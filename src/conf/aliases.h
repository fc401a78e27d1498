/* SPDX-License-Identifier: ISC */
/*
 * aliases.h - aliases and catch-alls of the local domains, and recipient
 * address extensions (alice+tag@).
 *
 * An aliases file has lines "name: target, target, ..." ('#' comments,
 * continuation lines begin with white space). A name is a local part
 * ("info": at every local domain for the global aliases_file, at its
 * domain for a domain's), "local@domain", or "@domain" (the domain's
 * catch-all, used only when no user or alias has the name). A target is a
 * local part (at the alias's domain), or an address, local or remote.
 * Program, file and :include: targets are refused (a deliberate difference
 * from sendmail's aliases(5)).
 */
#ifndef MOAT_ALIASES_H
#define MOAT_ALIASES_H

#include <stddef.h>
#include <stdio.h>

struct moat_conf;
struct domain_conf;

struct alias {
	char *key; /* "local@domain" or "@domain", lower case */
	char **targets;
	size_t ntargets;
	int global; /* from the global file's bare names: a domain's own wins */
};

struct aliases {
	struct alias *a; /* sorted by key once loaded */
	size_t n, cap;
};

/* the most recipients one address expands into, and the deepest nesting */
#define ALIAS_EXPAND_MAX 1000
#define ALIAS_DEPTH_MAX  20

/*
 * aliases_load - add the file's aliases; domain: a domain's own file (its
 * bare names are at that domain), or NULL for the global one (at every
 * local domain). "file:line: problem" on err; -1 after any.
 */
int aliases_load(struct aliases *al, const struct moat_conf *c, const char *path,
                 const char *domain, FILE *err);
/* aliases_load_buf - the same from a buffer (the fuzz target) */
int aliases_load_buf(struct aliases *al, const struct moat_conf *c, const char *buf,
                     size_t len, const char *name, const char *domain, FILE *err);
/* aliases_finish - sort, and check that local targets lead somewhere;
 * -1 after "path: problem" lines on err */
int aliases_finish(struct aliases *al, const struct moat_conf *c, FILE *err);
void aliases_free(struct aliases *al);
const struct alias *aliases_find(const struct aliases *al, const char *key);

/*
 * conf_rcpt_known - does local (lower case) name a user, an alias or fall to
 * the catch-all of d? An extension (recipient_delimiter) is allowed on a
 * user or an alias.
 */
int conf_rcpt_known(const struct moat_conf *c, const struct domain_conf *d,
                    const char *local);

/* conf_rcpt_listed - the same without the catch-all: a user or an alias */
int conf_rcpt_listed(const struct moat_conf *c, const struct domain_conf *d,
                     const char *local);

/*
 * conf_rcpt_expand - the final recipients of addr ("local@domain", domain
 * local, lower case): users' mailboxes (their extension kept), remote
 * addresses. Returns the count (0: it leads nowhere, a loop), the
 * addresses (malloc'd, the caller frees each and the array) in *out;
 * at most ALIAS_EXPAND_MAX.
 */
size_t conf_rcpt_expand(const struct moat_conf *c, const char *addr, char ***out);

/* conf_target_expand - the same for a target a recipient lookup named: at a
 * domain with a lookup, an address it does not list is a mailbox */
size_t conf_target_expand(const struct moat_conf *c, const char *addr, char ***out);

/* conf_rcpt_base - the user's local part without its extension, into buf */
const char *conf_rcpt_base(const struct moat_conf *c, const char *local, char *buf,
                           size_t bufsz);

#endif
