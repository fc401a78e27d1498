/* SPDX-License-Identifier: ISC */
/*
 * fuzz_metrics.c - libFuzzer target for the metrics exposition
 * (src/metrics/metrics_render.c, promtext.c): the "stat:" and "metric:"
 * keys a scrape reads from the state store, which a shared store (Redis)
 * may hold in any shape, and label values as promtext_escape_label()
 * writes them.
 *
 * Input: lines, each a stored key (a NUL ends the key early, as a C
 * string would); byte 0 of each line picks its value. Checked: every line
 * of the page is a "# HELP"/"# TYPE" line or a sample "moat_NAME[{...}]
 * VALUE" with one space before the value; every family is announced once;
 * no NUL or CR reaches the page. And each input line, escaped as a label
 * value into a buffer of a size byte 0 picks, holds no line feed, no
 * control octet, no unescaped '"', no half escape, and unescapes to a
 * prefix of the line with its control octets as '?'.
 */
#include "fuzz.h"
#include "metrics/metrics.h"
#include "metrics/promtext.h"

static void
check_escape(const char *line, size_t dstsz)
{
	char dst[300], back[300];
	size_t n, m = 0;

	n = promtext_escape_label(dst, dstsz, line);
	REQUIRE(n < dstsz || (dstsz == 0 && n == 0));
	if (dstsz == 0)
		return;
	REQUIRE(strlen(dst) == n);
	for (size_t i = 0; i < n; i++) {
		REQUIRE(dst[i] != '\n');
		REQUIRE(!promtext_control(dst[i]));
		REQUIRE(dst[i] != '"');
		if (dst[i] == '\\') {
			REQUIRE(i + 1 < n);
			i++;
			REQUIRE(dst[i] == '\\' || dst[i] == '"' || dst[i] == 'n');
			back[m++] = dst[i] == 'n' ? '\n' : dst[i];
		} else
			back[m++] = dst[i];
	}
	REQUIRE(m <= strlen(line));
	for (size_t i = 0; i < m; i++)
		REQUIRE(back[i] == (promtext_control(line[i]) ? '?' : line[i]));
}

static void
check_page(const char *page)
{
	size_t types = 0;

	REQUIRE(strchr(page, '\r') == NULL);
	for (const char *p = page; *p != '\0';) {
		const char *end = strchr(p, '\n');
		REQUIRE(end != NULL); /* every line ends with a line feed */
		size_t len = (size_t)(end - p);
		if (strncmp(p, "# TYPE ", 7) == 0)
			types++;
		else if (strncmp(p, "# HELP ", 7) != 0) {
			REQUIRE(strncmp(p, "moat_", 5) == 0);
			const char *sp = memchr(p, ' ', len);
			const char *brace = memchr(p, '{', len);
			if (brace != NULL && brace < end) {
				/* the labels end just before the value */
				const char *close = p + len;
				while (close > p && close[-1] != ' ')
					close--;
				REQUIRE(close - 2 > brace && close[-2] == '}');
				sp = close - 1;
			}
			REQUIRE(sp != NULL && sp + 1 < end);
			for (const char *v = sp + 1; v < end; v++)
				REQUIRE(strchr("0123456789.-+Inf", *v) != NULL);
		}
		p = end + 1;
	}
	REQUIRE(types == M_N);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct metrics_snapshot s;
	struct promtext pt;
	char *text = malloc(size + 1);

	REQUIRE(text != NULL);
	memcpy(text, data, size);
	text[size] = '\0';
	memset(&s, 0, sizeof(s));
	for (char *line = text, *next; line != NULL && line < text + size; line = next) {
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		int64_t value = line[0] != '\0' ? (int64_t)(signed char)line[0] * 977 : 0;
		metrics_snapshot_add(&s, line, value);
		check_escape(line, line[0] != '\0' ? (unsigned char)line[0] % 300 : 5);
		if (next == NULL)
			break;
	}
	promtext_init(&pt);
	metrics_render(&s, &pt);
	REQUIRE(strlen(pt.buf) == pt.len);
	check_page(pt.buf);
	promtext_free(&pt);
	metrics_snapshot_free(&s);
	free(text);
	return 0;
}
