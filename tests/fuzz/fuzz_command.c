/* SPDX-License-Identifier: ISC */
/*
 * fuzz_command.c - libFuzzer target for SMTP command line parsing.
 *
 * The input is one command line as the session reads it. Its framing is
 * judged by smtp_line_check() and compared with a plain statement of the
 * rule (CRLF at the end, no other CR, LF or NUL). Then, whatever the framing
 * said, the line (without its CRLF) goes through smtp_verb_parse() and its
 * arguments through the MAIL, RCPT and HELO parsers, each on a buffer of
 * exactly that length so that ASan sees any read past the end. DSN's
 * parameters (RET, ENVID, NOTIFY, ORCPT) decode to printable values that
 * xtext-encode and decode back to themselves.
 */
#include <strings.h>

#include "fuzz.h"
#include "smtp/command.h"

static void
check_framing(const char *s, size_t n)
{
	enum line_status st = smtp_line_check(s, n);
	int nul = memchr(s, '\0', n) != NULL;
	int crlf = n >= 2 && s[n - 2] == '\r' && s[n - 1] == '\n';
	int other =
	    n >= 2 && (memchr(s, '\r', n - 2) != NULL || memchr(s, '\n', n - 2) != NULL);

	REQUIRE((st == LINE_NUL) == nul);
	REQUIRE((st == LINE_OK) == (!nul && crlf && !other));
}

/* check_xtext - a decoded DSN value: terminated, printable (it goes into
 * queue files and reports), and xtext_encode() then xtext_decode() give
 * it back */
static void
check_xtext(const char *v, size_t cap)
{
	char enc[3 * 512 + 1], back[512];
	size_t n = strnlen(v, cap);

	REQUIRE(n < cap);
	for (size_t i = 0; i < n; i++)
		REQUIRE((unsigned char)v[i] >= 32 && (unsigned char)v[i] <= 126);
	xtext_encode(v, enc, sizeof(enc));
	REQUIRE(xtext_decode(enc, strlen(enc), back, sizeof(back)) == 0);
	REQUIRE(strcmp(back, v) == 0);
}

static void
check_mail(const char *args, size_t len)
{
	struct mailaddr from;
	struct mail_params mp;
	int err, err_auth;

	err = smtp_parse_mail(args, len, 0, &from, &mp);
	REQUIRE(smtp_parse_strerror(err) != NULL);
	if (err == MAE_OK) {
		REQUIRE(mp.size >= -1 && !mp.has_auth);
		REQUIRE(!(from.flags & MA_NODOMAIN));
		REQUIRE(strlen(from.local) <= MAILADDR_LOCAL_MAX);
		REQUIRE(mp.ret >= 0 && mp.ret <= DSN_RET_HDRS);
		check_xtext(mp.envid, sizeof(mp.envid));
	}
	err_auth = smtp_parse_mail(args, len, PARSE_ALLOW_AUTH, &from, &mp);
	REQUIRE(smtp_parse_strerror(err_auth) != NULL);
	/* Offering AUTH only adds a parameter: what parsed without it still does. */
	if (err == MAE_OK)
		REQUIRE(err_auth == MAE_OK);
	if (err_auth == MAE_OK && mp.has_auth)
		REQUIRE(err == PE_PARAM_UNKNOWN);
	/* Offering SMTPUTF8 too: what parsed still does; a UTF-8 sender only
	 * with the parameter */
	struct mailaddr from8;
	int err8 =
	    smtp_parse_mail(args, len, PARSE_ALLOW_AUTH | PARSE_ALLOW_UTF8, &from8, &mp);
	REQUIRE(smtp_parse_strerror(err8) != NULL);
	if (err_auth == MAE_OK)
		REQUIRE(err8 == MAE_OK);
	if (err8 == MAE_OK && (from8.flags & MA_UTF8))
		REQUIRE(mp.smtputf8);
}

static void
check_rcpt(const char *args, size_t len)
{
	struct mailaddr to;
	struct rcpt_params rp;
	int err = smtp_parse_rcpt(args, len, PARSE_ALLOW_UTF8, &to, &rp);
	struct mailaddr to2;
	int err2 = smtp_parse_rcpt(args, len, 0, &to2, NULL);

	/* what parses without SMTPUTF8 parses with it, to the same mailbox */
	if (err2 == MAE_OK)
		REQUIRE(err == MAE_OK && strcmp(to.local, to2.local) == 0 &&
		        strcmp(to.domain, to2.domain) == 0);

	REQUIRE(smtp_parse_strerror(err) != NULL);
	if (err == MAE_OK) {
		char buf[64];
		REQUIRE(!(to.flags & MA_NULL));
		REQUIRE(strlen(to.local) > 0 && strlen(to.local) <= MAILADDR_LOCAL_MAX);
		/* NEVER alone, or some of the three */
		REQUIRE(rp.notify <= 0xf);
		REQUIRE(!(rp.notify & DSN_NOTIFY_NEVER) || rp.notify == DSN_NOTIFY_NEVER);
		REQUIRE(strlen(dsn_notify_format(rp.notify, buf, sizeof(buf))) <
		        sizeof(buf));
		check_xtext(rp.orcpt, sizeof(rp.orcpt));
		REQUIRE(rp.orcpt[0] == '\0' || strchr(rp.orcpt, ';') != NULL);
	}
}

static void
check_helo(const char *args, size_t len)
{
	int want = len >= 1 && len <= 255;

	for (size_t i = 0; i < len && want; i++)
		if ((unsigned char)args[i] < 33 || (unsigned char)args[i] > 126)
			want = 0;
	REQUIRE(smtp_helo_valid(args, len) == want);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data, *args;
	size_t n = size, argslen;
	enum smtp_verb v;
	char *line;

	check_framing(s, size);
	if (smtp_line_check(s, size) == LINE_OK)
		n -= 2;
	if ((line = malloc(n > 0 ? n : 1)) == NULL)
		return 0;
	memcpy(line, s, n);

	v = smtp_verb_parse(line, n, &args, &argslen);
	/* The verb is the first word; the arguments start after one space. */
	size_t w = 0;
	while (w < n && line[w] != ' ')
		w++;
	REQUIRE(args == line + (w < n ? w + 1 : w) && args + argslen == line + n);
	REQUIRE(v >= V_UNKNOWN && v < V_NVERBS);
	if (v != V_UNKNOWN && v != V_HTTP) {
		const char *name = smtp_verb_name(v);
		REQUIRE(w == strlen(name) && strncasecmp(line, name, w) == 0);
	}
	/* Every parser gets the arguments whatever the verb: they must hold on
	 * any bytes, not only on what the dispatcher would hand them. */
	check_mail(args, argslen);
	check_rcpt(args, argslen);
	check_helo(args, argslen);
	free(line);
	return 0;
}
