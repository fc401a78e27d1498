/* SPDX-License-Identifier: ISC */
/*
 * fuzz_lookup.c - libFuzzer target for what a recipient lookup server
 * sends (src/policy/lookup_proto.c): a socketmap server's netstrings and
 * Dovecot's auth-master userdb lines, maybe from a broken or hostile one.
 *
 * Input: the first octet picks the protocol (even: socketmap, odd:
 * userdb), the rest is the bytes of the connection, framed reply by reply
 * as svc_client.c frames them (the userdb greeting skipped first). Checked:
 * a framed length is in bounds and ends as its protocol says (',' or LF);
 * a FOUND socketmap value is printable and terminated within its array, any
 * reason is printable; the userdb answer is only taken for the request id
 * asked. The request side: any key, one netstring of the right length;
 * a name with a control octet is never asked. Seeds: corpus/lookup/.
 */
#include <event2/buffer.h>

#include "fuzz.h"
#include "policy/lookup_proto.h"
#include "policy/svc_client.h"

static void
printable(const char *s, size_t cap)
{
	size_t n = strnlen(s, cap);

	REQUIRE(n < cap);
	for (size_t i = 0; i < n; i++)
		REQUIRE((unsigned char)s[i] >= 32 && s[i] != 0x7f);
}

static void
socketmap_side(const char *buf, size_t size)
{
	char value[LOOKUP_VALUE_MAX];
	enum lookup_status st;
	size_t done = 0;

	while (done < size) {
		ssize_t n = socketmap_reply_len(buf + done, size - done);
		REQUIRE(n >= -1 && n <= (ssize_t)(size - done));
		if (n <= 0)
			break;
		REQUIRE(n <= SVC_REPLY_MAX && buf[done + (size_t)n - 1] == ',');
		if (socketmap_reply_parse(buf + done, (size_t)n, &st, value,
		                          sizeof(value)) == 0) {
			REQUIRE(st == LOOKUP_FOUND || st == LOOKUP_NOTFOUND ||
			        st == LOOKUP_TROUBLE);
			printable(value, sizeof(value));
		}
		done += (size_t)n;
	}
}

static void
userdb_side(const char *buf, size_t size)
{
	char reason[256];
	enum lookup_status st;
	size_t done = userdb_noise(buf, size);

	REQUIRE(done <= size);
	while (done < size) {
		ssize_t n = userdb_reply_len(buf + done, size - done);
		REQUIRE(n >= -1 && n <= (ssize_t)(size - done));
		if (n <= 0)
			break;
		REQUIRE(n <= SVC_REPLY_MAX + 1 && buf[done + (size_t)n - 1] == '\n');
		if (userdb_reply_parse(buf + done, (size_t)n, 7, &st, reason,
		                       sizeof(reason)) == 0) {
			/* the id asked, and nothing else, makes it an answer */
			REQUIRE(n > 2 && memchr(buf + done, '\t', (size_t)n) != NULL);
			const char *id =
			    (const char *)memchr(buf + done, '\t', (size_t)n) + 1;
			REQUIRE(id[0] == '7' && (id[1] == '\t' || id[1] == '\n'));
			printable(reason, sizeof(reason));
		}
		done += (size_t)n;
	}
}

static void
request_side(const char *key)
{
	struct evbuffer *b = evbuffer_new();
	size_t len, klen = strlen(key);
	char *out;

	socketmap_request(b, "virtual", key);
	len = evbuffer_get_length(b);
	out = (char *)evbuffer_pullup(b, -1);
	REQUIRE(len > 0 && out[len - 1] == ',');
	REQUIRE((size_t)atol(out) == strlen("virtual ") + klen);
	REQUIRE(socketmap_reply_len(out, len) == (ssize_t)len ||
	        strlen("virtual ") + klen + 8 > SVC_REPLY_MAX);
	evbuffer_drain(b, len);
	if (userdb_request(b, 7, key) == 0) {
		len = evbuffer_get_length(b);
		out = (char *)evbuffer_pullup(b, -1);
		REQUIRE(klen > 0 && out[len - 1] == '\n');
		REQUIRE(memchr(out, '\n', len - 1) == NULL);
		REQUIRE(strncmp(out, "USER\t7\t", 7) == 0);
	} else
		REQUIRE(evbuffer_get_length(b) == 0);
	evbuffer_free(b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *key;

	if (size < 1)
		return 0;
	if (data[0] & 1)
		userdb_side((const char *)data + 1, size - 1);
	else
		socketmap_side((const char *)data + 1, size - 1);
	/* the key as a string: what is before its first NUL */
	key = malloc(size);
	memcpy(key, data + 1, size - 1);
	key[size - 1] = '\0';
	request_side(key);
	free(key);
	return 0;
}
