/* SPDX-License-Identifier: ISC */
/*
 * traps.h - moatctl's offline trap commands (trap decode, bait page).
 */
#ifndef MOAT_CTL_TRAPS_H
#define MOAT_CTL_TRAPS_H

struct moat_conf;

int trap_decode_cmd(const struct moat_conf *conf, const char *address);
int bait_page_cmd(const struct moat_conf *conf, const char *ip);

#endif
