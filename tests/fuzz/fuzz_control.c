/* SPDX-License-Identifier: ISC */
/*
 * fuzz_control.c - libFuzzer target for the request line of the control
 * socket (src/moatd/): ctl_split(), which cuts it into the words the
 * commands take.
 *
 * The input is what a peer sent. It reaches ctl_split() the way read_cb()
 * in control.c hands it over: up to the first LF, at most
 * CONTROL_LINE_MAX - 1 octets, without a NUL (a longer line and a NUL are
 * refused before), one CR before the LF dropped. The line is in a heap
 * buffer of exactly its length and a NUL, the copy in one of
 * CONTROL_LINE_MAX octets, so that ASan sees any access past either.
 * Checked against a plain reading: a line with an octet outside printable
 * ASCII is refused; otherwise the words are the runs of octets other than
 * space, the first CTL_ARGS_MAX of them in argv (in the copy), in order,
 * the rest flagged; rest[i] is the line itself from word i on; what is
 * past argc is empty.
 */
#include "fuzz.h"
#include "moatd/control_int.h"

/* ref_words - the words of s: starts and lengths, at most max; the count */
static size_t
ref_words(const char *s, size_t *start, size_t *len, size_t max)
{
	size_t n = 0, i = 0;

	while (s[i] != '\0') {
		size_t w;

		if (s[i] == ' ') {
			i++;
			continue;
		}
		for (w = 0; s[i + w] != '\0' && s[i + w] != ' '; w++)
			;
		if (n < max) {
			start[n] = i;
			len[n] = w;
		}
		n++;
		i += w;
	}
	return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t n = nl != NULL ? (size_t)(nl - data) : size;
	size_t start[CTL_ARGS_MAX], len[CTL_ARGS_MAX], nwords;
	char *line, *buf;
	struct ctl_req r;
	int more = -1, printable = 1;

	/* what read_cb() refuses never gets here */
	if (n + 1 > CONTROL_LINE_MAX || memchr(data, '\0', n) != NULL)
		return 0;
	if (n > 0 && data[n - 1] == '\r')
		n--;
	line = malloc(n + 1);
	buf = malloc(CONTROL_LINE_MAX);
	REQUIRE(line != NULL && buf != NULL);
	memcpy(line, data, n);
	line[n] = '\0';

	for (size_t i = 0; i < n; i++)
		if ((unsigned char)line[i] < 0x20 || (unsigned char)line[i] > 0x7e)
			printable = 0;
	if (ctl_split(line, buf, CONTROL_LINE_MAX, &r, &more) == -1) {
		REQUIRE(!printable);
		goto done;
	}
	REQUIRE(printable);
	nwords = ref_words(line, start, len, CTL_ARGS_MAX);
	REQUIRE(more == (nwords > CTL_ARGS_MAX));
	REQUIRE((size_t)r.argc == (nwords > CTL_ARGS_MAX ? CTL_ARGS_MAX : nwords));
	for (int i = 0; i < r.argc; i++) {
		/* the word, whole, in the copy; the line from it on */
		REQUIRE(r.argv[i] >= buf && r.argv[i] < buf + CONTROL_LINE_MAX);
		REQUIRE(strlen(r.argv[i]) == len[i]);
		REQUIRE(memcmp(r.argv[i], line + start[i], len[i]) == 0);
		REQUIRE(r.rest[i] == line + start[i]);
	}
	for (int i = r.argc; i < CTL_ARGS_MAX; i++)
		REQUIRE(r.argv[i] == NULL && r.rest[i] == NULL);
done:
	free(buf);
	free(line);
	return 0;
}
