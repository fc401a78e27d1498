/* SPDX-License-Identifier: ISC */
/*
 * dnsbl_spec.h - DNSBL/DNSWL zone specifications applied to DNS answers.
 * The syntax, struct dnsbl_zone and its parser are conf/conf_dnsbl.h's.
 */
#ifndef MOAT_DNSBL_SPEC_H
#define MOAT_DNSBL_SPEC_H

#include <stdint.h>

#include "conf/conf_dnsbl.h"

/* dnsbl_spec_match - does the answer a.b.c.d count for this zone? */
int dnsbl_spec_match(const struct dnsbl_zone *z, const uint8_t ip[4]);

#endif
