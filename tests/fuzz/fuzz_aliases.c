/* SPDX-License-Identifier: ISC */
/*
 * fuzz_aliases.c - libFuzzer target for the aliases file reader and the
 * expansion of recipients (src/conf/aliases.c).
 *
 * Input: byte 0 picks how the text is read (the global file, or a domain's
 * own), the rest is the file. Two local domains with a few users and one
 * whose users a recipient lookup knows stand around it. Checked: loading and finishing
 * return, and afterwards every alias expands (as a recipient and as a lookup's target)
 * within ALIAS_EXPAND_MAX to addresses with an '@', local ones at users (or postmaster),
 * and every lookup answers. Seeds: corpus/aliases/.
 */
#include "conf/aliases.h"
#include "conf/conf.h"
#include "fuzz.h"

static char *users_a[] = {"alice", "bob", "postmaster"};
static char *users_b[] = {"carol"};
static struct rcpt_lookup_conf lookup; /* lk.test's users are a lookup's */

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct domain_conf doms[3] = {
	    {.name = "example.test", .users = users_a, .nusers = 3},
	    {.name = "other.test", .users = users_b, .nusers = 1},
	    {.name = "lk.test", .lookup = &lookup},
	};
	struct moat_conf c;
	FILE *err = fopen("/dev/null", "w");

	if (size < 1 || err == NULL) {
		if (err != NULL)
			fclose(err);
		return 0;
	}
	memset(&c, 0, sizeof(c));
	c.path = "fuzz.conf";
	c.domains = doms;
	c.ndomains = 3;
	strlcpy(c.recipient_delimiter, (data[0] & 2) ? "+" : "",
	        sizeof(c.recipient_delimiter));
	(void)aliases_load_buf(&c.aliases, &c, (const char *)data + 1, size - 1, "fuzz",
	                       (data[0] & 1) ? "other.test" : NULL, err);
	(void)aliases_finish(&c.aliases, &c, err);
	for (size_t i = 0; i < c.aliases.n; i++) {
		const char *key = c.aliases.a[i].key;
		char **out = NULL, addr[600];
		size_t n;

		REQUIRE(aliases_find(&c.aliases, key) == &c.aliases.a[i]);
		if (key[0] == '@')
			snprintf(addr, sizeof(addr), "nobody-else%s", key);
		else
			snprintf(addr, sizeof(addr), "%s", key);
		for (int target = 0; target < 2; target++) {
			n = target ? conf_target_expand(&c, addr, &out)
			           : conf_rcpt_expand(&c, addr, &out);
			REQUIRE(n <= ALIAS_EXPAND_MAX);
			for (size_t j = 0; j < n; j++) {
				REQUIRE(strchr(out[j], '@') != NULL);
				free(out[j]);
			}
			free(out);
		}
	}
	(void)conf_rcpt_known(&c, &doms[0], "alice+x");
	aliases_free(&c.aliases);
	fclose(err);
	return 0;
}
