/* SPDX-License-Identifier: ISC */
/*
 * test_lookup_proto.c - what a recipient lookup says, read
 * (src/policy/lookup_proto.c): socketmap netstrings and Dovecot's userdb
 * lines.
 *
 * Socketmap: a netstring is framed only when whole and well-formed (its
 * length, its ',', at most five digits); the five answers give their
 * status, OK its value, a value with a control octet is no answer.
 * Userdb: the greeting is skipped, a line is framed through its LF, an
 * answer to another request id is none, FAIL's reason is kept; a name
 * with a control octet is never asked.
 */
#include <event2/buffer.h>

#include "policy/lookup_proto.h"
#include "unit.h"

static void
test_socketmap(void **state)
{
	static const struct {
		const char *in;
		long len; /* socketmap_reply_len */
		int rc;   /* socketmap_reply_parse, when framed */
		enum lookup_status st;
		const char *value;
	} rows[] = {
	    {"20:OK alice@example.org,", 24, 0, LOOKUP_FOUND, "alice@example.org"},
	    {"2:OK,", 5, 0, LOOKUP_FOUND, ""},
	    {"9:NOTFOUND ,", 12, 0, LOOKUP_NOTFOUND, ""},
	    {"18:TEMP database down,", 22, 0, LOOKUP_TROUBLE, "database down"},
	    {"16:TIMEOUT too slow,", 20, 0, LOOKUP_TROUBLE, "too slow"},
	    {"9:PERM nope,", 12, 0, LOOKUP_TROUBLE, "nope"},
	    {"17:OK alice@example.org,", -1, 0, 0, ""}, /* a wrong length */
	    {"5:MAYBE,", 8, -1, 0, ""},
	    {"17:OK alice\r\nexample,", 21, -1, 0, ""},
	    {"20:OK alice@exam", 0, 0, 0, ""}, /* not all here yet */
	    {"17", 0, 0, 0, ""},
	    {"123456:OK,", -1, 0, 0, ""}, /* six digits */
	    {"2:OK;", -1, 0, 0, ""},      /* no ',' */
	    {":OK,", -1, 0, 0, ""},       /* no length */
	    {"9000:", -1, 0, 0, ""},      /* over SVC_REPLY_MAX */
	};
	char value[LOOKUP_VALUE_MAX];

	for (size_t i = 0; i < NELEM(rows); i++) {
		enum lookup_status st = LOOKUP_FOUND;
		ssize_t n = socketmap_reply_len(rows[i].in, strlen(rows[i].in));
		EXPECT_INT(rows[i].in, "length", n, rows[i].len);
		if (n <= 0)
			continue;
		EXPECT_INT(rows[i].in, "parse",
		           socketmap_reply_parse(rows[i].in, (size_t)n, &st, value,
		                                 sizeof(value)),
		           rows[i].rc);
		if (rows[i].rc == 0) {
			EXPECT_INT(rows[i].in, "status", st, rows[i].st);
			EXPECT_STR(rows[i].in, "value", value, rows[i].value);
		}
	}
	struct evbuffer *b = evbuffer_new();
	socketmap_request(b, "virtual", "bob@example.org");
	EXPECT_MEM("request", "netstring", (const char *)evbuffer_pullup(b, -1),
	           evbuffer_get_length(b), "23:virtual bob@example.org,", 27);
	evbuffer_free(b);
	UNIT_END();
}

static void
test_userdb(void **state)
{
	static const char greeting[] = "VERSION\t1\t1\nSPID\t4242\nUSER\t7\talice\n";
	static const struct {
		const char *line;
		int rc;
		enum lookup_status st;
		const char *reason;
	} rows[] = {
	    {"USER\t7\talice\tuid=1000\n", 0, LOOKUP_FOUND, ""},
	    {"USER\t7\n", 0, LOOKUP_FOUND, ""},
	    {"NOTFOUND\t7\n", 0, LOOKUP_NOTFOUND, ""},
	    {"FAIL\t7\treason=Internal error\n", 0, LOOKUP_TROUBLE, "Internal error"},
	    {"FAIL\t7\n", 0, LOOKUP_TROUBLE, ""},
	    {"USER\t77\talice\n", -1, 0, ""}, /* another request's */
	    {"USER\t6\talice\n", -1, 0, ""},
	    {"CONT\t7\n", -1, 0, ""},
	    {"USER7\n", -1, 0, ""},
	};
	char reason[128];

	EXPECT_INT("greeting", "noise", userdb_noise(greeting, strlen(greeting)),
	           strlen("VERSION\t1\t1\nSPID\t4242\n"));
	EXPECT_INT("partial", "length", userdb_reply_len("USER\t7", 6), 0);
	for (size_t i = 0; i < NELEM(rows); i++) {
		enum lookup_status st = LOOKUP_FOUND;
		size_t len = strlen(rows[i].line);
		EXPECT_INT(rows[i].line, "length", userdb_reply_len(rows[i].line, len),
		           len);
		EXPECT_INT(
		    rows[i].line, "parse",
		    userdb_reply_parse(rows[i].line, len, 7, &st, reason, sizeof(reason)),
		    rows[i].rc);
		if (rows[i].rc == 0) {
			EXPECT_INT(rows[i].line, "status", st, rows[i].st);
			EXPECT_STR(rows[i].line, "reason", reason, rows[i].reason);
		}
	}
	struct evbuffer *b = evbuffer_new();
	EXPECT_INT("request", "rc", userdb_request(b, 9, "bob@example.org"), 0);
	EXPECT_MEM("request", "line", (const char *)evbuffer_pullup(b, -1),
	           evbuffer_get_length(b), "USER\t9\tbob@example.org\tservice=smtp\n",
	           36);
	evbuffer_drain(b, evbuffer_get_length(b));
	EXPECT_INT("tab", "rc", userdb_request(b, 9, "bob\t@x"), -1);
	EXPECT_INT("lf", "rc", userdb_request(b, 9, "bob\n@x"), -1);
	EXPECT_INT("empty", "rc", userdb_request(b, 9, ""), -1);
	EXPECT_INT("refused", "nothing sent", evbuffer_get_length(b), 0);
	evbuffer_free(b);
	UNIT_END();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_socketmap),
	    cmocka_unit_test(test_userdb),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
