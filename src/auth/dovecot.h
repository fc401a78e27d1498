/* SPDX-License-Identifier: ISC */
/*
 * dovecot.h - the line parser of the Dovecot authentication backend
 * (dovecot.c), apart from its socket so that it can be tested alone.
 */
#ifndef MOAT_DOVECOT_H
#define MOAT_DOVECOT_H

enum dc_reply {
	DC_OTHER = 0, /* VERSION, MECH, SPID, CUID, COOKIE..., or not for us */
	DC_DONE,      /* the end of the server's handshake */
	DC_OK,        /* the request *id succeeded */
	DC_FAIL,      /* ... failed */
	DC_TEMPFAIL,  /* ... failed for Dovecot's own trouble */
	DC_CONT       /* ... wants another round */
};

/*
 * dovecot_reply - what one line from the auth socket (without its LF)
 * says, and for OK, FAIL and CONT the id of the request answered (1 to
 * 2^31 - 1; 0 otherwise). The line is cut at its first two tabs.
 */
enum dc_reply dovecot_reply(char *line, unsigned *id);

#endif
