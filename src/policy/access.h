/* SPDX-License-Identifier: ISC */
/*
 * access.h - ordered, first-match access lists (RFC 2505 §2.5, §2.7).
 *
 * A list file has one rule per line: a pattern, an action, and an optional
 * reply text; '#' starts a comment.
 *
 *     192.0.2.0/24        deny      Your network sends us spam
 *     2001:db8::/32       allow
 *     *.dialup.example    tempfail
 *     mail.example.org    allow
 *
 * Patterns by list kind:
 *   client: an IPv4/IPv6 address or CIDR block; a host name (exact, case-
 *           insensitive) or "*.domain" (any name under domain), matched
 *           against the client's forward-confirmed name.
 *   helo:   a name, "*.domain", or "[IP]", compared case-insensitively.
 *   sender: "user@domain", "@domain" or "domain" (the whole domain),
 *           "*.domain" (its subdomains), or "<>" for the null sender.
 * Actions: allow (skip the remaining screening), deny (a 5xx refusal),
 * tempfail (a 4xx refusal).
 * SECURITY: the files are the administrator's; the subjects matched are
 * client data, bounded and already validated by the SMTP parser.
 */
#ifndef MOAT_ACCESS_H
#define MOAT_ACCESS_H

#include <stddef.h>

#include "common/netaddr.h"

enum access_kind { ACCESS_CLIENT = 0, ACCESS_HELO, ACCESS_SENDER };
enum access_action { ACCESS_NONE = 0, ACCESS_ALLOW, ACCESS_DENY, ACCESS_TEMPFAIL };

struct access_list;

struct access_match {
	enum access_action action;
	const char *text; /* the rule's reply text, or NULL */
	int line;         /* the rule's line in its file */
	const char *file;
};

/*
 * access_load - parse path; NULL after writing "path:line: problem" lines
 * to err (a FILE, usually stderr) when the file is unusable.
 */
struct access_list *access_load(const char *path, enum access_kind kind, void *err);
void access_free(struct access_list *l);
size_t access_count(const struct access_list *l);

struct screen_conf;

/* the screen section's three lists; NULL where none is configured */
struct access_lists {
	struct access_list *client;
	struct access_list *helo;
	struct access_list *sender;
};

/*
 * access_lists_load - read the files the screen section names (conf keeps
 * only their paths); -1 after "path:line: problem" lines to err, and then
 * none is kept. access_lists_check() loads and frees them: for moatd -n,
 * a start and a reload, which refuse a configuration whose lists would not
 * load.
 */
int access_lists_load(struct access_lists *al, const struct screen_conf *s, void *err);
void access_lists_free(struct access_lists *al);
int access_lists_check(const struct screen_conf *s, void *err);

/* access_client - first rule matching the address or the (confirmed) name */
int access_client(const struct access_list *l, const struct netaddr *na, const char *name,
                  struct access_match *m);
int access_helo(const struct access_list *l, const char *helo, struct access_match *m);
/* access_sender - sender is "" for the null sender */
int access_sender(const struct access_list *l, const char *sender,
                  struct access_match *m);

#endif
