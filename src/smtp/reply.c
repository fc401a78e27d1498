/* SPDX-License-Identifier: ISC */
/*
 * reply.c - the words of an SMTP reply, and the log line of a refusal
 * (counted, by stage and rule, in moat_sessions_refused_total).
 * See reply.h.
 * SECURITY: texts may quote client data (an address, a login name); it is
 * cut at the line limit, made 7-bit and printable, and CR/LF never reach
 * the client from a text. Log values are escaped.
 */
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "metrics/metrics.h"
#include "smtp/reply.h"

size_t
reply_format(char *buf, int code, char sep, const char *enh, const char *text)
{
	/* room for the text: the line less "NNN" sep, "ENH ", CRLF */
	size_t n = 0, room;

	buf[n++] = (char)('0' + code / 100 % 10);
	buf[n++] = (char)('0' + code / 10 % 10);
	buf[n++] = (char)('0' + code % 10);
	buf[n++] = sep;
	if (enh != NULL && enh[0] != '\0') {
		size_t len = strnlen(enh, 31);
		memcpy(buf + n, enh, len);
		n += len;
		buf[n++] = ' ';
	}
	room = REPLY_LINE_MAX - 2 - n;
	for (size_t i = 0; text[i] != '\0' && i < room; i++) {
		unsigned char c = (unsigned char)text[i];
		buf[n++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	buf[n++] = '\r';
	buf[n++] = '\n';
	buf[n] = '\0';
	return n;
}

void
reply_log_refusal(const struct reply_who *who, const char *stage, const char *rule,
                  int code, const char *enh, const char *addr, const char *detail)
{
	char client[80];
	const char *labels[] = {stage, rule != NULL ? rule : "none"};

	metrics_count(M_SESSIONS_REFUSED, labels);
	if (who->port > 0)
		snprintf(client, sizeof(client), "%s:%d", who->addr, who->port);
	else
		snprintf(client, sizeof(client), "%s", who->addr);
	/* addr is the client's: one escaped value, brackets and all, so no
	 * address can add a field to the line (log.h) */
	log_info("smtp refuse sid=%s client=%s stage=%s rule=%s reply=\"%d%s%s\"%s%s%s%s",
	         who->sid, client, stage, rule != NULL ? rule : "-", code,
	         enh != NULL && enh[0] != '\0' ? " " : "", enh != NULL ? enh : "",
	         addr != NULL ? " addr=" : "", addr != NULL ? log_escape_addr(addr) : "",
	         detail != NULL && detail[0] != '\0' ? " " : "",
	         detail != NULL ? detail : "");
}
