/* SPDX-License-Identifier: ISC */
/*
 * session_state.c - the states of an SMTP session, their names, and which
 * changes between them are legal.
 *
 * session_enter() (session.c) is the only writer of a session's state; it
 * asks session_state_legal() first. The tables are indexed by the enum
 * with designated initializers, and sized by it: a new state cannot shift
 * the names after it, nor be left out silently.
 * SECURITY: no input; the tables are constant.
 */
#include <stddef.h>

#include "smtp/session_state.h"

static const char *const state_names[] = {
    [S_CONNECT] = "CONNECT", [S_GREETING] = "GREETING", [S_HELO] = "HELO",
    [S_READY] = "READY",     [S_MAIL] = "MAIL",         [S_RCPT] = "RCPT",
    [S_DATA] = "DATA",       [S_CLOSING] = "CLOSING",
};
_Static_assert(sizeof(state_names) / sizeof(state_names[0]) == S_NSTATES,
               "every session state has a name");

#define TO(st) (1u << (st))

/*
 * The legal moves, from each state. Any state may end (CLOSING); nothing
 * leaves CLOSING. HELO -> HELO and READY -> HELO are STARTTLS (RFC 3207
 * §4.2: the client starts over with EHLO); READY -> READY is a second
 * HELO/EHLO; MAIL/RCPT -> READY is RSET, EHLO or a refused or finished
 * transaction (RFC 5321 §4.1.4).
 */
static const unsigned legal[] = {
    [S_CONNECT] = TO(S_GREETING) | TO(S_HELO) | TO(S_CLOSING),
    [S_GREETING] = TO(S_HELO) | TO(S_CLOSING),
    [S_HELO] = TO(S_HELO) | TO(S_READY) | TO(S_CLOSING),
    [S_READY] = TO(S_HELO) | TO(S_READY) | TO(S_MAIL) | TO(S_CLOSING),
    [S_MAIL] = TO(S_READY) | TO(S_RCPT) | TO(S_CLOSING),
    [S_RCPT] = TO(S_READY) | TO(S_RCPT) | TO(S_DATA) | TO(S_CLOSING),
    [S_DATA] = TO(S_READY) | TO(S_CLOSING),
    [S_CLOSING] = 0,
};
_Static_assert(sizeof(legal) / sizeof(legal[0]) == S_NSTATES,
               "every session state has its legal moves");

const char *
session_state_name(enum state st)
{
	if ((unsigned)st >= S_NSTATES || state_names[st] == NULL)
		return "?";
	return state_names[st];
}

int
session_state_legal(enum state from, enum state to)
{
	if ((unsigned)from >= S_NSTATES || (unsigned)to >= S_NSTATES)
		return 0;
	return (legal[from] & TO(to)) != 0;
}

int
session_state_in_transaction(enum state st)
{
	return st == S_MAIL || st == S_RCPT || st == S_DATA;
}
