/* SPDX-License-Identifier: ISC */
/*
 * authdb.c - dispatch to the configured credential backend; request
 * lifetime and cancellation.
 * SECURITY: handles plaintext passwords; they are copied only into the
 * backend's request and wiped when done. Never logged.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "auth/authdb.h"
#include "common/xmalloc.h"
#include "conf/conf.h"

/* Checks waiting for the backend, at most: a flood of logins must not
 * queue without end behind a deliberately slow hash (authdb_verify()). */
#define AUTHDB_INFLIGHT_MAX 64

struct authdb {
	struct event_base *base;
	const struct authdb_backend *be;
	void *ctx;
	int inflight;
};

struct auth_req {
	struct authdb *db;
	authdb_cb cb;
	void *arg;
	int cancelled;
	int in_verify; /* the backend has not returned yet */
	struct event_base *base;
	struct event *ev;       /* a result given too early, delivered from the loop */
	enum auth_result early; /* that result */
};

struct authdb *
authdb_new(struct event_base *base, const struct moat_conf *conf)
{
	struct authdb *db;

	if (conf->auth_password_file == NULL && conf->auth_dovecot_socket == NULL)
		return NULL;
	db = xcalloc(1, sizeof(*db));
	db->base = base;
	db->be = conf->auth_dovecot_socket ? &authdb_dovecot : &authdb_passwd;
	db->ctx = db->be->open(base, conf);
	return db;
}

void
authdb_free(struct authdb *db)
{
	if (db == NULL)
		return;
	db->be->close(db->ctx);
	free(db);
}

struct auth_req *
authdb_verify(struct authdb *db, const char *user, const char *pass,
              const struct auth_info *info, authdb_cb cb, void *arg)
{
	struct auth_req *req;

	if (db->inflight >= AUTHDB_INFLIGHT_MAX)
		return NULL;
	req = xcalloc(1, sizeof(*req));
	req->db = db;
	db->inflight++;
	req->cb = cb;
	req->arg = arg;
	req->base = db->base;
	req->in_verify = 1;
	db->be->verify(db->ctx, req, user, pass, info);
	req->in_verify = 0;
	return req;
}

void
authdb_cancel(struct auth_req *req)
{
	req->cancelled = 1;
}

/* early_cb - a result the backend gave inside authdb_verify(), now */
static void
early_cb(evutil_socket_t fd, short what, void *arg)
{
	struct auth_req *req = arg;

	event_free(req->ev);
	req->ev = NULL;
	authdb_done(req, req->early);
}

void
authdb_done(struct auth_req *req, enum auth_result r)
{
	/* The caller of authdb_verify() has not even stored the request yet:
	 * a callback now could free what it writes next. Later, from the loop. */
	if (req->in_verify) {
		struct timeval now = {0, 0};
		req->in_verify = 0;
		req->early = r;
		req->ev = evtimer_new(req->base, early_cb, req);
		evtimer_add(req->ev, &now);
		return;
	}
	req->db->inflight--;
	if (!req->cancelled)
		req->cb(req->arg, r);
	free(req);
}
