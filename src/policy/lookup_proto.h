/* SPDX-License-Identifier: ISC */
/*
 * lookup_proto.h - the two protocols a recipient lookup speaks (their
 * framing for svc_client.h, their requests and their answers):
 *
 * Postfix's socketmap (socketmap_table(5)): the request is the netstring
 * "NAME KEY", the reply the netstring "OK value", "NOTFOUND ", "TEMP
 * reason", "TIMEOUT reason" or "PERM reason".
 *
 * Dovecot's auth-master userdb lookup (the auth-userdb socket): both sides
 * open with "VERSION\t1\t1"; the server adds "SPID\tpid". A request is
 * "USER\tID\tname\tservice=smtp"; the reply "USER\tID\tname\tfields...",
 * "NOTFOUND\tID" or "FAIL\tID\treason".
 */
#ifndef MOAT_LOOKUP_PROTO_H
#define MOAT_LOOKUP_PROTO_H

#include <stddef.h>
#include <sys/types.h>

struct evbuffer;
struct svc_proto;

enum lookup_status {
	LOOKUP_FOUND = 0, /* the key is known (a value may come with it) */
	LOOKUP_NOTFOUND,  /* not known */
	LOOKUP_TROUBLE    /* the server could not say: a 4xx, never a 5xx */
};

/* the longest value kept (socketmap: the targets of an alias) */
#define LOOKUP_VALUE_MAX 1024

extern const struct svc_proto socketmap_protocol;
extern const struct svc_proto userdb_protocol;

/* socketmap_reply_len - the length of the netstring that opens buf, 0 if
 * it is not all here, -1 if it cannot be one */
ssize_t socketmap_reply_len(const char *buf, size_t len);
/* socketmap_reply_parse - a whole netstring: its status, and for OK the
 * value (cut at valsz - 1; control octets make it a bad reply), for the
 * others the reason; -1 if it is none of the five */
int socketmap_reply_parse(const char *buf, size_t len, enum lookup_status *st,
                          char *value, size_t valsz);
/* socketmap_request - "NAME KEY" as a netstring */
void socketmap_request(struct evbuffer *b, const char *map, const char *key);

/* userdb_noise - the length of the whole VERSION and SPID lines that open
 * buf (the server's greeting) */
size_t userdb_noise(const char *buf, size_t len);
/* userdb_reply_len - one line, through its LF */
ssize_t userdb_reply_len(const char *buf, size_t len);
/* userdb_reply_parse - the answer to request id (reason: FAIL's text);
 * -1 for any other line, or another id */
int userdb_reply_parse(const char *buf, size_t len, unsigned id, enum lookup_status *st,
                       char *reason, size_t reasonsz);
/* userdb_request - 0 and the USER line in b, or -1 if name cannot be
 * asked (a TAB, a line end or another control octet in it) */
int userdb_request(struct evbuffer *b, unsigned id, const char *name);

#endif
