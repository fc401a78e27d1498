/* SPDX-License-Identifier: ISC */
/*
 * deliver.h - what one delivery attempt to one recipient reports.
 */
#ifndef MOAT_DELIVER_H
#define MOAT_DELIVER_H

enum dstatus {
	DS_SENT = 0, /* final: delivered */
	DS_DEFER,    /* temporary: retry later */
	DS_BOUNCE,   /* final: permanent failure */
};

struct dresult {
	enum dstatus status;
	char relay[300]; /* where it went: "maildir", "host[ip]:port" */
	char text[512];  /* the remote reply or local reason */
	/* for a success: the message reached its mailbox (Maildir, LMTP), or
	 * a next hop that took the DSN request on (it reports from now on) */
	int final;
	int dsn_passed;
	/* over an SMTP/LMTP connection: 1 + the enum tls_reached it reached
	 * (tlspolicy.h); 0: no connection (Maildir, a failure before one) */
	int tls;
};

const char *dstatus_name(enum dstatus s);

#endif
