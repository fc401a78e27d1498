/* SPDX-License-Identifier: ISC */
/*
 * test_aliases.c - the aliases file reader and the expansion of recipients
 * (src/conf/aliases.c), with three local domains: two with users, one
 * whose users only a recipient lookup knows.
 *
 * Read: comments, continuation lines, bare names at every domain (global
 * file) or at the file's domain, catch-alls; refused with file:line:
 * program, file and :include: targets, a local target that leads nowhere,
 * a name given twice. Expanded: users keep their extension, aliases nest,
 * an alias over a user keeps the user's copy, a loop leads nowhere, the
 * catch-all only for names nobody has, remote targets kept (their domain in
 * lower case); at
 * the lookup domain an unlisted name is the catch-all's when it is the
 * client's recipient, and a mailbox when it is a target.
 */
#include "conf/aliases.h"
#include "conf/conf.h"
#include "unit.h"

static char *users_a[] = {"alice", "bob", "carol", "postmaster"};
static char *users_b[] = {"dave"};
static struct rcpt_lookup_conf lookup; /* only its presence counts here */

static struct domain_conf doms[3] = {
    {.name = "example.test", .users = users_a, .nusers = 4},
    {.name = "other.test", .users = users_b, .nusers = 1},
    {.name = "lk.test", .lookup = &lookup},
};

static struct moat_conf conf = {
    .path = "unit.conf", .domains = doms, .ndomains = 3, .recipient_delimiter = "+"};

/* load - text as the global file (domain NULL) or a domain's; its result and
 * the err stream's text into errbuf */
static int
load(const char *text, const char *domain, char *errbuf, size_t errsz)
{
	FILE *err = fmemopen(errbuf, errsz, "w");
	int rc;

	rc = aliases_load_buf(&conf.aliases, &conf, text, strlen(text), "aliases", domain,
	                      err);
	if (rc == 0)
		rc = aliases_finish(&conf.aliases, &conf, err);
	fclose(err);
	return rc;
}

/* expansion - the addresses addr leads to, joined by ' ' */
static const char *
expansion(const char *addr, int target, char *buf, size_t bufsz)
{
	char **out;
	size_t n = target ? conf_target_expand(&conf, addr, &out)
	                  : conf_rcpt_expand(&conf, addr, &out);

	buf[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			strlcat(buf, " ", bufsz);
		strlcat(buf, out[i], bufsz);
		free(out[i]);
	}
	free(out);
	return buf;
}

static void
test_aliases_expand(void **state)
{
	char err[512], buf[1024];
	static const char global[] = "# the site's aliases\n"
	                             "info: alice, bob\n"
	                             "team: info,\n"
	                             "\tfar@Remote.test   # a remote member\n"
	                             "carol: carol, alice\n"
	                             "loop1: loop2\n"
	                             "loop2: loop1\n"
	                             "sales@lk.test: newbie@lk.test\n";
	static const char other[] = "sales: dave\n"
	                            "@: dave@other.test\n";
	static const char lk[] = "@: bob@example.test\n";
	static const struct {
		const char *addr;
		int target;
		const char *want;
	} rows[] = {
	    {"alice@example.test", 0, "alice@example.test"},
	    {"alice+tag@example.test", 0, "alice+tag@example.test"},
	    {"info@example.test", 0, "alice@example.test bob@example.test"},
	    {"info+x@example.test", 0, "alice@example.test bob@example.test"},
	    {"team@example.test", 0,
	     "alice@example.test bob@example.test far@remote.test"},
	    {"carol@example.test", 0, "carol@example.test alice@example.test"},
	    {"loop1@example.test", 0, ""},
	    {"nobody@example.test", 0, ""},
	    /* a bare global name is at every domain: alice and bob are not
	     * users at other.test, so its catch-all takes them (one copy) */
	    {"info@other.test", 0, "dave@other.test"},
	    {"sales@other.test", 0, "dave@other.test"},
	    {"stranger@other.test", 0, "dave@other.test"},
	    {"far@remote.test", 0, "far@remote.test"},
	    /* the lookup domain: its catch-all for the client's recipient ... */
	    {"unlisted@lk.test", 0, "bob@example.test"},
	    /* ... a mailbox as a target (the lookup was asked at RCPT) */
	    {"unlisted@lk.test", 1, "unlisted@lk.test"},
	    {"sales@lk.test", 0, "newbie@lk.test"},
	};

	memset(&conf.aliases, 0, sizeof(conf.aliases));
	/* one struct holds all files: load them in turn, finish once */
	FILE *e = fmemopen(err, sizeof(err), "w");
	EXPECT_INT("global", "load",
	           aliases_load_buf(&conf.aliases, &conf, global, strlen(global),
	                            "aliases", NULL, e),
	           0);
	EXPECT_INT("other", "load",
	           aliases_load_buf(&conf.aliases, &conf, other, strlen(other), "other",
	                            "other.test", e),
	           0);
	EXPECT_INT(
	    "lk", "load",
	    aliases_load_buf(&conf.aliases, &conf, lk, strlen(lk), "lk", "lk.test", e),
	    0);
	EXPECT_INT("all", "finish", aliases_finish(&conf.aliases, &conf, e), 0);
	fclose(e);
	for (size_t i = 0; i < NELEM(rows); i++)
		EXPECT_STR(rows[i].addr, rows[i].target ? "target" : "expansion",
		           expansion(rows[i].addr, rows[i].target, buf, sizeof(buf)),
		           rows[i].want);
	EXPECT_INT("listed", "alias", conf_rcpt_listed(&conf, &doms[0], "info"), 1);
	EXPECT_INT("listed", "user+ext", conf_rcpt_listed(&conf, &doms[0], "bob+x"), 1);
	EXPECT_INT("listed", "catch-all is not", conf_rcpt_listed(&conf, &doms[1], "zz"),
	           0);
	EXPECT_INT("known", "catch-all", conf_rcpt_known(&conf, &doms[1], "zz"), 1);
	aliases_free(&conf.aliases);
	UNIT_END();
}

static void
test_aliases_refused(void **state)
{
	static const struct {
		const char *text, *domain, *want;
	} rows[] = {
	    {"ok: alice\nprog: |/bin/sh -c x\n", NULL,
	     "aliases:2: target \"|/bin/sh -c x\": program, file and :include: targets"},
	    {"file: /var/mail/x\n", NULL, "aliases:1: target \"/var/mail/x\": program"},
	    {"inc: :include:/etc/list\n", NULL,
	     "aliases:1: target \":include:/etc/list\""},
	    {"nocolon alice\n", NULL, "aliases:1: \"name: target, ...\" expected"},
	    {"x: nobody\n", NULL, "target \"nobody@example.test\" is no user or alias"},
	    {"x: alice\nx: bob\n", NULL, "alias \"x@example.test\" is given twice"},
	    {"  alice\n", NULL, "aliases:1: a continuation line without an entry"},
	    {"@other.test: alice\n", "example.test",
	     "catch-all \"@other.test\": not one of"},
	};
	char err[512];

	for (size_t i = 0; i < NELEM(rows); i++) {
		memset(&conf.aliases, 0, sizeof(conf.aliases));
		EXPECT_INT(rows[i].text, "load",
		           load(rows[i].text, rows[i].domain, err, sizeof(err)), -1);
		if (strstr(err, rows[i].want) == NULL)
			UNIT_FAIL("%s: errors \"%s\" lack \"%s\"", rows[i].text, err,
			          rows[i].want);
		aliases_free(&conf.aliases);
	}
	/* a local target at the lookup domain may be known there: accepted */
	memset(&conf.aliases, 0, sizeof(conf.aliases));
	EXPECT_INT("lookup target", "load",
	           load("x: someone@lk.test\n", NULL, err, sizeof(err)), 0);
	aliases_free(&conf.aliases);
	UNIT_END();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_aliases_expand),
	    cmocka_unit_test(test_aliases_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
