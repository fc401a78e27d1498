/* SPDX-License-Identifier: ISC */
/*
 * log_json.h - a log line as one JSON object (log_format = "json").
 *
 * The text line "TIME IDENT[PID]: MESSAGE" becomes
 *   {"time":"TIME","level":"info","process":"IDENT","pid":"PID",
 *    "msg":"the words of MESSAGE that are not fields",
 *    "KEY":"VALUE", ...}
 * with every key=value field of MESSAGE (logfmt, as log_escape() writes
 * it) as a member: a quoted value is unquoted (\" \\ \xNN back to their
 * octets) and written again as a JSON string (json.h: \u00XX for every
 * octet outside printable ASCII). Every value is a string. A key that is
 * one of the five above gets a "_" appended, so no line can hide them.
 */
#ifndef MOAT_LOG_JSON_H
#define MOAT_LOG_JSON_H

#include <stddef.h>

/* A buffer no line of LOG_MSG_MAX octets can fill (each octet of a message
 * takes at most JSON_ESCAPE_MAX, a field's punctuation aside). */
#define LOG_MSG_MAX   2048
#define LOG_JSON_SIZE (8 * LOG_MSG_MAX + 512)

/*
 * log_json_line - the object for msg, and a newline, into dst (dstsz
 * octets, NUL-terminated); the length. time NULL: no "time" member (syslog
 * stamps the line itself). A line that does not fit loses its
 * last members, or the end of one value ("..."): it is valid JSON anyway.
 */
size_t log_json_line(char *dst, size_t dstsz, const char *time, const char *level,
                     const char *process, int pid, const char *msg);

#endif
