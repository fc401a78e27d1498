/* SPDX-License-Identifier: ISC */
/*
 * client_reply.c - the SMTP client's reply parser (API: client_reply.h):
 * "ddd-text" lines up to "ddd text" (RFC 5321 §4.2.1), joined by '\n'
 * without their prefixes; an EHLO reply then split into its extensions.
 * SECURITY: untrusted data read directly from the network. Each reply line
 * is found with CRLF-strict end-of-line search and its length checked
 * against SMTP_CLIENT_LINE_MAX before a byte is copied; a reply has at most
 * SMTP_CLIENT_REPLY_LINES lines; text is truncated at SMTP_CLIENT_TEXT_MAX;
 * control bytes (NUL included) become '?', so the text is a C string the
 * EHLO parser can walk. tests/fuzz/fuzz_reply.c exercises all of it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>

#include "smtp/client.h"
#include "smtp/client_reply.h"

/* reply_line - one reply line into the current reply: 1 if it was the
 * last, 0 if more are to come, -1 on a protocol error */
static int
reply_line(struct smtp_reply_reader *rr, const char *line, size_t len)
{
	struct smtp_reply *r = &rr->cur;
	int code, last;
	size_t tlen;

	if (len < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' || line[1] > '9' ||
	    line[2] < '0' || line[2] > '9' ||
	    (len > 3 && line[3] != ' ' && line[3] != '-'))
		return -1;
	code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	last = len == 3 || line[3] == ' ';
	if (!rr->open) {
		memset(r, 0, sizeof(*r));
		r->code = code;
		rr->open = 1;
	} else if (code != r->code) {
		return -1; /* RFC 5321 §4.2.1: every line carries the same code */
	}
	if (++r->nlines > SMTP_CLIENT_REPLY_LINES)
		return -1;
	tlen = strlen(r->text);
	if (r->nlines > 1 && tlen + 1 < sizeof(r->text))
		r->text[tlen++] = '\n';
	for (size_t i = 4; i < len && tlen + 1 < sizeof(r->text); i++) {
		unsigned char b = (unsigned char)line[i];
		r->text[tlen++] = (b < 0x20 && b != '\t') || b == 0x7f ? '?' : (char)b;
	}
	r->text[tlen] = '\0';
	return last;
}

enum smtp_reply_status
smtp_reply_read(struct smtp_reply_reader *rr, struct evbuffer *in, struct smtp_reply *out)
{
	char line[SMTP_CLIENT_LINE_MAX + 1];

	for (;;) {
		size_t eol_len = 0;
		struct evbuffer_ptr p =
		    evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_CRLF_STRICT);
		int rc;

		/* Measured in the buffer before anything is copied. */
		if (p.pos < 0)
			return evbuffer_get_length(in) > SMTP_CLIENT_LINE_MAX
			           ? SMTP_REPLY_TOO_LONG
			           : SMTP_REPLY_MORE;
		if ((size_t)p.pos > SMTP_CLIENT_LINE_MAX)
			return SMTP_REPLY_TOO_LONG;
		evbuffer_remove(in, line, (size_t)p.pos);
		evbuffer_drain(in, eol_len);
		line[p.pos] = '\0';
		rc = reply_line(rr, line, (size_t)p.pos);
		if (rc < 0)
			return SMTP_REPLY_MALFORMED;
		if (rc == 1) {
			*out = rr->cur;
			rr->open = 0;
			return SMTP_REPLY_DONE;
		}
	}
}

size_t
smtp_reply_ehlo(const struct smtp_reply *r, struct smtp_ext *exts, size_t max)
{
	const char *p = r->text, *nl;
	size_t n = 0;

	/* The first line is the greeting; each further line is one keyword. */
	if ((nl = strchr(p, '\n')) == NULL)
		return 0;
	p = nl + 1;
	while (*p != '\0' && n < max) {
		struct smtp_ext *e = &exts[n];
		size_t len, kwlen;

		nl = strchr(p, '\n');
		len = nl ? (size_t)(nl - p) : strlen(p);
		kwlen = strcspn(p, " \n");
		if (kwlen > len)
			kwlen = len;
		if (kwlen > 0 && kwlen < sizeof(e->kw)) {
			memcpy(e->kw, p, kwlen);
			e->kw[kwlen] = '\0';
			e->param[0] = '\0';
			if (len > kwlen + 1) {
				size_t plen = len - kwlen - 1;
				if (plen >= sizeof(e->param))
					plen = sizeof(e->param) - 1;
				memcpy(e->param, p + kwlen + 1, plen);
				e->param[plen] = '\0';
			}
			n++;
		}
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	return n;
}

const char *
smtp_ext_find(const struct smtp_ext *exts, size_t n, const char *kw)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(exts[i].kw, kw) == 0)
			return exts[i].param;
	return NULL;
}

long long
smtp_ext_size(const struct smtp_ext *exts, size_t n)
{
	const char *p = smtp_ext_find(exts, n, "SIZE");
	char *end;
	long long v;

	if (p == NULL)
		return -1;
	if (*p == '\0')
		return 0;
	errno = 0;
	v = strtoll(p, &end, 10);
	if (errno != 0 || end == p || v < 0)
		return 0;
	return v;
}

const char *
smtp_reply_first(const struct smtp_reply *r, char *buf, size_t bufsz)
{
	size_t n = strcspn(r->text, "\n");

	if (bufsz == 0)
		return buf;
	if (n >= bufsz)
		n = bufsz - 1;
	memcpy(buf, r->text, n);
	buf[n] = '\0';
	return buf;
}
