/* SPDX-License-Identifier: ISC */
/*
 * fuzz_logjson.c - libFuzzer target for log_json_line() (src/common/
 * log_json.c) and json_quote() (src/common/json.c): log lines as JSON
 * objects (log_format = "json"), whose values hold client text.
 *
 * Input: byte 0 chooses the size of the output buffer; the rest is taken
 * twice. (1) As a value a client sent: log_escape()d into a line
 * "smtp helo sid=1 helo=VALUE tail=end", as the daemon logs it. The object
 * must be valid JSON (checked by a strict reader written here), one line of
 * printable ASCII, and with a buffer of LOG_JSON_SIZE its "helo" member
 * must decode to the octets of the value (as far as log_escape keeps them)
 * and "tail" must be "end": no value can end early or add a member. (2) As
 * a whole message, whatever it holds: the object must still be valid JSON
 * within the buffer.
 */
#include "common/ascii.h"
#include "common/json.h"
#include "common/log.h"
#include "common/log_json.h"
#include "fuzz.h"

/* A strict reader of what log_json_line() may write: one object of string
 * members, then "\n". Decoded strings of interest are kept. */
struct reader {
	const char *p, *end;
	char key[64];
	unsigned char val[LOG_MSG_MAX * 2];
	size_t vallen;
};

/* read_string - a JSON string at r->p into out (NULL: skip); 0 or -1 */
static int
read_string(struct reader *r, unsigned char *out, size_t outsz, size_t *outlen)
{
	size_t n = 0;

	if (r->p >= r->end || *r->p != '"')
		return -1;
	r->p++;
	while (r->p < r->end && *r->p != '"') {
		unsigned c = (unsigned char)*r->p++;
		if (c < 0x20 || c > 0x7e)
			return -1; /* JSON (and our ASCII promise) */
		if (c == '\\') {
			if (r->p >= r->end)
				return -1;
			char e = *r->p++;
			if (e == 'u') {
				if (r->end - r->p < 4)
					return -1;
				int v = 0;
				for (int i = 0; i < 4; i++) {
					int h = ascii_hexval(r->p[i]);
					if (h < 0)
						return -1;
					v = v << 4 | h;
				}
				r->p += 4;
				c = (unsigned)v;
			} else if (e == 'n')
				c = '\n';
			else if (e == 'r')
				c = '\r';
			else if (e == 't')
				c = '\t';
			else if (e == '"' || e == '\\' || e == '/')
				c = (unsigned char)e;
			else
				return -1;
		}
		if (out != NULL && n < outsz)
			out[n] = (unsigned char)c;
		n++;
	}
	if (r->p >= r->end)
		return -1;
	r->p++;
	if (outlen != NULL)
		*outlen = n;
	return 0;
}

/* read_object - the whole line; the value of want (if any) into r->val.
 * Returns 0 if valid, with *found set when want was there. */
static int
read_object(struct reader *r, const char *want, int *found)
{
	size_t klen;

	*found = 0;
	if (r->p >= r->end || *r->p++ != '{')
		return -1;
	for (int first = 1;; first = 0) {
		if (r->p < r->end && *r->p == '}')
			break;
		if (!first && (r->p >= r->end || *r->p++ != ','))
			return -1;
		if (read_string(r, (unsigned char *)r->key, sizeof(r->key) - 1, &klen) ==
		    -1)
			return -1;
		r->key[klen < sizeof(r->key) - 1 ? klen : sizeof(r->key) - 1] = '\0';
		if (r->p >= r->end || *r->p++ != ':')
			return -1;
		int mine = want != NULL && strcmp(r->key, want) == 0;
		size_t vlen;
		if (read_string(r, mine ? r->val : NULL, sizeof(r->val), &vlen) == -1)
			return -1;
		if (mine) {
			*found = 1;
			r->vallen = vlen;
		}
	}
	r->p++;
	if (r->p >= r->end || *r->p++ != '\n' || r->p != r->end)
		return -1;
	return 0;
}

static size_t
out_size(unsigned sel)
{
	switch (sel % 4) {
	case 0:
		return LOG_JSON_SIZE;
	case 1:
		return 64 + sel; /* the head and a little */
	case 2:
		return 300;
	default:
		return sel * 8;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char esc[LOG_ESCAPE_BUFSZ], msg[LOG_MSG_MAX];
	static struct reader r;
	size_t outsz, n;
	char *out;
	int found;

	if (size < 1)
		return 0;
	outsz = out_size(data[0]);
	out = malloc(outsz > 0 ? outsz : 1);
	REQUIRE(out != NULL);

	/* (1) a client's value in a daemon's line */
	log_escape(esc, sizeof(esc), (const char *)data + 1, size - 1);
	snprintf(msg, sizeof(msg), "smtp helo sid=1 helo=%s tail=end", esc);
	n = log_json_line(out, outsz, "2026-01-01T00:00:00.000", "info", "moatd/smtp", 7,
	                  msg);
	REQUIRE(n < outsz || (outsz == 0 && n == 0));
	if (n > 0) {
		REQUIRE(strlen(out) == n);
		r.p = out;
		r.end = out + n;
		REQUIRE(read_object(&r, "helo", &found) == 0);
		if (outsz == LOG_JSON_SIZE) {
			size_t keep =
			    size - 1 < LOG_ESCAPE_MAX ? size - 1 : LOG_ESCAPE_MAX;
			REQUIRE(found);
			/* the octets log_escape kept, and "..." if it cut */
			REQUIRE(r.vallen == keep + (size - 1 > LOG_ESCAPE_MAX ? 3 : 0));
			REQUIRE(memcmp(r.val, data + 1, keep) == 0);
			r.p = out;
			REQUIRE(read_object(&r, "tail", &found) == 0);
			REQUIRE(found && r.vallen == 3 && memcmp(r.val, "end", 3) == 0);
		}
	}

	/* (2) the input as a whole message (up to its first NUL) */
	n = size - 1 < sizeof(msg) - 1 ? size - 1 : sizeof(msg) - 1;
	memcpy(msg, data + 1, n);
	msg[n] = '\0';
	n = log_json_line(out, outsz, "T", "warning", "moatd", 1, msg);
	REQUIRE(n < outsz || (outsz == 0 && n == 0));
	if (n > 0) {
		r.p = out;
		r.end = out + n;
		REQUIRE(read_object(&r, NULL, &found) == 0);
	}
	free(out);
	return 0;
}
