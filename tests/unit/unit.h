/* SPDX-License-Identifier: ISC */
/*
 * unit.h - helpers shared by the table-driven unit tests (tests/unit/test_*.c).
 *
 * Rows are { name, input, want }; the EXPECT_* macros print the row's name
 * and both values and count the failure, so one run shows every broken row;
 * UNIT_END() then fails the test if any row did.
 * B("...") gives a string literal and its length, NUL bytes included.
 * unit_expand() writes "{N*unit}" as unit repeated N times, for long inputs.
 */
#ifndef MOAT_UNIT_H
#define MOAT_UNIT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define B(s)     s, sizeof(s) - 1

/* unit_vis - printable form of n bytes, C escapes for the rest */
static inline const char *
unit_vis(char *buf, size_t bufsz, const char *s, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 5 < bufsz; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\r')
			o += (size_t)snprintf(buf + o, bufsz - o, "\\r");
		else if (c == '\n')
			o += (size_t)snprintf(buf + o, bufsz - o, "\\n");
		else if (c == '\\' || c == '"')
			o += (size_t)snprintf(buf + o, bufsz - o, "\\%c", c);
		else if (c < 32 || c > 126)
			o += (size_t)snprintf(buf + o, bufsz - o, "\\x%02x", c);
		else
			buf[o++] = (char)c;
	}
	buf[o] = '\0';
	return buf;
}

static int unit_failed; /* rows that broke in the running test */

#define UNIT_FAIL(fmt, ...)                                                              \
	do {                                                                             \
		print_error("ERROR: " fmt "\n", __VA_ARGS__);                            \
		unit_failed++;                                                           \
	} while (0)

#define UNIT_END()                                                                       \
	do {                                                                             \
		int n_ = unit_failed;                                                    \
		unit_failed = 0;                                                         \
		if (n_ > 0)                                                              \
			fail_msg("%d failed check(s) above", n_);                        \
	} while (0)

#define EXPECT_INT(row, what, got, want)                                                 \
	do {                                                                             \
		long long g_ = (long long)(got), w_ = (long long)(want);                 \
		if (g_ != w_)                                                            \
			UNIT_FAIL("%s: %s = %lld, want %lld", (row), (what), g_, w_);    \
	} while (0)

#define EXPECT_MEM(row, what, got, glen, want, wlen)                                     \
	do {                                                                             \
		const char *gs_ = (got), *ws_ = (want);                                  \
		size_t gl_ = (glen), wl_ = (wlen);                                       \
		if (gl_ != wl_ || memcmp(gs_, ws_, gl_) != 0) {                          \
			char gv_[1024], wv_[1024];                                       \
			UNIT_FAIL("%s: %s = \"%s\", want \"%s\"", (row), (what),         \
			          unit_vis(gv_, sizeof(gv_), gs_, gl_),                  \
			          unit_vis(wv_, sizeof(wv_), ws_, wl_));                 \
		}                                                                        \
	} while (0)

#define EXPECT_STR(row, what, got, want)                                                 \
	do {                                                                             \
		const char *gz_ = (got), *wz_ = (want);                                  \
		EXPECT_MEM(row, what, gz_, strlen(gz_), wz_, strlen(wz_));               \
	} while (0)

/*
 * unit_expand - copy spec to out, writing "{N*unit}" as unit N times (unit
 * runs to the next '}'); returns the length. Fails the test if out is small.
 */
static inline size_t
unit_expand(const char *spec, size_t speclen, char *out, size_t outsz)
{
	size_t o = 0, i = 0;

	while (i < speclen) {
		size_t j = i + 1, reps = 0;
		while (j < speclen && spec[j] >= '0' && spec[j] <= '9')
			reps = reps * 10 + (size_t)(spec[j++] - '0');
		if (spec[i] == '{' && j > i + 1 && j < speclen && spec[j] == '*') {
			const char *unit = spec + j + 1;
			const char *close = memchr(unit, '}', speclen - (j + 1));
			if (close == NULL)
				fail_msg("unit_expand: no '}' in \"%s\"", spec);
			size_t ulen = (size_t)(close - unit);
			for (size_t r = 0; r < reps; r++) {
				if (o + ulen >= outsz)
					fail_msg("unit_expand: \"%s\" too long", spec);
				memcpy(out + o, unit, ulen);
				o += ulen;
			}
			i = (size_t)(close - spec) + 1;
			continue;
		}
		if (o + 1 >= outsz)
			fail_msg("unit_expand: \"%s\" too long", spec);
		out[o++] = spec[i++];
	}
	out[o] = '\0';
	return o;
}

#endif
