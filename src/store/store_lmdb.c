/* SPDX-License-Identifier: ISC */
/*
 * store_lmdb.c - the store on LMDB: one memory-mapped B-tree in a directory
 * (data.mdb, lock.mdb, mode 0600), shared by all moat processes on a host.
 * Each process opens its own environment after fork; LMDB's lock file (robust
 * process-shared mutexes) serialises writers across processes, so every
 * read-modify-write (incr, take, del) is one atomic write transaction.
 *
 * An entry is an 8-byte expiry (ms since the epoch, host order, 0 = never)
 * followed by the value. Reads compare the expiry with the store's clock,
 * so an expired entry is invisible at once; store_purge() deletes them in
 * chunks of LMDB_PURGE_CHUNK keys so no write transaction runs long.
 *
 * Durability: env flags MDB_NOSYNC | MDB_NOTLS | MDB_NORDAHEAD. A commit
 * with fsync costs 0.5-1 ms here (~2k/s, against ~80k/s without), too slow
 * for per-connection counters, so commits do not sync; a thread of the store's
 * own calls mdb_env_sync() sync_ms after the first unsynced commit, so the
 * event loop never waits for the disk. A moat process crash loses nothing: committed
 * pages are already in the kernel's page cache. An OS crash or power loss may undo the
 * writes of the last sync_ms and, on a file system that reorders writes, can
 * leave the file inconsistent; the state is soft (greylist, rates, bans,
 * caches), so the operator's remedy is to delete the directory. sync_ms = 0
 * syncs every commit instead. MDB_WRITEMAP is not used: a stray pointer
 * could then scribble on the database. MDB_NOTLS ties read slots to our
 * reused read transaction, not to the thread. MDB_NORDAHEAD: access is random.
 *
 * SECURITY: no remote bytes reach LMDB unchecked (store.c bounds keys and
 * values). The directory must not be world-writable, and root may open it
 * only if root owns it, so a daemon never follows an unprivileged user's
 * symlinks as root. MDB_MAP_FULL: purge the expired entries and retry once,
 * then STORE_ERROR (a 4xx upstream). Stale readers of dead processes are
 * cleared at open and when the reader table fills.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include <event2/event.h>
#include <lmdb.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "store/store_backend.h"
#include "store/store_lmdb_int.h"

#define LMDB_READERS     126  /* reader slots: one per process is enough */
#define LMDB_PURGE_CHUNK 1024 /* keys examined per purge transaction */
#define LMDB_LOG_EVERY   60   /* seconds between two "store full" lines */
#define LMDB_GROUP_MAX   128  /* writes in a row sharing one transaction */

/* Children of fork() count up, so a request can tell an env inherited from
 * a parent without a getpid() system call each time. */
static unsigned lmdb_forks;
static pthread_once_t lmdb_forks_once = PTHREAD_ONCE_INIT;

static void
lmdb_forked(void)
{
	lmdb_forks++;
}

static void
lmdb_forks_watch(void)
{
	(void)pthread_atfork(NULL, NULL, lmdb_forked);
}

/* lmdb_decode - split a stored value; -1 if too short to be ours */
int
lmdb_decode(const MDB_val *v, int64_t *expires, const void **data, size_t *len)
{
	if (v->mv_size < LMDB_HDR)
		return -1;
	memcpy(expires, v->mv_data, LMDB_HDR);
	*data = (const char *)v->mv_data + LMDB_HDR;
	*len = v->mv_size - LMDB_HDR;
	return 0;
}

/* lmdb_live - decode v and tell whether it is visible at now */
int
lmdb_live(const MDB_val *v, int64_t now, int64_t *expires, const void **data, size_t *len)
{
	if (lmdb_decode(v, expires, data, len) == -1)
		return 0;
	return *expires == 0 || *expires > now;
}

/* lmdb_expiry - absolute expiry for a TTL in seconds */
int64_t
lmdb_expiry(int64_t now, uint32_t ttl)
{
	return ttl == 0 ? 0 : now + (int64_t)ttl * 1000;
}

/* lmdb_store - write header and value in place (MDB_RESERVE: one copy) */
int
lmdb_store(struct lmdb *l, MDB_txn *txn, struct store_req *req, const void *val,
           size_t len, int64_t expires)
{
	MDB_val k = {req->keylen, req->key}, v = {LMDB_HDR + len, NULL};
	int rc;

	if ((rc = mdb_put(txn, l->dbi, &k, &v, MDB_RESERVE)) != 0)
		return rc;
	memcpy(v.mv_data, &expires, LMDB_HDR);
	if (len > 0)
		memcpy((char *)v.mv_data + LMDB_HDR, val, len);
	return 0;
}

/* lmdb_recover - fix what a retry can fix; 1 if worth retrying */
static int
lmdb_recover(struct lmdb *l, int rc)
{
	int dead = 0;

	switch (rc) {
	case MDB_MAP_RESIZED: /* another process grew the map */
		return mdb_env_set_mapsize(l->env, 0) == 0;
	case MDB_READERS_FULL: /* dead processes may hold slots */
		return mdb_reader_check(l->env, &dead) == 0 && dead > 0;
	default:
		return 0;
	}
}

/* lmdb_warn - log an LMDB failure; "full" at most once a minute */
static void
lmdb_warn(struct lmdb *l, const char *what, int rc)
{
	time_t now = time(NULL);

	if (rc == MDB_MAP_FULL) {
		if (now - l->full_logged < LMDB_LOG_EVERY)
			return;
		l->full_logged = now;
	}
	log_warnx("store: lmdb %s: %s", what, mdb_strerror(rc));
}

/* lmdb_rbegin - a read snapshot, the reused one unless it is in use */
static int
lmdb_rbegin(struct lmdb *l, MDB_txn **txn)
{
	int rc = 0;

	for (int tries = 0; tries < 2; tries++) {
		if (l->rtxn_busy) /* a sync call from inside a callback */
			rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, txn);
		else if (l->rtxn != NULL && (rc = mdb_txn_renew(l->rtxn)) == 0)
			*txn = l->rtxn;
		else {
			if (l->rtxn != NULL)
				mdb_txn_abort(l->rtxn);
			l->rtxn = NULL;
			if ((rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, txn)) == 0)
				l->rtxn = *txn;
		}
		if (rc == 0) {
			if (*txn == l->rtxn)
				l->rtxn_busy = 1;
			return 0;
		}
		if (!lmdb_recover(l, rc))
			break;
	}
	lmdb_warn(l, "read begin", rc);
	return rc;
}

/* lmdb_rend - end a read snapshot */
static void
lmdb_rend(struct lmdb *l, MDB_txn *txn)
{
	if (txn == l->rtxn) {
		mdb_txn_reset(txn);
		l->rtxn_busy = 0;
	} else
		mdb_txn_abort(txn);
}

/* lmdb_syncer - the syncer thread: sync_ms after a commit went unsynced,
 * make every commit so far durable. mdb_env_sync() only fdatasync()s the
 * data file, which is safe beside the loop's transactions. */
static void *
lmdb_syncer(void *arg)
{
	struct lmdb *l = arg;
	struct timespec until;
	int rc;

	pthread_mutex_lock(&l->sync_mu);
	for (;;) {
		while (!l->sync_dirty && !l->sync_stop)
			pthread_cond_wait(&l->sync_cv, &l->sync_mu);
		if (l->sync_stop)
			break; /* lmdb_close() syncs what is left */
		/* let the commits of sync_ms gather, then one sync for all */
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += l->sync_ms / 1000;
		until.tv_nsec += (long)(l->sync_ms % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		while (!l->sync_stop && pthread_cond_timedwait(&l->sync_cv, &l->sync_mu,
		                                               &until) != ETIMEDOUT)
			;
		if (l->sync_stop)
			break;
		l->sync_dirty = 0;
		pthread_mutex_unlock(&l->sync_mu);
		if ((rc = mdb_env_sync(l->env, 1)) != 0)
			lmdb_warn(l, "sync", rc);
		pthread_mutex_lock(&l->sync_mu);
	}
	pthread_mutex_unlock(&l->sync_mu);
	return NULL;
}

/* lmdb_dirty - a commit went unsynced: wake the syncer if it sleeps */
static void
lmdb_dirty(struct lmdb *l)
{
	if (!l->syncer_on)
		return;
	pthread_mutex_lock(&l->sync_mu);
	if (!l->sync_dirty) {
		l->sync_dirty = 1;
		pthread_cond_signal(&l->sync_cv);
	}
	pthread_mutex_unlock(&l->sync_mu);
}

/* lmdb_syncer_start - the syncer thread, with a monotonic clock for its waits */
static int
lmdb_syncer_start(struct lmdb *l)
{
	pthread_condattr_t ca;
	int rc;

	if (pthread_condattr_init(&ca) != 0)
		return -1;
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	rc = pthread_cond_init(&l->sync_cv, &ca);
	pthread_condattr_destroy(&ca);
	if (rc != 0)
		return -1;
	if (pthread_mutex_init(&l->sync_mu, NULL) != 0) {
		pthread_cond_destroy(&l->sync_cv);
		return -1;
	}
	if (pthread_create(&l->syncer, NULL, lmdb_syncer, l) != 0) {
		pthread_mutex_destroy(&l->sync_mu);
		pthread_cond_destroy(&l->sync_cv);
		return -1;
	}
	l->syncer_on = 1;
	return 0;
}

/* lmdb_purge_all - delete expired entries chunk by chunk; count or -1 */
static int64_t
lmdb_purge_all(struct lmdb *l)
{
	char last[512];
	size_t lastlen = 0;
	int64_t purged = 0, now = store_now(l->st), expires;
	const void *data;
	size_t len;
	int started = 0, rc = 0, done = 0;

	while (!done) {
		MDB_txn *txn;
		MDB_cursor *cur;
		MDB_val k = {lastlen, last}, v;
		int examined = 0, deleted = 0;

		if ((rc = mdb_txn_begin(l->env, NULL, 0, &txn)) != 0)
			goto fail;
		if ((rc = mdb_cursor_open(txn, l->dbi, &cur)) != 0) {
			mdb_txn_abort(txn);
			goto fail;
		}
		if (!started)
			rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
		else if ((rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE)) == 0 &&
		         k.mv_size == lastlen && memcmp(k.mv_data, last, lastlen) == 0)
			rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT); /* seen last time */
		/* After mdb_cursor_del the cursor sits on the next key, and MDB_NEXT
		 * returns that key rather than skipping it. */
		for (; rc == 0 && examined < LMDB_PURGE_CHUNK;
		     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			examined++;
			lastlen = k.mv_size < sizeof(last) ? k.mv_size : sizeof(last);
			memcpy(last, k.mv_data, lastlen);
			if (lmdb_live(&v, now, &expires, &data, &len))
				continue;
			if ((rc = mdb_cursor_del(cur, 0)) != 0)
				break;
			deleted++;
		}
		mdb_cursor_close(cur);
		done = rc == MDB_NOTFOUND;
		if (done)
			rc = 0;
		if (rc == 0 && deleted > 0)
			rc = mdb_txn_commit(txn);
		else
			mdb_txn_abort(txn);
		if (rc != 0)
			goto fail;
		purged += deleted;
		started = 1;
	}
	if (purged > 0)
		lmdb_dirty(l);
	return purged;
fail:
	lmdb_warn(l, "purge", rc);
	return -1;
}

/* lmdb_write - run fn in one write transaction; on MAP_FULL purge and retry once */
static int
lmdb_write(struct lmdb *l, lmdb_write_fn *fn, struct store_req *req, struct wres *w)
{
	MDB_txn *txn;
	int rc = 0;

	for (int tries = 0; tries < 3; tries++) {
		memset(w, 0, sizeof(*w));
		if ((rc = mdb_txn_begin(l->env, NULL, 0, &txn)) != 0) {
			if (lmdb_recover(l, rc))
				continue;
			break;
		}
		rc = fn(l, txn, req, w);
		if (rc == 0 && w->write)
			rc = mdb_txn_commit(txn);
		else
			mdb_txn_abort(txn);
		if (rc == 0) {
			if (w->write)
				lmdb_dirty(l);
			return 0;
		}
		if (rc != MDB_MAP_FULL || tries > 0 || lmdb_purge_all(l) <= 0)
			break;
	}
	lmdb_warn(l, "write", rc);
	return rc;
}

/* lmdb_get - get: answer from a read snapshot, without copying */
static void
lmdb_get(struct lmdb *l, struct store_req *req)
{
	MDB_val k = {req->keylen, req->key}, v;
	MDB_txn *txn;
	int64_t expires;
	const void *data;
	size_t len;
	int rc;

	if (lmdb_rbegin(l, &txn) != 0) {
		store_reply_status(req, STORE_ERROR);
		return;
	}
	rc = mdb_get(txn, l->dbi, &k, &v);
	if (rc == 0 && lmdb_live(&v, store_now(l->st), &expires, &data, &len))
		store_reply_get(req, STORE_OK, data, len, expires);
	else if (rc == 0 || rc == MDB_NOTFOUND)
		store_reply_status(req, STORE_NOT_FOUND);
	else {
		lmdb_warn(l, "get", rc);
		store_reply_status(req, STORE_ERROR);
	}
	lmdb_rend(l, txn);
}

/* lmdb_scan - scan: walk the keys that start with the prefix, in one snapshot */
static void
lmdb_scan(struct lmdb *l, struct store_req *req)
{
	MDB_val k = {req->keylen, req->key}, v;
	MDB_txn *txn;
	MDB_cursor *cur;
	int64_t now = store_now(l->st), expires;
	char key[512];
	const void *data;
	size_t len;
	int rc;

	if (lmdb_rbegin(l, &txn) != 0) {
		store_reply_status(req, STORE_ERROR);
		return;
	}
	if ((rc = mdb_cursor_open(txn, l->dbi, &cur)) != 0)
		goto out;
	rc = mdb_cursor_get(cur, &k, &v, req->keylen > 0 ? MDB_SET_RANGE : MDB_FIRST);
	for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size < req->keylen ||
		    memcmp(k.mv_data, req->key, req->keylen) != 0)
			break; /* past the prefix: keys are sorted */
		if (k.mv_size >= sizeof(key) ||
		    !lmdb_live(&v, now, &expires, &data, &len))
			continue;
		memcpy(key, k.mv_data, k.mv_size);
		key[k.mv_size] = '\0';
		if (req->each(key, data, len, store_expires_time(expires), req->arg) != 0)
			break;
	}
	if (rc == MDB_NOTFOUND)
		rc = 0;
	mdb_cursor_close(cur);
out:
	lmdb_rend(l, txn);
	if (rc != 0)
		lmdb_warn(l, "scan", rc);
	store_reply_status(req, rc == 0 ? STORE_OK : STORE_ERROR);
}

/* lmdb_is_write - the ops with a writer (store_lmdb_ops.c) change the database */
static int
lmdb_is_write(enum store_op op)
{
	return lmdb_writer(op) != NULL;
}

/* lmdb_answer - reply to a write request from what its transaction decided */
static void
lmdb_answer(struct store_req *req, int rc, const struct wres *w)
{
	enum store_status status = rc != 0 ? STORE_ERROR : w->status;

	if (req->op == STORE_OP_INCR || req->op == STORE_OP_COUNT ||
	    req->op == STORE_OP_DEL_MATCH)
		store_reply_int(req, status, w->num);
	else if (req->op == STORE_OP_TAKE)
		store_reply_take(req, status, &w->take);
	else
		store_reply_status(req, status);
	store_req_free(req);
}

/*
 * lmdb_write_group - n writes in one transaction and one commit; 0, or an
 * LMDB error and nothing of the group applied. Each request sees the ones
 * before it, as if each had its own transaction. Answers wait for the
 * commit (in the caller): a callback may call the store again.
 */
static int
lmdb_write_group(struct lmdb *l, struct store_req **reqs, int n, struct wres *ws)
{
	MDB_txn *txn;
	int rc, wrote = 0;

	if ((rc = mdb_txn_begin(l->env, NULL, 0, &txn)) != 0)
		return rc;
	for (int i = 0; i < n && rc == 0; i++) {
		memset(&ws[i], 0, sizeof(ws[i]));
		rc = lmdb_writer(reqs[i]->op)(l, txn, reqs[i], &ws[i]);
		wrote |= ws[i].write;
	}
	if (rc == 0 && wrote)
		rc = mdb_txn_commit(txn);
	else
		mdb_txn_abort(txn);
	if (rc == 0 && wrote)
		lmdb_dirty(l);
	return rc;
}

/*
 * lmdb_run_writes - answer the writes at the head of *list, up to
 * LMDB_GROUP_MAX of them in a row: one commit for all (a flood of refused
 * connections makes several counter updates each per loop pass; a commit
 * per update cost most of the worker's time in pwrite). If the group's
 * transaction fails (the map is full, another process grew it), each
 * request runs alone, with lmdb_write()'s recovery, so one cannot fail
 * the others.
 */
static void
lmdb_run_writes(struct lmdb *l, struct store_req **list)
{
	struct store_req *reqs[LMDB_GROUP_MAX];
	struct wres ws[LMDB_GROUP_MAX];
	int n = 0, rc;

	while (*list != NULL && lmdb_is_write((*list)->op) && n < LMDB_GROUP_MAX) {
		reqs[n] = *list;
		*list = (*list)->next;
		reqs[n++]->next = NULL;
	}
	if (n > 1 && lmdb_write_group(l, reqs, n, ws) == 0) {
		for (int i = 0; i < n; i++)
			lmdb_answer(reqs[i], 0, &ws[i]);
		return;
	}
	for (int i = 0; i < n; i++) {
		rc = lmdb_write(l, lmdb_writer(reqs[i]->op), reqs[i], &ws[0]);
		lmdb_answer(reqs[i], rc, &ws[0]);
	}
}

/* lmdb_run - perform the requests of list in order, answer and free each */
static void
lmdb_run(void *be, struct store_req *list)
{
	struct lmdb *l = be;
	struct store_req *req;
	int64_t n;

	if (l->forks != lmdb_forks) {
		/* An env must never cross fork(): open the store in each process. */
		log_warnx("store: lmdb used in a process that did not open it");
		for (; list != NULL; list = req) {
			req = list->next;
			store_reply_status(list, STORE_ERROR);
			store_req_free(list);
		}
		return;
	}
	while (list != NULL) {
		if (lmdb_is_write(list->op)) {
			lmdb_run_writes(l, &list);
			continue;
		}
		req = list;
		list = list->next;
		req->next = NULL;
		if (req->op == STORE_OP_GET)
			lmdb_get(l, req);
		else if (req->op == STORE_OP_SCAN)
			lmdb_scan(l, req);
		else {
			n = lmdb_purge_all(l);
			store_reply_int(req, n < 0 ? STORE_ERROR : STORE_OK,
			                n < 0 ? 0 : n);
		}
		store_req_free(req);
	}
}

/*
 * LMDB must not open one environment twice in a process: closing either
 * handle drops the process's fcntl lock on lock.mdb, and a process opening
 * it next would then reset the reader table under us. Open directories are
 * remembered with the pid, so a child does not inherit its parent's claims.
 */
#define LMDB_MAX_OPEN 16
static struct {
	dev_t dev;
	ino_t ino;
	pid_t pid;
} lmdb_claims[LMDB_MAX_OPEN];

/* lmdb_claim - take (claim 1) or release (claim 0) the directory; -1 if taken */
static int
lmdb_claim(dev_t dev, ino_t ino, int claim)
{
	pid_t pid = getpid();
	int freeslot = -1;

	for (int i = 0; i < LMDB_MAX_OPEN; i++) {
		int mine = lmdb_claims[i].pid == pid;

		if (mine && lmdb_claims[i].dev == dev && lmdb_claims[i].ino == ino) {
			if (claim)
				return -1;
			lmdb_claims[i].pid = 0;
			return 0;
		}
		if (!mine && freeslot == -1)
			freeslot = i;
	}
	if (!claim)
		return 0;
	if (freeslot == -1)
		return -1;
	lmdb_claims[freeslot].dev = dev;
	lmdb_claims[freeslot].ino = ino;
	lmdb_claims[freeslot].pid = pid;
	return 0;
}

/* lmdb_check_dir - refuse a directory others could tamper with, or ours twice */
static int
lmdb_check_dir(const char *path, struct stat *dir)
{
	struct stat sb;

	if (stat(path, &sb) == -1) {
		log_warn("store: %s", log_escape_str(path));
		return -1;
	}
	if (!S_ISDIR(sb.st_mode)) {
		log_warnx("store: %s is not a directory", log_escape_str(path));
		return -1;
	}
	if (sb.st_mode & S_IWOTH) {
		log_warnx("store: %s is world-writable", log_escape_str(path));
		return -1;
	}
	if (geteuid() == 0 && sb.st_uid != 0) {
		log_warnx(
		    "store: %s belongs to uid %u: open it after dropping privileges",
		    log_escape_str(path), (unsigned)sb.st_uid);
		return -1;
	}
	if (lmdb_claim(sb.st_dev, sb.st_ino, 1) == -1) {
		log_warnx("store: %s is already open in this process",
		          log_escape_str(path));
		return -1;
	}
	*dir = sb;
	return 0;
}

static void lmdb_close(void *be);

/* lmdb_open - open this process's environment and the main database */
static void *
lmdb_open(struct store *st, const struct store_config *conf, struct event_base *base)
{
	unsigned flags = MDB_NOTLS | MDB_NORDAHEAD;
	struct lmdb *l;
	MDB_txn *txn;
	struct stat dir, sb;
	int rc, dead = 0, fd;

	if (lmdb_check_dir(conf->path, &dir) == -1)
		return NULL;
	l = xcalloc(1, sizeof(*l));
	l->st = st;
	l->dev = dir.st_dev;
	l->ino = dir.st_ino;
	l->pid = getpid();
	(void)pthread_once(&lmdb_forks_once, lmdb_forks_watch);
	l->forks = lmdb_forks;
	l->sync_ms = conf->sync_ms;
	if (conf->sync_ms > 0)
		flags |= MDB_NOSYNC;
	if ((rc = mdb_env_create(&l->env)) != 0)
		goto fail;
	if ((rc = mdb_env_set_mapsize(l->env, conf->map_size)) != 0 ||
	    (rc = mdb_env_set_maxreaders(l->env, LMDB_READERS)) != 0 ||
	    (rc = mdb_env_open(l->env, conf->path, flags, 0600)) != 0)
		goto fail;
	if (mdb_reader_check(l->env, &dead) == 0 && dead > 0)
		log_info("store: cleared %d stale reader(s) in %s", dead,
		         log_escape_str(conf->path));
	if (mdb_env_get_fd(l->env, &fd) == 0 && fstat(fd, &sb) == 0 && (sb.st_mode & 077))
		(void)fchmod(fd, 0600);
	if ((rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn)) != 0)
		goto fail;
	if ((rc = mdb_dbi_open(txn, NULL, 0, &l->dbi)) != 0) {
		mdb_txn_abort(txn);
		goto fail;
	}
	if ((rc = mdb_txn_commit(txn)) != 0)
		goto fail;
	if (conf->sync_ms > 0 && lmdb_syncer_start(l) == -1) {
		log_warnx("store: cannot start the syncer thread");
		lmdb_close(l);
		return NULL;
	}
	return l;
fail:
	log_warnx("store: lmdb open %s: %s", log_escape_str(conf->path),
	          mdb_strerror(rc));
	lmdb_close(l);
	return NULL;
}

/* lmdb_close - flush what is unsynced and close */
static void
lmdb_close(void *be)
{
	struct lmdb *l = be;

	if (l->pid != getpid()) {
		/* Inherited over fork: closing would free the opener's reader slot. */
		free(l);
		return;
	}
	if (l->rtxn != NULL)
		mdb_txn_abort(l->rtxn);
	if (l->syncer_on) {
		int rc, dirty;

		pthread_mutex_lock(&l->sync_mu);
		l->sync_stop = 1;
		dirty = l->sync_dirty;
		pthread_cond_signal(&l->sync_cv);
		pthread_mutex_unlock(&l->sync_mu);
		pthread_join(l->syncer, NULL);
		pthread_mutex_destroy(&l->sync_mu);
		pthread_cond_destroy(&l->sync_cv);
		if (dirty && (rc = mdb_env_sync(l->env, 1)) != 0)
			lmdb_warn(l, "sync", rc);
	}
	if (l->env != NULL)
		mdb_env_close(l->env);
	lmdb_claim(l->dev, l->ino, 0);
	free(l);
}

const struct store_backend store_lmdb_backend = {
    .name = "lmdb",
    .open = lmdb_open,
    .run = lmdb_run,
    .close = lmdb_close,
};
