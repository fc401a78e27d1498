/* SPDX-License-Identifier: ISC */
/*
 * json.h - JSON strings (RFC 8259 §7) for the log (log_json.c) and for
 * moatctl's --json output, whatever octets the value holds.
 *
 * Every octet that is not printable ASCII is written \u00XX, XX being the
 * octet's value: the output is plain ASCII and always valid JSON, and each
 * escape stands for exactly one octet of the input, so the octets can be
 * recovered (code point = octet) even when they were not UTF-8. A UTF-8
 * name therefore reads as its octets, as in the text log's \xNN.
 */
#ifndef MOAT_JSON_H
#define MOAT_JSON_H

#include <stddef.h>

/* The most one input octet takes in the output: \u00XX. */
#define JSON_ESCAPE_MAX 6

/*
 * json_quote - src (len octets; NULL is empty) as a JSON string, quotes
 * included, at dst + off; dst holds dstsz octets. A value that does not fit
 * is cut at an octet boundary and ends in "..." inside its quotes. Returns
 * the new offset (the NUL is at it); dstsz must leave room for at least
 * the quotes, "..." and the NUL (8 octets) past off, or nothing is written.
 */
size_t json_quote(char *dst, size_t dstsz, size_t off, const char *src, size_t len);

#endif
