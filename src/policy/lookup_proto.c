/* SPDX-License-Identifier: ISC */
/*
 * lookup_proto.c - socketmap netstrings and Dovecot's userdb lines
 * (lookup_proto.h tells both).
 * SECURITY: parses bytes from a lookup server (trusted by configuration,
 * but maybe on another host or broken): every length is checked before
 * it is used, replies are bounded by SVC_REPLY_MAX (svc_client.c), values
 * with control octets are refused, and a reply to another request id is
 * no answer.
 */
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>

#include "policy/lookup_proto.h"
#include "policy/svc_client.h"

const struct svc_proto socketmap_protocol = {"socketmap", socketmap_reply_len, NULL,
                                             NULL};
const struct svc_proto userdb_protocol = {"dovecot userdb", userdb_reply_len,
                                          userdb_noise, "VERSION\t1\t1\n"};

/* printable - no control octet (and no DEL) in s[0..n) */
static int
printable(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

/* shown - s[0..n) for a log line: control octets become '?' */
static void
shown(char *out, size_t outsz, const char *s, size_t n)
{
	size_t i;

	if (outsz == 0)
		return;
	for (i = 0; i < n && i + 1 < outsz; i++)
		out[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
	out[i] = '\0';
}

ssize_t
socketmap_reply_len(const char *buf, size_t len)
{
	size_t i = 0, n = 0, total;

	/* "LEN:DATA," where LEN fits the bound: five digits at most */
	while (i < len && buf[i] >= '0' && buf[i] <= '9') {
		n = n * 10 + (size_t)(buf[i] - '0');
		if (++i > 5)
			return -1;
	}
	if (i == len)
		return 0;
	if (i == 0 || buf[i] != ':' || n + i + 2 > SVC_REPLY_MAX)
		return -1;
	total = i + 1 + n + 1;
	if (len < total)
		return 0;
	return buf[total - 1] == ',' ? (ssize_t)total : -1;
}

int
socketmap_reply_parse(const char *buf, size_t len, enum lookup_status *st, char *value,
                      size_t valsz)
{
	static const struct {
		const char *word;
		enum lookup_status st;
	} words[] = {{"OK", LOOKUP_FOUND},
	             {"NOTFOUND", LOOKUP_NOTFOUND},
	             {"TEMP", LOOKUP_TROUBLE},
	             {"TIMEOUT", LOOKUP_TROUBLE},
	             {"PERM", LOOKUP_TROUBLE}};
	const char *colon = memchr(buf, ':', len), *data, *sp;
	size_t n, wlen;

	if (valsz == 0 || colon == NULL || len < 2 || buf[len - 1] != ',')
		return -1;
	data = colon + 1;
	n = (size_t)(buf + len - 1 - data);
	sp = memchr(data, ' ', n);
	wlen = sp != NULL ? (size_t)(sp - data) : n;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		if (strlen(words[i].word) != wlen ||
		    memcmp(words[i].word, data, wlen) != 0)
			continue;
		const char *v = sp != NULL ? sp + 1 : data + n;
		size_t vlen = (size_t)(data + n - v);
		*st = words[i].st;
		if (words[i].st != LOOKUP_FOUND) {
			shown(value, valsz, v, vlen);
			return 0;
		}
		/* a value is addresses: nothing that could end a line or a field */
		if (vlen >= valsz || !printable(v, vlen))
			return -1;
		memcpy(value, v, vlen);
		value[vlen] = '\0';
		return 0;
	}
	return -1;
}

void
socketmap_request(struct evbuffer *b, const char *map, const char *key)
{
	evbuffer_add_printf(b, "%zu:%s %s,", strlen(map) + 1 + strlen(key), map, key);
}

size_t
userdb_noise(const char *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		const char *line = buf + done;
		const char *lf = memchr(line, '\n', len - done);
		if (lf == NULL)
			break;
		size_t n = (size_t)(lf - line);
		if (!(n >= 8 && memcmp(line, "VERSION\t", 8) == 0) &&
		    !(n >= 5 && memcmp(line, "SPID\t", 5) == 0))
			break;
		done = (size_t)(lf - buf) + 1;
	}
	return done;
}

ssize_t
userdb_reply_len(const char *buf, size_t len)
{
	size_t scan = len < SVC_REPLY_MAX ? len : SVC_REPLY_MAX;
	const char *lf = memchr(buf, '\n', scan);

	if (lf == NULL)
		return len >= SVC_REPLY_MAX ? -1 : 0;
	if (memchr(buf, '\0', (size_t)(lf - buf)) != NULL)
		return -1;
	return lf - buf + 1;
}

int
userdb_reply_parse(const char *buf, size_t len, unsigned id, enum lookup_status *st,
                   char *reason, size_t reasonsz)
{
	char line[SVC_REPLY_MAX + 1], idbuf[16], *tab, *rest;
	size_t n = len;

	if (reasonsz > 0)
		reason[0] = '\0';
	if (n > 0 && buf[n - 1] == '\n')
		n--;
	if (n > SVC_REPLY_MAX || memchr(buf, '\0', n) != NULL)
		return -1;
	memcpy(line, buf, n);
	line[n] = '\0';
	if ((tab = strchr(line, '\t')) == NULL)
		return -1;
	*tab = '\0';
	rest = tab + 1;
	snprintf(idbuf, sizeof(idbuf), "%u", id);
	n = strlen(idbuf);
	if (strncmp(rest, idbuf, n) != 0 || (rest[n] != '\0' && rest[n] != '\t'))
		return -1;
	rest += n;
	if (strcmp(line, "USER") == 0)
		*st = LOOKUP_FOUND;
	else if (strcmp(line, "NOTFOUND") == 0)
		*st = LOOKUP_NOTFOUND;
	else if (strcmp(line, "FAIL") == 0) {
		const char *r = strstr(rest, "\treason=");
		*st = LOOKUP_TROUBLE;
		if (r != NULL) {
			r += 8;
			shown(reason, reasonsz, r, strcspn(r, "\t"));
		}
	} else
		return -1;
	return 0;
}

int
userdb_request(struct evbuffer *b, unsigned id, const char *name)
{
	if (name[0] == '\0' || !printable(name, strlen(name)))
		return -1;
	evbuffer_add_printf(b, "USER\t%u\t%s\tservice=smtp\n", id, name);
	return 0;
}
