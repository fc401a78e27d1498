/* SPDX-License-Identifier: ISC */
/*
 * conf_dnsbl.h - DNSBL/DNSWL zone specifications, postscreen's syntax:
 *
 *     zone[=filter][*weight]
 *     zen.example=127.0.0.[2..11]*3
 *     list.dnswl.example=127.0.[0..255].[1;2;3]*-2
 *
 * The filter says which A answers count (each octet a number, [a..b], or
 * [a;b;c]); without one, any answer in 127.0.0.0/8 counts. The weight
 * (default 1) is added to the score once per zone; below 0 it allowlists.
 * conf_dnsbl_parse() reads one; policy/dnsbl_spec.c matches answers to it.
 */
#ifndef MOAT_CONF_DNSBL_H
#define MOAT_CONF_DNSBL_H

#include <stddef.h>
#include <stdint.h>

#define DNSBL_ZONE_MAX 200

struct dnsbl_zone {
	char zone[DNSBL_ZONE_MAX + 1];
	int weight;
	int has_filter;
	uint8_t allow[4][32]; /* per octet: a bitmap of allowed values */
};

/* conf_dnsbl_parse - spec into *z; -1 with the reason in err */
int conf_dnsbl_parse(const char *spec, struct dnsbl_zone *z, char *err, size_t errsz);

#endif
