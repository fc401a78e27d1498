/* SPDX-License-Identifier: ISC */
/*
 * test_command.c - SMTP command line parsing (src/smtp/command.c).
 *
 * Tables of { name, input, want } for line framing (RFC 5321 §2.3.8: CRLF
 * only), verbs, MAIL FROM with SIZE/BODY/AUTH parameters (RFC 1870, RFC
 * 6152, RFC 4954), RCPT TO (no parameters offered) and HELO names.
 */
#include "smtp/command.h"
#include "unit.h"

struct line_case {
	const char *name;
	const char *in;
	size_t len;
	enum line_status want;
};

static const struct line_case lines[] = {
    {"command", B("NOOP\r\n"), LINE_OK},
    {"empty line", B("\r\n"), LINE_OK},
    {"with args", B("MAIL FROM:<a@b.test> SIZE=10\r\n"), LINE_OK},
    {"8-bit is not framing", B("HELO \xc3\xa9\r\n"), LINE_OK},
    {"bare LF at end", B("NOOP\n"), LINE_BARE_LF},
    {"LF alone", B("\n"), LINE_BARE_LF},
    {"bare LF mid-line", B("NO\nOP\r\n"), LINE_BARE_LF},
    {"LF before CRLF", B("NOOP\n\r\n"), LINE_BARE_LF},
    {"LF first", B("\nNOOP\r\n"), LINE_BARE_LF},
    {"LF CR LF", B("\n\r\n"), LINE_BARE_LF},
    {"bare CR mid-line", B("NO\rOP\r\n"), LINE_BARE_CR},
    {"CR first", B("\rNOOP\r\n"), LINE_BARE_CR},
    {"CR CR LF", B("NOOP\r\r\n"), LINE_BARE_CR},
    {"CR at end, no LF", B("NOOP\r"), LINE_BARE_CR},
    {"CR alone", B("\r"), LINE_BARE_CR},
    {"no line end", B("NOOP"), LINE_BARE_CR},
    {"nothing", B(""), LINE_BARE_CR},
    {"LF CR", B("NOOP\n\r"), LINE_BARE_CR},
    {"NUL mid-line", B("NO\0OP\r\n"), LINE_NUL},
    {"NUL first", B("\0NOOP\r\n"), LINE_NUL},
    {"NUL before CRLF", B("NOOP\0\r\n"), LINE_NUL},
    {"NUL after CRLF", B("NOOP\r\n\0"), LINE_NUL},
    {"NUL and bare LF", B("NO\0OP\n"), LINE_NUL},
    {"NUL alone", B("\0"), LINE_NUL},
};

static void
test_line_check(void **state)
{
	for (size_t i = 0; i < NELEM(lines); i++)
		EXPECT_INT(lines[i].name, "status",
		           smtp_line_check(lines[i].in, lines[i].len), lines[i].want);
	UNIT_END();
}

struct verb_case {
	const char *name;
	const char *in; /* a line without its CRLF */
	size_t len;
	enum smtp_verb want;
	const char *args;
};

static const struct verb_case verbs[] = {
    {"HELO", B("HELO client.test"), V_HELO, "client.test"},
    {"helo", B("helo client.test"), V_HELO, "client.test"},
    {"HeLo", B("HeLo client.test"), V_HELO, "client.test"},
    {"EHLO", B("EHLO client.test"), V_EHLO, "client.test"},
    {"ehlo", B("ehlo client.test"), V_EHLO, "client.test"},
    {"MAIL", B("MAIL FROM:<a@b.test>"), V_MAIL, "FROM:<a@b.test>"},
    {"mail", B("mail from:<>"), V_MAIL, "from:<>"},
    {"RCPT", B("RCPT TO:<a@b.test>"), V_RCPT, "TO:<a@b.test>"},
    {"rCpT", B("rCpT TO:<a@b.test>"), V_RCPT, "TO:<a@b.test>"},
    {"DATA", B("DATA"), V_DATA, ""},
    {"data", B("data"), V_DATA, ""},
    {"RSET", B("RSET"), V_RSET, ""},
    {"NOOP with text", B("NOOP hello there"), V_NOOP, "hello there"},
    {"NOOP trailing space", B("NOOP "), V_NOOP, ""},
    {"QUIT", B("QUIT"), V_QUIT, ""},
    {"HELP", B("help"), V_HELP, ""},
    {"VRFY", B("VRFY user"), V_VRFY, "user"},
    {"EXPN", B("expn list"), V_EXPN, "list"},
    {"ETRN", B("ETRN example.test"), V_ETRN, "example.test"},
    {"STARTTLS", B("STARTTLS"), V_STARTTLS, ""},
    {"starttls", B("starttls"), V_STARTTLS, ""},
    {"AUTH", B("AUTH PLAIN dGVzdA=="), V_AUTH, "PLAIN dGVzdA=="},
    {"BDAT", B("BDAT 100 LAST"), V_BDAT, "100 LAST"},
    {"GET", B("GET / HTTP/1.0"), V_HTTP, "/ HTTP/1.0"},
    {"POST", B("POST /x HTTP/1.1"), V_HTTP, "/x HTTP/1.1"},
    {"HEAD", B("HEAD / HTTP/1.0"), V_HTTP, "/ HTTP/1.0"},
    {"PUT", B("PUT /x HTTP/1.1"), V_HTTP, "/x HTTP/1.1"},
    {"CONNECT", B("CONNECT mx.test:25 HTTP/1.0"), V_HTTP, "mx.test:25 HTTP/1.0"},
    {"two spaces kept", B("HELO  x"), V_HELO, " x"},
    {"empty", B(""), V_UNKNOWN, ""},
    {"space only", B(" "), V_UNKNOWN, ""},
    {"leading space", B(" HELO x"), V_UNKNOWN, "HELO x"},
    {"longer verb", B("HELOX x"), V_UNKNOWN, "x"},
    {"shorter verb", B("HEL x"), V_UNKNOWN, "x"},
    {"no space after verb", B("MAIL:FROM:<a@b>"), V_UNKNOWN, ""},
    {"tab separator", B("HELO\tx"), V_UNKNOWN, ""},
    {"DEBUG", B("DEBUG"), V_UNKNOWN, ""},
    {"WIZ", B("WIZ secret"), V_UNKNOWN, "secret"},
    {"NUL in verb", B("HE\0LO x"), V_UNKNOWN, "x"},
    {"verb then NUL", B("DATA\0"), V_UNKNOWN, ""},
};

static void
test_verb_parse(void **state)
{
	for (size_t i = 0; i < NELEM(verbs); i++) {
		const struct verb_case *c = &verbs[i];
		const char *args = NULL;
		size_t argslen = (size_t)-1;

		EXPECT_INT(c->name, "verb",
		           smtp_verb_parse(c->in, c->len, &args, &argslen), c->want);
		/* The arguments are the tail of the line, never beyond it. */
		EXPECT_INT(c->name, "args end", (args - c->in) + argslen, c->len);
		EXPECT_MEM(c->name, "args", args, argslen, c->args, strlen(c->args));
	}
	UNIT_END();
}

static void
test_verb_name(void **state)
{
	assert_string_equal(smtp_verb_name(V_MAIL), "MAIL");
	assert_string_equal(smtp_verb_name(V_STARTTLS), "STARTTLS");
	assert_string_equal(smtp_verb_name(V_UNKNOWN), "UNKNOWN");
	/* Each verb's name parses back to it. */
	for (int v = V_HELO; v < V_NVERBS; v++) {
		const char *name = smtp_verb_name((enum smtp_verb)v), *args;
		size_t argslen;
		assert_string_not_equal(name, "UNKNOWN");
		assert_int_equal(smtp_verb_parse(name, strlen(name), &args, &argslen), v);
	}
}

#define NOSIZE -1LL

struct mail_case {
	const char *name;
	const char *in; /* the arguments after "MAIL " */
	size_t len;
	unsigned opts;
	int want;
	const char *addr; /* formatted, when want == MAE_OK */
	long long size;
	enum body_type body;
	int has_auth;
};

#define MAIL_ERR NULL, 0, BODY_NONE, 0 /* an error row: nothing to compare */

static const struct mail_case mails[] = {
    {"plain", B("FROM:<a@b.test>"), 0, MAE_OK, "a@b.test", NOSIZE, BODY_NONE, 0},
    {"keyword any case", B("from:<a@b.test>"), 0, MAE_OK, "a@b.test", NOSIZE, BODY_NONE,
     0},
    {"space after colon", B("FROM: <a@b.test>"), 0, MAE_OK, "a@b.test", NOSIZE, BODY_NONE,
     0},
    {"spaces after colon", B("FROM:   <a@b.test>"), 0, MAE_OK, "a@b.test", NOSIZE,
     BODY_NONE, 0},
    {"null sender", B("FROM:<>"), 0, MAE_OK, "", NOSIZE, BODY_NONE, 0},
    {"null sender, space", B("FROM: <>"), 0, MAE_OK, "", NOSIZE, BODY_NONE, 0},
    {"trailing space", B("FROM:<a@b.test> "), 0, MAE_OK, "a@b.test", NOSIZE, BODY_NONE,
     0},
    {"route ignored", B("FROM:<@r.test:a@b.test>"), 0, MAE_OK, "a@b.test", NOSIZE,
     BODY_NONE, 0},

    /* RFC 1870 SIZE */
    {"SIZE", B("FROM:<a@b.test> SIZE=1000"), 0, MAE_OK, "a@b.test", 1000, BODY_NONE, 0},
    {"size lower case", B("FROM:<a@b.test> size=1000"), 0, MAE_OK, "a@b.test", 1000,
     BODY_NONE, 0},
    {"SIZE zero", B("FROM:<> SIZE=0"), 0, MAE_OK, "", 0, BODY_NONE, 0},
    {"SIZE leading zeros", B("FROM:<> SIZE=007"), 0, MAE_OK, "", 7, BODY_NONE, 0},
    {"SIZE two spaces", B("FROM:<> SIZE=5  BODY=7BIT"), 0, MAE_OK, "", 5, BODY_7BIT, 0},
    {"SIZE 20 digits saturates", B("FROM:<> SIZE=99999999999999999999"), 0, MAE_OK, "",
     9999999999999999LL, BODY_NONE, 0},
    {"SIZE 21 digits", B("FROM:<> SIZE=999999999999999999999"), 0, PE_PARAM_SYNTAX,
     MAIL_ERR},
    {"SIZE empty", B("FROM:<> SIZE="), 0, PE_PARAM_SYNTAX, MAIL_ERR},
    {"SIZE no value", B("FROM:<> SIZE"), 0, PE_PARAM_SYNTAX, MAIL_ERR},
    {"SIZE negative", B("FROM:<> SIZE=-1"), 0, PE_PARAM_SYNTAX, MAIL_ERR},
    {"SIZE plus", B("FROM:<> SIZE=+1"), 0, PE_PARAM_SYNTAX, MAIL_ERR},
    {"SIZE hex", B("FROM:<> SIZE=0x10"), 0, PE_PARAM_SYNTAX, MAIL_ERR},
    {"SIZE trailing letter", B("FROM:<> SIZE=12k"), 0, PE_PARAM_SYNTAX, MAIL_ERR},
    {"SIZE twice", B("FROM:<> SIZE=1 SIZE=2"), 0, PE_PARAM_DUP, MAIL_ERR},
    {"SIZE twice, other case", B("FROM:<> SIZE=1 size=1"), 0, PE_PARAM_DUP, MAIL_ERR},

    /* RFC 6152 BODY */
    {"BODY=7BIT", B("FROM:<a@b.test> BODY=7BIT"), 0, MAE_OK, "a@b.test", NOSIZE,
     BODY_7BIT, 0},
    {"BODY=8BITMIME", B("FROM:<a@b.test> BODY=8BITMIME"), 0, MAE_OK, "a@b.test", NOSIZE,
     BODY_8BITMIME, 0},
    {"body lower case", B("FROM:<a@b.test> body=8bitmime"), 0, MAE_OK, "a@b.test", NOSIZE,
     BODY_8BITMIME, 0},
    {"BODY and SIZE", B("FROM:<a@b.test> BODY=8BITMIME SIZE=42"), 0, MAE_OK, "a@b.test",
     42, BODY_8BITMIME, 0},
    {"BODY twice", B("FROM:<> BODY=7BIT BODY=7BIT"), 0, PE_PARAM_DUP, MAIL_ERR},
    {"BODY BINARYMIME", B("FROM:<> BODY=BINARYMIME"), 0, PE_PARAM_SYNTAX, MAIL_ERR},
    {"BODY no value", B("FROM:<> BODY"), 0, PE_PARAM_SYNTAX, MAIL_ERR},
    {"BODY prefix", B("FROM:<> BODY=8BIT"), 0, PE_PARAM_SYNTAX, MAIL_ERR},
    {"BODY longer", B("FROM:<> BODY=7BITS"), 0, PE_PARAM_SYNTAX, MAIL_ERR},

    /* RFC 4954 §5 AUTH, only when offered */
    {"AUTH not offered", B("FROM:<a@b.test> AUTH=<>"), 0, PE_PARAM_UNKNOWN, MAIL_ERR},
    {"AUTH offered", B("FROM:<a@b.test> AUTH=<>"), PARSE_ALLOW_AUTH, MAE_OK, "a@b.test",
     NOSIZE, BODY_NONE, 1},
    {"AUTH with addr", B("FROM:<a@b.test> AUTH=a+40b.test"), PARSE_ALLOW_AUTH, MAE_OK,
     "a@b.test", NOSIZE, BODY_NONE, 1},
    {"AUTH twice", B("FROM:<> AUTH=<> AUTH=<>"), PARSE_ALLOW_AUTH, PE_PARAM_DUP,
     MAIL_ERR},
    {"AUTH no value", B("FROM:<> AUTH"), PARSE_ALLOW_AUTH, PE_PARAM_SYNTAX, MAIL_ERR},

    /* unknown parameters: 555 (RFC 5321 §4.1.1.11) */
    {"unknown", B("FROM:<a@b.test> FOO=bar"), 0, PE_PARAM_UNKNOWN, MAIL_ERR},
    {"unknown flag", B("FROM:<a@b.test> FOO"), 0, PE_PARAM_UNKNOWN, MAIL_ERR},
    {"SMTPUTF8 not offered", B("FROM:<a@b.test> SMTPUTF8"), 0, PE_PARAM_UNKNOWN,
     MAIL_ERR},
    /* RFC 6531: a UTF-8 sender needs SMTPUTF8 offered and declared */
    {"SMTPUTF8 offered", B("FROM:<jos\xc3\xa9@b.test> SMTPUTF8"), PARSE_ALLOW_UTF8,
     MAE_OK, "jos\xc3\xa9@b.test", NOSIZE, BODY_NONE, 0},
    {"SMTPUTF8 U-label",
     B("FROM:<a@b\xc3\xbc"
       "cher.test> SMTPUTF8"),
     PARSE_ALLOW_UTF8, MAE_OK, "a@xn--bcher-kva.test", NOSIZE, BODY_NONE, 0},
    {"UTF-8 undeclared", B("FROM:<jos\xc3\xa9@b.test>"), PARSE_ALLOW_UTF8, MAE_8BIT,
     MAIL_ERR},
    {"UTF-8 not offered", B("FROM:<jos\xc3\xa9@b.test> SMTPUTF8"), 0, MAE_8BIT, MAIL_ERR},
    {"SMTPUTF8 with value", B("FROM:<a@b.test> SMTPUTF8=1"), PARSE_ALLOW_UTF8,
     PE_PARAM_SYNTAX, MAIL_ERR},
    {"unknown after good", B("FROM:<> SIZE=1 X-Y=1"), 0, PE_PARAM_UNKNOWN, MAIL_ERR},
    {"keyword prefix", B("FROM:<> SIZES=1"), 0, PE_PARAM_UNKNOWN, MAIL_ERR},

    /* esmtp-param syntax (RFC 5321 §4.1.2) */
    {"value with =", B("FROM:<> SIZE=1=2"), 0, PE_PARAM_SYNTAX, MAIL_ERR},
    {"keyword starts with -", B("FROM:<> -X=1"), 0, PE_PARAM_SYNTAX, MAIL_ERR},
    {"lone =", B("FROM:<> ="), 0, PE_PARAM_SYNTAX, MAIL_ERR},
    {"keyword with _", B("FROM:<> A_B=1"), 0, PE_PARAM_SYNTAX, MAIL_ERR},
    {"tab in value", B("FROM:<> SIZE=1\t"), 0, PE_PARAM_SYNTAX, MAIL_ERR},
    {"DEL in value", B("FROM:<> X=a\x7f"), 0, PE_PARAM_SYNTAX, MAIL_ERR},
    {"8-bit in value", B("FROM:<> X=\xc3\xa9"), 0, PE_PARAM_SYNTAX, MAIL_ERR},
    {"NUL in value", B("FROM:<> SIZE=1\0"), 0, PE_PARAM_SYNTAX, MAIL_ERR},
    {"no space before param", B("FROM:<a@b.test>SIZE=1"), 0, MAE_SYNTAX, MAIL_ERR},

    /* the keyword and the path */
    {"no keyword", B("<a@b.test>"), 0, PE_KEYWORD, MAIL_ERR},
    {"no colon", B("FROM <a@b.test>"), 0, PE_KEYWORD, MAIL_ERR},
    {"TO keyword", B("TO:<a@b.test>"), 0, PE_KEYWORD, MAIL_ERR},
    {"empty", B(""), 0, PE_KEYWORD, MAIL_ERR},
    {"short", B("FRO"), 0, PE_KEYWORD, MAIL_ERR},
    {"keyword only", B("FROM:"), 0, MAE_SYNTAX, MAIL_ERR},
    {"no brackets", B("FROM:a@b.test"), 0, MAE_SYNTAX, MAIL_ERR},
    {"unclosed", B("FROM:<a@b.test"), 0, MAE_SYNTAX, MAIL_ERR},
    {"postmaster needs domain", B("FROM:<postmaster>"), 0, MAE_NODOMAIN, MAIL_ERR},
    {"8-bit sender", B("FROM:<\xc3\xa9@b.test>"), 0, MAE_8BIT, MAIL_ERR},
    {"bad domain", B("FROM:<a@b..test>"), 0, MAE_DOMAIN, MAIL_ERR},
};

static void
test_parse_mail(void **state)
{
	for (size_t i = 0; i < NELEM(mails); i++) {
		const struct mail_case *c = &mails[i];
		struct mailaddr from;
		struct mail_params mp;
		char addr[MAILADDR_FMT_MAX];
		int err;

		err = smtp_parse_mail(c->in, c->len, c->opts, &from, &mp);
		EXPECT_INT(c->name, "error", err, c->want);
		if (err != MAE_OK || c->want != MAE_OK)
			continue;
		mailaddr_format(&from, addr, sizeof(addr));
		EXPECT_STR(c->name, "sender", addr, c->addr);
		EXPECT_INT(c->name, "size", mp.size, c->size);
		EXPECT_INT(c->name, "body", mp.body, c->body);
		EXPECT_INT(c->name, "has_auth", mp.has_auth, c->has_auth);
	}
	UNIT_END();
}

struct rcpt_case {
	const char *name;
	const char *in; /* the arguments after "RCPT " */
	size_t len;
	int want;
	const char *addr; /* formatted, when want == MAE_OK */
	unsigned flags;
};

static const struct rcpt_case rcpts[] = {
    {"plain", B("TO:<a@b.test>"), MAE_OK, "a@b.test", 0},
    {"keyword any case", B("to:<a@b.test>"), MAE_OK, "a@b.test", 0},
    {"space after colon", B("TO: <a@b.test>"), MAE_OK, "a@b.test", 0},
    {"trailing space", B("TO:<a@b.test>  "), MAE_OK, "a@b.test", 0},
    {"postmaster", B("TO:<postmaster>"), MAE_OK, "postmaster", MA_NODOMAIN},
    {"Postmaster", B("TO:<Postmaster>"), MAE_OK, "Postmaster", MA_NODOMAIN},
    {"bang path", B("TO:<other!user>"), MAE_OK, "other!user", MA_NODOMAIN | MA_BANG},
    {"percent flagged", B("TO:<u%o.test@b.test>"), MAE_OK, "u%o.test@b.test", MA_PERCENT},
    {"quoted at flagged", B("TO:<\"u@o.test\"@b.test>"), MAE_OK, "\"u@o.test\"@b.test",
     MA_QUOTED | MA_AT_IN_LOCAL},
    {"route flagged", B("TO:<@b.test:u@o.test>"), MAE_OK, "u@o.test", MA_ROUTE},
    {"literal flagged", B("TO:<u@[192.0.2.1]>"), MAE_OK, "u@[192.0.2.1]", MA_LITERAL},
    {"null refused", B("TO:<>"), MAE_NULL, NULL, 0},
    {"user needs domain", B("TO:<user>"), MAE_NODOMAIN, NULL, 0},
    /* No RCPT parameter is offered (no DSN): each one is unknown. */
    {"unknown", B("TO:<a@b.test> FOO=1"), PE_PARAM_UNKNOWN, NULL, 0},
    {"SIZE on RCPT", B("TO:<a@b.test> SIZE=1"), PE_PARAM_UNKNOWN, NULL, 0},
    {"flag param", B("TO:<a@b.test> X"), PE_PARAM_UNKNOWN, NULL, 0},
    {"bad param", B("TO:<a@b.test> =x"), PE_PARAM_SYNTAX, NULL, 0},
    {"no space", B("TO:<a@b.test>X"), MAE_SYNTAX, NULL, 0},
    {"FROM keyword", B("FROM:<a@b.test>"), PE_KEYWORD, NULL, 0},
    {"no colon", B("TO <a@b.test>"), PE_KEYWORD, NULL, 0},
    {"empty", B(""), PE_KEYWORD, NULL, 0},
    {"8-bit", B("TO:<a@b\xc3\xa9.test>"), MAE_8BIT, NULL, 0},
    {"path too long", B("TO:<{64*l}@{63*a}.{63*b}.{62*c}>"), MAE_PATH_TOO_LONG, NULL, 0},
};

static void
test_parse_rcpt(void **state)
{
	for (size_t i = 0; i < NELEM(rcpts); i++) {
		const struct rcpt_case *c = &rcpts[i];
		struct mailaddr to;
		char in[512], addr[MAILADDR_FMT_MAX];
		size_t len = unit_expand(c->in, c->len, in, sizeof(in));
		int err;

		err = smtp_parse_rcpt(in, len, 0, &to, NULL);
		EXPECT_INT(c->name, "error", err, c->want);
		if (err != MAE_OK || c->want != MAE_OK)
			continue;
		mailaddr_format(&to, addr, sizeof(addr));
		EXPECT_STR(c->name, "recipient", addr, c->addr);
		EXPECT_INT(c->name, "flags", to.flags, c->flags);
	}
	UNIT_END();
}

/* DSN's parameters (RFC 3461): RET and ENVID on MAIL, NOTIFY and ORCPT on
 * RCPT, xtext decoded; what is broken is a syntax error */
static void
test_parse_dsn(void **state)
{
	static const struct {
		const char *in;
		int want;
		unsigned notify;
		const char *orcpt;
	} rcpt[] = {
	    {"TO:<a@b.test> NOTIFY=NEVER", MAE_OK, DSN_NOTIFY_NEVER, ""},
	    {"TO:<a@b.test> NOTIFY=success,FAILURE", MAE_OK,
	     DSN_NOTIFY_SUCCESS | DSN_NOTIFY_FAILURE, ""},
	    {"TO:<a@b.test> NOTIFY=DELAY ORCPT=rfc822;x+2By@c.test", MAE_OK,
	     DSN_NOTIFY_DELAY, "rfc822;x+y@c.test"},
	    {"TO:<a@b.test> ORCPT=utf-8;a+20b", MAE_OK, 0, "utf-8;a b"},
	    {"TO:<a@b.test> NOTIFY=NEVER,SUCCESS", PE_PARAM_SYNTAX, 0, ""},
	    {"TO:<a@b.test> NOTIFY=SUCCESS,SUCCESS", PE_PARAM_SYNTAX, 0, ""},
	    {"TO:<a@b.test> NOTIFY=SUCCESS,", PE_PARAM_SYNTAX, 0, ""},
	    {"TO:<a@b.test> NOTIFY=SOMETIMES", PE_PARAM_SYNTAX, 0, ""},
	    {"TO:<a@b.test> NOTIFY", PE_PARAM_SYNTAX, 0, ""},
	    {"TO:<a@b.test> NOTIFY=NEVER NOTIFY=NEVER", PE_PARAM_DUP, 0, ""},
	    {"TO:<a@b.test> ORCPT=a@b.test", PE_PARAM_SYNTAX, 0, ""},
	    {"TO:<a@b.test> ORCPT=rfc822;", PE_PARAM_SYNTAX, 0, ""},
	    {"TO:<a@b.test> ORCPT=rfc822;a+0Ab", PE_PARAM_SYNTAX, 0, ""}, /* a LF */
	    {"TO:<a@b.test> ORCPT=rfc822;a+G0", PE_PARAM_SYNTAX, 0, ""},
	    {"TO:<a@b.test> ORCPT=rfc822;a+2", PE_PARAM_SYNTAX, 0, ""},
	    {"TO:<a@b.test> ORCPT=rfc 822;a", PE_PARAM_SYNTAX, 0, ""},
	};
	static const struct {
		const char *in;
		int want, ret;
		const char *envid;
	} mail[] = {
	    {"FROM:<a@b.test> RET=HDRS ENVID=QQ314159", MAE_OK, DSN_RET_HDRS, "QQ314159"},
	    {"FROM:<> RET=full ENVID=a+2Bb", MAE_OK, DSN_RET_FULL, "a+b"},
	    {"FROM:<a@b.test> RET=SOME", PE_PARAM_SYNTAX, 0, ""},
	    {"FROM:<a@b.test> RET=HDRS RET=HDRS", PE_PARAM_DUP, 0, ""},
	    {"FROM:<a@b.test> ENVID=a+00", PE_PARAM_SYNTAX, 0, ""},
	    {"FROM:<a@b.test> "
	     "ENVID=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
	     PE_PARAM_SYNTAX, 0, ""},
	};
	char enc[64];

	for (size_t i = 0; i < NELEM(rcpt); i++) {
		struct mailaddr to;
		struct rcpt_params rp;
		EXPECT_INT(rcpt[i].in, "error",
		           smtp_parse_rcpt(rcpt[i].in, strlen(rcpt[i].in), 0, &to, &rp),
		           rcpt[i].want);
		if (rcpt[i].want != MAE_OK)
			continue;
		EXPECT_INT(rcpt[i].in, "notify", rp.notify, rcpt[i].notify);
		EXPECT_STR(rcpt[i].in, "orcpt", rp.orcpt, rcpt[i].orcpt);
	}
	for (size_t i = 0; i < NELEM(mail); i++) {
		struct mailaddr from;
		struct mail_params mp;
		EXPECT_INT(mail[i].in, "error",
		           smtp_parse_mail(mail[i].in, strlen(mail[i].in), 0, &from, &mp),
		           mail[i].want);
		if (mail[i].want != MAE_OK)
			continue;
		EXPECT_INT(mail[i].in, "ret", mp.ret, mail[i].ret);
		EXPECT_STR(mail[i].in, "envid", mp.envid, mail[i].envid);
	}
	xtext_encode("a+b=c d\x7f", enc, sizeof(enc));
	EXPECT_STR("xtext", "encode", enc, "a+2Bb+3Dc+20d+7F");
	xtext_encode("a+b", enc, 4);
	EXPECT_STR("xtext", "cut", enc, "a");
	UNIT_END();
}

struct helo_case {
	const char *name;
	const char *in;
	size_t len;
	int want;
};

static const struct helo_case helos[] = {
    {"name", B("client.example.test"), 1},
    {"one letter", B("x"), 1},
    {"address literal", B("[192.0.2.1]"), 1},
    {"IPv6 literal", B("[IPv6:2001:db8::1]"), 1},
    {"punctuation", B("!#$%&*~"), 1},
    {"255 octets", B("{255*h}"), 1},
    {"empty", B(""), 0},
    {"256 octets", B("{256*h}"), 0},
    {"space inside", B("client example"), 0},
    {"trailing space", B("client "), 0},
    {"tab", B("client\t"), 0},
    {"DEL", B("client\x7f"), 0},
    {"8-bit",
     B("b\xc3\xbc"
       "cher.test"),
     0},
    {"NUL", B("client\0.test"), 0},
    {"CR", B("client\r"), 0},
};

static void
test_helo_valid(void **state)
{
	for (size_t i = 0; i < NELEM(helos); i++) {
		char in[512];
		size_t len = unit_expand(helos[i].in, helos[i].len, in, sizeof(in));
		EXPECT_INT(helos[i].name, "valid", smtp_helo_valid(in, len),
		           helos[i].want);
	}
	UNIT_END();
}

static void
test_parse_strerror(void **state)
{
	static const int errs[] = {PE_PARAM_SYNTAX, PE_PARAM_UNKNOWN, PE_PARAM_DUP,
	                           PE_KEYWORD};

	/* Our errors have their own text; the path errors come from mailaddr. */
	for (size_t i = 0; i < NELEM(errs); i++) {
		assert_string_not_equal(smtp_parse_strerror(errs[i]), "unknown error");
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(smtp_parse_strerror(errs[i]),
			                        smtp_parse_strerror(errs[j]));
	}
	assert_string_equal(smtp_parse_strerror(MAE_8BIT), mailaddr_strerror(MAE_8BIT));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_line_check), cmocka_unit_test(test_verb_parse),
	    cmocka_unit_test(test_verb_name),  cmocka_unit_test(test_parse_mail),
	    cmocka_unit_test(test_parse_rcpt), cmocka_unit_test(test_parse_dsn),
	    cmocka_unit_test(test_helo_valid), cmocka_unit_test(test_parse_strerror),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
