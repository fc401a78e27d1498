/* SPDX-License-Identifier: ISC */
/*
 * fuzz_psvc.c - libFuzzer target for a policy service's reply
 * (src/policy/psvc_proto.c): what a policy service sends, maybe a broken
 * or hostile one.
 *
 * Input: the bytes of the connection. psvc_reply_len() frames one reply;
 * psvc_reply_parse() reads the action of it. Checked: the framed length
 * is in bounds and ends with an empty line; a parsed action's text and
 * word are printable ASCII and terminated within their arrays; codes are
 * 4xx/5xx where a refusal needs one; an enhanced code has the class of its
 * reply; a PREPEND is "Name: value". Seeds: corpus/psvc/.
 */
#include <ctype.h>

#include <event2/buffer.h>

#include "fuzz.h"
#include "policy/psvc_proto.h"

static void
printable(const char *s, size_t cap)
{
	size_t n = strnlen(s, cap);

	REQUIRE(n < cap);
	for (size_t i = 0; i < n; i++)
		REQUIRE(s[i] >= 32 && s[i] <= 126);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct psvc_action a;
	char err[160];
	ssize_t n = psvc_reply_len(buf, size);

	REQUIRE(n >= -1 && n <= (ssize_t)size);
	if (n > 0) {
		REQUIRE(n <= PSVC_REPLY_MAX);
		REQUIRE(buf[n - 1] == '\n');
		if (psvc_reply_parse(buf, (size_t)n, &a, err, sizeof(err)) == 0) {
			printable(a.text, sizeof(a.text));
			printable(a.word, sizeof(a.word));
			printable(a.enh, sizeof(a.enh));
			if (a.kind == PA_REJECT)
				REQUIRE(a.code >= 500 && a.code <= 599);
			if (a.kind == PA_DEFER || a.kind == PA_DEFER_IF_PERMIT ||
			    a.kind == PA_DEFER_IF_REJECT)
				REQUIRE(a.code >= 400 && a.code <= 499);
			if (a.enh[0] != '\0')
				REQUIRE(a.enh[0] == '0' + a.code / 100 &&
				        a.enh[1] == '.');
			if (a.kind == PA_PREPEND)
				REQUIRE(strchr(a.text, ':') != NULL && a.text[0] != ':');
		} else
			printable(err, sizeof(err));
	}
	/* the request side: any value, one line */
	if (size > 0) {
		struct evbuffer *b = evbuffer_new();
		char *v = malloc(size + 1);
		memcpy(v, data, size);
		v[size] = '\0';
		psvc_attr(b, "x", v);
		size_t len = evbuffer_get_length(b);
		const char *out = (const char *)evbuffer_pullup(b, -1);
		REQUIRE(len >= 3 && out[len - 1] == '\n');
		REQUIRE(memchr(out, '\n', len - 1) == NULL);
		REQUIRE(memchr(out, '\r', len) == NULL);
		free(v);
		evbuffer_free(b);
	}
	return 0;
}
