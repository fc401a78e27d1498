/* SPDX-License-Identifier: ISC */
/*
 * fuzz_msgfield.c - libFuzzer target for the header line classifier that
 * decides where submitted mail gets its missing Date and Message-ID
 * (common/msgfield.c, session_submit.c).
 *
 * The input is split at LF into lines, each copied into a buffer of its
 * exact size (ASan sees any read past it). A line is a field only if it
 * has a printable name and a colon after it, folded only if it starts
 * with WSP; a line named Date or Message-ID is a field. The input is also
 * a host name for msgfield_msgid(): what comes out is one msg-id whose
 * right side is a dot-atom of the host's length.
 */
#include "common/msgfield.h"
#include "fuzz.h"

static void
check_line(const char *line, size_t len)
{
	enum msgfield_line k = msgfield_line_kind(line, len);
	const char *colon = memchr(line, ':', len);

	if (k == MSGFIELD_CONT)
		REQUIRE(len > 0 && (line[0] == ' ' || line[0] == '\t'));
	if (k == MSGFIELD_FIELD) {
		REQUIRE(colon != NULL && colon > line);
		for (const char *p = line; p < colon; p++)
			REQUIRE(((unsigned char)*p > 32 && (unsigned char)*p < 127) ||
			        ((*p == ' ' || *p == '\t') && p > line));
	}
	if (msgfield_name_is(line, len, "date") ||
	    msgfield_name_is(line, len, "message-id"))
		REQUIRE(k == MSGFIELD_FIELD);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data, *end = s + size;
	char host[256], id[512];
	size_t hl = size < sizeof(host) - 1 ? size : sizeof(host) - 1, n;

	while (s <= end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		size_t len = (size_t)((nl != NULL ? nl : end) - s);
		char *line = malloc(len > 0 ? len : 1);

		REQUIRE(line != NULL);
		memcpy(line, s, len);
		check_line(line, len);
		free(line);
		if (nl == NULL)
			break;
		s = nl + 1;
	}
	memcpy(host, data, hl);
	host[hl] = '\0';
	n = msgfield_msgid("0123ABCD", 42, host, id, sizeof(id));
	REQUIRE(n > 0 && n == strlen(id) && id[0] == '<' && id[n - 1] == '>');
	REQUIRE(n == strlen("<0123ABCD.000000000000002a@>") + strlen(host));
	for (const char *p = strchr(id, '@') + 1; p < id + n - 1; p++)
		REQUIRE(*p > 32 && *p < 127 && strchr("()<>[]:;@\\,\" ", *p) == NULL);
	return 0;
}
