/* SPDX-License-Identifier: ISC */
/*
 * verdict.h - what a policy stage answers: OK, TEMPFAIL or PERMFAIL, with
 * the reply the SMTP layer should send and the rule that decided. Policy
 * code fills this in; it never writes to a socket.
 */
#ifndef MOAT_VERDICT_H
#define MOAT_VERDICT_H

enum verdict_kind { VERDICT_OK = 0, VERDICT_TEMPFAIL, VERDICT_PERMFAIL };

struct verdict {
	enum verdict_kind kind;
	int code;         /* SMTP reply code */
	const char *enh;  /* enhanced status code, RFC 3463 */
	char text[300];   /* reply text */
	const char *rule; /* the rule that decided, for the log */
	char detail[300]; /* for the log only: scores, zones, counts */
	long delay_ms;    /* answer this much later (tarpit, harvest) */
	int disconnect;   /* end the session after the reply */
	int stutter;      /* answer byte by byte from now on */
};

#endif
