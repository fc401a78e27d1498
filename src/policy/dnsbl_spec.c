/* SPDX-License-Identifier: ISC */
/*
 * dnsbl_spec.c - apply DNSBL zone specifications (conf/conf_dnsbl.c parses
 * them) to DNS answers.
 * SECURITY: DNS answers are matched as four octets, each an index into a
 * 256-bit map.
 */
#include "policy/dnsbl_spec.h"

int
dnsbl_spec_match(const struct dnsbl_zone *z, const uint8_t ip[4])
{
	if (!z->has_filter)
		return ip[0] == 127; /* RFC 5782 §2.1: answers live in 127/8 */
	for (int i = 0; i < 4; i++)
		if (!(z->allow[i][ip[i] / 8] & (1u << (ip[i] % 8))))
			return 0;
	return 1;
}
