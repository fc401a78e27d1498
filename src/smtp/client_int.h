/* SPDX-License-Identifier: ISC */
/*
 * client_int.h - the SMTP client's private parts, shared by the files that
 * implement it: client.c (life cycle, sending, replies, TLS) and
 * client_cmds.c (the command queue). struct smtp_client is one connection;
 * struct item is one queued command. client_item_new() appends an item and
 * client_kick()s the client, so that pump() sends it from the loop;
 * client_make_reply() builds a local reply (r->local set).
 */
#ifndef MOAT_CLIENT_INT_H
#define MOAT_CLIENT_INT_H

#include <stddef.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "smtp/client.h"
#include "smtp/client_body.h"
#include "smtp/client_reply.h"

struct bufferevent;
struct event;
struct event_base;
struct evbuffer;

enum item_kind { I_CONNECT, I_CMD, I_EHLO, I_HELO, I_DATA, I_BODY, I_STARTTLS, I_LOCAL };

struct item {
	TAILQ_ENTRY(item) entry;
	enum item_kind kind;
	char line[SMTP_CLIENT_CMD_MAX + 1];
	int sync; /* RFC 2920 §3.1: must be the last command of a group */
	int sent;
	smtp_client_cb cb;
	void *arg;
	struct evbuffer *msg; /* DATA */
	int fd;               /* DATA from a file (has_fd): its descriptor, */
	int has_fd;
	off_t off;              /* where the message begins, */
	size_t len;             /* and its length */
	smtp_client_cb sending; /* DATA: told of the 354, once the body is queued */
	size_t nreplies;        /* replies expected after the final dot */
	size_t ngot;
	char servername[256]; /* STARTTLS */
	size_t shown;         /* a secret: the octets of line the log may show */
	int secret;
	struct smtp_reply local; /* I_LOCAL: the reply to give */
};
TAILQ_HEAD(itemq, item);

struct smtp_client {
	struct event_base *base;
	struct smtp_client_opts opts;
	char helo[256];
	char servername[256]; /* implicit TLS */
	struct sockaddr_storage bind_ss;
	struct bufferevent *bev;
	struct evbuffer *out; /* what this turn sends; see out_flush() */
	struct event *timer;
	struct event *kick; /* runs pump()/flush() from the loop */
	struct itemq queue;
	size_t inflight;
	int connected;
	int tls, tls_handshake;
	int dead;
	struct smtp_reply dead_reply;
	int busy, freeing;
	struct smtp_reply_reader reader; /* the reply being read */
	/* extensions from the last EHLO */
	struct smtp_ext exts[SMTP_CLIENT_EXT_MAX];
	size_t nexts;
	int pipelining;
	struct smtp_body body; /* the message being sent */
};

struct item *client_item_new(struct smtp_client *c, enum item_kind kind,
                             smtp_client_cb cb, void *arg);
void client_kick(struct smtp_client *c);
void client_make_reply(struct smtp_reply *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
