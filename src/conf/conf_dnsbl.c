/* SPDX-License-Identifier: ISC */
/*
 * conf_dnsbl.c - parse DNSBL zone specifications (see conf_dnsbl.h).
 * SECURITY: parses the administrator's configuration; bounded, no
 * allocation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mailaddr.h"
#include "conf/conf_dnsbl.h"

static void
set_bit(uint8_t map[32], int v)
{
	map[v / 8] |= (uint8_t)(1u << (v % 8));
}

static int
num(const char **pp, int *out)
{
	const char *p = *pp;
	int v = 0, n = 0;

	while (*p >= '0' && *p <= '9' && n < 4) {
		v = v * 10 + (*p++ - '0');
		n++;
	}
	if (n == 0 || v > 255)
		return -1;
	*pp = p;
	*out = v;
	return 0;
}

/* octet - "n", "[a..b]", "[a;b;c]" (or ','), and mixes of ranges in a list */
static int
octet(const char **pp, uint8_t map[32])
{
	const char *p = *pp;
	int a, b;

	if (*p != '[') {
		if (num(&p, &a) == -1)
			return -1;
		set_bit(map, a);
		*pp = p;
		return 0;
	}
	p++;
	for (;;) {
		if (num(&p, &a) == -1)
			return -1;
		b = a;
		if (p[0] == '.' && p[1] == '.') {
			p += 2;
			if (num(&p, &b) == -1 || b < a)
				return -1;
		}
		for (int v = a; v <= b; v++)
			set_bit(map, v);
		if (*p == ';' || *p == ',') {
			p++;
			continue;
		}
		if (*p == ']') {
			*pp = p + 1;
			return 0;
		}
		return -1;
	}
}

int
conf_dnsbl_parse(const char *spec, struct dnsbl_zone *z, char *err, size_t errsz)
{
	const char *eq = strchr(spec, '='), *star = strrchr(spec, '*');
	const char *end = eq ? eq : star ? star : spec + strlen(spec);
	size_t zlen = (size_t)(end - spec);

	memset(z, 0, sizeof(*z));
	z->weight = 1;
	if (zlen == 0 || zlen > DNSBL_ZONE_MAX || !domain_valid(spec, zlen)) {
		snprintf(err, errsz, "\"%s\": not a zone name", spec);
		return -1;
	}
	memcpy(z->zone, spec, zlen);
	z->zone[zlen] = '\0';
	/* The weight follows the zone or the filter: "*" may end the zone. */
	if (star != NULL && star >= end) {
		char *e;
		long w = strtol(star + 1, &e, 10);
		if (e == star + 1 || *e != '\0' || w < -1000 || w > 1000 || w == 0) {
			snprintf(err, errsz, "\"%s\": weight must be -1000..1000, not 0",
			         spec);
			return -1;
		}
		z->weight = (int)w;
	}
	if (eq != NULL) {
		const char *p = eq + 1,
		           *fend = star && star > eq ? star : eq + 1 + strlen(eq + 1);
		for (int i = 0; i < 4; i++) {
			if (octet(&p, z->allow[i]) == -1 || (i < 3 && *p++ != '.')) {
				snprintf(err, errsz,
				         "\"%s\": bad filter (like 127.0.0.[2..11])",
				         spec);
				return -1;
			}
		}
		if (p != fend) {
			snprintf(err, errsz, "\"%s\": bad filter (like 127.0.0.[2..11])",
			         spec);
			return -1;
		}
		z->has_filter = 1;
	}
	return 0;
}
