/* SPDX-License-Identifier: ISC */
/*
 * store_lmdb_ops.c - the LMDB backend's writers: put, del, incr, take,
 * count (a share of a summed counter) and del_match, each one atomic step
 * inside the write transaction store_lmdb.c gives it (store_lmdb_int.h).
 * SECURITY: keys and values were bounded by store.c; counters are parsed
 * strictly (store_util.c) and checked for overflow.
 */
#include <errno.h>
#include <string.h>

#include "common/log.h"
#include "store/store_lmdb_int.h"

/* lmdb_put_fn - put: replace the entry */
static int
lmdb_put_fn(struct lmdb *l, MDB_txn *txn, struct store_req *req, struct wres *w)
{
	int64_t expires = lmdb_expiry(store_now(l->st), req->ttl);

	w->write = 1;
	return lmdb_store(l, txn, req, req->val, req->len, expires);
}

/* lmdb_del_fn - del: remove the entry, expired or not; NOT_FOUND unless live */
static int
lmdb_del_fn(struct lmdb *l, MDB_txn *txn, struct store_req *req, struct wres *w)
{
	MDB_val k = {req->keylen, req->key}, v;
	int64_t expires;
	const void *data;
	size_t len;
	int rc;

	if ((rc = mdb_get(txn, l->dbi, &k, &v)) == MDB_NOTFOUND) {
		w->status = STORE_NOT_FOUND;
		return 0;
	}
	if (rc != 0)
		return rc;
	if (!lmdb_live(&v, store_now(l->st), &expires, &data, &len))
		w->status = STORE_NOT_FOUND;
	w->write = 1;
	return mdb_del(txn, l->dbi, &k, NULL);
}

/* lmdb_counter - read the live counter at key into *val; 1 found, 0 absent, -1 bad */
static int
lmdb_counter(struct lmdb *l, MDB_txn *txn, struct store_req *req, int64_t now,
             int64_t *val, int64_t *expires, int *rc)
{
	MDB_val k = {req->keylen, req->key}, v;
	const void *data;
	size_t len;

	if ((*rc = mdb_get(txn, l->dbi, &k, &v)) == MDB_NOTFOUND) {
		*rc = 0;
		return 0;
	}
	if (*rc != 0 || !lmdb_live(&v, now, expires, &data, &len))
		return 0;
	if (store_int_parse(data, len, val) == -1) {
		char vis[LOG_ESCAPE_BUFSZ]; /* keys may hold remote bytes */

		log_debug("store: %s is not a counter",
		          log_escape(vis, sizeof(vis), req->key, req->keylen));
		return -1;
	}
	return 1;
}

/* lmdb_incr_fn - incr: read, add with overflow check, write back */
static int
lmdb_incr_fn(struct lmdb *l, MDB_txn *txn, struct store_req *req, struct wres *w)
{
	int64_t now = store_now(l->st), val = 0, expires = 0;
	char text[STORE_INT_TEXT];
	size_t len;
	int found, rc;

	found = lmdb_counter(l, txn, req, now, &val, &expires, &rc);
	if (rc != 0)
		return rc;
	if (found == -1 || __builtin_add_overflow(val, req->delta, &val)) {
		w->status = STORE_ERROR;
		return 0;
	}
	if (found == 0 || (req->flags & STORE_TTL_REFRESH))
		expires = lmdb_expiry(now, req->ttl);
	len = store_int_format(text, sizeof(text), val);
	w->write = 1;
	w->num = val;
	return lmdb_store(l, txn, req, text, len, expires);
}

/* lmdb_take_fn - take: one GCRA step on the stored tat */
static int
lmdb_take_fn(struct lmdb *l, MDB_txn *txn, struct store_req *req, struct wres *w)
{
	int64_t now = store_now(l->st), tat = now, expires, new_tat;
	char text[STORE_INT_TEXT];
	size_t len;
	int rc;

	if (lmdb_counter(l, txn, req, now, &tat, &expires, &rc) == -1) {
		w->status = STORE_ERROR;
		return 0;
	}
	if (rc != 0)
		return rc;
	if (!store_bucket_take(&req->bucket, req->cost, now, tat, &w->take, &new_tat))
		return 0;
	len = store_int_format(text, sizeof(text), new_tat);
	w->write = 1;
	return lmdb_store(l, txn, req, text, len, new_tat);
}

/* lmdb_sum - the live counters whose keys start with prefix, added up */
static int
lmdb_sum(struct lmdb *l, MDB_txn *txn, const char *prefix, size_t prefixlen, int64_t now,
         int64_t *sum)
{
	MDB_val k = {prefixlen, (void *)prefix}, v;
	MDB_cursor *cur;
	int64_t expires, n;
	const void *data;
	size_t len;
	int rc;

	*sum = 0;
	if ((rc = mdb_cursor_open(txn, l->dbi, &cur)) != 0)
		return rc;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size < prefixlen || memcmp(k.mv_data, prefix, prefixlen) != 0)
			break; /* past the prefix: keys are sorted */
		if (lmdb_live(&v, now, &expires, &data, &len) &&
		    store_int_parse(data, len, &n) == 0 && n > 0)
			*sum += n;
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* lmdb_count_fn - count: sum the shares, then change ours if allowed */
static int
lmdb_count_fn(struct lmdb *l, MDB_txn *txn, struct store_req *req, struct wres *w)
{
	MDB_val k = {req->keylen, req->key};
	int64_t now = store_now(l->st), sum, mine = 0, expires = 0;
	char text[STORE_INT_TEXT];
	size_t len;
	int found, rc;

	if ((rc = lmdb_sum(l, txn, req->key, req->prefixlen, now, &sum)) != 0)
		return rc;
	found = lmdb_counter(l, txn, req, now, &mine, &expires, &rc);
	if (rc != 0)
		return rc;
	if (found != 1 || mine < 0)
		mine = 0; /* as lmdb_sum() counted it */
	if (req->delta == 0) {
		w->num = sum; /* a look, no change */
		return 0;
	}
	if (req->delta > 0 && req->max > 0 && sum + req->delta > req->max) {
		w->num = sum + req->delta; /* refused: nothing changes */
		return 0;
	}
	w->num = sum - mine;
	if (__builtin_add_overflow(mine, req->delta, &mine) || mine < 0)
		mine = 0;
	w->num += mine;
	w->write = 1;
	if (mine == 0) {
		rc = mdb_del(txn, l->dbi, &k, NULL);
		return rc == MDB_NOTFOUND ? 0 : rc;
	}
	if (req->delta > 0)
		expires = lmdb_expiry(now, req->ttl);
	len = store_int_format(text, sizeof(text), mine);
	return lmdb_store(l, txn, req, text, len, expires);
}

/* lmdb_del_match_fn - delete the keys with the prefix that end in the suffix */
static int
lmdb_del_match_fn(struct lmdb *l, MDB_txn *txn, struct store_req *req, struct wres *w)
{
	MDB_val k = {req->keylen, req->key}, v;
	MDB_cursor *cur;
	int rc;

	if ((rc = mdb_cursor_open(txn, l->dbi, &cur)) != 0)
		return rc;
	rc = mdb_cursor_get(cur, &k, &v, req->keylen > 0 ? MDB_SET_RANGE : MDB_FIRST);
	while (rc == 0) {
		if (k.mv_size < req->keylen ||
		    memcmp(k.mv_data, req->key, req->keylen) != 0)
			break;
		if (k.mv_size >= req->keylen + req->len &&
		    memcmp((char *)k.mv_data + k.mv_size - req->len, req->val,
		           req->len) == 0) {
			if ((rc = mdb_cursor_del(cur, 0)) != 0)
				break;
			w->num++;
			w->write = 1;
			/* the cursor now sits on the next entry */
			rc = mdb_cursor_get(cur, &k, &v, MDB_GET_CURRENT);
			continue;
		}
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	return rc == MDB_NOTFOUND || rc == EINVAL ? 0 : rc;
}

static lmdb_write_fn *const writers[] = {
    [STORE_OP_PUT] = lmdb_put_fn,     [STORE_OP_DEL] = lmdb_del_fn,
    [STORE_OP_INCR] = lmdb_incr_fn,   [STORE_OP_TAKE] = lmdb_take_fn,
    [STORE_OP_COUNT] = lmdb_count_fn, [STORE_OP_DEL_MATCH] = lmdb_del_match_fn,
};

lmdb_write_fn *
lmdb_writer(enum store_op op)
{
	if ((size_t)op >= sizeof(writers) / sizeof(writers[0]))
		return NULL;
	return writers[op];
}
