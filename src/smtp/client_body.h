/* SPDX-License-Identifier: ISC */
/*
 * client_body.h - the SMTP client's DATA encoder (RFC 5321 §4.5.2): a
 * message with any mix of line ends (LF, CRLF, a lone CR) goes out as CRLF
 * lines, a line that begins with "." gets a second one, and a last line
 * without an end gets CRLF before the final ".".
 *
 * smtp_body_start() takes the message over; smtp_body_fill() encodes the
 * next pieces into an output buffer until it holds a given amount, or the
 * message has gone and the final dot with it (done): text that needs no
 * change moves over as it lies (a piece of the message at a time), the rest
 * is encoded SMTP_BODY_CHUNK octets at most at a time. smtp_body_free() drops what is
 * left. smtp_body_start_file() reads the message from a file instead, a piece
 * (SMTP_BODY_READ octets) at a time as the output takes it, so that a
 * large message never sits whole in memory.
 */
#ifndef MOAT_CLIENT_BODY_H
#define MOAT_CLIENT_BODY_H

#include <stddef.h>
#include <sys/types.h>

struct evbuffer;

#define SMTP_BODY_CHUNK 16384
#define SMTP_BODY_READ  65536 /* octets read from a file at a time */

struct smtp_body {
	struct evbuffer *msg; /* what is left of the message; NULL once done */
	int bol;              /* the next octet begins a line */
	int cr;               /* the last chunk ended with a CR */
	int done;             /* the final dot is in the output */
	int fd;               /* with has_fd: the file the rest of the message is in */
	int has_fd;           /* (a zeroed struct has none) */
	off_t off;            /* where in fd the rest begins */
	size_t left;          /* octets of fd not read yet */
};

/* smtp_body_start - encode msg (taken over, freed when done) from its start */
void smtp_body_start(struct smtp_body *b, struct evbuffer *msg);
/* smtp_body_start_file - encode len octets of fd (taken over, closed by
 * smtp_body_free) from off, read as needed into msg (taken over, empty) */
void smtp_body_start_file(struct smtp_body *b, struct evbuffer *msg, int fd, off_t off,
                          size_t len);
/* smtp_body_fill - encode into out while out holds less than limit octets;
 * -1 (errno) if the file could not be read: the message cannot be ended */
int smtp_body_fill(struct smtp_body *b, struct evbuffer *out, size_t limit);
/* smtp_body_free - free what is left of the message, close its file */
void smtp_body_free(struct smtp_body *b);

#endif
