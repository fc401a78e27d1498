/* SPDX-License-Identifier: ISC */
/*
 * session_state.h - the states of an SMTP session and the legal moves
 * between them (session_state.c); session_enter() makes the moves.
 */
#ifndef MOAT_SESSION_STATE_H
#define MOAT_SESSION_STATE_H

enum state {
	S_CONNECT = 0, /* before the greeting: connect-time checks */
	S_GREETING,    /* the greeting is being delayed (early-talker test) */
	S_HELO,        /* greeted, waiting for HELO/EHLO */
	S_READY,       /* ready for MAIL */
	S_MAIL,        /* in a transaction, no recipient yet */
	S_RCPT,        /* at least one recipient */
	S_DATA,        /* reading the message */
	S_CLOSING,     /* last reply queued; no more input */
	S_NSTATES
};

/* session_state_name - "CONNECT", "HELO", ...; "?" for no state */
const char *session_state_name(enum state st);
/* session_state_legal - 1 if a session may move from one to the other */
int session_state_legal(enum state from, enum state to);
/* session_state_in_transaction - MAIL, RCPT or DATA */
int session_state_in_transaction(enum state st);

#endif
