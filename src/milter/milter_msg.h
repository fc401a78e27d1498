/* SPDX-License-Identifier: ISC */
/*
 * milter_msg.h - a message as the milters see it at its end: its header
 * fields (parsed from the spooled message) and its body (read from the
 * spool, or a replacement in an unnamed spool file), and what the milters'
 * modifications made of them. A message nobody changed is committed as it
 * was spooled; a changed one is written anew (mmsg_write).
 */
#ifndef MOAT_MILTER_MSG_H
#define MOAT_MILTER_MSG_H

#include <stddef.h>
#include <sys/types.h>

struct spool;
struct spool_msg;
struct milter_reply;
struct evbuffer;
struct mmsg;

/* the most octets of header section read; what follows is body */
#define MMSG_HEADERS_MAX (256 * 1024)

/* mmsg_new - the header fields of src; NULL if it cannot be read. The
 * fields in its first own octets are ours (the Received line, what policy
 * services prepended): kept, but, as Sendmail and Postfix do, never shown
 * to a milter nor counted by its header indexes. */
struct mmsg *mmsg_new(struct spool *sp, struct spool_msg *src, size_t own,
                      size_t body_max);
/* mmsg_from_headers - the header fields at the start of buf, without a
 * spooled message (no body): for the fuzz target */
struct mmsg *mmsg_from_headers(const char *buf, size_t len, size_t *body_off);
void mmsg_free(struct mmsg *m);

size_t mmsg_nheaders(const struct mmsg *m);
/* mmsg_header - the i-th field (deleted ones skipped): its name, and its
 * value as a milter gets it (folds as LF; leading white space kept only
 * with leadspc); NULL past the end */
const char *mmsg_header(const struct mmsg *m, size_t i, int leadspc, const char **value);

/* mmsg_body_read - len octets of the body from off: count, 0 at the end */
ssize_t mmsg_body_read(struct mmsg *m, size_t off, void *buf, size_t len);

/* mmsg_body_begin - a milter replaces the body: what it sends next
 * (mmsg_apply with SMFIR_REPLBODY) is the new body */
void mmsg_body_begin(struct mmsg *m);
/* mmsg_apply - a header or body modification (ADDHEADER, INSHEADER,
 * CHGHEADER, REPLBODY); leadspc: the milter keeps leading spaces. -1 with
 * err if it cannot be done (a replacement body over body_max, a write
 * error). */
int mmsg_apply(struct mmsg *m, const struct milter_reply *r, int leadspc, char *err,
               size_t errsz);
/* mmsg_body_end - the replacement body is complete */
void mmsg_body_end(struct mmsg *m);
int mmsg_changed(const struct mmsg *m);

/* mmsg_write - the message as it now is, into dst (spool_append); -1 on
 * error */
int mmsg_write(struct mmsg *m, struct spool_msg *dst);

#endif
