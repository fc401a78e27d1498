/* SPDX-License-Identifier: ISC */
/*
 * report.c - text table and JSON lines; the exit status.
 * SECURITY: server replies are printed; the SMTP client already replaced
 * control bytes, and JSON strings are escaped here (quotes, backslashes,
 * every byte below 0x20 or above 0x7e as \u00XX).
 */
#include <stdio.h>
#include <string.h>

#include "probe/report.h"

const char *
probe_verdict_str(enum probe_verdict v)
{
	switch (v) {
	case PV_NOTRUN:
		return "not run";
	case PV_REFUSED:
		return "refused";
	case PV_ACCEPTED:
		return "accepted (unproven)";
	case PV_RELAYED:
		return "relayed (proven)";
	case PV_REFUSED_CONN:
		return "refused connection";
	case PV_ERROR:
		return "error";
	}
	return "?";
}

void
report_counts(const struct probe_host *h, size_t counts[PV_ERROR + 1])
{
	memset(counts, 0, sizeof(counts[0]) * (PV_ERROR + 1));
	for (size_t i = 0; i < h->ntests; i++)
		counts[h->res[i].verdict]++;
}

int
probe_host_status(const struct probe_host *h, int have_sink)
{
	size_t n[PV_ERROR + 1];

	if (h->from_state)
		return strstr(h->state_line, " status=1")   ? 1
		       : strstr(h->state_line, " status=0") ? 0
		                                            : 2;
	report_counts(h, n);
	/* With a sink only proof counts; without one, a 250 is all we have. */
	if (n[PV_RELAYED] > 0 || (!have_sink && n[PV_ACCEPTED] > 0))
		return 1;
	if (h->refused_conn || h->conn_code != 0 || h->ntests == 0 || n[PV_ERROR] > 0 ||
	    n[PV_NOTRUN] > 0 || n[PV_REFUSED_CONN] > 0)
		return 2;
	return 0;
}

static const char *
status_word(int st)
{
	return st == 0 ? "no relay" : st == 1 ? "RELAY FOUND" : "could not test";
}

/* cell - s cut to width w with "..." */
static const char *
cell(const char *s, size_t w, char *buf, size_t bufsz)
{
	size_t n = strlen(s);

	if (n <= w || w < 4) {
		snprintf(buf, bufsz, "%s", s);
		return buf;
	}
	snprintf(buf, bufsz, "%.*s...", (int)(w - 3), s);
	return buf;
}

int
report_text(FILE *fp, struct probe_host *hosts, size_t nhosts, int have_sink)
{
	int worst = 0, any_relay = 0;

	for (size_t hi = 0; hi < nhosts; hi++) {
		struct probe_host *h = &hosts[hi];
		size_t n[PV_ERROR + 1];
		int st = probe_host_status(h, have_sink);

		any_relay |= st == 1;
		worst = st > worst ? st : worst;
		if (h->from_state) {
			fprintf(fp, "%s: done in an earlier run: %s\n\n", h->key,
			        h->state_line);
			continue;
		}
		fprintf(fp, "%s (%s, domain %s): %zu tests, %s\n", h->key,
		        h->srvname[0] ? h->srvname : "?", h->domain[0] ? h->domain : "?",
		        h->ntests,
		        have_sink ? "proof by receipt at the sink" : "no sink: unproven");
		if (h->gave_up)
			fprintf(fp, "  gave up: %s\n", h->conn_reply);
		else if (h->conn_code != 0)
			fprintf(fp, "  %s: %d %s\n",
			        h->refused_conn ? "refused connection"
			                        : "could not connect",
			        h->conn_code, h->conn_reply);
		if (h->ntests > 0)
			fprintf(fp, "%-20s %-30s %-34s %-46s %s\n", "TEST", "MAIL FROM",
			        "RCPT TO", "REPLY", "VERDICT");
		for (size_t i = 0; i < h->ntests; i++) {
			const struct probe_test *t = &h->tests[i];
			const struct probe_result *r = &h->res[i];
			char from[PROBE_ADDR_MAX + 2], to[PROBE_ADDR_MAX + 2], reply[600];
			char c1[64], c2[64], c3[64];

			snprintf(from, sizeof(from), "<%s>", t->from);
			snprintf(to, sizeof(to), "<%s>", t->to);
			if (r->verdict == PV_NOTRUN)
				reply[0] = '\0';
			else
				snprintf(reply, sizeof(reply), "%s: %s%s", r->stage,
				         r->local ? "local " : "", r->reply);
			fprintf(fp, "%-20s %-30s %-34s %-46s %s\n", t->id,
			        cell(from, 30, c1, sizeof(c1)),
			        cell(to, 34, c2, sizeof(c2)),
			        cell(reply, 46, c3, sizeof(c3)),
			        probe_verdict_str(r->verdict));
		}
		report_counts(h, n);
		fprintf(fp,
		        "summary %s: %zu relayed (proven), %zu accepted (unproven), %zu "
		        "refused, "
		        "%zu errors, %zu not run: %s\n\n",
		        h->key, n[PV_RELAYED], n[PV_ACCEPTED], n[PV_REFUSED],
		        n[PV_ERROR] + n[PV_REFUSED_CONN], n[PV_NOTRUN], status_word(st));
	}
	return any_relay ? 1 : worst;
}

/* jstr - a JSON string literal */
static void
jstr(FILE *fp, const char *s)
{
	fputc('"', fp);
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(fp, "\\%c", *p);
		else if (*p < 0x20 || *p > 0x7e)
			fprintf(fp, "\\u%04x", *p);
		else
			fputc(*p, fp);
	}
	fputc('"', fp);
}

int
report_json(FILE *fp, struct probe_host *hosts, size_t nhosts, int have_sink)
{
	size_t tot[PV_ERROR + 1] = {0};
	int worst = 0, any_relay = 0;

	for (size_t hi = 0; hi < nhosts; hi++) {
		struct probe_host *h = &hosts[hi];
		size_t n[PV_ERROR + 1];
		int st = probe_host_status(h, have_sink);

		any_relay |= st == 1;
		worst = st > worst ? st : worst;
		for (size_t i = 0; i < h->ntests; i++) {
			const struct probe_test *t = &h->tests[i];
			const struct probe_result *r = &h->res[i];

			fputs("{\"type\":\"test\",\"target\":", fp);
			jstr(fp, h->key);
			fputs(",\"id\":", fp);
			jstr(fp, t->id);
			fputs(",\"group\":", fp);
			jstr(fp, t->group);
			fputs(",\"mail_from\":", fp);
			jstr(fp, t->from);
			fputs(",\"rcpt_to\":", fp);
			jstr(fp, t->to);
			fputs(",\"stage\":", fp);
			jstr(fp, r->stage ? r->stage : "");
			fprintf(fp, ",\"code\":%d,\"local\":%s,\"reply\":", r->code,
			        r->local ? "true" : "false");
			jstr(fp, r->reply);
			fputs(",\"verdict\":", fp);
			jstr(fp, probe_verdict_str(r->verdict));
			fprintf(fp, ",\"message_sent\":%s",
			        r->data_sent ? "true" : "false");
			if (r->verdict == PV_RELAYED) {
				fprintf(fp, ",\"proof\":{\"received_at\":%lld,\"from\":",
				        (long long)r->proof_at);
				jstr(fp, r->proof_peer);
				fputs(",\"rcpt\":", fp);
				jstr(fp, r->proof_rcpt);
				fputc('}', fp);
			}
			fputs("}\n", fp);
		}
		report_counts(h, n);
		for (int v = 0; v <= PV_ERROR; v++)
			tot[v] += n[v];
		fputs("{\"type\":\"host\",\"target\":", fp);
		jstr(fp, h->key);
		fputs(",\"name\":", fp);
		jstr(fp, h->srvname);
		fputs(",\"domain\":", fp);
		jstr(fp, h->domain);
		fprintf(fp, ",\"status\":%d,\"result\":", st);
		jstr(fp, status_word(st));
		fprintf(fp, ",\"refused_connection\":%s,\"connect_reply\":",
		        h->refused_conn ? "true" : "false");
		if (h->gave_up) {
			jstr(fp, h->conn_reply);
		} else if (h->conn_code != 0) {
			char buf[PROBE_REPLY_MAX + 8];
			snprintf(buf, sizeof(buf), "%d %s", h->conn_code, h->conn_reply);
			jstr(fp, buf);
		} else {
			fputs("null", fp);
		}
		fprintf(fp, ",\"gave_up\":%s", h->gave_up ? "true" : "false");
		fprintf(fp, ",\"from_state\":%s", h->from_state ? "true" : "false");
		fprintf(fp,
		        ",\"tests\":%zu,\"relayed\":%zu,\"accepted\":%zu,\"refused\":%zu,"
		        "\"errors\":%zu,\"not_run\":%zu}\n",
		        h->ntests, n[PV_RELAYED], n[PV_ACCEPTED], n[PV_REFUSED],
		        n[PV_ERROR] + n[PV_REFUSED_CONN], n[PV_NOTRUN]);
	}
	fprintf(fp,
	        "{\"type\":\"summary\",\"hosts\":%zu,\"sink\":%s,\"relayed\":%zu,"
	        "\"accepted\":%zu,\"refused\":%zu,\"errors\":%zu,\"not_run\":%zu,"
	        "\"exit\":%d}\n",
	        nhosts, have_sink ? "true" : "false", tot[PV_RELAYED], tot[PV_ACCEPTED],
	        tot[PV_REFUSED], tot[PV_ERROR] + tot[PV_REFUSED_CONN], tot[PV_NOTRUN],
	        any_relay ? 1 : worst);
	return any_relay ? 1 : worst;
}
