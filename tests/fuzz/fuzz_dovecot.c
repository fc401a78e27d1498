/* SPDX-License-Identifier: ISC */
/*
 * fuzz_dovecot.c - libFuzzer target for the lines of Dovecot's auth socket
 * as the authentication backend reads them (src/auth/dovecot.c):
 * dovecot_reply() on every line of the input.
 *
 * The input is what the peer sent. It is cut into lines at LF, as
 * evbuffer_readln(EVBUFFER_EOL_LF) cuts them (a CR stays, a NUL may be
 * inside), and each line, the unfinished last one too, goes to
 * dovecot_reply() in a heap buffer of exactly its length and a NUL, so
 * that ASan sees any read or write past it. Checked against a plain
 * reading of the protocol written here: "DONE" alone ends the handshake;
 * OK, FAIL and CONT followed by a tab and a request id from 1 to 2^31 - 1
 * answer that request (strtonum(3) also takes leading blanks and a '+',
 * which do no harm); a FAIL is Dovecot's own trouble only when a whole
 * field after the id is "temp" (Dovecot 2.2) or "code=temp_fail" (2.3),
 * never for a user name that merely starts so; everything else is not for
 * the backend. A NUL ends what is seen of a line.
 */
#include <ctype.h>

#include "auth/dovecot.h"
#include "fuzz.h"

/* authdb.c is not linked: the backend that would call it is not run */
#include "auth/authdb.h"

void
authdb_done(struct auth_req *req, enum auth_result r)
{
	abort();
}

/* ref_id - a request id (s, n octets) as strtonum(s, 1, 2^31 - 1) takes
 * it, or 0 */
static unsigned
ref_id(const char *s, size_t n)
{
	const char *end = s + n;
	unsigned long long v = 0;
	int neg = 0, digits = 0;

	while (s < end && isspace((unsigned char)*s))
		s++;
	if (s < end && (*s == '+' || *s == '-'))
		neg = *s++ == '-';
	for (; s < end && *s >= '0' && *s <= '9'; s++, digits++)
		if (v <= 0x7fffffff) /* past it, only "too large" matters */
			v = v * 10 + (unsigned)(*s - '0');
	if (!digits || s != end || neg)
		return 0; /* "-0" is 0, out of range as well */
	return v >= 1 && v <= 0x7fffffff ? (unsigned)v : 0;
}

/* reference - what the line (a C string) says, and the id it answers */
static enum dc_reply
reference(const char *s, unsigned *id)
{
	size_t n0 = strcspn(s, "\t"), n1;
	const char *id_field, *q;
	int temp = 0;

	*id = 0;
	if (strcmp(s, "DONE") == 0)
		return DC_DONE;
	if (s[n0] != '\t')
		return DC_OTHER;
	if (!((n0 == 2 && strncmp(s, "OK", 2) == 0) ||
	      (n0 == 4 && strncmp(s, "FAIL", 4) == 0) ||
	      (n0 == 4 && strncmp(s, "CONT", 4) == 0)))
		return DC_OTHER;
	id_field = s + n0 + 1;
	n1 = strcspn(id_field, "\t");
	if ((*id = ref_id(id_field, n1)) == 0)
		return DC_OTHER;
	if (s[0] == 'O')
		return DC_OK;
	if (s[0] == 'C')
		return DC_CONT;
	/* the fields after the id, each whole */
	for (q = id_field[n1] == '\t' ? id_field + n1 + 1 : NULL; q != NULL;) {
		size_t k = strcspn(q, "\t");
		if ((k == 4 && strncmp(q, "temp", 4) == 0) ||
		    (k == 14 && strncmp(q, "code=temp_fail", 14) == 0))
			temp = 1;
		q = q[k] == '\t' ? q + k + 1 : NULL;
	}
	return temp ? DC_TEMPFAIL : DC_FAIL;
}

static void
check_line(const uint8_t *p, size_t len)
{
	char *line = malloc(len + 1), *copy;
	enum dc_reply got, want;
	unsigned id = 12345, want_id;

	REQUIRE(line != NULL);
	memcpy(line, p, len);
	line[len] = '\0';
	copy = strdup(line);
	REQUIRE(copy != NULL);
	want = reference(copy, &want_id);
	got = dovecot_reply(line, &id);
	REQUIRE(got == want);
	REQUIRE(id == want_id);
	if (got == DC_OK || got == DC_FAIL || got == DC_TEMPFAIL || got == DC_CONT)
		REQUIRE(id >= 1 && id <= 0x7fffffff);
	free(copy);
	free(line);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data, *end = data + size;

	while (p <= end) {
		const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);

		check_line(p, len);
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	return 0;
}
