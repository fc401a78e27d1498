/* SPDX-License-Identifier: ISC */
/*
 * control_queue.c - the control commands on the mail queue: queue list
 * [--json],
 * queue show ID, queue retry ID|all, queue delete ID, queue hold ID|all,
 * queue release ID|all.
 *
 * They read spool_dir/queue directly (the control process runs as the run
 * user, who owns it). A retry sets the file's next try to 0 and asks the
 * queue runner to retry the id (qmgr.h: it also forgets that the message's
 * destinations were unreachable); a request that cannot be sent only means
 * the message waits for its old time (the runner reads the file's next try
 * when it gets there). A delete
 * removes the file (the runner forgets a message whose file is gone) and
 * the message's reason for waiting in the store ("why:ID"). Hold
 * and release set the file's hold flag (envelope.h); a release nudges the
 * runner, which reads the file again and delivers it. A hold does not stop
 * a delivery attempt already under way.
 * SECURITY: a queue id argument must be QID_LEN upper-case hex digits
 * before it is used as a file name. Queue files hold client text
 * (addresses, HELO): it is escaped before it is printed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/json.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "deliver/qmgr.h"
#include "moatd/control_int.h"
#include "queue/envelope.h"
#include "store/store.h"

typedef char qid_buf[QID_LEN + 1];

/* qid_cmp - qsort order of ids: by name, that is by arrival */
static int
qid_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* queue_ids - the ids in the queue, oldest first; -1 if unreadable */
static int
queue_ids(struct control *ctl, qid_buf **out, size_t *n)
{
	qid_buf *ids = NULL;
	size_t cap = 0;
	struct dirent *de;
	DIR *dir;
	int fd;

	*out = NULL;
	*n = 0;
	if (ctl->queue_dirfd == -1 || (fd = dup(ctl->queue_dirfd)) == -1)
		return -1;
	if ((dir = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	rewinddir(dir);
	while ((de = readdir(dir)) != NULL) {
		if (!qid_valid(de->d_name, strlen(de->d_name)))
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			ids = xreallocarray(ids, cap, sizeof(*ids));
		}
		strlcpy(ids[(*n)++], de->d_name, sizeof(qid_buf));
	}
	closedir(dir);
	/* Ids begin with the arrival time in hex: name order is age order. */
	if (*n > 0)
		qsort(ids, *n, sizeof(*ids), qid_cmp);
	*out = ids;
	return 0;
}

/* ctl_queue_count - messages in the queue directory, -1 if unreadable */
long
ctl_queue_count(struct control *ctl)
{
	qid_buf *ids;
	size_t n;

	if (queue_ids(ctl, &ids, &n) == -1)
		return -1;
	free(ids);
	return (long)n;
}

/* open_env - open and read one queue file; -1 missing, -2 damaged */
static int
open_env(struct control *ctl, const char *id, int flags, struct envelope *env)
{
	int fd;

	if (ctl->queue_dirfd == -1)
		return -2;
	fd = openat(ctl->queue_dirfd, id, flags | O_CLOEXEC | O_NOFOLLOW);
	if (fd == -1)
		return errno == ENOENT ? -1 : -2;
	if (envelope_read(fd, env) == -1) {
		close(fd);
		return -2;
	}
	return fd;
}

/* id_arg - a queue id argument, or an error answered */
static int
id_arg(struct ctl_conn *c, const char *arg)
{
	if (qid_valid(arg, strlen(arg)))
		return 0;
	ctl_error(c, "%s is not a queue id", log_escape_str(arg));
	return -1;
}

/* not_there - the error for a message that is missing (-1) or unreadable */
static void
not_there(struct ctl_conn *c, const char *id, int why)
{
	if (why == -1)
		ctl_error(c, "no message %s in the queue", id);
	else
		ctl_error(c, "message %s cannot be read (damaged?)", id);
}

/*
 * list_json - a message of queue list --json: one JSON object a line (JSON
 * Lines: a long queue streams, and each line parses alone). Times are Unix
 * seconds, next 0 when it is due now; the sender is a JSON string (json.h)
 * without angle brackets, "" for the null sender.
 */
static void
list_json(struct ctl_conn *c, const struct envelope *env, size_t pending, const char *why)
{
	char sender[JSON_ESCAPE_MAX * 300], whyq[JSON_ESCAPE_MAX * 520] = "";

	json_quote(sender, sizeof(sender), 0, env->sender,
	           env->sender != NULL ? strlen(env->sender) : 0);
	if (why != NULL)
		json_quote(whyq, sizeof(whyq), 0, why, strlen(why));
	ctl_line(c,
	         "{\"id\":\"%s\",\"arrival\":%lld,\"size\":%zu,\"attempts\":%d,"
	         "\"next\":%lld,\"rcpts\":%zu,\"pending\":%zu,\"held\":%s,"
	         "\"sender\":%s%s%s}",
	         env->id, (long long)env->arrival, env->size, env->attempts,
	         (long long)env->next, env->nrcpts, pending, env->held ? "true" : "false",
	         sender, why != NULL ? ",\"why\":" : "", whyq);
}

/*
 * Why messages wait: the queue runner keeps the reason of each deferral in
 * the store as "why:ID" (deliver/qmgr.c); queue list reads them all first,
 * then lists.
 */
#define WHY_MAX      100000 /* reasons read for one listing */
#define WHY_TEXT_MAX 512
struct why {
	char id[QID_LEN + 1];
	char *text;
};
struct whys {
	struct why *v;
	size_t n, cap;
};

static void
whys_free(void *arg)
{
	struct whys *w = arg;

	for (size_t i = 0; w != NULL && i < w->n; i++)
		free(w->v[i].text);
	if (w != NULL)
		free(w->v);
	free(w);
}

static int
why_cmp(const void *a, const void *b)
{
	return strcmp(((const struct why *)a)->id, ((const struct why *)b)->id);
}

/* why_each - one stored reason (checked: a queue id, bounded text) */
static int
why_each(const char *key, const void *val, size_t len, time_t expires, void *arg)
{
	struct ctl_conn *c = arg;
	struct whys *w = c->scratch;
	const char *id = key + 4;

	if (!qid_valid(id, strlen(id)) || w->n >= WHY_MAX)
		return 0;
	if (w->n == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 64;
		w->v = xreallocarray(w->v, w->cap, sizeof(*w->v));
	}
	strlcpy(w->v[w->n].id, id, sizeof(w->v[w->n].id));
	xasprintf(&w->v[w->n].text, "%.*s",
	          (int)(len < WHY_TEXT_MAX ? len : WHY_TEXT_MAX), (const char *)val);
	w->n++;
	return 0;
}

/* why_of - the stored reason of id, or NULL */
static const char *
why_of(struct ctl_conn *c, const char *id)
{
	struct whys *w = c->scratch;
	struct why k, *hit;

	if (w == NULL || w->n == 0)
		return NULL;
	strlcpy(k.id, id, sizeof(k.id));
	hit = bsearch(&k, w->v, w->n, sizeof(*w->v), why_cmp);
	return hit != NULL ? hit->text : NULL;
}

/* why_scan_done - the reasons are read (a failed scan only leaves them out) */
static void
why_scan_done(enum store_status st, void *arg)
{
	struct ctl_conn *c = arg;
	struct whys *w = c->scratch;

	if (w->n > 0)
		qsort(w->v, w->n, sizeof(*w->v), why_cmp);
	ctl_release(c);
}

static void list_all(struct ctl_conn *c);

/* ctl_queue_list - one line per message, oldest first; with --json, one
 * JSON object per message (list_json) */
void
ctl_queue_list(struct ctl_conn *c, const struct ctl_req *r)
{
	int json = r->argc == 1 && strcmp(r->argv[0], "--json") == 0;

	if (r->argc == 1 && !json) {
		ctl_error(c, "queue list takes --json or nothing");
		return;
	}
	c->counts[0] = json;
	if (c->ctl->store == NULL) {
		list_all(c);
		return;
	}
	c->scratch = xcalloc(1, sizeof(struct whys));
	c->scratch_free = whys_free;
	c->complete = list_all;
	ctl_hold(c);
	store_scan(c->ctl->store, "why:", why_each, why_scan_done, c);
}

/* list_all - the lines of queue list, with the reasons read (if any) */
static void
list_all(struct ctl_conn *c)
{
	char arrival[32], next[32];
	struct envelope env;
	qid_buf *ids;
	size_t n;
	int json = (int)c->counts[0];

	if (queue_ids(c->ctl, &ids, &n) == -1) {
		ctl_error(c, "cannot read the queue directory");
		return;
	}
	for (size_t i = 0; i < n; i++) {
		size_t pending = 0;
		int fd = open_env(c->ctl, ids[i], O_RDONLY, &env);
		if (fd == -1)
			continue; /* delivered meanwhile */
		if (fd == -2) {
			if (json)
				ctl_line(c, "{\"id\":\"%s\",\"damaged\":true}", ids[i]);
			else
				ctl_line(c, "%s damaged", ids[i]);
			continue;
		}
		close(fd);
		for (size_t j = 0; j < env.nrcpts; j++)
			pending += env.rcpts[j].status == RCPT_PENDING;
		const char *why = pending > 0 ? why_of(c, ids[i]) : NULL;
		if (json) {
			list_json(c, &env, pending, why);
			envelope_free(&env);
			continue;
		}
		ctl_time(arrival, sizeof(arrival), env.arrival);
		if (env.next == 0)
			strlcpy(next, "now", sizeof(next));
		else
			ctl_time(next, sizeof(next), env.next);
		ctl_line(
		    c,
		    "%s arrival=%s size=%zu attempts=%d next=%s rcpts=%zu pending=%zu "
		    "held=%s sender=%s%s%s",
		    ids[i], arrival, env.size, env.attempts, next, env.nrcpts, pending,
		    env.held ? "yes" : "no", log_escape_addr(env.sender),
		    why != NULL ? " why=" : "", why != NULL ? log_escape_str(why) : "");
		envelope_free(&env);
	}
	free(ids);
}

/* field - "name value" with the value escaped; nothing for a missing one */
static void
field(struct ctl_conn *c, const char *name, const char *val)
{
	if (val != NULL)
		ctl_line(c, "%s %s", name, log_escape_str(val));
}

/* ctl_queue_show - the envelope of one message, a line per field */
void
ctl_queue_show(struct ctl_conn *c, const struct ctl_req *r)
{
	char t[32];
	struct envelope env;
	int fd;

	if (id_arg(c, r->argv[0]) == -1)
		return;
	if ((fd = open_env(c->ctl, r->argv[0], O_RDONLY, &env)) < 0) {
		not_there(c, r->argv[0], fd);
		return;
	}
	close(fd);
	ctl_line(c, "id %s", env.id);
	ctl_line(c, "arrival %s", ctl_time(t, sizeof(t), env.arrival));
	ctl_line(c, "size %zu", env.size);
	ctl_line(c, "attempts %d", env.attempts);
	ctl_line(c, "next %s", env.next == 0 ? "now" : ctl_time(t, sizeof(t), env.next));
	ctl_line(c, "held %s", env.held ? "yes" : "no");
	ctl_line(c, "origin %s", origin_name(env.origin));
	field(c, "client", env.client);
	field(c, "helo", env.helo);
	field(c, "auth", env.auth);
	ctl_line(c, "sender %s", log_escape_addr(env.sender));
	for (size_t i = 0; i < env.nrcpts; i++)
		ctl_line(c, "rcpt %s %s",
		         env.rcpts[i].status == RCPT_PENDING     ? "pending"
		         : env.rcpts[i].status == RCPT_DELIVERED ? "delivered"
		         : env.rcpts[i].status == RCPT_BOUNCED   ? "bounced"
		                                                 : "unknown",
		         log_escape_addr(env.rcpts[i].addr));
	envelope_free(&env);
}

/* retry_one - next try now, and tell the queue runner; as open_env on failure */
static int
retry_one(struct ctl_conn *c, const char *id)
{
	struct envelope env;
	int fd, rc = 0;

	if ((fd = open_env(c->ctl, id, O_RDWR, &env)) < 0)
		return fd;
	if (envelope_set_retry(fd, &env, env.attempts, 0) == -1) {
		log_warn("control: %s: cannot set the next try", id);
		rc = -2;
	}
	envelope_free(&env);
	close(fd);
	if (rc == 0) {
		char req[QID_LEN + 1];
		req[0] = QMGR_RETRY_MARK;
		memcpy(req + 1, id, QID_LEN);
		if (send(c->ctl->notify_fd, req, sizeof(req),
		         MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)sizeof(req))
			ctl_line(c,
			         "retry %s (at its old time: the queue runner is busy)",
			         id);
		else
			ctl_line(c, "retry %s", id);
	}
	return rc;
}

/* ctl_queue_retry - queue retry ID|all: deliver now */
void
ctl_queue_retry(struct ctl_conn *c, const struct ctl_req *r)
{
	qid_buf *ids;
	size_t n;
	int rc;

	if (strcmp(r->argv[0], "all") != 0) {
		if (id_arg(c, r->argv[0]) == 0 && (rc = retry_one(c, r->argv[0])) < 0)
			not_there(c, r->argv[0], rc);
		return;
	}
	if (queue_ids(c->ctl, &ids, &n) == -1) {
		ctl_error(c, "cannot read the queue directory");
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (retry_one(c, ids[i]) == -2)
			ctl_line(c, "%s damaged: not retried", ids[i]);
	free(ids);
}

/* why_deleted - the store removed a deleted message's "why:ID" (or had none) */
static void
why_deleted(enum store_status st, void *arg)
{
	struct ctl_conn *c = arg;

	if (st == STORE_ERROR)
		log_warnx("control: queue delete: the store kept a reason it was "
		          "asked to remove; it expires with queue_lifetime");
	ctl_release(c);
}

/* ctl_queue_delete - remove a message without a bounce, and its reason for
 * waiting (deliver/qmgr.c why_keep()); the reply waits for the store */
void
ctl_queue_delete(struct ctl_conn *c, const struct ctl_req *r)
{
	const char *id = r->argv[0];
	char key[8 + QID_LEN];

	if (id_arg(c, id) == -1)
		return;
	if (c->ctl->queue_dirfd == -1) {
		ctl_error(c, "cannot read the queue directory");
		return;
	}
	if (unlinkat(c->ctl->queue_dirfd, id, 0) == -1) {
		if (errno == ENOENT)
			not_there(c, id, -1);
		else
			ctl_error(c, "cannot remove %s: %s", id, strerror(errno));
		return;
	}
	ctl_line(c, "deleted %s", id);
	if (c->ctl->store != NULL) {
		snprintf(key, sizeof(key), "why:%s", id);
		ctl_hold(c);
		store_del(c->ctl->store, key, why_deleted, c);
	}
}

/* hold_one - set the hold flag of one message (and nudge the runner on a
 * release); as open_env on failure, -3 for a file without the record */
static int
hold_one(struct ctl_conn *c, const char *id, int held)
{
	struct envelope env;
	int fd, rc = 0;

	if ((fd = open_env(c->ctl, id, O_RDWR, &env)) < 0)
		return fd;
	if (env.held == held) {
		ctl_line(c, "%s %s already", id, held ? "held" : "not held");
		envelope_free(&env);
		close(fd);
		return 0;
	}
	if (envelope_set_hold(fd, &env, held) == -1 || fsync(fd) == -1)
		rc = env.hold_off == 0 ? -3 : -2;
	envelope_free(&env);
	close(fd);
	if (rc == -2)
		log_warn("control: %s: cannot set the hold flag", id);
	if (rc < 0)
		return rc;
	if (!held)
		(void)send(c->ctl->notify_fd, id, QID_LEN, MSG_DONTWAIT | MSG_NOSIGNAL);
	log_info("control: queue %s %s", held ? "hold" : "release", id);
	ctl_line(c, "%s %s", held ? "held" : "released", id);
	return 0;
}

static void
hold_cmd(struct ctl_conn *c, const struct ctl_req *r, int held)
{
	qid_buf *ids;
	size_t n;
	int rc;

	if (strcmp(r->argv[0], "all") != 0) {
		if (id_arg(c, r->argv[0]) == -1)
			return;
		if ((rc = hold_one(c, r->argv[0], held)) == -3)
			ctl_error(c,
			          "message %s is from an older moatd: it cannot be "
			          "held",
			          r->argv[0]);
		else if (rc < 0)
			not_there(c, r->argv[0], rc);
		return;
	}
	if (queue_ids(c->ctl, &ids, &n) == -1) {
		ctl_error(c, "cannot read the queue directory");
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (hold_one(c, ids[i], held) < -1)
			ctl_line(c, "%s cannot be %s", ids[i],
			         held ? "held" : "released");
	free(ids);
}

/* ctl_queue_hold - queue hold ID|all: keep it, undelivered */
void
ctl_queue_hold(struct ctl_conn *c, const struct ctl_req *r)
{
	hold_cmd(c, r, 1);
}

/* ctl_queue_release - queue release ID|all: deliver it after all */
void
ctl_queue_release(struct ctl_conn *c, const struct ctl_req *r)
{
	hold_cmd(c, r, 0);
}
