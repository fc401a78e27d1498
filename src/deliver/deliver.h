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
};

const char *dstatus_name(enum dstatus s);

#endif
