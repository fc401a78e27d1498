/* SPDX-License-Identifier: ISC */
/*
 * headers.c - moat-sendmail's header section reader and address list
 * parser (headers.h): -t's recipients from To, Cc and Bcc, the Bcc fields
 * left out of what is sent, and whether From, Date and Message-ID are
 * there (moat-sendmail adds those that are not).
 *
 * SECURITY: reads a local user's message, any octets. Every copy is
 * checked against its bound first: a field is at most SM_FIELD_MAX
 * octets, the section SM_HEADERS_MAX, an address SM_ADDR_MAX, the
 * recipients SM_RCPTS_MAX. An address with a control character (CR, LF,
 * NUL among them) is refused, so none can end an SMTP command early; what
 * is left the daemon's own RCPT parser judges.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/xmalloc.h"
#include "sendmail/headers.h"

void
sm_buf_add(struct sm_buf *b, const void *data, size_t len)
{
	if (len == 0)
		return;
	if (b->len + len + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + len + 1)
			cap *= 2;
		b->p = xreallocarray(b->p, cap, 1);
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, len);
	b->len += len;
	b->p[b->len] = '\0';
}

void
sm_buf_free(struct sm_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

int
sm_rcpts_add(void *arg, const char *addr, size_t len)
{
	struct sm_rcpts *r = arg;

	if (r->n >= SM_RCPTS_MAX)
		return -1;
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 8;
		r->v = xreallocarray(r->v, r->cap, sizeof(char *));
	}
	r->v[r->n++] = xstrndup(addr, len);
	return 0;
}

void
sm_rcpts_free(struct sm_rcpts *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->v[i]);
	free(r->v);
	memset(r, 0, sizeof(*r));
}

/* ---- address lists (RFC 5322 §3.4) ---- */

/* one address being gathered: the bare text, or the angle-addr's */
struct gather {
	char text[SM_ADDR_MAX];
	size_t n;
	int too_long;
};

static void
put(struct gather *g, char c)
{
	if (g->n < sizeof(g->text))
		g->text[g->n++] = c;
	else
		g->too_long = 1;
}

static int
is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

/* seterr - the reason, for the caller's message */
static int
seterr(char *err, size_t errsz, const char *what)
{
	snprintf(err, errsz, "%s", what);
	return -1;
}

/*
 * copy_delimited - a quoted string or a domain literal from s[*i] (its
 * opening octet) through its closing one, into g: backslash pairs kept as
 * they are. -1 when it is not closed or holds a control character other
 * than HTAB.
 */
static int
copy_delimited(const char *s, size_t n, size_t *i, char close, struct gather *g)
{
	put(g, s[(*i)++]);
	while (*i < n && s[*i] != close) {
		if (s[*i] == '\\') {
			if (*i + 1 >= n)
				return -1;
			put(g, s[(*i)++]);
		}
		if (is_ctl((unsigned char)s[*i]) && s[*i] != '\t')
			return -1;
		put(g, s[(*i)++]);
	}
	if (*i >= n)
		return -1;
	put(g, s[(*i)++]);
	return 0;
}

/* skip_comment - past the comment at s[*i] ('('), nested ones too; -1 if
 * it is not closed */
static int
skip_comment(const char *s, size_t n, size_t *i)
{
	int depth = 0;

	do {
		if (s[*i] == '\\')
			(*i)++;
		else if (s[*i] == '(')
			depth++;
		else if (s[*i] == ')')
			depth--;
		(*i)++;
	} while (*i < n && depth > 0);
	return depth == 0 ? 0 : -1;
}

int
sm_addrlist_parse(const char *s, size_t n, sm_addr_cb cb, void *arg, char *err,
                  size_t errsz)
{
	struct gather bare = {.n = 0}, angle = {.n = 0};
	int in_angle = 0, has_angle = 0, route_comma = 0;
	size_t i = 0;

	for (;;) {
		/* the end of an element: a comma or a group's end outside the
		 * angle brackets (inside, a comma is a source route's) */
		if (i == n || (!in_angle && (s[i] == ',' || s[i] == ';'))) {
			const struct gather *g = has_angle ? &angle : &bare;
			if (in_angle)
				return seterr(err, errsz,
				              "an address's '<' is not closed");
			if (g->too_long)
				return seterr(err, errsz, "an address is too long");
			if (g->n > 0 && cb(arg, g->text, g->n) == -1)
				return seterr(err, errsz, "too many recipients");
			if (i == n)
				return 0;
			bare.n = angle.n = 0;
			bare.too_long = angle.too_long = 0;
			has_angle = 0;
			i++;
			continue;
		}
		struct gather *g = in_angle ? &angle : &bare;
		unsigned char c = (unsigned char)s[i];
		switch (c) {
		case '"':
			if (copy_delimited(s, n, &i, '"', g) == -1)
				return seterr(err, errsz,
				              "a quoted string is not closed");
			break;
		case '[':
			if (copy_delimited(s, n, &i, ']', g) == -1)
				return seterr(err, errsz,
				              "a domain literal is not closed");
			break;
		case '(':
			if (skip_comment(s, n, &i) == -1)
				return seterr(err, errsz, "a comment is not closed");
			break;
		case '<':
			if (in_angle)
				return seterr(err, errsz, "'<' inside an address's '<>'");
			/* what came before was the display name */
			in_angle = has_angle = 1;
			route_comma = 0;
			angle.n = 0;
			angle.too_long = 0;
			i++;
			break;
		case '>':
			if (!in_angle)
				return seterr(err, errsz, "a '>' without its '<'");
			if (route_comma)
				return seterr(err, errsz,
				              "a ',' inside '<>' but in no route");
			in_angle = 0;
			i++;
			break;
		case ':':
			/* outside: a group's name ends; inside: a source route
			 * (RFC 5322 §4.4 obs-route), which is dropped */
			g->n = 0;
			g->too_long = 0;
			route_comma = 0;
			i++;
			break;
		case ',':
			/* only inside the angle brackets (a comma outside ends
			 * the element): an obs-route's, ended by its ':' */
			route_comma = 1;
			put(g, (char)c);
			i++;
			break;
		case ';':
			return seterr(err, errsz, "';' inside an address's '<>'");
		case ' ':
		case '\t':
		case '\r':
		case '\n':
			i++;
			break;
		default:
			if (is_ctl(c))
				return seterr(err, errsz,
				              "a control character in an address");
			put(g, (char)c);
			i++;
		}
	}
}

/* ---- the header section ---- */

/* field_name_len - the length of the field name line begins with, up to
 * its colon (RFC 5322 §2.2: printable ASCII but ':'; white space before
 * the colon as §4.5 allows), or 0: not a header field line */
static size_t
field_name_len(const char *line, size_t len, size_t *colon)
{
	size_t i = 0, name;

	while (i < len && line[i] > 32 && line[i] < 127 && line[i] != ':')
		i++;
	name = i;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	if (name == 0 || i >= len || line[i] != ':')
		return 0;
	*colon = i;
	return name;
}

static int
name_is(const char *name, size_t len, const char *want)
{
	return strlen(want) == len && strncasecmp(name, want, len) == 0;
}

/*
 * fold_into - a field appended to out, each of its lines longer than
 * SM_LINE_MAX folded before the last white space that keeps it within
 * (RFC 5322 §2.2.3: folding adds a CRLF and changes no octet), as a long
 * To: of a mailing script needs; a line without such a space stays long,
 * and moatd judges it.
 */
static void
fold_into(struct sm_buf *out, const char *p, size_t n)
{
	size_t start = 0;

	while (start < n) {
		const char *eol = memmem(p + start, n - start, "\r\n", 2);
		size_t end = eol ? (size_t)(eol - p) : n, ls = start;
		while (end - ls > SM_LINE_MAX) {
			size_t cut = 0;
			for (size_t k = ls + SM_LINE_MAX; k > ls + 1; k--)
				if (p[k] == ' ' || p[k] == '\t') {
					cut = k;
					break;
				}
			if (cut == 0)
				break;
			sm_buf_add(out, p + ls, cut - ls);
			sm_buf_add(out, "\r\n", 2);
			ls = cut;
		}
		sm_buf_add(out, p + ls, end - ls);
		if (eol == NULL)
			break;
		sm_buf_add(out, "\r\n", 2);
		start = end + 2;
	}
}

/* take_field - the field read so far is whole: note it, send it (unless
 * it is a Bcc), and with -t read its recipients */
static int
take_field(struct sm_headers *h)
{
	struct sm_buf *f = &h->field;
	size_t colon = 0, nl = f->len ? field_name_len(f->p, f->len, &colon) : 0;
	int bcc, rcpt;

	if (nl == 0)
		return 0;
	bcc = name_is(f->p, nl, "bcc");
	rcpt = bcc || name_is(f->p, nl, "to") || name_is(f->p, nl, "cc");
	h->has_from |= name_is(f->p, nl, "from");
	h->has_date |= name_is(f->p, nl, "date");
	h->has_msgid |= name_is(f->p, nl, "message-id");
	if (rcpt && h->want_rcpts) {
		char why[96];
		/* the folds are white space to the address parser */
		if (sm_addrlist_parse(f->p + colon + 1, f->len - colon - 1, sm_rcpts_add,
		                      &h->rcpts, why, sizeof(why)) == -1) {
			snprintf(h->err, sizeof(h->err), "%.*s: %s", (int)nl, f->p, why);
			return -1;
		}
	}
	if (!bcc) {
		fold_into(&h->out, f->p, f->len);
		sm_buf_add(&h->out, "\r\n", 2);
	}
	f->len = 0;
	return 0;
}

enum sm_hdr_status
sm_headers_line(struct sm_headers *h, const char *line, size_t len)
{
	size_t colon;
	int cont = len > 0 && (line[0] == ' ' || line[0] == '\t');

	h->nlines++;
	/* an mbox "From " line on top is no header: dropped, as Postfix's
	 * sendmail does */
	if (h->nlines == 1 && len >= 5 && memcmp(line, "From ", 5) == 0)
		return SM_HDR_MORE;
	if (cont && h->field.len == 0)
		return SM_HDR_END; /* folded onto nothing: the body began */
	if (!cont && field_name_len(line, len, &colon) == 0)
		return SM_HDR_END; /* the empty line, or a body line */
	if (!cont && take_field(h) == -1)
		return SM_HDR_ERROR;
	if (h->field.len + len + 2 > SM_FIELD_MAX ||
	    h->out.len + h->field.len + len + 2 > SM_HEADERS_MAX) {
		snprintf(h->err, sizeof(h->err), "the header section is too long");
		return SM_HDR_ERROR;
	}
	if (cont)
		sm_buf_add(&h->field, "\r\n", 2);
	sm_buf_add(&h->field, line, len);
	return SM_HDR_MORE;
}

int
sm_headers_end(struct sm_headers *h)
{
	return take_field(h);
}

void
sm_headers_free(struct sm_headers *h)
{
	sm_rcpts_free(&h->rcpts);
	sm_buf_free(&h->out);
	sm_buf_free(&h->field);
}
