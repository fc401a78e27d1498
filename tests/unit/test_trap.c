/* SPDX-License-Identifier: ISC */
/*
 * test_trap.c - what a spamtrap hit does (src/policy/trap.c), through the
 * real policy pipeline on a real LMDB store (a temporary directory).
 *
 * One table of { name, client, flags, good record, want }: a stranger's
 * first hit bans it here only ("trapban:", refused at connect, never
 * exported); its trap_export_hits-th hit publishes the ban ("ban:", what
 * the rbldnsd export reads); a trusted, authenticated or allowlisted
 * client, or one with a good record (policy_accepted: mail accepted within
 * verdict_cache_ttl), is refused that recipient and nothing more. Every
 * hit is counted for `moatctl traps`.
 */
#include <sys/stat.h>

#include <event2/event.h>

#include "common/log.h"
#include "conf/conf.h"
#include "policy/policy.h"
#include "store/store.h"
#include "smtp/command.h"
#include "unit.h"

#define TRAP "old-trap@example.test"

static char *spamtraps[] = {TRAP};
/* the trap's domain is ours: its address is no user (the relay stage) */
static char *users[] = {"alice"};
static struct domain_conf domains[] = {
    {.name = "example.test", .users = users, .nusers = 1},
};
static struct moat_conf conf;
static struct event_base *base;
static struct store *st;
static struct store *traps; /* the bookkeeping's own store */
static struct policy *pol;
static char dir[64];

static int
setup(void **state)
{
	struct store_config sc;

	(void)state;
	memset(&conf, 0, sizeof(conf));
#define LIMIT_DEFAULT(name, def, min, max, what) conf.limits.name = def;
	MOAT_LIMITS(LIMIT_DEFAULT)
#undef LIMIT_DEFAULT
	conf.limits.rcpt_rate = 0;
	conf.domains = domains;
	conf.ndomains = NELEM(domains);
	conf.bait.spamtraps = spamtraps;
	conf.bait.nspamtraps = NELEM(spamtraps);
	strlcpy(dir, "/tmp/test_trap.XXXXXX", sizeof(dir));
	if (mkdtemp(dir) == NULL || (base = event_base_new()) == NULL)
		return -1;
	store_config_defaults(&sc);
	strlcpy(sc.path, dir, sizeof(sc.path));
	sc.map_size = (size_t)16 << 20;
	if ((st = store_open(&sc, base)) == NULL)
		return -1;
	snprintf(sc.path, sizeof(sc.path), "%s/traps", dir);
	if (mkdir(sc.path, 0700) == -1 || (traps = store_open(&sc, base)) == NULL)
		return -1;
	pol = policy_new(base, &conf, NULL, st);
	policy_set_trap_store(pol, traps);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	policy_free(pol);
	store_close(st);
	store_close(traps);
	event_base_free(base);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

struct outcome {
	int done;
	struct verdict v;
};

static void
checked(void *arg, const struct verdict *v, const struct policy_req *req)
{
	struct outcome *o = arg;

	(void)req;
	o->v = *v;
	o->done = 1;
}

static struct policy_client
client(const char *ip, unsigned flags)
{
	struct policy_client cl;

	memset(&cl, 0, sizeof(cl));
	if (netaddr_parse(&cl.addr, ip) == -1)
		fail_msg("bad address %s", ip);
	strlcpy(cl.addr_str, ip, sizeof(cl.addr_str));
	strlcpy(cl.sid, "0123456789ab", sizeof(cl.sid));
	strlcpy(cl.rdns, "unknown", sizeof(cl.rdns));
	cl.flags = flags;
	return cl;
}

/* run - one check of hook for cl, to its verdict */
static struct verdict
run(enum policy_hook hook, const struct policy_client *cl, const char *rcpt)
{
	struct policy_req req;
	struct outcome o = {0};

	memset(&req, 0, sizeof(req));
	req.hook = hook;
	req.client = *cl;
	if (rcpt != NULL) {
		/* as the session gives it: the relay stage finds it is no user
		 * of ours (rcpt_unknown) before the trap stage looks */
		char line[400];
		snprintf(line, sizeof(line), "TO:<%s>", rcpt);
		if (smtp_parse_rcpt(line, strlen(line), 0, &req.to, NULL) != MAE_OK)
			fail_msg("bad recipient %s", rcpt);
	}
	policy_run(pol, &req, checked, &o);
	while (!o.done)
		if (event_base_loop(base, EVLOOP_ONCE) == -1)
			fail_msg("event loop failed");
	return o.v;
}

/* has - is key in the store? (after every write queued before it) */
static int
has(const char *prefix, const char *ip)
{
	char key[128], buf[512];
	size_t len;
	time_t exp;

	snprintf(key, sizeof(key), "%s%s", prefix, ip);
	return store_get_sync(st, key, buf, sizeof(buf), &len, &exp) == STORE_OK;
}

/* count - a trap bookkeeping counter: in the trap store, never the state
 * store, and expiring (30 days with bait_max_age = 0) */
static long long
count(const char *key)
{
	char buf[32];
	size_t len;
	time_t exp;

	if (store_get_sync(st, key, buf, sizeof(buf) - 1, &len, &exp) == STORE_OK)
		fail_msg("%s is in the state store", key);
	if (store_get_sync(traps, key, buf, sizeof(buf) - 1, &len, &exp) != STORE_OK)
		return 0;
	if (exp == 0 || exp > time(NULL) + 30 * 86400 + 5 ||
	    exp < time(NULL) + 30 * 86400 - 60)
		fail_msg("%s expires at %lld, not in 30 days", key, (long long)exp);
	buf[len < sizeof(buf) - 1 ? len : sizeof(buf) - 1] = '\0';
	return strtoll(buf, NULL, 10);
}

struct trap_case {
	const char *name;
	const char *ip;
	unsigned flags;
	int good;   /* policy_remember_good() before the hit */
	int hits;   /* hits in a row */
	int banned; /* refused at connect afterwards */
	int trapban, exported;
	int cut; /* the session is ended (or tarpitted) */
};

static const struct trap_case cases[] = {
    {"stranger, one hit: banned here, not published", "192.0.2.1", 0, 0, 1, 1, 1, 0, 1},
    {"stranger, two hits: published", "192.0.2.2", 0, 0, 2, 1, 0, 1, 1},
    {"stranger, three hits: still one published ban", "192.0.2.3", 0, 0, 3, 1, 0, 1, 1},
    {"authenticated: nothing", "192.0.2.4", PC_AUTHED, 0, 2, 0, 0, 0, 0},
    {"trusted: nothing", "192.0.2.5", PC_TRUSTED, 0, 2, 0, 0, 0, 0},
    {"allowlisted: nothing", "192.0.2.6", PC_ALLOWLISTED, 0, 2, 0, 0, 0, 0},
    {"good record: nothing", "192.0.2.7", 0, 1, 2, 0, 0, 0, 0},
    {"IPv6 stranger, per /64", "2001:db8:7::1", 0, 0, 2, 1, 0, 1, 1},
};

static void
test_trap_hits(void **state)
{
	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++) {
		const struct trap_case *c = &cases[i];
		struct policy_client cl = client(c->ip, c->flags);
		char who[80], key[128];
		struct verdict v;

		if (c->good)
			policy_remember_good(pol, &cl);
		for (int h = 0; h < c->hits; h++) {
			v = run(HOOK_RCPT, &cl, TRAP);
			EXPECT_INT(c->name, "kind", v.kind, VERDICT_PERMFAIL);
			EXPECT_INT(c->name, "code", v.code, 550);
			EXPECT_STR(c->name, "rule", v.rule ? v.rule : "-", "trap");
			EXPECT_STR(c->name, "text", v.text,
			           "<" TRAP
			           ">: Recipient address rejected: User unknown");
			EXPECT_INT(c->name, "session cut", v.disconnect || v.stutter,
			           c->cut);
		}
		netaddr_client_key(&cl.addr, who, sizeof(who));
		EXPECT_INT(c->name, "trapban:", has("trapban:", who), c->trapban);
		EXPECT_INT(c->name, "ban: (exported)", has("ban:", who), c->exported);
		snprintf(key, sizeof(key), "trap:s|%s|hits", who);
		EXPECT_INT(c->name, "hits counted for moatctl traps", count(key),
		           c->hits);
		/* the next connection: refused by the ban, whichever key holds it */
		struct policy_client again = client(c->ip, c->flags & ~PC_AUTHED);
		v = run(HOOK_CONNECT, &again, NULL);
		EXPECT_INT(c->name, "refused at connect",
		           v.kind != VERDICT_OK && v.rule != NULL &&
		               strcmp(v.rule, "ban") == 0,
		           c->banned);
		if (c->banned)
			EXPECT_INT(c->name, "reason in the log detail",
			           strstr(v.detail,
			                  "reason=\"trap: mailed <" TRAP ">\"") != NULL,
			           1);
	}
	UNIT_END();
}

static void
test_good_record_only_for_strangers(void **state)
{
	struct policy_client authed = client("198.51.100.1", PC_AUTHED);
	struct policy_client stranger = client("198.51.100.2", 0);

	(void)state;
	policy_remember_good(pol, &authed);
	policy_remember_good(pol, &stranger);
	assert_int_equal(has("good:", "198.51.100.1"), 0);
	assert_int_equal(has("good:", "198.51.100.2"), 1);
	/* verdict_cache_ttl = 0: no record is kept, and a hit bans */
	conf.limits.verdict_cache_ttl = 0;
	struct policy_client s2 = client("198.51.100.3", 0);
	policy_remember_good(pol, &s2);
	assert_int_equal(has("good:", "198.51.100.3"), 0);
	run(HOOK_RCPT, &s2, TRAP);
	assert_int_equal(has("trapban:", "198.51.100.3"), 1);
	conf.limits.verdict_cache_ttl = 3600;
}

static void
test_export_after_one_hit_when_configured(void **state)
{
	struct policy_client cl = client("198.51.100.9", 0);

	(void)state;
	conf.limits.trap_export_hits = 1;
	run(HOOK_RCPT, &cl, TRAP);
	conf.limits.trap_export_hits = 2;
	assert_int_equal(has("ban:", "198.51.100.9"), 1);
	assert_int_equal(has("trapban:", "198.51.100.9"), 0);
}

static void
test_not_a_trap_is_no_hit(void **state)
{
	struct policy_client cl = client("198.51.100.20", 0);
	struct verdict v;

	(void)state;
	v = run(HOOK_RCPT, &cl, "nobody@example.test");
	/* an unknown user, refused as one: no trap's doing */
	assert_int_equal(v.kind, VERDICT_PERMFAIL);
	assert_string_equal(v.rule, "unknown-user");
	assert_int_equal(has("trapban:", "198.51.100.20"), 0);
	assert_int_equal(count("trap:s|198.51.100.20|hits"), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_trap_hits),
	    cmocka_unit_test(test_good_record_only_for_strangers),
	    cmocka_unit_test(test_export_after_one_hit_when_configured),
	    cmocka_unit_test(test_not_a_trap_is_no_hit),
	};
	log_init("test_trap", 1, 0);
	return cmocka_run_group_tests(tests, setup, teardown);
}
