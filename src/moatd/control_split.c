/* SPDX-License-Identifier: ISC */
/*
 * control_split.c - the words of a control request line (control_int.h:
 * ctl_split()), apart from control.c and the store it serves, so that it
 * can be tested alone.
 * SECURITY: the line comes from a local peer (root or the run user): at
 * most CONTROL_LINE_MAX octets, NUL-free, checked to be printable ASCII
 * before it is split; at most CTL_ARGS_MAX words.
 */
#include <string.h>

#include "moatd/control_int.h"

/* ctl_split - words of line into r (a copy in buf); -1 if not printable ASCII */
int
ctl_split(const char *line, char *buf, size_t bufsz, struct ctl_req *r, int *more)
{
	char *p;

	memset(r, 0, sizeof(*r));
	*more = 0;
	for (const char *q = line; *q; q++)
		if ((unsigned char)*q < 0x20 || (unsigned char)*q > 0x7e)
			return -1;
	strlcpy(buf, line, bufsz);
	for (p = buf; *p;) {
		while (*p == ' ')
			*p++ = '\0';
		if (*p == '\0')
			break;
		if (r->argc == CTL_ARGS_MAX) {
			*more = 1;
			break;
		}
		r->rest[r->argc] = line + (p - buf);
		r->argv[r->argc++] = p;
		while (*p && *p != ' ')
			p++;
	}
	return 0;
}
