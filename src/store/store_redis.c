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
 * that doubles from 100 ms up to 5 s while Redis stays away (the
 * connection, its events and deadlines: store_redis_conn.c).
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

#include "common/clock.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "store/store_backend.h"
#include "store/store_redis_int.h"

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

/* ---- replies ---- */

static int
reply_int(const redisReply *x, int64_t *v)
{
	if (x == NULL || x->type != REDIS_REPLY_INTEGER)
		return -1;
	*v = x->integer;
	return 0;
}

/* redis_answer - one reply for its request, by the request's op */
void
redis_answer(struct redis_be *r, struct store_req *req, const redisReply *x,
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
			int64_t us = clock_mono_us() - s->sent_us;
			r->latency_us = r->latency_us == 0
			                    ? us
			                    : r->latency_us + (us - r->latency_us) / 8;
		}
		redis_answer(r, req, reply, s);
		store_req_free(req);
	}
	free(s->val);
	free(s);
	if (!r->closing)
		redis_arm_timeout(r);
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
	s->sent_us = clock_mono_us();
	s->deadline_ms = s->sent_us / 1000 + r->conf.redis_timeout_ms;
	TAILQ_INSERT_TAIL(&r->pending, s, entry);
	if (TAILQ_FIRST(&r->pending) == s)
		redis_arm_timeout(r);
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
	redis_answer(r, req, NULL, NULL);
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
			redis_answer(r, req, NULL, NULL);
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
	redis_flush(r);
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
	TAILQ_INIT(&r->pending);
	for (int i = 0; i < RS_N; i++) {
		unsigned char md[SHA_DIGEST_LENGTH];
		SHA1((const unsigned char *)redis_scripts[i], strlen(redis_scripts[i]),
		     md);
		for (int j = 0; j < SHA_DIGEST_LENGTH; j++)
			snprintf(r->sha[i] + 2 * j, 3, "%02x", md[j]);
	}
	redis_conn_open(r);
	return r;
}

static void
redis_close(void *be)
{
	struct redis_be *r = be;
	int64_t until = clock_mono_ms() + r->conf.redis_timeout_ms;

	/* what is on its way (a worker's last counts) gets its answer, within
	 * the usual deadline; a loop that is running cannot be run from here
	 * (event_base_loop() refuses), and then what waits fails */
	while (r->ac != NULL && !TAILQ_EMPTY(&r->pending) && clock_mono_ms() < until)
		if (event_base_loop(r->base, EVLOOP_ONCE) == -1)
			break;
	redis_conn_close(r);
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
