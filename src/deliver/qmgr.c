/* SPDX-License-Identifier: ISC */
/*
 * qmgr.c - the queue runner: which message is delivered when.
 *
 * Every queue file the runner knows of has a struct qmsg, hashed by id.
 * Waiting messages sit in a heap ordered by their next try; one timer fires
 * for the earliest. A due message is read, its pending recipients grouped
 * into one job per destination (dest.c), and when its last job is done the
 * results are settled: delivered and bounced recipients are marked in the
 * file, bounces produce a DSN (dsn.c), and the message is removed once every
 * recipient has a final answer; otherwise it waits for its next try, with
 * a backoff that doubles from retry_min to retry_max, until queue_lifetime
 * ends its chances (then it bounces as expired).
 * New messages arrive as datagrams from the SMTP workers (a hint) and are
 * also found by scanning the queue directory, at start and periodically.
 * Results are counted per recipient (sent, deferred, bounced) and added to
 * the store's "stat:NAME" counters every second, for moatctl stats, and
 * by transport in the metrics (moat_deliveries_total); recipients sent
 * over a connection also by the TLS it reached (stat:tls_LEVEL,
 * moat_deliveries_tls_total); and what MTA-STS did (mtasts_count()).
 * SECURITY: reads queue files written by moatd (checked by envelope_read)
 * and datagrams on a private socketpair, checked to be queue ids.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "deliver/dane.h"
#include "deliver/mtasts.h"
#include "deliver/outtls.h"
#include "deliver/qmgr.h"
#include "deliver/qmgr_int.h"
#include "dns/resolver.h"
#include "metrics/metrics.h"
#include "queue/freelist.h"
#include "queue/spool.h"
#include "store/store.h"

/* ---- delivery counters, added to the store every second ---- */

#define STATS_FLUSH_MS 1000

/* Recipients' results, by enum dstatus: counted, and sent to the store. */
static struct qstats {
	uint64_t v[3];
} qstats, qstats_sent;
static const char *const qstat_keys[] = {
    [DS_SENT] = "stat:sent", [DS_DEFER] = "stat:deferred", [DS_BOUNCE] = "stat:bounced"};
/* Recipients sent over a connection, by enum tls_reached. */
static struct {
	uint64_t v[OUTTLS_NREACHED];
} qtls, qtls_sent;
static const char *const qtls_keys[] = {
    [TLS_REACHED_NONE] = "stat:tls_none",
    [TLS_REACHED_ENCRYPTED] = "stat:tls_encrypted",
    [TLS_REACHED_VERIFIED] = "stat:tls_verified",
    [TLS_REACHED_DANE] = "stat:tls_dane",
};
_Static_assert(sizeof(qtls_keys) / sizeof(qtls_keys[0]) == OUTTLS_NREACHED,
               "a key for every level reached");
static struct store *qstore; /* NULL: no counters */
static struct event *qstats_ev;

/* qstats_flush - add what each counter gained since the last flush */
static void
qstats_flush(void)
{
	for (int i = 0; qstore != NULL && i < 3; i++)
		store_counter_flush(qstore, qstat_keys[i], qstats.v[i],
		                    &qstats_sent.v[i]);
	for (int i = 0; qstore != NULL && i < OUTTLS_NREACHED; i++)
		store_counter_flush(qstore, qtls_keys[i], qtls.v[i], &qtls_sent.v[i]);
	if (qstore != NULL)
		mtasts_stats_flush(qstore);
	store_metrics_flush(qstore);
}

/* transport_name - a destination's transport in moat_deliveries_total
 * (NULL: the recipient had none: no route, or expired before a try) */
static const char *
transport_name(const struct dest *d)
{
	if (d == NULL)
		return "none";
	if (d->lmtp)
		return "lmtp";
	switch (d->kind) {
	case DEST_MAILDIR:
		return "maildir";
	case DEST_MX:
		return "mx";
	default:
		return "smtp";
	}
}

/* qstats_cb - the flush timer */
static void
qstats_cb(evutil_socket_t fd, short what, void *arg)
{
	qstats_flush();
}

/* ---- the heap of waiting messages, by next_try ---- */

static struct qmsg **heap;
static size_t heap_len, heap_cap;

static void
heap_swap(size_t a, size_t b)
{
	struct qmsg *t = heap[a];
	heap[a] = heap[b];
	heap[b] = t;
	heap[a]->heap_idx = a;
	heap[b]->heap_idx = b;
}

static void
heap_up(size_t i)
{
	while (i > 0 && heap[(i - 1) / 2]->next_try > heap[i]->next_try) {
		heap_swap(i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void
heap_down(size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < heap_len && heap[l]->next_try < heap[m]->next_try)
			m = l;
		if (r < heap_len && heap[r]->next_try < heap[m]->next_try)
			m = r;
		if (m == i)
			return;
		heap_swap(i, m);
		i = m;
	}
}

static void
heap_push(struct qmsg *m)
{
	if (heap_len == heap_cap) {
		heap_cap = heap_cap ? heap_cap * 2 : 64;
		heap = xreallocarray(heap, heap_cap, sizeof(*heap));
	}
	heap[heap_len] = m;
	m->heap_idx = heap_len++;
	m->in_wait = 1;
	heap_up(m->heap_idx);
}

static void
heap_remove(struct qmsg *m)
{
	size_t i = m->heap_idx;

	m->in_wait = 0;
	if (i != --heap_len) {
		heap_swap(i, heap_len);
		heap_down(i);
		heap_up(i);
	}
}

/* ---- the table of known messages ---- */

static unsigned
hash_id(const char *id, size_t size)
{
	unsigned h = 2166136261u;
	for (; *id; id++)
		h = (h ^ (unsigned char)*id) * 16777619u;
	return h % size;
}

static struct qmsg *
table_find(struct qmgr *q, const char *id)
{
	for (struct qmsg *m = q->table[hash_id(id, q->table_size)]; m; m = m->hnext)
		if (strcmp(m->id, id) == 0)
			return m;
	return NULL;
}

static void
table_grow(struct qmgr *q)
{
	size_t n = q->table_size * 2;
	struct qmsg **t = xcalloc(n, sizeof(*t));

	for (size_t i = 0; i < q->table_size; i++) {
		struct qmsg *m = q->table[i], *next;
		for (; m; m = next) {
			next = m->hnext;
			m->hnext = t[hash_id(m->id, n)];
			t[hash_id(m->id, n)] = m;
		}
	}
	free(q->table);
	q->table = t;
	q->table_size = n;
}

static void
table_remove(struct qmgr *q, struct qmsg *m)
{
	struct qmsg **pp = &q->table[hash_id(m->id, q->table_size)];

	while (*pp != m)
		pp = &(*pp)->hnext;
	*pp = m->hnext;
	q->nmsgs--;
}

static void
msg_free(struct qmsg *m)
{
	if (m->loaded) {
		envelope_free(&m->env);
		close(m->fd);
	}
	free(m->bounces);
	free(m->successes);
	free(m->why);
	free(m);
}

/* ---- scheduling ---- */

static void
rearm(struct qmgr *q)
{
	time_t now = time(NULL);
	struct timeval tv = {0, 0};

	if (heap_len == 0) {
		evtimer_del(q->wake_ev);
		return;
	}
	if (heap[0]->next_try > now)
		tv.tv_sec = heap[0]->next_try - now;
	evtimer_add(q->wake_ev, &tv);
}

static void
quarantine(struct qmgr *q, const char *id)
{
	if (renameat(q->queue_dirfd, id, q->corrupt_dirfd, id) == -1)
		log_warn("queue: %s: cannot move to corrupt/", log_escape_str(id));
	else
		log_warnx("queue: %s: damaged queue file moved to corrupt/",
		          log_escape_str(id));
}

void
qmgr_log_result(struct qmgr *q, struct qmsg *m, size_t i, const struct dresult *res)
{
	/* tls= last: what reads these lines matches "status=X text=" */
	log_info(
	    "deliver id=%s to=%s relay=%s delay=%lds attempt=%d status=%s text=%s%s%s",
	    m->id, log_escape_addr(m->env.rcpts[i].addr),
	    res->relay[0] ? log_escape_str(res->relay) : "none",
	    (long)(time(NULL) - m->env.arrival), m->env.attempts + 1,
	    dstatus_name(res->status), log_escape_str(res->text),
	    res->tls > 0 ? " tls=" : "",
	    res->tls > 0 ? outtls_reached_name((enum tls_reached)(res->tls - 1)) : "");
}

static void
add_result(struct rcpt_result **list, size_t *n, size_t index, const struct dresult *res)
{
	*list = xreallocarray(*list, *n + 1, sizeof(**list));
	(*list)[*n].index = index;
	(*list)[*n].res = *res;
	(*n)++;
}

/* record - one recipient's result, by way of d (NULL: none); mark: write
 * it into the queue file */
static void
record(struct qmsg *m, size_t index, const struct dresult *res, int mark,
       const struct dest *d)
{
	static const char *const results[] = {
	    [DS_SENT] = "sent", [DS_DEFER] = "deferred", [DS_BOUNCE] = "bounced"};
	const char *labels[] = {transport_name(d), results[res->status]};

	qmgr_log_result(m->q, m, index, res);
	qstats.v[res->status]++;
	metrics_count(M_DELIVERIES, labels);
	if (res->status == DS_SENT && res->tls > 0 && res->tls <= OUTTLS_NREACHED) {
		const char *tl[] = {
		    outtls_reached_name((enum tls_reached)(res->tls - 1))};
		qtls.v[res->tls - 1]++;
		metrics_count(M_DELIVERIES_TLS, tl);
	}
	switch (res->status) {
	case DS_SENT:
		if (mark) {
			envelope_set_status(m->fd, &m->env.rcpts[index], RCPT_DELIVERED);
			m->changed = 1;
		}
		/* RFC 3461 §5.2.2: delivered, or relayed to a next hop
		 * without DSN, is reported when the sender asked */
		if ((m->env.rcpts[index].notify & ENV_NOTIFY_SUCCESS) && !res->dsn_passed)
			add_result(&m->successes, &m->nsuccesses, index, res);
		break;
	case DS_BOUNCE:
		if (mark) {
			envelope_set_status(m->fd, &m->env.rcpts[index], RCPT_BOUNCED);
			m->changed = 1;
		}
		add_result(&m->bounces, &m->nbounces, index, res);
		break;
	case DS_DEFER:
		m->deferred++;
		free(m->why);
		m->why = xstrdup(res->text);
		break;
	}
}

/* why_key - "why:ID", the store key of a message's reason for waiting */
static void
why_key(const struct qmsg *m, char *key, size_t keysz)
{
	snprintf(key, keysz, "why:%s", m->id);
}

/*
 * why_keep - the reason of this pass's deferral into the store ("why:ID",
 * for as long as the message may stay), so that moatctl queue list can say
 * why a message waits; gone with the message. Best effort: no store, no
 * reason shown. A message delivered or bounced now may have a reason
 * stored by an earlier queue runner (before a restart or a reload): any
 * message tried before has its key removed, not only those this process
 * stored; a first try that succeeds costs no store operation.
 */
static void
why_keep(struct qmsg *m)
{
	char key[8 + QID_LEN];

	if (qstore == NULL)
		return;
	why_key(m, key, sizeof(key));
	if (m->deferred > 0 && m->why != NULL) {
		store_put(qstore, key, m->why, strlen(m->why),
		          (uint32_t)m->q->conf->limits.queue_lifetime, NULL, NULL);
		m->why_stored = 1;
	} else if (m->deferred == 0 && (m->why_stored || m->env.attempts > 0))
		store_del(qstore, key, NULL, NULL);
	free(m->why);
	m->why = NULL;
}

/* why_drop - m left the queue another way (its file is gone: moatctl queue
 * delete; or quarantined): its reason goes too. moatctl removes the key
 * itself; this catches a deferral settled while it deleted the file. */
static void
why_drop(struct qmsg *m)
{
	char key[8 + QID_LEN];

	if (qstore == NULL)
		return;
	why_key(m, key, sizeof(key));
	store_del(qstore, key, NULL, NULL);
}

/* settle - the pass is over: DSN, removal, or the next try */
static void
settle(struct qmsg *m, const char *expired)
{
	struct qmgr *q = m->q;
	time_t now = time(NULL);

	if (m->nbounces > 0 && dsn_send(q, m, expired, 0) == -1)
		log_warnx(
		    "deliver id=%s: cannot write the DSN (disk trouble); the failure "
		    "stays in this log only",
		    m->id);
	if (m->nsuccesses > 0 && dsn_send(q, m, NULL, 1) == -1)
		log_warnx("deliver id=%s: cannot write the success DSN (disk trouble)",
		          m->id);
	free(m->bounces);
	m->bounces = NULL;
	m->nbounces = 0;
	free(m->successes);
	m->successes = NULL;
	m->nsuccesses = 0;
	why_keep(m);
	if (m->deferred == 0) {
		/* Into free/ for the next message (freelist.h), or removed. */
		if (freelist_put(q->freelist, q->queue_dirfd, m->id,
		                 m->env.body_off + (off_t)m->env.size) == -1)
			log_warn("queue: remove %s", m->id);
		else
			log_info("queue removed id=%s", m->id);
		table_remove(q, m);
		msg_free(m);
		return;
	}
	int attempts = m->env.attempts + 1;
	time_t next = now + qmgr_backoff(q->conf, attempts);
	time_t end = m->env.arrival + q->conf->limits.queue_lifetime;
	if (next > end)
		next = end > now ? end : now + 1;
	envelope_set_retry(m->fd, &m->env, attempts, next);
	/* Results already recorded must survive a crash. */
	if (m->changed && fdatasync(m->fd) == -1)
		log_warn("queue: sync %s", m->id);
	envelope_free(&m->env);
	close(m->fd);
	m->loaded = 0;
	m->next_try = next;
	heap_push(m);
	rearm(q);
}

/* expire - past queue_lifetime: every pending recipient bounces */
static void
expire(struct qmsg *m)
{
	struct dresult res;

	memset(&res, 0, sizeof(res));
	res.status = DS_BOUNCE;
	strlcpy(res.relay, "none", sizeof(res.relay));
	snprintf(res.text, sizeof(res.text),
	         "4.4.7 message expired: undeliverable for %ld seconds",
	         m->q->conf->limits.queue_lifetime);
	for (size_t i = 0; i < m->env.nrcpts; i++)
		if (m->env.rcpts[i].status == RCPT_PENDING)
			record(m, i, &res, 1, NULL);
	settle(m, "expired");
}

/* start - read a due message and hand its recipients to destinations */
static void
start(struct qmsg *m)
{
	struct qmgr *q = m->q;
	time_t now = time(NULL);
	struct job **jobs;
	size_t njobs = 0;

	if ((m->fd = openat(q->queue_dirfd, m->id, O_RDWR | O_CLOEXEC)) == -1) {
		if (errno != ENOENT)
			log_warn("queue: open %s", m->id);
		else
			why_drop(m);
		table_remove(q, m);
		msg_free(m);
		return;
	}
	int damaged = envelope_read(m->fd, &m->env) == -1;
	/* A file whose id is not its name (a recycled file that a crash left
	 * under its old name) is as damaged as a cut one. */
	if (!damaged && strcmp(m->env.id, m->id) != 0) {
		envelope_free(&m->env);
		damaged = 1;
	}
	if (damaged) {
		close(m->fd);
		quarantine(q, m->id);
		why_drop(m);
		table_remove(q, m);
		msg_free(m);
		return;
	}
	if (m->env.held) {
		/* held: nothing happens to it, not even expiry, until
		 * moatctl queue release nudges it (qmgr_add) */
		if (!m->held)
			log_info("queue: %s: held", m->id);
		m->held = 1;
		envelope_free(&m->env);
		close(m->fd);
		return;
	}
	m->held = 0;
	m->loaded = 1;
	m->deferred = 0;
	m->changed = 0;
	if (m->env.next > now) {
		/* not due (the file says so, e.g. after a restart) */
		m->next_try = m->env.next;
		envelope_free(&m->env);
		close(m->fd);
		m->loaded = 0;
		heap_push(m);
		return;
	}
	if (now - m->env.arrival >= q->conf->limits.queue_lifetime) {
		expire(m);
		return;
	}
	/* one job per destination, recipients in envelope order */
	jobs = xcalloc(m->env.nrcpts, sizeof(*jobs));
	for (size_t i = 0; i < m->env.nrcpts; i++) {
		struct dest *d;
		size_t j;
		if (m->env.rcpts[i].status != RCPT_PENDING)
			continue;
		if ((d = route_rcpt(q, m->env.rcpts[i].addr)) == NULL) {
			struct dresult res;
			memset(&res, 0, sizeof(res));
			res.status = DS_BOUNCE;
			snprintf(res.text, sizeof(res.text),
			         "5.1.2 no route to this recipient");
			record(m, i, &res, 1, NULL);
			continue;
		}
		for (j = 0; j < njobs && jobs[j]->dest != d; j++)
			;
		if (j == njobs) {
			jobs[njobs] = xcalloc(1, sizeof(struct job));
			jobs[njobs]->msg = m;
			jobs[njobs]->dest = d;
			jobs[njobs]->rcpts = xcalloc(m->env.nrcpts, sizeof(size_t));
			njobs++;
		}
		jobs[j]->rcpts[jobs[j]->nrcpts++] = i;
	}
	m->active_jobs = (int)njobs + 1; /* +1: no settling while we hand out */
	for (size_t j = 0; j < njobs; j++) {
		struct dest *d = jobs[j]->dest;
		dest_add_job(d, jobs[j]);
		dest_kick(d);
	}
	free(jobs);
	if (--m->active_jobs == 0)
		settle(m, NULL);
}

void
qmgr_job_done(struct job *job, struct rcpt_result *results, size_t n)
{
	struct qmsg *m = job->msg;
	int last = m->active_jobs == 1 && m->deferred == 0;

	/* The pass's last job, and nothing deferred: settle() removes the
	 * message right after this, so the file need not hear of each
	 * recipient (a write per message less). Otherwise a result already
	 * had must outlive a crash. */
	for (size_t i = 0; i < n && last; i++)
		if (results[i].res.status == DS_DEFER)
			last = 0;
	for (size_t i = 0; i < n; i++)
		record(m, results[i].index, &results[i].res, !last, job->dest);
	free(job->rcpts);
	free(job);
	if (--m->active_jobs == 0)
		settle(m, NULL);
}

static void
run_due(struct qmgr *q)
{
	time_t now = time(NULL);

	while (heap_len > 0 && heap[0]->next_try <= now) {
		struct qmsg *m = heap[0];
		heap_remove(m);
		start(m);
	}
	rearm(q);
}

void
qmgr_add(struct qmgr *q, const char *id, int now)
{
	struct qmsg *m = table_find(q, id);

	if (m != NULL) {
		/* known: a nudge makes a waiting message due, and has a held
		 * one read again (released?) */
		if (now && m->in_wait) {
			heap_remove(m);
			m->next_try = 0;
			heap_push(m);
		} else if (now && m->held && !m->loaded) {
			m->next_try = 0;
			heap_push(m);
		}
	} else {
		if (q->nmsgs + 1 > q->table_size)
			table_grow(q);
		m = xcalloc(1, sizeof(*m));
		strlcpy(m->id, id, sizeof(m->id));
		m->q = q;
		m->fd = -1;
		m->hnext = q->table[hash_id(id, q->table_size)];
		q->table[hash_id(id, q->table_size)] = m;
		q->nmsgs++;
		heap_push(m); /* next_try 0: read it as soon as possible */
	}
	rearm(q);
}

size_t
qmgr_size(const struct qmgr *q)
{
	return q->nmsgs;
}

long
qmgr_backoff(const struct moat_conf *conf, int attempts)
{
	long d = conf->limits.retry_min;

	for (int i = 1; i < attempts && d < conf->limits.retry_max; i++)
		d *= 2;
	return d > conf->limits.retry_max ? conf->limits.retry_max : d;
}

static void
wake_cb(evutil_socket_t fd, short what, void *arg)
{
	run_due(arg);
}

/*
 * retry - moatctl queue retry: the destinations of the message's pending
 * recipients are tried again even if a failure marked them unreachable a
 * moment ago (the operator says the next hop is back), then the message
 * is due now. The control process has set its file's next try to 0.
 */
static void
retry(struct qmgr *q, const char *id)
{
	struct envelope env;
	int fd, revived = 0;

	if ((fd = openat(q->queue_dirfd, id, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1)
		return; /* gone meanwhile */
	if (envelope_read(fd, &env) == 0) {
		for (size_t i = 0; i < env.nrcpts; i++) {
			struct dest *d;
			if (env.rcpts[i].status == RCPT_PENDING &&
			    (d = route_rcpt(q, env.rcpts[i].addr)) != NULL)
				revived += dest_revive(d);
		}
		envelope_free(&env);
	}
	close(fd);
	log_info("queue retry id=%s revived=%d", id, revived);
	qmgr_add(q, id, 1);
}

static void
notify_cb(evutil_socket_t fd, short what, void *arg)
{
	struct qmgr *q = arg;
	char buf[SPOOL_NOTIFY_MAX * QID_LEN + 1], id[QID_LEN + 1];
	ssize_t n;

	/* A datagram holds the ids of one committed batch, back to back, or
	 * one retry request (qmgr.h). */
	while ((n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT)) > 0) {
		if (n == QID_LEN + 1 && buf[0] == QMGR_RETRY_MARK) {
			memcpy(id, buf + 1, QID_LEN);
			id[QID_LEN] = '\0';
			if (qid_valid(id, QID_LEN))
				retry(q, id);
			continue;
		}
		if (n % QID_LEN != 0)
			continue;
		for (ssize_t off = 0; off < n; off += QID_LEN) {
			memcpy(id, buf + off, QID_LEN);
			id[QID_LEN] = '\0';
			if (qid_valid(id, QID_LEN))
				qmgr_add(q, id, 1);
		}
	}
}

static void
scan_cb(evutil_socket_t fd, short what, void *arg)
{
	struct qmgr *q = arg;
	int dfd = dup(q->queue_dirfd);
	DIR *dir;
	struct dirent *de;
	struct timeval tv = {q->conf->limits.queue_scan_interval, 0};

	if (dfd == -1 || (dir = fdopendir(dfd)) == NULL) {
		log_warn("queue: scan");
		if (dfd != -1)
			close(dfd);
	} else {
		rewinddir(dir);
		while ((de = readdir(dir)) != NULL)
			if (qid_valid(de->d_name, strlen(de->d_name)) &&
			    table_find(q, de->d_name) == NULL)
				qmgr_add(q, de->d_name, 0);
		closedir(dir);
	}
	evtimer_add(q->scan_ev, &tv);
}

static SSL_CTX *
client_tls_ctx(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL)
		return NULL;
	/* Opportunistic TLS (RFC 7435): encrypt, do not authenticate. */
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	/* DANE is turned on per connection, for MX hosts with TLSA records */
	if (dane_ctx_init(ctx) == -1)
		log_warnx("queue: SSL_CTX_dane_enable failed: no DANE");
	return ctx;
}

struct qmgr *
qmgr_new(struct event_base *base, const struct moat_conf *conf, int notify_fd)
{
	struct qmgr *q = xcalloc(1, sizeof(*q));
	char path[4096];
	struct timeval now = {0, 0};

	q->base = base;
	q->conf = conf;
	q->res = resolver_new(base, conf);
	q->tls_ctx = client_tls_ctx();
	if (conf->mx_tls == TLS_LEVEL_DANE && !conf->dns_validating)
		log_warnx(
		    "queue: mx_tls = dane, but dns_validating is off: no DNS answer "
		    "is secure, MX delivery is opportunistic (may)");
	q->table_size = 1024;
	q->table = xcalloc(q->table_size, sizeof(*q->table));
	TAILQ_INIT(&q->dests);
	snprintf(path, sizeof(path), "%s/queue", conf->spool_dir);
	if ((q->queue_dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		fatal("queue: %s", log_escape_str(path));
	snprintf(path, sizeof(path), "%s/corrupt", conf->spool_dir);
	if ((q->corrupt_dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		fatal("queue: %s", log_escape_str(path));
	q->freelist = freelist_open(conf->spool_dir);
	q->notify_ev = event_new(base, notify_fd, EV_READ | EV_PERSIST, notify_cb, q);
	event_add(q->notify_ev, NULL);
	q->wake_ev = evtimer_new(base, wake_cb, q);
	struct store_config sc;
	store_config_moat(&sc, conf);
	/* Delivery does not need the store: without it, only the counters stop. */
	if ((qstore = store_open(&sc, base)) == NULL)
		log_warnx("queue: no state store in %s; delivery counters are off",
		          log_escape_str(sc.path));
	if (conf->mta_sts)
		q->sts = mtasts_new(base, q->res, conf, qstore);
	struct timeval stv = {STATS_FLUSH_MS / 1000, (STATS_FLUSH_MS % 1000) * 1000};
	qstats_ev = event_new(base, -1, EV_PERSIST, qstats_cb, NULL);
	event_add(qstats_ev, &stv);
	/* The first scan runs at once: it finds what a restart left behind. */
	q->scan_ev = evtimer_new(base, scan_cb, q);
	evtimer_add(q->scan_ev, &now);
	return q;
}

void
qmgr_free(struct qmgr *q)
{
	if (q == NULL)
		return;
	/* Jobs in flight end as deferred, and their messages are settled. */
	conn_shutdown_all();
	/* lookups still running end here: their destinations are still there */
	mtasts_free(q->sts);
	dest_free_all(q);
	for (size_t i = 0; i < q->table_size; i++) {
		struct qmsg *m = q->table[i], *next;
		for (; m; m = next) {
			next = m->hnext;
			msg_free(m);
		}
	}
	free(q->table);
	free(heap);
	heap = NULL;
	heap_len = heap_cap = 0;
	event_free(q->notify_ev);
	event_free(q->scan_ev);
	event_free(q->wake_ev);
	resolver_free(q->res);
	/* Jobs ended above are counted too. */
	event_free(qstats_ev);
	qstats_ev = NULL;
	qstats_flush();
	store_close(qstore);
	qstore = NULL;
	if (q->tls_ctx != NULL)
		SSL_CTX_free(q->tls_ctx);
	outtls_free_all();
	close(q->queue_dirfd);
	close(q->corrupt_dirfd);
	freelist_close(q->freelist);
	free(q);
}
