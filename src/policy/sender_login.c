/* SPDX-License-Identifier: ISC */
/*
 * sender_login.c - authenticated user → owned sender addresses.
 * SECURITY: the map is the administrator's file; the sender is a parsed,
 * bounded address from the client. Comparisons are case-insensitive.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "policy/sender_login.h"
#include "policy/stages.h"

struct sender_entry {
	char *login;
	char **owned; /* addresses, or "@domain" for a whole domain */
	size_t nowned;
};

struct sender_map {
	struct sender_entry *e;
	size_t n;
};

struct sender_map *
sender_map_load(const char *path)
{
	struct sender_map *m;
	FILE *fp;
	char *line = NULL, *save;
	size_t linesz = 0;

	if (path == NULL)
		return NULL;
	if ((fp = fopen(path, "r")) == NULL) {
		log_warn("auth: sender_map %s", log_escape_str(path));
		return NULL;
	}
	m = xcalloc(1, sizeof(*m));
	while (getline(&line, &linesz, fp) != -1) {
		char *hash = strchr(line, '#'), *tok;
		if (hash)
			*hash = '\0';
		if ((tok = strtok_r(line, " \t\r\n,", &save)) == NULL)
			continue;
		m->e = xreallocarray(m->e, m->n + 1, sizeof(*m->e));
		struct sender_entry *e = &m->e[m->n++];
		memset(e, 0, sizeof(*e));
		e->login = xstrdup(tok);
		while ((tok = strtok_r(NULL, " \t\r\n,", &save)) != NULL) {
			e->owned = xreallocarray(e->owned, e->nowned + 1, sizeof(char *));
			e->owned[e->nowned++] = xstrdup(tok);
		}
	}
	free(line);
	fclose(fp);
	return m;
}

void
sender_map_free(struct sender_map *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->n; i++) {
		for (size_t j = 0; j < m->e[i].nowned; j++)
			free(m->e[i].owned[j]);
		free(m->e[i].owned);
		free(m->e[i].login);
	}
	free(m->e);
	free(m);
}

int
sender_owned(const struct moat_conf *conf, const struct sender_map *m, const char *login,
             const char *sender)
{
	const char *at = strrchr(sender, '@');

	/* The null sender claims no one's name (bounces, RFC 5321 §4.5.5). */
	if (sender[0] == '\0')
		return 1;
	if (m != NULL)
		for (size_t i = 0; i < m->n; i++) {
			if (strcasecmp(m->e[i].login, login) != 0)
				continue;
			for (size_t j = 0; j < m->e[i].nowned; j++) {
				const char *o = m->e[i].owned[j];
				if (o[0] == '@' ? (at && strcasecmp(at, o) == 0)
				                : strcasecmp(o, sender) == 0)
					return 1;
			}
			return 0;
		}
	if (strchr(login, '@') != NULL)
		return strcasecmp(login, sender) == 0;
	if (at == NULL || (size_t)(at - sender) != strlen(login) ||
	    strncasecmp(sender, login, strlen(login)) != 0)
		return 0;
	return conf_domain_find(conf, at + 1) != NULL;
}

/*
 * sender_login_run - the MAIL stage: an authenticated user sends only
 * under an address it owns (RFC 2505 §2.10: no relaying under someone
 * else's name). Everyone else passes; the null sender always does.
 */
static void
sender_login_run(struct policy_check *chk)
{
	const struct policy_client *cl = &chk->req.client;

	if (!(cl->flags & PC_AUTHED) ||
	    sender_owned(policy_conf(chk->p), policy_sender_map(chk->p), cl->login,
	                 chk->req.sender)) {
		policy_next(chk);
		return;
	}
	policy_stop(chk, VERDICT_PERMFAIL, 553, "5.7.1", "sender-login-mismatch",
	            "<%s>: Sender address rejected: not owned by user %s",
	            chk->req.sender, log_escape_str(cl->login));
}

const struct stage stage_sender_login = {"sender-login", 1u << HOOK_MAIL,
                                         sender_login_run};
