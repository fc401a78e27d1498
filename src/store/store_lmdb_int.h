/* SPDX-License-Identifier: ISC */
/*
 * store_lmdb_int.h - what the LMDB backend's files share: the handle, the
 * entry layout (an 8-byte expiry, then the value), and the writers, one
 * per write operation, each run inside a write transaction that
 * store_lmdb.c begins, groups and commits (store_lmdb_ops.c).
 */
#ifndef MOAT_STORE_LMDB_INT_H
#define MOAT_STORE_LMDB_INT_H

#include <pthread.h>
#include <sys/types.h>
#include <time.h>

#include <lmdb.h>

#include "store/store_backend.h"

#define LMDB_HDR 8 /* expiry header in front of each value */

struct lmdb {
	struct store *st;
	dev_t dev; /* the directory, for lmdb_claim() */
	ino_t ino;
	MDB_env *env;
	MDB_dbi dbi;
	MDB_txn *rtxn;  /* reused read transaction, reset while idle */
	int rtxn_busy;  /* rtxn holds a snapshot now */
	pid_t pid;      /* the process that opened env */
	unsigned forks; /* lmdb_forks when env was opened */
	/* The syncer thread: fdatasync() of the data file sync_ms after the
	 * first unsynced commit, off the event loop (a sync of a busy store
	 * took milliseconds, and every session of the process waited). */
	pthread_t syncer;
	int syncer_on;
	pthread_mutex_t sync_mu;
	pthread_cond_t sync_cv; /* CLOCK_MONOTONIC */
	int sync_dirty;         /* commits since the last sync (under sync_mu) */
	int sync_stop;
	unsigned sync_ms;
	time_t full_logged;
};

/* What a write transaction decided, for the reply. */
struct wres {
	enum store_status status;
	int write; /* commit (1) or abort (0) */
	int64_t num;
	struct store_take_result take;
};

typedef int lmdb_write_fn(struct lmdb *, MDB_txn *, struct store_req *, struct wres *);

/* lmdb_decode - split a stored value; -1 if too short to be ours */
int lmdb_decode(const MDB_val *v, int64_t *expires, const void **data, size_t *len);
/* lmdb_live - decode v and tell whether it is visible at now */
int lmdb_live(const MDB_val *v, int64_t now, int64_t *expires, const void **data,
              size_t *len);
/* lmdb_expiry - absolute expiry for a TTL in seconds */
int64_t lmdb_expiry(int64_t now, uint32_t ttl);
/* lmdb_store - write header and value in place (MDB_RESERVE: one copy) */
int lmdb_store(struct lmdb *l, MDB_txn *txn, struct store_req *req, const void *val,
               size_t len, int64_t expires);

/* store_lmdb_ops.c: the writer of each write operation, NULL for the rest */
lmdb_write_fn *lmdb_writer(enum store_op op);

#endif
