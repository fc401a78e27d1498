/* SPDX-License-Identifier: ISC */
/*
 * test_relay.c - the relay decision (src/policy/relay.c, RFC 2505 §2.1).
 *
 * One table of { client, recipient, want }: the recipient is parsed the way
 * the session parses RCPT TO, the client decides may_relay through the
 * trusted networks of a hand-built configuration. A stranger gets nothing
 * but our own mailboxes, whatever trick the address holds; a trusted client
 * relays, and the trick addresses are resolved to their final destination.
 */
#include "conf/conf.h"
#include "policy/relay.h"
#include "smtp/command.h"
#include "unit.h"

#define STRANGER "203.0.113.5"
#define TRUSTED  "192.0.2.10"
#define TRUSTED6 "2001:db8::25"

/* users[] sorted and lower case, as conf_load() leaves them; postmaster is
 * deliberately absent: it is accepted without being listed. */
static char *example_users[] = {"alice", "bob"};
static char *second_users[] = {"carol"};
static char *x_users[] = {"u"};

static struct domain_conf domains[] = {
    {.name = "example.test", .users = example_users, .nusers = NELEM(example_users)},
    {.name = "second.test", .users = second_users, .nusers = NELEM(second_users)},
    {.name = "x.test", .users = x_users, .nusers = NELEM(x_users)},
};

static struct cidr trusted[2];
static struct moat_conf conf;

static int
setup(void **state)
{
	memset(&conf, 0, sizeof(conf));
	conf.hostname = "mx.example.test";
	conf.domains = domains;
	conf.ndomains = NELEM(domains);
	if (cidr_parse(&trusted[0], "192.0.2.0/24") == -1 ||
	    cidr_parse(&trusted[1], "2001:db8::/32") == -1)
		return -1;
	conf.trusted = trusted;
	conf.ntrusted = NELEM(trusted);
	return 0;
}

#define DENIED(a)  "<" a ">: Relay access denied"
#define UNKNOWN(a) "<" a ">: Recipient address rejected: User unknown"
#define BADDEST(a) "<" a ">: Bad recipient address syntax"

struct relay_case {
	const char *name;
	const char *client;
	const char *rcpt; /* the path of RCPT TO; may hold "{N*unit}" */
	enum verdict_kind kind;
	int code;
	const char *enh;
	const char *rule;
	const char *dest; /* final destination, "" when refused */
	const char *via;  /* local domain it lands in, "" when relayed or refused */
	const char *text; /* reply text, "" when accepted */
};

#define OK       VERDICT_OK, 250, "2.1.5"
#define NO_RELAY VERDICT_PERMFAIL, 554, "5.7.1"
#define NO_USER  VERDICT_PERMFAIL, 550, "5.1.1", "unknown-user", "", ""
#define BAD_DEST VERDICT_PERMFAIL, 501, "5.1.3", "bad-destination", "", ""

static const struct relay_case cases[] = {
    /* a stranger: every relay trick is refused */
    {"third party", STRANGER, "<carol@third.test>", NO_RELAY, "relay-denied", "", "",
     DENIED("carol@third.test")},
    {"percent hack", STRANGER, "<user%other.test@example.test>", NO_RELAY, "relay-trick",
     "", "", DENIED("user%other.test@example.test")},
    {"bang path at ours", STRANGER, "<other.test!user@example.test>", NO_RELAY,
     "relay-trick", "", "", DENIED("other.test!user@example.test")},
    {"bare bang path", STRANGER, "<other.test!user>", NO_RELAY, "relay-trick", "", "",
     DENIED("other.test!user")},
    {"quoted at", STRANGER, "<\"user@other.test\"@example.test>", NO_RELAY, "relay-trick",
     "", "", DENIED("\"user@other.test\"@example.test")},
    {"quoted percent", STRANGER, "<\"user%other.test\"@example.test>", NO_RELAY,
     "relay-trick", "", "", DENIED("user%other.test@example.test")},
    {"escaped at", STRANGER, "<\"user\\@other.test\"@example.test>", NO_RELAY,
     "relay-trick", "", "", DENIED("\"user@other.test\"@example.test")},
    {"source route", STRANGER, "<@example.test:user@other.test>", NO_RELAY,
     "relay-denied", "", "", DENIED("user@other.test")},
    {"two-hop route", STRANGER, "<@example.test,@second.test:user@other.test>", NO_RELAY,
     "relay-denied", "", "", DENIED("user@other.test")},
    {"IPv4 literal", STRANGER, "<user@[192.0.2.1]>", NO_RELAY, "relay-denied", "", "",
     DENIED("user@[192.0.2.1]")},
    {"IPv6 literal", STRANGER, "<user@[IPv6:2001:db8::1]>", NO_RELAY, "relay-denied", "",
     "", DENIED("user@[IPv6:2001:db8::1]")},
    {"percent to ours", STRANGER, "<alice%example.test@second.test>", NO_RELAY,
     "relay-trick", "", "", DENIED("alice%example.test@second.test")},
    {"percent at remote", STRANGER, "<alice%example.test@other.test>", NO_RELAY,
     "relay-trick", "", "", DENIED("alice%example.test@other.test")},
    {"subdomain is not ours", STRANGER, "<alice@sub.example.test>", NO_RELAY,
     "relay-denied", "", "", DENIED("alice@sub.example.test")},
    {"parent is not ours", STRANGER, "<alice@test>", NO_RELAY, "relay-denied", "", "",
     DENIED("alice@test")},
    {"postmaster elsewhere", STRANGER, "<postmaster@other.test>", NO_RELAY,
     "relay-denied", "", "", DENIED("postmaster@other.test")},
    {"neighbour network", "192.0.3.10", "<carol@third.test>", NO_RELAY, "relay-denied",
     "", "", DENIED("carol@third.test")},
    {"neighbour IPv6", "2001:db9::1", "<carol@third.test>", NO_RELAY, "relay-denied", "",
     "", DENIED("carol@third.test")},

    /* a stranger: our own mailboxes */
    {"local user", STRANGER, "<alice@example.test>", OK, "local", "alice@example.test",
     "example.test", ""},
    {"local user, any case", STRANGER, "<Alice@EXAMPLE.Test>", OK, "local",
     "alice@example.test", "example.test", ""},
    {"second domain", STRANGER, "<carol@second.test>", OK, "local", "carol@second.test",
     "second.test", ""},
    {"quoted plain local", STRANGER, "<\"bob\"@example.test>", OK, "local",
     "bob@example.test", "example.test", ""},
    {"route to ours", STRANGER, "<@other.test:alice@example.test>", OK, "local",
     "alice@example.test", "example.test", ""},
    {"unknown user", STRANGER, "<mallory@example.test>", NO_USER,
     UNKNOWN("mallory@example.test")},
    {"user of other domain", STRANGER, "<carol@example.test>", NO_USER,
     UNKNOWN("carol@example.test")},
    {"postmaster", STRANGER, "<postmaster>", OK, "postmaster", "postmaster@example.test",
     "example.test", ""},
    {"Postmaster", STRANGER, "<Postmaster>", OK, "postmaster", "postmaster@example.test",
     "example.test", ""},
    {"POSTMASTER@EXAMPLE.TEST", STRANGER, "<POSTMASTER@EXAMPLE.TEST>", OK, "local",
     "postmaster@example.test", "example.test", ""},
    {"postmaster of second", STRANGER, "<postmaster@second.test>", OK, "local",
     "postmaster@second.test", "second.test", ""},

    /* a trusted client relays; tricks resolve to the final destination */
    {"relay", TRUSTED, "<carol@third.test>", OK, "relay", "carol@third.test", "", ""},
    {"relay from IPv6", TRUSTED6, "<carol@third.test>", OK, "relay", "carol@third.test",
     "", ""},
    {"relay from mapped IPv4", "::ffff:192.0.2.10", "<carol@third.test>", OK, "relay",
     "carol@third.test", "", ""},
    {"percent hack resolved", TRUSTED, "<user%other.test@example.test>", OK, "relay",
     "user@other.test", "", ""},
    {"bang path resolved", TRUSTED, "<other.test!user@example.test>", OK, "relay",
     "user@other.test", "", ""},
    {"bare bang path resolved", TRUSTED, "<other.test!user>", OK, "relay",
     "user@other.test", "", ""},
    {"quoted at resolved", TRUSTED, "<\"user@other.test\"@example.test>", OK, "relay",
     "user@other.test", "", ""},
    {"source route ignored", TRUSTED, "<@example.test:user@other.test>", OK, "relay",
     "user@other.test", "", ""},
    {"IPv4 literal relayed", TRUSTED, "<user@[192.0.2.1]>", OK, "relay",
     "user@[192.0.2.1]", "", ""},
    {"IPv6 literal relayed", TRUSTED6, "<user@[IPv6:2001:db8::1]>", OK, "relay",
     "user@[IPv6:2001:db8::1]", "", ""},
    {"rightmost percent first", TRUSTED, "<a%b%c.test@example.test>", OK, "relay",
     "a%b@c.test", "", ""},
    {"percent to ours resolved", TRUSTED, "<alice%example.test@second.test>", OK, "local",
     "alice@example.test", "example.test", ""},
    {"bang to ours resolved", TRUSTED, "<example.test!bob@second.test>", OK, "local",
     "bob@example.test", "example.test", ""},
    {"quoted at to ours", TRUSTED, "<\"carol@second.test\"@example.test>", OK, "local",
     "carol@second.test", "second.test", ""},
    {"resolved to unknown user", TRUSTED, "<mallory%example.test@second.test>", NO_USER,
     UNKNOWN("mallory%example.test@second.test")},
    /* A remote domain's local part is the remote's business. */
    {"remote percent kept", TRUSTED, "<user%other.test@remote.test>", OK, "relay",
     "user%other.test@remote.test", "", ""},
    {"remote bang kept", TRUSTED, "<other.test!user@remote.test>", OK, "relay",
     "other.test!user@remote.test", "", ""},
    {"remote quoted at kept", TRUSTED, "<\"user@other.test\"@remote.test>", OK, "relay",
     "\"user@other.test\"@remote.test", "", ""},
    {"bad percent domain", TRUSTED, "<user%bad_dom@example.test>", BAD_DEST,
     BADDEST("user%bad_dom@example.test")},
    {"empty percent domain", TRUSTED, "<user%@example.test>", BAD_DEST,
     BADDEST("user%@example.test")},
    {"empty percent user", TRUSTED, "<%other.test@example.test>", BAD_DEST,
     BADDEST("%other.test@example.test")},
    {"empty bang host", TRUSTED, "<!user@example.test>", BAD_DEST,
     BADDEST("!user@example.test")},
    {"empty bang user", TRUSTED, "<other.test!@example.test>", BAD_DEST,
     BADDEST("other.test!@example.test")},
    {"quoted at, bad domain", TRUSTED, "<\"user@\"@example.test>", BAD_DEST,
     BADDEST("\"user@\"@example.test")},
    {"seven hops", TRUSTED, "<u{7*%x.test}@x.test>", OK, "local", "u@x.test", "x.test",
     ""},
    {"nine hops", TRUSTED, "<u{9*%x.test}@x.test>", BAD_DEST,
     BADDEST("u%x.test%x.test%x.test%x.test%x.test%x.test%x.test%x.test%x.test@x.test")},
    {"trusted local user", TRUSTED, "<bob@example.test>", OK, "local", "bob@example.test",
     "example.test", ""},
    {"trusted unknown user", TRUSTED, "<mallory@example.test>", NO_USER,
     UNKNOWN("mallory@example.test")},
    {"trusted postmaster", TRUSTED, "<postmaster>", OK, "postmaster",
     "postmaster@example.test", "example.test", ""},
};

static void
test_relay_decision(void **state)
{
	for (size_t i = 0; i < NELEM(cases); i++) {
		const struct relay_case *c = &cases[i];
		char path[512], line[520];
		struct rcpt_dest dest;
		struct netaddr na;
		struct mailaddr to;
		struct verdict v;
		int err;

		if (netaddr_parse(&na, c->client) == -1)
			fail_msg("%s: bad client %s", c->name, c->client);
		unit_expand(c->rcpt, strlen(c->rcpt), path, sizeof(path));
		snprintf(line, sizeof(line), "TO:%s", path);
		if ((err = smtp_parse_rcpt(line, strlen(line), 0, &to, NULL)) != MAE_OK) {
			UNIT_FAIL("%s: RCPT %s: parse error %d", c->name, line, err);
			continue;
		}
		memset(&v, 0x5a, sizeof(v));
		relay_check_rcpt(&conf, &to, conf_is_trusted(&conf, &na), &dest, &v);
		EXPECT_INT(c->name, "kind", v.kind, c->kind);
		EXPECT_INT(c->name, "code", v.code, c->code);
		EXPECT_STR(c->name, "enh", v.enh, c->enh);
		EXPECT_STR(c->name, "rule", v.rule, c->rule);
		EXPECT_STR(c->name, "text", v.text, c->text);
		if (c->kind != VERDICT_OK)
			continue;
		EXPECT_STR(c->name, "dest", dest.addr, c->dest);
		EXPECT_STR(c->name, "via", dest.local ? dest.local->name : "", c->via);
	}
	UNIT_END();
}

struct resolve_case {
	const char *name;
	const char *rcpt;
	int want;
	const char *dest; /* formatted, when want == 0 */
	unsigned flags;
};

/* relay_resolve() alone: the final address and the flags it leaves. */
static const struct resolve_case resolves[] = {
    {"plain stays", "<a@remote.test>", 0, "a@remote.test", 0},
    {"percent", "<a%remote.test@example.test>", 0, "a@remote.test", 0},
    {"percent leaves percent", "<a%b%remote.test@example.test>", 0, "a%b@remote.test",
     MA_PERCENT},
    {"bang", "<remote.test!a@example.test>", 0, "a@remote.test", 0},
    {"bang then bang", "<one.test!two.test!a@example.test>", 0, "two.test!a@one.test",
     MA_BANG},
    {"bare bang", "<remote.test!a>", 0, "a@remote.test", 0},
    {"quoted at", "<\"a@remote.test\"@example.test>", 0, "a@remote.test", 0},
    {"quoted at holding percent", "<\"a%b@remote.test\"@example.test>", 0,
     "a%b@remote.test", MA_PERCENT},
    {"literal stays", "<a@[192.0.2.1]>", 0, "a@[192.0.2.1]", MA_LITERAL},
    {"bad domain", "<a%-x@example.test>", -1, "", 0},
};

static void
test_relay_resolve(void **state)
{
	for (size_t i = 0; i < NELEM(resolves); i++) {
		const struct resolve_case *c = &resolves[i];
		struct mailaddr in, out;
		char line[300], addr[MAILADDR_FMT_MAX];
		int err;

		snprintf(line, sizeof(line), "TO:%s", c->rcpt);
		if ((err = smtp_parse_rcpt(line, strlen(line), 0, &in, NULL)) != MAE_OK) {
			UNIT_FAIL("%s: RCPT %s: parse error %d", c->name, line, err);
			continue;
		}
		EXPECT_INT(c->name, "result", relay_resolve(&conf, &in, &out), c->want);
		if (c->want != 0)
			continue;
		mailaddr_format(&out, addr, sizeof(addr));
		EXPECT_STR(c->name, "dest", addr, c->dest);
		EXPECT_INT(c->name, "flags", out.flags & ~MA_QUOTED, c->flags);
	}
	UNIT_END();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_relay_decision),
	    cmocka_unit_test(test_relay_resolve),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
