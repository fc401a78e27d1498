/* SPDX-License-Identifier: ISC */
/*
 * test_conf_nexthop.c - the pieces of a configured next hop that are
 * parsed by hand: the auth_file line ("user password", the password being
 * everything after the first run of blanks), the TLS level words, and the
 * look at a file that tells relayhost's string form from its section form
 * (comments and quoted text must not fool it).
 */
#include <errno.h>
#include <unistd.h>

#include "conf/conf.h"
#include "conf/conf_int.h"
#include "unit.h"

static void
test_auth_parse(void **state)
{
	static const struct {
		const char *name, *line, *user, *pass, *err;
	} rows[] = {
	    {"plain", "alice secret", "alice", "secret", NULL},
	    {"blanks inside the password", "alice  correct horse  battery ", "alice",
	     "correct horse  battery ", NULL},
	    {"tab", "bob\tp\tw", "bob", "p\tw", NULL},
	    {"leading blanks", "  carol x", "carol", "x", NULL},
	    {"address as user", "relay@example.net pw", "relay@example.net", "pw", NULL},
	    {"hash in the password", "u #not-a-comment", "u", "#not-a-comment", NULL},
	    {"no password", "alice", NULL, NULL, "no password"},
	    {"only blanks after the user", "alice   ", NULL, NULL, "no password"},
	    {"empty", "", NULL, NULL, "no user name"},
	    {"control in password", "alice Zq\x01ss", NULL, NULL, "control character"},
	    {"control in user",
	     "al\x7f"
	     "ice pw",
	     NULL, NULL, "control character"},
	};
	char user[256], pass[256];

	for (size_t i = 0; i < NELEM(rows); i++) {
		const char *err =
		    conf_auth_parse(rows[i].line, user, sizeof(user), pass, sizeof(pass));
		if (rows[i].err != NULL) {
			EXPECT_INT(rows[i].name, "refused", err != NULL, 1);
			if (err != NULL && strstr(err, rows[i].err) == NULL)
				UNIT_FAIL("%s: reason \"%s\", want \"%s\"", rows[i].name,
				          err, rows[i].err);
			/* the reason never quotes the secret */
			if (err != NULL && strstr(err, "Zq") != NULL)
				UNIT_FAIL("%s: reason quotes the line", rows[i].name);
			continue;
		}
		EXPECT_INT(rows[i].name, "accepted", err == NULL, 1);
		if (err == NULL) {
			EXPECT_STR(rows[i].name, "user", user, rows[i].user);
			EXPECT_STR(rows[i].name, "password", pass, rows[i].pass);
		}
	}
	/* bounds: a user or password longer than the buffer is refused */
	char longline[600];
	memset(longline, 'u', 300);
	strlcpy(longline + 300, " pw", sizeof(longline) - 300);
	EXPECT_INT(
	    "long user", "refused",
	    conf_auth_parse(longline, user, sizeof(user), pass, sizeof(pass)) != NULL, 1);
	UNIT_END();
}

static void
test_levels(void **state)
{
	static const struct {
		const char *word;
		int ok;
		enum tls_level want;
	} rows[] = {
	    {"none", 1, TLS_LEVEL_NONE},
	    {"may", 1, TLS_LEVEL_MAY},
	    {"encrypt", 1, TLS_LEVEL_ENCRYPT},
	    {"verify", 1, TLS_LEVEL_VERIFY},
	    {"dane", 1, TLS_LEVEL_DANE},
	    {"Verify", 0, 0},
	    {"secure", 0, 0},
	    {"", 0, 0},
	};

	for (size_t i = 0; i < NELEM(rows); i++) {
		enum tls_level l = TLS_LEVEL_MAY;
		int rc = conf_tls_level_parse(rows[i].word, &l);
		EXPECT_INT(rows[i].word, "parsed", rc == 0, rows[i].ok);
		if (rows[i].ok) {
			EXPECT_INT(rows[i].word, "level", l, rows[i].want);
			EXPECT_STR(rows[i].word, "name", conf_tls_level_name(l),
			           rows[i].word);
		}
	}
	UNIT_END();
}

static void
test_form(void **state)
{
	static const struct {
		const char *name, *text;
		int section;
	} rows[] = {
	    {"string", "relayhost = \"a:25\"\n", 0},
	    {"section", "relayhost {\n address = \"a:587\"\n}\n", 1},
	    {"section, same line", "relayhost{address=\"a\"}", 1},
	    {"absent", "hostname = \"x\"\n", 0},
	    {"in a # comment", "# relayhost { address = \"a\" }\nrelayhost = \"b\"\n", 0},
	    {"in a C comment", "/* relayhost { */ relayhost = \"b\"\n", 0},
	    {"in a string", "hostname = \"relayhost {\"\n", 0},
	    {"nested, not top level", "domain \"x\" { relayhost { } }\n", 0},
	    {"longer name", "relayhost_x { }\n", 0},
	    {"comment before brace", "relayhost # the smarthost\n{ address = \"a\" }\n",
	     1},
	};
	char path[] = "/tmp/moat-unit-nexthop-XXXXXX";
	int fd = mkstemp(path);

	if (fd == -1)
		fail_msg("mkstemp: %s", strerror(errno));
	close(fd);
	for (size_t i = 0; i < NELEM(rows); i++) {
		FILE *f = fopen(path, "w");
		if (f == NULL || fputs(rows[i].text, f) == EOF || fclose(f) != 0)
			fail_msg("write %s", path);
		EXPECT_INT(rows[i].name, "section", conf_nexthop_form(path),
		           rows[i].section);
	}
	unlink(path);
	EXPECT_INT("missing file", "section", conf_nexthop_form("/nonexistent/moat.conf"),
	           0);
	UNIT_END();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_auth_parse),
	    cmocka_unit_test(test_levels),
	    cmocka_unit_test(test_form),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
