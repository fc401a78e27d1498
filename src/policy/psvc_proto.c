/* SPDX-License-Identifier: ISC */
/*
 * psvc_proto.c - the policy delegation protocol's two halves that moat
 * parses and writes: the reply of a policy service (read here, acted on by
 * psvc_stage.c) and the attributes of a request.
 *
 * A reply is "name=value" lines and an empty line; only "action=" counts.
 * Its value is an access(5) action: a word, then optional text. The text
 * goes into our SMTP reply or a header of the message, so it is made
 * printable ASCII here and bounded; a PREPEND header must have a name.
 * SECURITY: parses bytes from a policy service (a separate program, maybe
 * on another host); bounded by PSVC_REPLY_MAX, nothing is trusted to be
 * printable, terminated or short.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>

#include "policy/psvc_proto.h"
#include "policy/svc_client.h"

ssize_t
psvc_reply_len(const char *buf, size_t len)
{
	size_t start = 0, scan = len < PSVC_REPLY_MAX ? len : PSVC_REPLY_MAX;

	if (memchr(buf, '\0', scan) != NULL)
		return -1;
	while (start < scan) {
		const char *nl = memchr(buf + start, '\n', scan - start);
		size_t end;

		if (nl == NULL)
			break;
		end = (size_t)(nl - buf);
		/* an empty line ("" or "\r") ends the reply */
		if (end == start || (end == start + 1 && buf[start] == '\r'))
			return (ssize_t)(end + 1);
		start = end + 1;
	}
	return len >= PSVC_REPLY_MAX ? -1 : 0;
}

/* clean - text as it may go into an SMTP reply or a header: printable
 * ASCII, a tab a space, the rest '?'; cut to fit */
static void
clean(char *out, size_t outsz, const char *in, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len && n + 1 < outsz; i++) {
		unsigned char c = (unsigned char)in[i];
		out[n++] = c == '\t' ? ' ' : (c < 32 || c > 126) ? '?' : (char)c;
	}
	/* no trailing blanks: "REJECT " is "REJECT" */
	while (n > 0 && out[n - 1] == ' ')
		n--;
	out[n] = '\0';
}

/* take_enh - an enhanced status code of class cls at the start of text
 * (RFC 3463: class.subject.detail, then a space or the end): moved to enh */
static void
take_enh(struct psvc_action *a, char cls)
{
	const char *p = a->text;
	size_t n;

	if (p[0] != cls || p[1] != '.')
		return;
	p += 2;
	for (int part = 0; part < 2; part++) {
		n = strspn(p, "0123456789");
		if (n < 1 || n > 3)
			return;
		p += n;
		if (part == 0) {
			if (*p != '.')
				return;
			p++;
		}
	}
	if (*p != '\0' && *p != ' ')
		return;
	n = (size_t)(p - a->text);
	memcpy(a->enh, a->text, n);
	a->enh[n] = '\0';
	while (*p == ' ')
		p++;
	memmove(a->text, p, strlen(p) + 1);
}

/* header_ok - "Name: value": a field name of printable ASCII without ':'
 * (RFC 5322 §2.2), then a colon */
static int
header_ok(const char *h)
{
	size_t n = 0;

	while (h[n] != '\0' && h[n] != ':') {
		if (h[n] <= 32 || h[n] > 126)
			return 0;
		n++;
	}
	return n > 0 && h[n] == ':';
}

static const struct {
	const char *word;
	enum psvc_kind kind;
} actions[] = {
    {"OK", PA_OK},
    {"DUNNO", PA_DUNNO},
    {"REJECT", PA_REJECT},
    {"DEFER", PA_DEFER},
    {"DEFER_IF_PERMIT", PA_DEFER_IF_PERMIT},
    {"DEFER_IF_REJECT", PA_DEFER_IF_REJECT},
    {"PREPEND", PA_PREPEND},
    {"WARN", PA_WARN},
    {"INFO", PA_INFO},
    {"HOLD", PA_HOLD},
    {"DISCARD", PA_DISCARD},
    /* access(5) actions that rewrite the envelope: not done here */
    {"FILTER", PA_UNSUPPORTED},
    {"REDIRECT", PA_UNSUPPORTED},
    {"BCC", PA_UNSUPPORTED},
};

static int
parse_action(const char *v, size_t len, struct psvc_action *a, char *err, size_t errsz)
{
	size_t w = 0, i;

	while (len > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		len--;
	}
	while (w < len && v[w] != ' ' && v[w] != '\t')
		w++;
	if (w == 0) {
		snprintf(err, errsz, "empty action");
		return -1;
	}
	clean(a->word, sizeof(a->word), v, w);
	for (i = w; i < len && (v[i] == ' ' || v[i] == '\t'); i++)
		;
	clean(a->text, sizeof(a->text), v + i, len - i);

	if (strspn(a->word, "0123456789") == strlen(a->word)) {
		if (w == 3 && (a->word[0] == '4' || a->word[0] == '5')) {
			a->kind = a->word[0] == '4' ? PA_DEFER : PA_REJECT;
			a->code = (a->word[0] - '0') * 100 + (a->word[1] - '0') * 10 +
			          (a->word[2] - '0');
			take_enh(a, a->word[0]);
			return 0;
		}
		/* access(5): an all-numerical result is OK (pop-before-smtp) */
		a->kind = PA_OK;
		return 0;
	}
	for (i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
		if (strlen(actions[i].word) == w &&
		    strncasecmp(actions[i].word, v, w) == 0)
			break;
	if (i == sizeof(actions) / sizeof(actions[0])) {
		snprintf(err, errsz, "unknown action \"%s\"", a->word);
		return -1;
	}
	a->kind = actions[i].kind;
	switch (a->kind) {
	case PA_REJECT:
		a->code = 554;
		take_enh(a, '5');
		break;
	case PA_DEFER:
	case PA_DEFER_IF_PERMIT:
	case PA_DEFER_IF_REJECT:
		a->code = 450;
		take_enh(a, '4');
		break;
	case PA_PREPEND:
		if (!header_ok(a->text)) {
			snprintf(err, errsz, "PREPEND without a \"Name: value\" header");
			return -1;
		}
		break;
	default:
		break;
	}
	return 0;
}

int
psvc_reply_parse(const char *buf, size_t len, struct psvc_action *a, char *err,
                 size_t errsz)
{
	size_t start = 0;

	memset(a, 0, sizeof(*a));
	while (start < len) {
		const char *nl = memchr(buf + start, '\n', len - start);
		size_t end = nl != NULL ? (size_t)(nl - buf) : len, n = end - start;
		const char *line = buf + start;

		if (n > 0 && line[n - 1] == '\r')
			n--;
		if (n == 0)
			break;
		if (n > 7 && memcmp(line, "action=", 7) == 0)
			return parse_action(line + 7, n - 7, a, err, errsz);
		start = end + 1;
	}
	snprintf(err, errsz, "no action in the reply");
	return -1;
}

void
psvc_attr(struct evbuffer *req, const char *name, const char *value)
{
	char buf[1001];
	size_t n = 0;

	for (; value != NULL && value[n] != '\0' && n < sizeof(buf) - 1; n++) {
		unsigned char c = (unsigned char)value[n];
		buf[n] = (c < 32 || c == 127) ? '?' : (char)c;
	}
	buf[n] = '\0';
	evbuffer_add_printf(req, "%s=%s\n", name, buf);
}

const struct svc_proto psvc_protocol = {"policy_service", psvc_reply_len, NULL, NULL};
