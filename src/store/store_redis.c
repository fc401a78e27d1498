/* SPDX-License-Identifier: ISC */
/*
 * store_redis.c - the store on Redis (store = "redis"): several moatd hosts
 * share one state. hiredis's asynchronous API on the process's libevent
 * loop; no loop ever waits for Redis.
 *
 * Every key is the configured prefix and moat's key. put, get, del are
 * plain commands (a get is GET and PTTL in a row); incr, take, count, scan
 * and del_match are Lua scripts (store_redis_scripts.c), loaded when a
 * connection is made and called with EVALSHA, so each is one atomic step
 * on the server. Redis
 * answers a connection's commands in order, so answers follow the order of
 * requests, as the core requires.
 *
 * Trouble never stops mail: a request made while there is no connection,
 * or one not answered within timeout_ms, is answered STORE_ERROR at once
 * (policy lets the client through and raises its alarm); a connection that
 * let a command time out is dropped, and a new one is tried after a pause
 * that doubles from 100 ms up to 5 s while Redis stays away.
 *
 * SECURITY: Redis is our own service, but its replies are parsed as
 * untrusted: every element's type and length is checked before use. Keys
 * and values travel as binary-safe arguments, never inside a script.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/event.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <openssl/sha.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "store/store_backend.h"
#include "store/store_redis_int.h"

#define RETRY_MIN_MS 100
#define RETRY_MAX_MS 5000
#define KEY_ROOM     (STORE_KEY_MAX + 64 + 1) /* prefix + key */

struct slot;
TAILQ_HEAD(slots, slot);
struct redis_ev;

struct redis_be {
	struct store *st;
	struct event_base *base;
	struct store_config conf;
	redisAsyncContext *ac;
	int up;                   /* the set-up commands answered */
	struct event *retry_ev;   /* the next connection attempt */
	struct event *timeout_ev; /* the oldest command's deadline */
	unsigned retry_ms;
	char sha[RS_N][SHA_DIGEST_LENGTH * 2 + 1];
	struct slots pending; /* commands sent, oldest first */
	int64_t latency_us;   /* of the answers, smoothed (1/8 of each new one) */
	uint64_t errors;      /* requests answered STORE_ERROR for our trouble */
	time_t down_logged;
	int closing;
	struct redis_ev *ev; /* the connection's events (our adapter) */
	int batching;        /* in redis_run(): commands are written at its end */
};

/* One command in flight: its request, until answered (NULL after a
 * timeout answered it; the reply that comes later is dropped). */
struct slot {
	struct redis_be *r;
	struct store_req *req;
	int64_t deadline_ms;
	int64_t sent_us;
	/* get: GET's answer, kept until PTTL's comes */
	char *val;
	size_t vlen;
	enum { GOT_NOTHING, GOT_VALUE, GOT_NIL, GOT_BAD } got;
	TAILQ_ENTRY(slot) entry;
};

static void redis_connect(struct redis_be *r);

/*
 * The connection on the loop: our own adapter for hiredis instead of its
 * libevent one, which adds and deletes a one-shot event for every read
 * and every batch written (an epoll_ctl() each time, several a message on
 * the mail path). Here the read event stays; the commands a run of the
 * store queue makes are written at its end, at once, and a write event
 * is only asked for when the socket would block (or while connecting).
 */
struct redis_ev {
	struct redis_be *r;
	redisAsyncContext *ac;
	struct event *rev, *wev;
	int want_write; /* hiredis asked to write while a run was batching */
};

static void
ev_read(evutil_socket_t fd, short what, void *arg)
{
	struct redis_ev *e = arg;

	redisAsyncHandleRead(e->ac);
}

static void
ev_write(evutil_socket_t fd, short what, void *arg)
{
	struct redis_ev *e = arg;

	redisAsyncHandleWrite(e->ac);
}

static void
ev_add_read(void *data)
{
	struct redis_ev *e = data;

	if (!event_pending(e->rev, EV_READ, NULL))
		event_add(e->rev, NULL);
}

static void
ev_del_read(void *data)
{
	struct redis_ev *e = data;

	event_del(e->rev);
}

static void
ev_add_write(void *data)
{
	struct redis_ev *e = data;

	if (e->r->batching)
		e->want_write = 1;
	else if (!event_pending(e->wev, EV_WRITE, NULL))
		event_add(e->wev, NULL);
}

static void
ev_del_write(void *data)
{
	struct redis_ev *e = data;

	e->want_write = 0;
	event_del(e->wev);
}

static void
ev_cleanup(void *data)
{
	struct redis_ev *e = data;

	if (e->r->ev == e)
		e->r->ev = NULL;
	event_free(e->rev);
	event_free(e->wev);
	free(e);
}

static void
ev_attach(struct redis_be *r, redisAsyncContext *ac)
{
	struct redis_ev *e = xcalloc(1, sizeof(*e));

	e->r = r;
	e->ac = ac;
	e->rev = event_new(r->base, ac->c.fd, EV_READ | EV_PERSIST, ev_read, e);
	e->wev = event_new(r->base, ac->c.fd, EV_WRITE, ev_write, e);
	ac->ev.addRead = ev_add_read;
	ac->ev.delRead = ev_del_read;
	ac->ev.addWrite = ev_add_write;
	ac->ev.delWrite = ev_del_write;
	ac->ev.cleanup = ev_cleanup;
	ac->ev.data = e;
	r->ev = e;
	event_add(e->rev, NULL);
	event_add(e->wev, NULL); /* the connection's completion */
}

/* ev_flush - the end of a run: write what it queued, now */
static void
ev_flush(struct redis_be *r)
{
	struct redis_ev *e = r->ev;

	if (r->ac == NULL || e == NULL || !e->want_write)
		return;
	e->want_write = 0;
	if (!r->up) {
		/* still connecting: hiredis writes once the connection is made */
		if (!event_pending(e->wev, EV_WRITE, NULL))
			event_add(e->wev, NULL);
		return;
	}
	/* may fail and drop the connection: nothing of r->ac after this */
	redisAsyncHandleWrite(r->ac);
}

static int64_t
mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t
mono_ms(void)
{
	return mono_us() / 1000;
}

/* prefixed - the Redis key of moat's key (len octets) */
static size_t
prefixed(const struct redis_be *r, char *out, const char *key, size_t len)
{
	size_t p = strlen(r->conf.redis_prefix);

	memcpy(out, r->conf.redis_prefix, p);
	memcpy(out + p, key, len);
	out[p + len] = '\0';
	return p + len;
}

/* glob - a SCAN pattern for the keys that start with prefix+key: Redis's
 * glob characters in either are escaped */
static size_t
glob(const struct redis_be *r, char *out, size_t outsz, const char *key, size_t len)
{
	char raw[KEY_ROOM];
	size_t n = prefixed(r, raw, key, len), o = 0;

	for (size_t i = 0; i < n && o + 3 < outsz; i++) {
		if (strchr("*?[]\\^", raw[i]) != NULL)
			out[o++] = '\\';
		out[o++] = raw[i];
	}
	out[o++] = '*';
	out[o] = '\0';
	return o;
}

static void
down_alarm(struct redis_be *r, const char *why)
{
	time_t now = time(NULL);

	if (now - r->down_logged < 60)
		return;
	r->down_logged = now;
	log_warnx("store: redis %s: %s; the checks that need the store let clients "
	          "through until it is back",
	          r->conf.redis_address, why);
}

/* ---- replies ---- */

static int
reply_int(const redisReply *x, int64_t *v)
{
	if (x == NULL || x->type != REDIS_REPLY_INTEGER)
		return -1;
	*v = x->integer;
	return 0;
}

/* answer - one reply for its request, by the request's op */
static void
answer(struct redis_be *r, struct store_req *req, const redisReply *x,
       const struct slot *s)
{
	int64_t v, now = store_now(r->st);

	if (x != NULL && x->type == REDIS_REPLY_ERROR) {
		char vis[LOG_ESCAPE_BUFSZ];
		log_warnx("store: redis: %s",
		          log_escape(vis, sizeof(vis), x->str, x->len));
		x = NULL;
	}
	if (x == NULL && req->op != STORE_OP_PURGE)
		r->errors++;
	switch (req->op) {
	case STORE_OP_GET:
		/* x is PTTL's answer; GET's is in the slot (send_req) */
		if (s != NULL && s->got == GOT_NIL && x != NULL)
			store_reply_status(req, STORE_NOT_FOUND);
		else if (s != NULL && s->got == GOT_VALUE && reply_int(x, &v) == 0) {
			if (v == -2) /* gone between the two: expired */
				store_reply_status(req, STORE_NOT_FOUND);
			else
				store_reply_get(req, STORE_OK, s->val, s->vlen,
				                v >= 0 ? now + v : 0);
		} else {
			if (x != NULL)
				r->errors++;
			store_reply_status(req, STORE_ERROR);
		}
		break;
	case STORE_OP_PUT:
		store_reply_status(req, x != NULL && x->type == REDIS_REPLY_STATUS
		                            ? STORE_OK
		                            : STORE_ERROR);
		break;
	case STORE_OP_DEL:
		if (reply_int(x, &v) == -1)
			store_reply_status(req, STORE_ERROR);
		else
			store_reply_status(req, v > 0 ? STORE_OK : STORE_NOT_FOUND);
		break;
	case STORE_OP_INCR:
	case STORE_OP_COUNT:
	case STORE_OP_DEL_MATCH:
		if (reply_int(x, &v) == -1)
			store_reply_int(req, STORE_ERROR, 0);
		else
			store_reply_int(req, STORE_OK, v);
		break;
	case STORE_OP_TAKE: {
		struct store_take_result res = {0, 0, 0};
		int64_t a, rem, w;
		if (x != NULL && x->type == REDIS_REPLY_ARRAY && x->elements == 3 &&
		    reply_int(x->element[0], &a) == 0 &&
		    reply_int(x->element[1], &rem) == 0 &&
		    reply_int(x->element[2], &w) == 0 && rem >= 0 && rem <= UINT32_MAX &&
		    w >= 0 && w <= UINT32_MAX) {
			res.allowed = a == 1;
			res.remaining = (uint32_t)rem;
			res.wait_ms = (uint32_t)w;
			store_reply_take(req, STORE_OK, &res);
		} else
			store_reply_take(req, STORE_ERROR, &res);
		break;
	}
	case STORE_OP_SCAN: {
		size_t plen = strlen(r->conf.redis_prefix);
		if (x == NULL || x->type != REDIS_REPLY_ARRAY || x->elements % 3 != 0) {
			store_reply_status(req, STORE_ERROR);
			break;
		}
		for (size_t i = 0; i + 2 < x->elements; i += 3) {
			const redisReply *k = x->element[i], *val = x->element[i + 1];
			char key[KEY_ROOM];
			int64_t ttl;
			if (k->type != REDIS_REPLY_STRING ||
			    val->type != REDIS_REPLY_STRING ||
			    reply_int(x->element[i + 2], &ttl) == -1 || k->len < plen ||
			    k->len - plen > STORE_KEY_MAX ||
			    memchr(k->str + plen, '\0', k->len - plen) != NULL)
				continue;
			memcpy(key, k->str + plen, k->len - plen);
			key[k->len - plen] = '\0';
			/* a summed counter's hash matched by its own name: its
			 * shares may lie outside the prefix asked for */
			if (strncmp(key, req->key, req->keylen) != 0)
				continue;
			if (req->each(key, val->str, val->len,
			              store_expires_time(ttl >= 0 ? now + ttl : 0),
			              req->arg) != 0)
				break;
		}
		store_reply_status(req, STORE_OK);
		break;
	}
	case STORE_OP_PURGE:
		store_reply_int(req, STORE_OK, 0);
		break;
	}
}

static void
arm_timeout(struct redis_be *r)
{
	struct slot *s = TAILQ_FIRST(&r->pending);
	int64_t left;
	struct timeval tv;

	if (s == NULL) {
		evtimer_del(r->timeout_ev);
		return;
	}
	left = s->deadline_ms - mono_ms();
	if (left < 0)
		left = 0;
	tv.tv_sec = left / 1000;
	tv.tv_usec = (left % 1000) * 1000;
	evtimer_add(r->timeout_ev, &tv);
}

/* replied - hiredis's callback for a command: NULL when the connection went */
static void
replied(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct slot *s = privdata;
	struct redis_be *r = s->r;

	TAILQ_REMOVE(&r->pending, s, entry);
	if (s->req != NULL) {
		struct store_req *req = s->req;
		if (reply != NULL) {
			int64_t us = mono_us() - s->sent_us;
			r->latency_us = r->latency_us == 0
			                    ? us
			                    : r->latency_us + (us - r->latency_us) / 8;
		}
		answer(r, req, reply, s);
		store_req_free(req);
	}
	free(s->val);
	free(s);
	if (!r->closing)
		arm_timeout(r);
}

/* take_value - a GET's answer (or one of an MGET's) into its slot */
static void
take_value(struct slot *s, const redisReply *x)
{
	if (x->type == REDIS_REPLY_NIL)
		s->got = GOT_NIL;
	else if (x->type == REDIS_REPLY_STRING && x->len <= STORE_VALUE_MAX) {
		s->val = xmalloc(x->len ? x->len : 1);
		memcpy(s->val, x->str, x->len);
		s->vlen = x->len;
		s->got = GOT_VALUE;
	} else {
		if (x->type == REDIS_REPLY_ERROR) {
			char vis[LOG_ESCAPE_BUFSZ];
			log_warnx("store: redis: %s",
			          log_escape(vis, sizeof(vis), x->str, x->len));
		}
		s->got = GOT_BAD;
	}
}

/* got_value - GET's answer for a get; its slot answers with PTTL's */
static void
got_value(redisAsyncContext *ac, void *reply, void *privdata)
{
	if (reply == NULL)
		return; /* the connection went: replied() hears it too */
	take_value(privdata, reply);
}

/*
 * A run of gets queued together (the connect stage reads seven records of
 * a client) goes out as one MGET and a PTTL each: eight commands for the
 * server to parse instead of fourteen. The slots stay until their PTTL's
 * answers, which come after MGET's.
 */
#define MGET_MAX 64
struct mget {
	size_t n;
	struct slot *s[MGET_MAX];
};

static void
got_values(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct mget *g = privdata;
	const redisReply *x = reply;

	if (x != NULL) {
		int ok = x->type == REDIS_REPLY_ARRAY && x->elements == g->n;
		for (size_t i = 0; i < g->n; i++) {
			if (ok)
				take_value(g->s[i], x->element[i]);
			else if (i == 0)
				take_value(g->s[i], x); /* an error is logged once */
			else
				g->s[i]->got = GOT_BAD;
		}
	}
	free(g);
}

/* ---- the connection ---- */

/* drop - the connection is gone or hopeless: fail what waits, try again */
static void
drop(struct redis_be *r, const char *why)
{
	redisAsyncContext *ac = r->ac;
	struct slot *s;

	down_alarm(r, why);
	r->up = 0;
	r->ac = NULL;
	/* answered now, in order; their replies, if any come, are dropped */
	TAILQ_FOREACH(s, &r->pending, entry)
	if (s->req != NULL) {
		struct store_req *req = s->req;
		s->req = NULL;
		answer(r, req, NULL, NULL);
		store_req_free(req);
	}
	if (ac != NULL)
		redisAsyncFree(ac); /* calls replied() with NULL for each slot */
	evtimer_del(r->timeout_ev);
	if (!r->closing && !evtimer_pending(r->retry_ev, NULL)) {
		struct timeval tv = {r->retry_ms / 1000, (r->retry_ms % 1000) * 1000};
		evtimer_add(r->retry_ev, &tv);
		r->retry_ms =
		    r->retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : r->retry_ms * 2;
	}
}

static void
timed_out(evutil_socket_t fd, short what, void *arg)
{
	struct redis_be *r = arg;
	struct slot *s = TAILQ_FIRST(&r->pending);

	if (s == NULL)
		return;
	if (s->deadline_ms > mono_ms()) {
		arm_timeout(r);
		return;
	}
	drop(r, "no answer within timeout_ms");
}

static void
retry_cb(evutil_socket_t fd, short what, void *arg)
{
	redis_connect(arg);
}

static void
connected(const redisAsyncContext *ac, int status)
{
	struct redis_be *r = ac->data;

	if (r == NULL || r->ac != ac)
		return;
	if (status != REDIS_OK) {
		/* hiredis frees the context after this callback */
		r->ac = NULL;
		drop(r, ac->errstr[0] ? ac->errstr : "cannot connect");
		return;
	}
}

static void
disconnected(const redisAsyncContext *ac, int status)
{
	struct redis_be *r = ac->data;

	if (r == NULL || r->ac != ac)
		return;
	/* hiredis frees the context after this callback */
	r->ac = NULL;
	drop(r, ac->errstr[0] ? ac->errstr : "connection closed");
}

/* setup_done - the last of AUTH, SELECT and SCRIPT LOAD answered */
static void
setup_done(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct redis_be *r = privdata;
	const redisReply *x = reply;

	if (x == NULL || r->ac != ac)
		return;
	if (x->type == REDIS_REPLY_ERROR) {
		char vis[LOG_ESCAPE_BUFSZ];
		log_warnx("store: redis %s: %s", r->conf.redis_address,
		          log_escape(vis, sizeof(vis), x->str, x->len));
		drop(r, "setting up the connection failed");
		return;
	}
	if (!r->up) {
		log_info("store: redis %s connected", r->conf.redis_address);
		r->down_logged = 0;
	}
	r->up = 1;
	r->retry_ms = RETRY_MIN_MS;
}

/* setup_step - AUTH/SELECT/SCRIPT LOAD before the last: only errors matter */
static void
setup_step(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct redis_be *r = privdata;
	const redisReply *x = reply;

	if (x != NULL && x->type == REDIS_REPLY_ERROR && r->ac == ac) {
		char vis[LOG_ESCAPE_BUFSZ];
		log_warnx("store: redis %s: %s", r->conf.redis_address,
		          log_escape(vis, sizeof(vis), x->str, x->len));
	}
}

static void
redis_connect(struct redis_be *r)
{
	const char *a = r->conf.redis_address;
	redisAsyncContext *ac;

	if (r->ac != NULL || r->closing)
		return;
	if (a[0] == '/')
		ac = redisAsyncConnectUnix(a);
	else {
		char host[256];
		const char *colon = strrchr(a, ':');
		size_t hl = colon ? (size_t)(colon - a) : 0;
		const char *bad = NULL;
		int port = colon ? (int)strtonum(colon + 1, 1, 65535, &bad) : 0;
		if (hl > 1 && a[0] == '[' && a[hl - 1] == ']') {
			a++;
			hl -= 2;
		}
		if (colon == NULL || hl == 0 || hl >= sizeof(host) || port <= 0 ||
		    port > 65535) {
			down_alarm(r, "bad address");
			return;
		}
		memcpy(host, a, hl);
		host[hl] = '\0';
		ac = redisAsyncConnect(host, port);
	}
	if (ac == NULL) {
		drop(r, "out of memory");
		return;
	}
	if (ac->err) {
		char why[160];
		snprintf(why, sizeof(why), "%s", ac->errstr);
		redisAsyncFree(ac);
		drop(r, why);
		return;
	}
	ac->data = r;
	r->ac = ac;
	ev_attach(r, ac);
	redisAsyncSetConnectCallback(ac, connected);
	redisAsyncSetDisconnectCallback(ac, disconnected);
	/* commands wait in hiredis's buffer until the connection is made;
	 * Redis runs them in order, so the scripts are there before use */
	if (r->conf.redis_password[0] != '\0')
		redisAsyncCommand(ac, setup_step, r, "AUTH %s", r->conf.redis_password);
	if (r->conf.redis_db != 0)
		redisAsyncCommand(ac, setup_step, r, "SELECT %d", r->conf.redis_db);
	for (int i = 0; i < RS_N; i++)
		redisAsyncCommand(ac, i == RS_N - 1 ? setup_done : setup_step, r,
		                  "SCRIPT LOAD %s", redis_scripts[i]);
}

/* ---- requests ---- */

/* send_req - the command of one request; 0 sent, -1 not. grouped: a get
 * whose value an MGET asks for (send_mget); only its PTTL goes here */
static int
send_req(struct redis_be *r, struct slot *s, struct store_req *req, int grouped)
{
	char key[KEY_ROOM], pat[2 * KEY_ROOM + 2], hosts[KEY_ROOM], a1[STORE_INT_TEXT],
	    a2[STORE_INT_TEXT], a3[STORE_INT_TEXT], a4[STORE_INT_TEXT],
	    a5[STORE_INT_TEXT];
	const char *argv[12];
	size_t lens[12];
	int argc = 0;
	size_t klen;

#define ARG(p, n)   (argv[argc] = (p), lens[argc] = (n), argc++)
#define ARGS(p)     ARG((p), strlen(p))
#define NUM(buf, v) (store_int_format((buf), sizeof(buf), (v)), ARGS(buf))
#define SCRIPT(i, nkeys)                                                                 \
	do {                                                                             \
		ARGS("EVALSHA");                                                         \
		ARGS(r->sha[(i)]);                                                       \
		ARGS(nkeys);                                                             \
	} while (0)

	switch (req->op) {
	case STORE_OP_GET: {
		/* GET and PTTL, plain commands in a row: a script costs the
		 * server ten times as much, and the connect stage asks for
		 * seven records of every client (policy/ban.c) */
		const char *gv[2];
		size_t gl[2];
		klen = prefixed(r, key, req->key, req->keylen);
		gv[0] = "GET";
		gl[0] = 3;
		gv[1] = key;
		gl[1] = klen;
		if (!grouped &&
		    redisAsyncCommandArgv(r->ac, got_value, s, 2, gv, gl) != REDIS_OK)
			return -1;
		ARGS("PTTL");
		ARG(key, klen);
		break;
	}
	case STORE_OP_PUT:
		ARGS("SET");
		klen = prefixed(r, key, req->key, req->keylen);
		ARG(key, klen);
		ARG(req->val, req->len);
		if (req->ttl > 0) {
			ARGS("PX");
			NUM(a1, (int64_t)req->ttl * 1000);
		}
		break;
	case STORE_OP_DEL:
		ARGS("DEL");
		klen = prefixed(r, key, req->key, req->keylen);
		ARG(key, klen);
		break;
	case STORE_OP_INCR:
		SCRIPT(RS_INCR, "1");
		klen = prefixed(r, key, req->key, req->keylen);
		ARG(key, klen);
		NUM(a1, req->delta);
		NUM(a2, (int64_t)req->ttl * 1000);
		ARGS(req->flags & STORE_TTL_REFRESH ? "1" : "0");
		break;
	case STORE_OP_TAKE:
		SCRIPT(RS_TAKE, "1");
		klen = prefixed(r, key, req->key, req->keylen);
		ARG(key, klen);
		NUM(a1, store_now(r->st));
		NUM(a2, req->bucket.capacity);
		NUM(a3, req->bucket.refill_ms);
		NUM(a4, req->cost);
		break;
	case STORE_OP_COUNT:
		SCRIPT(RS_COUNT, "1");
		klen = prefixed(r, key, req->key, req->prefixlen);
		ARG(key, klen);
		ARG(req->key + req->prefixlen, req->keylen - req->prefixlen);
		NUM(a1, req->delta);
		NUM(a2, req->max);
		NUM(a3, (int64_t)req->ttl * 1000);
		NUM(a4, store_now(r->st));
		ARG(hosts, prefixed(r, hosts, "host:", 5));
		break;
	case STORE_OP_SCAN:
		SCRIPT(RS_SCAN, "0");
		ARG(pat, glob(r, pat, sizeof(pat), req->key, req->keylen));
		NUM(a1, store_now(r->st));
		ARG(hosts, prefixed(r, hosts, "host:", 5));
		break;
	case STORE_OP_DEL_MATCH:
		SCRIPT(RS_DEL_MATCH, "0");
		ARG(pat, glob(r, pat, sizeof(pat), req->key, req->keylen));
		ARG(req->val != NULL ? req->val : "", req->val != NULL ? req->len : 0);
		break;
	case STORE_OP_PURGE:
		return -1; /* answered by redis_run() */
	}
	(void)a5;
#undef ARG
#undef ARGS
#undef NUM
#undef SCRIPT
	return redisAsyncCommandArgv(r->ac, replied, s, argc, argv, lens) == REDIS_OK
	           ? 0
	           : -1;
}

/* new_slot - a command's slot, on the pending list under its deadline */
static struct slot *
new_slot(struct redis_be *r, struct store_req *req)
{
	struct slot *s = xcalloc(1, sizeof(*s));

	s->r = r;
	s->req = req;
	s->sent_us = mono_us();
	s->deadline_ms = s->sent_us / 1000 + r->conf.redis_timeout_ms;
	TAILQ_INSERT_TAIL(&r->pending, s, entry);
	if (TAILQ_FIRST(&r->pending) == s)
		arm_timeout(r);
	return s;
}

/* fail - a request that could not be sent: trouble, now */
static void
fail(struct redis_be *r, struct slot *s, struct store_req *req)
{
	if (s != NULL) {
		TAILQ_REMOVE(&r->pending, s, entry);
		free(s);
	}
	answer(r, req, NULL, NULL);
	store_req_free(req);
}

/* send_mget - the gets of list from req on (two at least): one MGET, then
 * their PTTLs; returns the request after the last one taken */
static struct store_req *
send_mget(struct redis_be *r, struct store_req *req)
{
	struct mget *g = xcalloc(1, sizeof(*g));
	struct store_req *reqs[MGET_MAX], *next = req;
	char keys[MGET_MAX][KEY_ROOM];
	const char *argv[MGET_MAX + 1];
	size_t lens[MGET_MAX + 1];

	argv[0] = "MGET";
	lens[0] = 4;
	while (next != NULL && next->op == STORE_OP_GET && g->n < MGET_MAX) {
		reqs[g->n] = next;
		lens[g->n + 1] = prefixed(r, keys[g->n], next->key, next->keylen);
		argv[g->n + 1] = keys[g->n];
		g->n++;
		next = next->next;
		reqs[g->n - 1]->next = NULL;
	}
	for (size_t i = 0; i < g->n; i++)
		g->s[i] = new_slot(r, reqs[i]);
	if (redisAsyncCommandArgv(r->ac, got_values, g, (int)g->n + 1, argv, lens) !=
	    REDIS_OK) {
		for (size_t i = 0; i < g->n; i++)
			fail(r, g->s[i], reqs[i]);
		free(g);
		return next;
	}
	for (size_t i = 0; i < g->n; i++)
		if (send_req(r, g->s[i], reqs[i], 1) == -1)
			fail(r, g->s[i], reqs[i]);
	return next;
}

static void
redis_run(void *be, struct store_req *list)
{
	struct redis_be *r = be;
	struct store_req *req, *next;

	r->batching = 1;
	for (req = list; req != NULL; req = next) {
		next = req->next;
		/* Redis expires keys itself; a summed counter's stale shares
		 * go when the counter is next touched */
		if (req->op == STORE_OP_PURGE) {
			req->next = NULL;
			answer(r, req, NULL, NULL);
			store_req_free(req);
			continue;
		}
		/* no connection: the answer is trouble, now (fail open); one
		 * being made takes commands (hiredis holds them until it is up,
		 * Redis runs them after the set-up), under the same deadline */
		if (r->ac == NULL) {
			if (!evtimer_pending(r->retry_ev, NULL))
				redis_connect(r);
			if (r->ac == NULL) {
				req->next = NULL;
				fail(r, NULL, req);
				continue;
			}
		}
		if (req->op == STORE_OP_GET && next != NULL && next->op == STORE_OP_GET) {
			next = send_mget(r, req);
			continue;
		}
		req->next = NULL;
		struct slot *s = new_slot(r, req);
		if (send_req(r, s, req, 0) == -1)
			fail(r, s, req);
	}
	r->batching = 0;
	ev_flush(r);
}

static void *
redis_open(struct store *st, const struct store_config *conf, struct event_base *base)
{
	struct redis_be *r = xcalloc(1, sizeof(*r));

	r->st = st;
	r->base = base;
	r->conf = *conf;
	if (r->conf.redis_timeout_ms == 0)
		r->conf.redis_timeout_ms = 500;
	r->retry_ms = RETRY_MIN_MS;
	TAILQ_INIT(&r->pending);
	r->retry_ev = evtimer_new(base, retry_cb, r);
	r->timeout_ev = evtimer_new(base, timed_out, r);
	for (int i = 0; i < RS_N; i++) {
		unsigned char md[SHA_DIGEST_LENGTH];
		SHA1((const unsigned char *)redis_scripts[i], strlen(redis_scripts[i]),
		     md);
		for (int j = 0; j < SHA_DIGEST_LENGTH; j++)
			snprintf(r->sha[i] + 2 * j, 3, "%02x", md[j]);
	}
	redis_connect(r);
	return r;
}

static void
redis_close(void *be)
{
	struct redis_be *r = be;
	int64_t until = mono_ms() + r->conf.redis_timeout_ms;

	/* what is on its way (a worker's last counts) gets its answer, within
	 * the usual deadline; a loop that is running cannot be run from here
	 * (event_base_loop() refuses), and then what waits fails */
	while (r->ac != NULL && !TAILQ_EMPTY(&r->pending) && mono_ms() < until)
		if (event_base_loop(r->base, EVLOOP_ONCE) == -1)
			break;
	r->closing = 1;
	if (r->ac != NULL) {
		redisAsyncContext *ac = r->ac;
		r->ac = NULL;
		ac->data = NULL;
		redisAsyncFree(ac);
	}
	evtimer_del(r->retry_ev);
	event_free(r->retry_ev);
	event_free(r->timeout_ev);
	free(r);
}

/* redis_info - the connection as this process sees it */
static void
redis_info(void *be, char *buf, size_t bufsz)
{
	struct redis_be *r = be;

	snprintf(buf, bufsz,
	         " store=redis store_up=%d store_latency_us=%lld store_errors=%llu",
	         r->up && r->ac != NULL, (long long)r->latency_us,
	         (unsigned long long)r->errors);
}

const struct store_backend store_redis_backend = {
    .name = "redis",
    .open = redis_open,
    .run = redis_run,
    .close = redis_close,
    .info = redis_info,
};
