/* SPDX-License-Identifier: ISC */
/*
 * milter_msg.c - the message at its end, for the milters and their
 * modifications (milter_msg.h).
 *
 * Header fields keep the octets they were spooled with (raw): a message
 * whose fields a milter did not touch is written back byte for byte, so a
 * DKIM signature made over them still verifies. A field a milter adds or
 * changes is written "Name: value" (or "Name:value" for a milter that keeps
 * leading spaces), its folds as CRLF and a tab where the milter gave none.
 * SECURITY: header fields come from the client (through the spool, bounded
 * by MMSG_HEADERS_MAX); modifications from a milter, parsed and checked by
 * milter_proto.c; a replacement body is bounded by body_max.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "milter/milter_msg.h"
#include "milter/milter_proto.h"
#include "queue/spool.h"

struct mhdr {
	char *raw; /* as spooled, CRLFs included; NULL: made by a milter */
	size_t rawlen;
	char *name;  /* the field name */
	char *value; /* after the colon, folds as LF */
	int deleted;
	int own; /* ours: not a milter's to see or to count */
};

struct mmsg {
	struct spool *sp;
	struct spool_msg *src;
	struct mhdr *h;
	size_t nh, cap;
	size_t body_off; /* in src: where the body begins */
	int sep;         /* src had the empty line after its header fields */
	int body_fd;     /* a replacement body, or -1 */
	size_t body_len;
	int new_fd; /* the replacement being received, or -1 */
	size_t new_len;
	int new_cr; /* its last octet was a CR */
	size_t body_max;
	int changed;
};

static struct mhdr *
add_slot(struct mmsg *m, size_t at)
{
	if (m->nh == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 32;
		m->h = xreallocarray(m->h, m->cap, sizeof(*m->h));
	}
	memmove(&m->h[at + 1], &m->h[at], (m->nh - at) * sizeof(*m->h));
	m->nh++;
	memset(&m->h[at], 0, sizeof(*m->h));
	return &m->h[at];
}

/* value_of - a field's value for the milters: after the colon, CRLF folds
 * as LF, the final CRLF gone */
static char *
value_of(const char *colon, const char *end)
{
	char *v = xmalloc((size_t)(end - colon) + 1), *o = v;

	for (const char *p = colon + 1; p < end; p++)
		if (*p != '\r')
			*o++ = *p;
	while (o > v && o[-1] == '\n')
		o--;
	*o = '\0';
	return v;
}

/* parse - the header fields at the start of buf; returns the octets they
 * take (the empty line after them included) */
static size_t
parse(struct mmsg *m, const char *buf, size_t len, size_t own)
{
	size_t off = 0;

	while (off < len) {
		const char *line = buf + off, *colon, *end;
		const char *nl = memchr(line, '\n', len - off);
		size_t flen;

		if (nl == NULL)
			break; /* a cut line: the body's */
		if (nl == line || (nl == line + 1 && line[0] == '\r')) {
			m->sep = 1;
			return (size_t)(nl - buf) + 1;
		}
		colon = memchr(line, ':', (size_t)(nl - line));
		if (colon == NULL || colon == line || line[0] == ' ' || line[0] == '\t')
			break; /* not a field: the body begins here */
		for (const char *p = line; p < colon; p++)
			if ((unsigned char)*p <= 32 || (unsigned char)*p > 126)
				return off; /* a name with a space: body */
		/* the continuation lines */
		end = nl + 1;
		while (end < buf + len && (*end == ' ' || *end == '\t')) {
			const char *n2 = memchr(end, '\n', (size_t)(buf + len - end));
			if (n2 == NULL)
				break;
			end = n2 + 1;
		}
		flen = (size_t)(end - line);
		{
			struct mhdr *h = add_slot(m, m->nh);
			h->raw = xmalloc(flen);
			memcpy(h->raw, line, flen);
			h->rawlen = flen;
			h->name = xmalloc((size_t)(colon - line) + 1);
			memcpy(h->name, line, (size_t)(colon - line));
			h->name[colon - line] = '\0';
			h->value = value_of(colon, end);
			h->own = off < own;
		}
		off += flen;
	}
	return off;
}

/* has_end - the header section's end (an empty line) in buf? */
static int
has_end(const char *buf, size_t len)
{
	if (len == 0)
		return 0;
	if (len >= 2 && buf[0] == '\r' && buf[1] == '\n')
		return 1;
	return memmem(buf, len, "\n\r\n", 3) != NULL ||
	       memmem(buf, len, "\n\n", 2) != NULL;
}

struct mmsg *
mmsg_new(struct spool *sp, struct spool_msg *src, size_t own, size_t body_max)
{
	struct mmsg *m = xcalloc(1, sizeof(*m));
	size_t size = spool_msg_size(src), got = 0, cap = 0;
	char *buf = NULL;
	ssize_t n;

	m->sp = sp;
	m->src = src;
	m->body_fd = m->new_fd = -1;
	m->body_max = body_max;
	/* read up to the empty line, 64 KiB at a time, MMSG_HEADERS_MAX at most */
	while (got < size && got < MMSG_HEADERS_MAX && !has_end(buf, got)) {
		size_t want = size - got < 65536 ? size - got : 65536;
		if (got + want > MMSG_HEADERS_MAX)
			want = MMSG_HEADERS_MAX - got;
		if (got + want > cap) {
			cap = got + want;
			buf = xreallocarray(buf, cap, 1);
		}
		if ((n = spool_msg_read(src, got, buf + got, want)) <= 0) {
			free(buf);
			mmsg_free(m);
			return NULL;
		}
		got += (size_t)n;
	}
	m->body_off = parse(m, buf, got, own);
	free(buf);
	return m;
}

struct mmsg *
mmsg_from_headers(const char *buf, size_t len, size_t *body_off)
{
	struct mmsg *m = xcalloc(1, sizeof(*m));

	m->body_fd = m->new_fd = -1;
	*body_off = m->body_off = parse(m, buf, len, 0);
	return m;
}

void
mmsg_free(struct mmsg *m)
{
	if (m == NULL)
		return;
	for (size_t i = 0; i < m->nh; i++) {
		free(m->h[i].raw);
		free(m->h[i].name);
		free(m->h[i].value);
	}
	free(m->h);
	if (m->body_fd != -1)
		close(m->body_fd);
	if (m->new_fd != -1)
		close(m->new_fd);
	free(m);
}

size_t
mmsg_nheaders(const struct mmsg *m)
{
	size_t n = 0;

	for (size_t i = 0; i < m->nh; i++)
		n += !m->h[i].deleted && !m->h[i].own;
	return n;
}

const char *
mmsg_header(const struct mmsg *m, size_t i, int leadspc, const char **value)
{
	for (size_t k = 0; k < m->nh; k++) {
		const char *v;
		if (m->h[k].deleted || m->h[k].own)
			continue;
		if (i-- > 0)
			continue;
		v = m->h[k].value;
		/* RFC 5322's customary space after the colon is not the
		 * value's, unless the milter asked for it (HDR_LEADSPC) */
		if (!leadspc && *v == ' ')
			v++;
		*value = v;
		return m->h[k].name;
	}
	return NULL;
}

ssize_t
mmsg_body_read(struct mmsg *m, size_t off, void *buf, size_t len)
{
	ssize_t n;

	if (m->body_fd == -1)
		return spool_msg_read(m->src, m->body_off + off, buf, len);
	if (off >= m->body_len)
		return 0;
	if (len > m->body_len - off)
		len = m->body_len - off;
	while ((n = pread(m->body_fd, buf, len, (off_t)off)) == -1 && errno == EINTR)
		;
	return n;
}

void
mmsg_body_begin(struct mmsg *m)
{
	if (m->new_fd != -1)
		close(m->new_fd);
	m->new_fd = spool_tmpfile(m->sp);
	m->new_len = 0;
	m->new_cr = 0;
}

/* body_add - a piece of the replacement, line ends made CRLF */
static int
body_add(struct mmsg *m, const unsigned char *p, size_t len, char *err, size_t errsz)
{
	unsigned char out[2 * 4096];
	size_t o = 0;

	if (m->new_fd == -1) {
		snprintf(err, errsz, "no file for the new body: %s", strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		if (p[i] == '\n' && !m->new_cr)
			out[o++] = '\r';
		out[o++] = p[i];
		m->new_cr = p[i] == '\r';
		if (o >= sizeof(out) - 2 || i + 1 == len) {
			if (m->new_len + o > m->body_max) {
				snprintf(err, errsz, "a new body over %zu octets",
				         m->body_max);
				return -1;
			}
			if (pwrite(m->new_fd, out, o, (off_t)m->new_len) != (ssize_t)o) {
				snprintf(err, errsz, "the new body cannot be written: %s",
				         strerror(errno));
				return -1;
			}
			m->new_len += o;
			o = 0;
		}
	}
	return 0;
}

void
mmsg_body_end(struct mmsg *m)
{
	if (m->new_fd == -1)
		return;
	if (m->body_fd != -1)
		close(m->body_fd);
	m->body_fd = m->new_fd;
	m->body_len = m->new_len;
	m->new_fd = -1;
	m->changed = 1;
}

/* made - a field a milter made: "Name: value" and CRLF, its folds CRLF
 * and white space */
static void
made(struct mhdr *h, const char *name, const char *value, int leadspc)
{
	struct evbuffer *b = evbuffer_new();
	size_t len;

	if (b == NULL)
		fatalx("milter: out of memory");
	evbuffer_add_printf(b, "%s:%s", name, leadspc ? "" : " ");
	for (const char *p = value; *p != '\0'; p++) {
		if (*p == '\r')
			continue;
		if (*p == '\n') {
			evbuffer_add(b, "\r\n", 2);
			if (p[1] != ' ' && p[1] != '\t')
				evbuffer_add(b, "\t", 1);
			continue;
		}
		evbuffer_add(b, p, 1);
	}
	evbuffer_add(b, "\r\n", 2);
	len = evbuffer_get_length(b);
	/* name may be h->name itself (a changed field): copied before the free */
	char *newname = xstrdup(name);
	free(h->raw);
	free(h->name);
	free(h->value);
	h->raw = xmalloc(len);
	evbuffer_remove(b, h->raw, len);
	h->rawlen = len;
	h->name = newname;
	/* what later milters see, as if it had been spooled so */
	h->value = value_of(h->raw + strlen(newname), h->raw + len);
	evbuffer_free(b);
}

int
mmsg_apply(struct mmsg *m, const struct milter_reply *r, int leadspc, char *err,
           size_t errsz)
{
	size_t at, seen;

	switch (r->cmd) {
	case SMFIR_ADDHEADER:
		made(add_slot(m, m->nh), r->name, r->value, leadspc);
		break;
	case SMFIR_INSHEADER:
		/* index counts the fields a milter sees (not ours, not deleted
		 * ones); 0 is the very top, above ours, as in Postfix */
		for (at = 0, seen = 0; at < m->nh && seen < r->index; at++)
			seen += !m->h[at].deleted && !m->h[at].own;
		made(add_slot(m, at), r->name, r->value, leadspc);
		break;
	case SMFIR_CHGHEADER:
		/* the index-th field of that name (from 1; 0 as 1); none: add */
		for (at = 0, seen = 0; at < m->nh; at++)
			if (!m->h[at].deleted && !m->h[at].own &&
			    strcasecmp(m->h[at].name, r->name) == 0 &&
			    ++seen >= (r->index ? r->index : 1))
				break;
		if (at == m->nh) {
			if (r->value[0] != '\0')
				made(add_slot(m, m->nh), r->name, r->value, leadspc);
		} else if (r->value[0] == '\0')
			m->h[at].deleted = 1;
		else
			made(&m->h[at], m->h[at].name, r->value, leadspc);
		break;
	case SMFIR_REPLBODY:
		return body_add(m, r->body, r->body_len, err, errsz);
	default:
		return 0;
	}
	m->changed = 1;
	return 0;
}

int
mmsg_changed(const struct mmsg *m)
{
	return m->changed;
}

int
mmsg_write(struct mmsg *m, struct spool_msg *dst)
{
	struct evbuffer *b = evbuffer_new();
	char chunk[65536];
	size_t off = 0;
	ssize_t n;
	int rc = 0;

	if (b == NULL)
		return -1;
	for (size_t i = 0; i < m->nh; i++)
		if (!m->h[i].deleted)
			evbuffer_add(b, m->h[i].raw, m->h[i].rawlen);
	if (m->sep || m->body_fd != -1 || m->body_off < spool_msg_size(m->src))
		evbuffer_add(b, "\r\n", 2);
	while ((n = mmsg_body_read(m, off, chunk, sizeof(chunk))) > 0) {
		evbuffer_add(b, chunk, (size_t)n);
		off += (size_t)n;
		if (evbuffer_get_length(b) >= sizeof(chunk) &&
		    spool_append(dst, b) == -1) {
			rc = -1;
			break;
		}
	}
	if (n < 0 || (rc == 0 && spool_append(dst, b) == -1))
		rc = -1;
	evbuffer_free(b);
	return rc;
}
