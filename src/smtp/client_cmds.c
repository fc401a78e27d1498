/* SPDX-License-Identifier: ISC */
/*
 * client_cmds.c - the SMTP client's command queue (see client.h for the
 * API): smtp_client_cmd() and its secret twin, EHLO/LHLO, DATA (from a
 * buffer or a file), STARTTLS. Each call only appends an item to the queue
 * and kicks the client; client.c's pump() sends it from the event loop
 * and matches it with its reply. A command that would be too long or
 * smuggle a CR or LF is never sent: it gets a local 451 in its turn.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <event2/buffer.h>

#include "common/xmalloc.h"
#include "smtp/client.h"
#include "smtp/client_int.h"

/* client_item_new - a new item at the tail of the queue, the client kicked */
struct item *
client_item_new(struct smtp_client *c, enum item_kind kind, smtp_client_cb cb, void *arg)
{
	struct item *it = xcalloc(1, sizeof(*it));

	it->kind = kind;
	it->cb = cb;
	it->arg = arg;
	it->nreplies = 1;
	TAILQ_INSERT_TAIL(&c->queue, it, entry);
	client_kick(c);
	return it;
}

/* set_line - the command text; refuse what would smuggle a second command */
static int
set_line(struct item *it, const char *text)
{
	if (strlen(text) > SMTP_CLIENT_CMD_MAX || strpbrk(text, "\r\n") != NULL) {
		it->kind = I_LOCAL;
		client_make_reply(&it->local, 451,
		                  "4.3.0 local: command not sent (too long or CR/LF)");
		return -1;
	}
	strlcpy(it->line, text, sizeof(it->line));
	return 0;
}

/* is_sync - RFC 2920 §3.1: commands that end a pipelined group */
static int
is_sync(const char *line)
{
	static const char *const verbs[] = {"EHLO", "HELO",     "LHLO", "DATA",
	                                    "VRFY", "EXPN",     "TURN", "QUIT",
	                                    "NOOP", "STARTTLS", "AUTH"};
	size_t n = strcspn(line, " ");

	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strlen(verbs[i]) == n && strncasecmp(line, verbs[i], n) == 0)
			return 1;
	return 0;
}

void
smtp_client_cmd(struct smtp_client *c, smtp_client_cb cb, void *arg, const char *fmt, ...)
{
	struct item *it = client_item_new(c, I_CMD, cb, arg);
	char text[SMTP_CLIENT_CMD_MAX + 2];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(text))
		text[SMTP_CLIENT_CMD_MAX] = 'x'; /* over the limit: refused below */
	if (set_line(it, text) == 0)
		it->sync = is_sync(it->line);
}

void
smtp_client_cmd_secret(struct smtp_client *c, smtp_client_cb cb, void *arg, size_t shown,
                       const char *line)
{
	struct item *it = client_item_new(c, I_CMD, cb, arg);

	it->secret = 1;
	it->shown = shown < strlen(line) ? shown : strlen(line);
	if (set_line(it, line) == 0)
		it->sync = 1; /* AUTH ends a group (RFC 2920 §3.1), as its responses do */
}

void
smtp_client_ehlo(struct smtp_client *c, smtp_client_cb cb, void *arg)
{
	struct item *it = client_item_new(c, I_EHLO, cb, arg);
	char text[300];

	snprintf(text, sizeof(text), "%s %s", c->opts.lmtp ? "LHLO" : "EHLO", c->helo);
	set_line(it, text);
	it->sync = 1;
}

void
smtp_client_data(struct smtp_client *c, struct evbuffer *msg, size_t nrcpt,
                 smtp_client_cb cb, void *arg)
{
	struct item *it = client_item_new(c, I_DATA, cb, arg);

	strlcpy(it->line, "DATA", sizeof(it->line));
	it->sync = 1;
	it->msg = msg;
	it->nreplies = c->opts.lmtp ? (nrcpt > 0 ? nrcpt : 1) : 1;
}

void
smtp_client_data_file(struct smtp_client *c, int fd, off_t off, size_t len, size_t nrcpt,
                      smtp_client_cb cb, void *arg)
{
	smtp_client_data(c, evbuffer_new(), nrcpt, cb, arg);
	struct item *it = TAILQ_LAST(&c->queue, itemq);
	it->fd = fd;
	it->has_fd = 1;
	it->off = off;
	it->len = len;
}

void
smtp_client_data_sending(struct smtp_client *c, smtp_client_cb sending)
{
	struct item *it = TAILQ_LAST(&c->queue, itemq);

	if (it != NULL && it->kind == I_DATA)
		it->sending = sending;
}

void
smtp_client_data_drop_body(struct smtp_client *c)
{
	struct item *it;

	TAILQ_FOREACH(it, &c->queue, entry)
	{
		if (it->kind == I_DATA && it->msg != NULL) {
			evbuffer_drain(it->msg, evbuffer_get_length(it->msg));
			it->len = 0;
			return;
		}
	}
}

void
smtp_client_starttls(struct smtp_client *c, const char *servername, smtp_client_cb cb,
                     void *arg)
{
	struct item *it = client_item_new(c, I_STARTTLS, cb, arg);

	if (c->opts.ssl_ctx == NULL) {
		it->kind = I_LOCAL;
		client_make_reply(&it->local, 454, "4.7.0 local: TLS not available");
		return;
	}
	strlcpy(it->line, "STARTTLS", sizeof(it->line));
	it->sync = 1;
	if (servername != NULL)
		strlcpy(it->servername, servername, sizeof(it->servername));
}
