/* SPDX-License-Identifier: ISC */
/*
 * test_session_state.c - the states of an SMTP session (src/smtp/
 * session_state.c): every state has its own name, and the legal moves are
 * exactly the ones the session makes. One row per ordered pair of states
 * that may follow each other; every pair not in the table must be refused.
 * Also reply_format() (src/smtp/reply.c): the one formatter of reply lines.
 */
#include "smtp/reply.h"
#include "smtp/session_state.h"
#include "unit.h"

struct move {
	const char *name;
	enum state from, to;
};

static const struct move legal_moves[] = {
    {"checks passed, no pause: greet", S_CONNECT, S_HELO},
    {"checks passed: pause before the greeting", S_CONNECT, S_GREETING},
    {"refused at connect", S_CONNECT, S_CLOSING},
    {"the pause is over: greet", S_GREETING, S_HELO},
    {"early talker during the pause", S_GREETING, S_CLOSING},
    {"STARTTLS before EHLO: start over", S_HELO, S_HELO},
    {"HELO/EHLO accepted", S_HELO, S_READY},
    {"quit before HELO", S_HELO, S_CLOSING},
    {"STARTTLS after EHLO: start over", S_READY, S_HELO},
    {"second EHLO", S_READY, S_READY},
    {"MAIL accepted", S_READY, S_MAIL},
    {"quit when ready", S_READY, S_CLOSING},
    {"RSET after MAIL", S_MAIL, S_READY},
    {"first RCPT accepted", S_MAIL, S_RCPT},
    {"too many messages: 421", S_MAIL, S_CLOSING},
    {"RSET after RCPT", S_RCPT, S_READY},
    {"another RCPT accepted", S_RCPT, S_RCPT},
    {"DATA: 354", S_RCPT, S_DATA},
    {"harvest: 421 after RCPT", S_RCPT, S_CLOSING},
    {"end of data", S_DATA, S_READY},
    {"timeout in DATA", S_DATA, S_CLOSING},
};

static void
test_state_names(void **state)
{
	for (int a = 0; a < S_NSTATES; a++) {
		const char *na = session_state_name((enum state)a);
		EXPECT_INT(na, "has a name", na != NULL && strcmp(na, "?") != 0, 1);
		for (int b = a + 1; b < S_NSTATES; b++)
			EXPECT_INT(na, "name differs from the next states'",
			           strcmp(na, session_state_name((enum state)b)) != 0, 1);
	}
	EXPECT_STR("greeting", "name", session_state_name(S_GREETING), "GREETING");
	EXPECT_STR("closing", "name", session_state_name(S_CLOSING), "CLOSING");
	EXPECT_STR("past the end", "name", session_state_name(S_NSTATES), "?");
	UNIT_END();
}

static void
test_state_moves(void **state)
{
	for (int a = 0; a < S_NSTATES; a++)
		for (int b = 0; b < S_NSTATES; b++) {
			const char *row = NULL;
			char name[64];

			for (size_t i = 0; i < NELEM(legal_moves); i++)
				if (legal_moves[i].from == (enum state)a &&
				    legal_moves[i].to == (enum state)b)
					row = legal_moves[i].name;
			snprintf(name, sizeof(name), "%s -> %s",
			         session_state_name((enum state)a),
			         session_state_name((enum state)b));
			EXPECT_INT(row != NULL ? row : name, "legal",
			           session_state_legal((enum state)a, (enum state)b),
			           row != NULL);
		}
	EXPECT_INT("out of range", "legal", session_state_legal(S_NSTATES, S_HELO), 0);
	UNIT_END();
}

struct reply_case {
	const char *name;
	int code;
	char sep;
	const char *enh, *text, *want;
};

static const struct reply_case replies[] = {
    {"plain", 250, ' ', "2.1.0", "Ok", "250 2.1.0 Ok\r\n"},
    {"no enhanced code", 220, ' ', NULL, "mx ESMTP moat", "220 mx ESMTP moat\r\n"},
    {"continuation", 250, '-', NULL, "PIPELINING", "250-PIPELINING\r\n"},
    {"8-bit and controls become ?", 550, ' ', "5.1.1", "x\xc2\xa7y\r\nz",
     "550 5.1.1 x??y??z\r\n"},
};

static void
test_reply_format(void **state)
{
	char line[REPLY_LINE_MAX + 1], longtext[2000];

	for (size_t i = 0; i < NELEM(replies); i++) {
		const struct reply_case *c = &replies[i];
		size_t n = reply_format(line, c->code, c->sep, c->enh, c->text);
		EXPECT_MEM(c->name, "line", line, n, c->want, strlen(c->want));
	}
	/* RFC 5321 §4.5.3.1.5: 512 octets at most, CRLF included */
	memset(longtext, 'a', sizeof(longtext) - 1);
	longtext[sizeof(longtext) - 1] = '\0';
	size_t n = reply_format(line, 554, ' ', "5.7.1", longtext);
	EXPECT_INT("long text", "length", n, REPLY_LINE_MAX);
	EXPECT_MEM("long text", "end", line + n - 2, 2, "\r\n", 2);
	UNIT_END();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_state_names),
	    cmocka_unit_test(test_state_moves),
	    cmocka_unit_test(test_reply_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
