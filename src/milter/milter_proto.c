/* SPDX-License-Identifier: ISC */
/*
 * milter_proto.c - milter packets: writing moat's commands, framing and
 * parsing a milter's replies (milter_proto.h).
 *
 * SECURITY: parses bytes from a milter, a separate program that may be
 * broken or hostile: a packet is bounded (MILTER_PACKET_MAX) before it is
 * looked at; every string must end with its NUL inside the packet; a
 * reply code must be 4xx or 5xx and its text loses its control octets; a
 * header name must be a field name. Nothing here allocates.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>

#include "milter/milter_proto.h"

void
milter_put(struct evbuffer *out, char cmd, const void *data, size_t len)
{
	uint32_t n = htonl((uint32_t)(len + 1));

	evbuffer_add(out, &n, 4);
	evbuffer_add(out, &cmd, 1);
	if (len > 0)
		evbuffer_add(out, data, len);
}

void
milter_put_strs(struct evbuffer *out, char cmd, const char *const *strs, size_t n)
{
	size_t len = 0;
	uint32_t be;

	for (size_t i = 0; i < n; i++)
		len += strlen(strs[i]) + 1;
	be = htonl((uint32_t)(len + 1));
	evbuffer_add(out, &be, 4);
	evbuffer_add(out, &cmd, 1);
	for (size_t i = 0; i < n; i++)
		evbuffer_add(out, strs[i], strlen(strs[i]) + 1);
}

void
milter_put_optneg(struct evbuffer *out)
{
	uint32_t v[3] = {htonl(MILTER_VERSION), htonl(SMFIF_ALL), htonl(SMFIP_MOAT)};

	milter_put(out, SMFIC_OPTNEG, v, sizeof(v));
}

int
milter_frame(const unsigned char *buf, size_t len, size_t *plen, char *cmd,
             const unsigned char **data, size_t *dlen)
{
	uint32_t n;

	if (len < 4)
		return 0;
	memcpy(&n, buf, 4);
	n = ntohl(n);
	if (n == 0 || n > MILTER_PACKET_MAX)
		return -1;
	if (len - 4 < n)
		return 0;
	*plen = 4 + (size_t)n;
	*cmd = (char)buf[4];
	*data = buf + 5;
	*dlen = n - 1;
	return 1;
}

/* take_str - a NUL-terminated string at *p within end; NULL if none */
static const char *
take_str(const unsigned char **p, const unsigned char *end)
{
	const unsigned char *nul = memchr(*p, '\0', (size_t)(end - *p));
	const char *s = (const char *)*p;

	if (nul == NULL)
		return NULL;
	*p = nul + 1;
	return s;
}

static int
take_u32(const unsigned char **p, const unsigned char *end, uint32_t *v)
{
	if (end - *p < 4)
		return -1;
	memcpy(v, *p, 4);
	*v = ntohl(*v);
	*p += 4;
	return 0;
}

/* field_name_ok - RFC 5322 §2.2: printable ASCII but ':', at least one */
static int
field_name_ok(const char *s)
{
	size_t n = 0;

	for (; s[n] != '\0'; n++)
		if ((unsigned char)s[n] <= 32 || (unsigned char)s[n] > 126 || s[n] == ':')
			return 0;
	return n > 0 && n <= 256;
}

/* reply_code - "NNN[ -]text" lines joined by CRLF (or LF): all of one code,
 * 4xx or 5xx; r->text gets the lines without their code, joined by \n */
static int
reply_code(struct milter_reply *r, const char *s, size_t len, char *err, size_t errsz)
{
	size_t o = 0, i = 0;

	r->code = 0;
	while (i < len) {
		size_t start = i, end;
		int code;

		while (i < len && s[i] != '\r' && s[i] != '\n')
			i++;
		end = i;
		while (i < len && (s[i] == '\r' || s[i] == '\n'))
			i++;
		if (end - start < 3 || s[start] < '4' || s[start] > '5' ||
		    s[start + 1] < '0' || s[start + 1] > '9' || s[start + 2] < '0' ||
		    s[start + 2] > '9' ||
		    (end - start > 3 && s[start + 3] != ' ' && s[start + 3] != '-')) {
			snprintf(err, errsz, "a reply code that is not 4xx or 5xx");
			return -1;
		}
		code = (s[start] - '0') * 100 + (s[start + 1] - '0') * 10 +
		       (s[start + 2] - '0');
		if (r->code != 0 && code != r->code) {
			snprintf(err, errsz, "a reply with two codes");
			return -1;
		}
		r->code = code;
		if (o > 0 && o + 1 < sizeof(r->text))
			r->text[o++] = '\n';
		for (size_t k = start + (end - start > 3 ? 4 : 3);
		     k < end && o + 1 < sizeof(r->text); k++) {
			unsigned char c = (unsigned char)s[k];
			r->text[o++] = (c < 32 || c > 126) ? '?' : (char)c;
		}
	}
	r->text[o] = '\0';
	if (r->code == 0) {
		snprintf(err, errsz, "an empty reply code");
		return -1;
	}
	return 0;
}

int
milter_reply_parse(char cmd, const unsigned char *data, size_t len,
                   struct milter_reply *r, char *err, size_t errsz)
{
	const unsigned char *p = data, *end = data + len;

	memset(r, 0, sizeof(*r));
	r->cmd = cmd;
	switch (cmd) {
	case SMFIR_CONTINUE:
	case SMFIR_ACCEPT:
	case SMFIR_REJECT:
	case SMFIR_TEMPFAIL:
	case SMFIR_DISCARD:
	case SMFIR_SKIP:
	case SMFIR_PROGRESS:
	case SMFIR_CONN_FAIL:
	case SMFIR_SHUTDOWN:
		return 0;
	case SMFIR_REPLYCODE: {
		/* the NUL is optional at the end; none inside */
		const unsigned char *nul = memchr(data, '\0', len);
		size_t n = nul != NULL ? (size_t)(nul - data) : len;
		return reply_code(r, (const char *)data, n, err, errsz);
	}
	case SMFIR_QUARANTINE:
		if ((r->value = take_str(&p, end)) == NULL)
			goto bad;
		r->value_len = strlen(r->value);
		return 0;
	case SMFIR_INSHEADER:
	case SMFIR_CHGHEADER:
		if (take_u32(&p, end, &r->index) == -1)
			goto bad;
		/* FALLTHROUGH */
	case SMFIR_ADDHEADER:
		if ((r->name = take_str(&p, end)) == NULL ||
		    (r->value = take_str(&p, end)) == NULL)
			goto bad;
		if (!field_name_ok(r->name)) {
			snprintf(err, errsz, "a header name that is none");
			return -1;
		}
		r->value_len = strlen(r->value);
		return 0;
	case SMFIR_ADDRCPT:
	case SMFIR_DELRCPT:
		if ((r->addr = take_str(&p, end)) == NULL)
			goto bad;
		return 0;
	case SMFIR_ADDRCPT_PAR:
	case SMFIR_CHGFROM:
		if ((r->addr = take_str(&p, end)) == NULL)
			goto bad;
		/* ESMTP arguments may follow */
		if (p < end && (r->args = take_str(&p, end)) == NULL)
			goto bad;
		return 0;
	case SMFIR_REPLBODY:
		r->body = data;
		r->body_len = len;
		return 0;
	default:
		snprintf(err, errsz, "an unknown reply '%c' (0x%02x)",
		         (cmd >= 33 && cmd <= 126) ? cmd : '?', (unsigned char)cmd);
		return -1;
	}
bad:
	snprintf(err, errsz, "a '%c' reply without its strings", cmd);
	return -1;
}

int
milter_optneg_parse(const unsigned char *data, size_t len, uint32_t *version,
                    uint32_t *actions, uint32_t *protocol, char *err, size_t errsz)
{
	const unsigned char *p = data, *end = data + len;

	if (take_u32(&p, end, version) == -1 || take_u32(&p, end, actions) == -1 ||
	    take_u32(&p, end, protocol) == -1) {
		snprintf(err, errsz, "an option negotiation shorter than 12 octets");
		return -1;
	}
	if (*version < 2 || *version > MILTER_VERSION) {
		snprintf(err, errsz, "milter protocol version %u (moat speaks 2 to %d)",
		         *version, MILTER_VERSION);
		return -1;
	}
	return 0;
}
