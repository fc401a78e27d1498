/* SPDX-License-Identifier: ISC */
/*
 * authdb.h - password verification for SMTP AUTH, asynchronous.
 *
 * Two backends behind one call: a crypt(3) password file ("user:hash"
 * lines; yescrypt, sha512-crypt, bcrypt — whatever libcrypt verifies),
 * checked on a helper thread because a good hash is deliberately slow; or
 * Dovecot's authentication socket (the protocol Postfix speaks), so a site
 * with Dovecot needs no second password file. The callback always runs on
 * the event loop, never inside authdb_verify().
 */
#ifndef MOAT_AUTHDB_H
#define MOAT_AUTHDB_H

#include <stddef.h>

struct event_base;
struct moat_conf;
struct authdb;
struct auth_req;

enum auth_result { AUTH_OK = 0, AUTH_FAIL, AUTH_TEMPFAIL };

typedef void (*authdb_cb)(void *arg, enum auth_result r);

struct auth_info {
	const char *client_ip;
	const char *local_ip;
	int secured; /* the password came over TLS */
};

struct authdb *authdb_new(struct event_base *base, const struct moat_conf *conf);
void authdb_free(struct authdb *db);

/* authdb_verify - check user/pass; NULL (no callback) when too many checks
 * wait already: the caller answers 454 */
struct auth_req *authdb_verify(struct authdb *db, const char *user, const char *pass,
                               const struct auth_info *info, authdb_cb cb, void *arg);
/* authdb_cancel - the caller is gone; the callback will not run */
void authdb_cancel(struct auth_req *req);

/* backend entry points (authdb.c dispatches) */
struct authdb_backend {
	void *(*open)(struct event_base *base, const struct moat_conf *conf);
	void (*close)(void *ctx);
	void (*verify)(void *ctx, struct auth_req *req, const char *user,
	               const char *pass, const struct auth_info *info);
};
extern const struct authdb_backend authdb_passwd;
extern const struct authdb_backend authdb_dovecot;

/* authdb_done - a backend reports a result (on the event loop) */
void authdb_done(struct auth_req *req, enum auth_result r);

/* passwd_hash - a new crypt(3) hash (yescrypt) of pass; NULL on failure */
char *passwd_hash(const char *pass);
/* passwd_file_set - add or replace user's line in a password file, atomically */
int passwd_file_set(const char *path, const char *user, const char *hash);

#endif
