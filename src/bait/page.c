/* SPDX-License-Identifier: ISC */
/*
 * page.c - bait page HTML.
 *
 * Each address on a page is minted for the fetching client one second
 * earlier than the last, so every address differs while all of them name
 * that client and, within seconds, the time of the visit.
 * Links lead to more bait pages under random names: a crawler that follows
 * them collects more traps and gains nothing else.
 * SECURITY: no input but the client address; the output is our own text
 * (trap addresses are base32 and a fixed name list: nothing to escape).
 */
#include <stdio.h>
#include <stdlib.h>

#include <event2/buffer.h>
#include <openssl/rand.h>

#include "bait/page.h"
#include "bait/trapaddr.h"

const char bait_robots_txt[] = "User-agent: *\nDisallow: /\n";

static const char *const roles[] = {
    "Sales",           "Support",     "Accounts",    "Press office", "Human resources",
    "Purchasing",      "Engineering", "Legal",       "Logistics",    "Reception",
    "Partner program", "Events",      "Procurement", "Research",     "Customer care",
};

char *
bait_page(const struct trap_secret *s, const struct netaddr *client, time_t now,
          const char *domain, int naddrs)
{
	struct evbuffer *b = evbuffer_new();
	unsigned char rnd[16];
	char local[80], *out;
	size_t len;

	if (b == NULL)
		return NULL;
	RAND_bytes(rnd, sizeof(rnd));
	evbuffer_add_printf(
	    b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
	       "<meta charset=\"utf-8\">\n"
	       "<meta name=\"robots\" content=\"noindex, nofollow\">\n"
	       "<title>Contact our team</title>\n</head>\n<body>\n"
	       "<h1>Contact our team</h1>\n"
	       "<p>Write to the people below; we answer within a day.</p>\n<ul>\n");
	for (int i = 0; i < naddrs; i++) {
		if (trap_mint(s, client, now - i, local, sizeof(local)) < 0)
			continue;
		const char *role = roles[(rnd[i % sizeof(rnd)] + i) %
		                         (sizeof(roles) / sizeof(roles[0]))];
		evbuffer_add_printf(b,
		                    "<li>%s: <a href=\"mailto:%s@%s\">%s@%s</a></li>\n",
		                    role, local, domain, local, domain);
	}
	evbuffer_add_printf(b, "</ul>\n<p>More people:");
	for (int i = 0; i < 3; i++)
		evbuffer_add_printf(
		    b, " <a href=\"/people/%02x%02x%02x%02x.html\">page %d</a>",
		    rnd[4 * i], rnd[4 * i + 1], rnd[4 * i + 2], rnd[4 * i + 3], i + 2);
	evbuffer_add_printf(b, "</p>\n</body>\n</html>\n");
	len = evbuffer_get_length(b);
	out = malloc(len + 1);
	if (out != NULL) {
		evbuffer_remove(b, out, len);
		out[len] = '\0';
	}
	evbuffer_free(b);
	return out;
}
