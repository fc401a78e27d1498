/* SPDX-License-Identifier: ISC */
/*
 * session_submit.c - what moat writes into submitted mail (RFC 6409 §8):
 * the Date and Message-ID fields a message of an authenticated user or of
 * the local submission socket lacks (§8.2, §8.3), and the login in the
 * Received: field when auth_in_received says so (Postfix's
 * smtpd_sasl_authenticated_header).
 *
 * The header scan (session_attack.c) shows each line of the header section
 * as it arrives: a Date or Message-ID there is kept; where the section ends
 * (its empty line, a line that is no field, or the end of the message),
 * the missing ones are put in, before anything of the message is on disk.
 * A header section too big for the scan (beyond 64 KiB) is left as it is.
 * A stranger's mail on the MX is never changed (Postfix's
 * always_add_missing_headers = no): no fields are added to it.
 * SECURITY: reads lines of the client's header section, bounded by the
 * scan (take octets each); the login written into the Received: field is
 * reduced to safe octets, \xNN for the rest, so it adds no header syntax.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>

#include "common/log.h"
#include "common/msgfield.h"
#include "conf/conf.h"
#include "queue/spool.h"
#include "smtp/session_int.h"
#include "smtp/smtpd.h"

#define WANT_DATE  0x1
#define WANT_MSGID 0x2

void
session_submit_begin(struct session *s)
{
	struct transaction *tx = &s->tx;

	/* RFC 6409 §8: the MSA's business, not an MX's */
	tx->fields_want = (s->flags & (F_AUTHED | F_LOCAL)) ? WANT_DATE | WANT_MSGID : 0;
}

/* insert_at - text into buf before offset off */
static void
insert_at(struct evbuffer *buf, size_t off, const char *text, size_t len)
{
	struct evbuffer *head = evbuffer_new();

	if (head == NULL)
		return;
	evbuffer_remove_buffer(buf, head, off);
	evbuffer_add(head, text, len);
	evbuffer_add_buffer(head, buf);
	evbuffer_add_buffer(buf, head);
	evbuffer_free(head);
}

/* fields_add - the wanted fields at off (and an empty line after them when
 * a body line follows without one); the octets put in */
static size_t
fields_add(struct session *s, size_t off, int blank)
{
	struct transaction *tx = &s->tx;
	char text[512], date[MSGFIELD_DATE_MAX], id[300];
	size_t n = 0;
	uint64_t rnd;
	int w;

	if (tx->fields_want == 0)
		return 0;
	if (tx->fields_want & WANT_DATE) {
		if (msgfield_date(time(NULL), date, sizeof(date)) == 0)
			return 0;
		n += (size_t)snprintf(text + n, sizeof(text) - n, "Date: %s\r\n", date);
	}
	if (tx->fields_want & WANT_MSGID) {
		arc4random_buf(&rnd, sizeof(rnd));
		if (msgfield_msgid(spool_msg_id(tx->msg), rnd, s->sd->conf->hostname, id,
		                   sizeof(id)) == 0)
			return 0;
		w = snprintf(text + n, sizeof(text) - n, "Message-ID: %s\r\n", id);
		if (w < 0 || (size_t)w >= sizeof(text) - n)
			return 0;
		n += (size_t)w;
	}
	if (blank)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "\r\n");
	insert_at(tx->buf, off, text, n);
	log_info("smtp added sid=%s id=%s fields=%s%s%s", s->sid, spool_msg_id(tx->msg),
	         (tx->fields_want & WANT_DATE) ? "Date" : "",
	         tx->fields_want == (WANT_DATE | WANT_MSGID) ? "," : "",
	         (tx->fields_want & WANT_MSGID) ? "Message-ID" : "");
	tx->fields_want = 0;
	return n;
}

size_t
session_submit_line(struct session *s, const char *line, size_t take, size_t off)
{
	struct transaction *tx = &s->tx;

	if (tx->fields_want == 0)
		return 0;
	switch (msgfield_line_kind(line, take)) {
	case MSGFIELD_FIELD:
		if (msgfield_name_is(line, take, "date"))
			tx->fields_want &= ~WANT_DATE;
		else if (msgfield_name_is(line, take, "message-id"))
			tx->fields_want &= ~WANT_MSGID;
		return 0;
	case MSGFIELD_CONT:
		return 0;
	default:
		/* a body without the empty line before it: ours go above it,
		 * and the empty line, as Postfix's cleanup puts it */
		return fields_add(s, off, 1);
	}
}

void
session_submit_end(struct session *s, size_t off)
{
	fields_add(s, off, 0);
}

/* login_shown - the login as a comment may carry it (RFC 5322 §3.2.2) */
static const char *
login_shown(const char *login, char *buf, size_t bufsz)
{
	size_t n = 0;

	for (size_t i = 0; login[i] != '\0' && n + 5 < bufsz; i++) {
		unsigned char c = (unsigned char)login[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		         (c >= '0' && c <= '9') || (c != '\0' && strchr("._-+@=", c));
		if (ok)
			buf[n++] = (char)c;
		else
			n += (size_t)snprintf(buf + n, bufsz - n, "\\x%02x", c);
	}
	buf[n] = '\0';
	return buf;
}

void
session_submit_received(struct session *s, struct evbuffer *out)
{
	char login[4 * 255 + 1];

	if (!(s->flags & F_AUTHED) || s->auth_user == NULL ||
	    !s->sd->conf->auth_in_received)
		return;
	evbuffer_add_printf(out, "\t(Authenticated sender: %s)\r\n",
	                    login_shown(s->auth_user, login, sizeof(login)));
}
