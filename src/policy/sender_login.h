/* SPDX-License-Identifier: ISC */
/*
 * sender_login.h - which MAIL FROM addresses an authenticated user owns
 * (RFC 2505 §2.10: no relaying under someone else's name).
 *
 * The map file has one login per line followed by what it may use:
 *     alice   alice@example.test  sales@example.test  @lists.example.test
 * A login not in the map (or no map) owns LOGIN@<each local domain>, or
 * exactly LOGIN when the login is itself an address.
 */
#ifndef MOAT_SENDER_LOGIN_H
#define MOAT_SENDER_LOGIN_H

struct moat_conf;
struct sender_map;

struct sender_map *sender_map_load(const char *path);
void sender_map_free(struct sender_map *m);
/* sender_owned - 1 if login may use sender ("" is the null sender) */
int sender_owned(const struct moat_conf *conf, const struct sender_map *m,
                 const char *login, const char *sender);

#endif
