/* SPDX-License-Identifier: ISC */
/*
 * dest.c - destinations: a FIFO of jobs and the connections that serve it.
 *
 * At most delivery_concurrency connections per destination and
 * delivery_conns_max in all. When every address of a destination fails,
 * the destination is marked dead for a while: its jobs are deferred at once
 * instead of each waiting for its own connect timeout; moatctl queue retry
 * lifts the mark (dest_revive).
 * SECURITY: no network input here; see conn.c and mx.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>

#include "common/ascii.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "deliver/maildir.h"
#include "deliver/qmgr_int.h"

/* dest_lookup - the destination of this key (tag: "" or a configured next
 * hop's), made if new */
static struct dest *
dest_lookup(struct qmgr *q, enum dest_kind kind, int lmtp, const char *name, int port,
            const char *tag)
{
	char key[300];
	struct dest *d;

	snprintf(key, sizeof(key), "%s:%s:%s:%d%s%s",
	         kind == DEST_MX        ? "mx"
	         : kind == DEST_HOST    ? "host"
	         : kind == DEST_LITERAL ? "literal"
	                                : "local",
	         lmtp ? "lmtp" : "smtp", name, port, tag[0] ? "/" : "", tag);
	ascii_lower(key);
	TAILQ_FOREACH(d, &q->dests, entry)
	if (strcmp(d->key, key) == 0) {
		/* keep busy destinations near the front */
		TAILQ_REMOVE(&q->dests, d, entry);
		TAILQ_INSERT_HEAD(&q->dests, d, entry);
		return d;
	}
	d = xcalloc(1, sizeof(*d));
	strlcpy(d->key, key, sizeof(d->key));
	d->kind = kind;
	d->lmtp = lmtp;
	strlcpy(d->name, name, sizeof(d->name));
	d->port = port;
	d->q = q;
	TAILQ_INIT(&d->jobs);
	TAILQ_INIT(&d->idle);
	TAILQ_INSERT_HEAD(&q->dests, d, entry);
	return d;
}

struct dest *
dest_get(struct qmgr *q, enum dest_kind kind, int lmtp, const char *name, int port)
{
	return dest_lookup(q, kind, lmtp, name, port, "");
}

struct dest *
dest_get_nexthop(struct qmgr *q, const char *name, int port,
                 const struct nexthop_conf *nh, const char *tag)
{
	/* two next hops at one address may differ in TLS and login */
	struct dest *d = dest_lookup(q, DEST_HOST, 0, name, port, tag);

	d->nh = nh;
	return d;
}

void
job_finish_all(struct job *job, const struct dresult *res)
{
	struct rcpt_result *rr = xcalloc(job->nrcpts, sizeof(*rr));

	for (size_t i = 0; i < job->nrcpts; i++) {
		rr[i].index = job->rcpts[i];
		rr[i].res = *res;
	}
	qmgr_job_done(job, rr, job->nrcpts);
	free(rr);
}

/* deliver_local - Maildir jobs run here and now, one recipient at a time */
static void
deliver_local(struct dest *d, struct job *job)
{
	struct rcpt_result *rr = xcalloc(job->nrcpts, sizeof(*rr));

	for (size_t i = 0; i < job->nrcpts; i++) {
		rr[i].index = job->rcpts[i];
		maildir_deliver(d->q->conf, &job->msg->env, job->msg->fd, job->rcpts[i],
		                &rr[i].res);
	}
	qmgr_job_done(job, rr, job->nrcpts);
	free(rr);
}

void
dest_add_job(struct dest *d, struct job *job)
{
	job->dest = d;
	if (d->kind == DEST_MAILDIR) {
		deliver_local(d, job);
		return;
	}
	if (d->dead_until > time(NULL)) {
		struct dresult res;
		memset(&res, 0, sizeof(res));
		res.status = DS_DEFER;
		strlcpy(res.relay, d->name, sizeof(res.relay));
		snprintf(res.text, sizeof(res.text), "%s", d->dead_reason);
		job_finish_all(job, &res);
		return;
	}
	TAILQ_INSERT_TAIL(&d->jobs, job, entry);
	d->njobs++;
}

struct job *
dest_take_job(struct dest *d)
{
	struct job *job = TAILQ_FIRST(&d->jobs);

	if (job != NULL) {
		TAILQ_REMOVE(&d->jobs, job, entry);
		d->njobs--;
	}
	return job;
}

void
dest_fail_all(struct dest *d, const struct dresult *res)
{
	struct job *job;

	while ((job = dest_take_job(d)) != NULL)
		job_finish_all(job, res);
}

static void
resolved(struct dest *d, int ok)
{
	if (!ok) {
		/* Permanent (NXDOMAIN, null MX) or temporary: the same for all. */
		if (d->resolve_fail.status == DS_DEFER) {
			d->dead_until = time(NULL) + 60;
			strlcpy(d->dead_reason, d->resolve_fail.text,
			        sizeof(d->dead_reason));
		}
		dest_fail_all(d, &d->resolve_fail);
		return;
	}
	dest_kick(d);
}

void
dest_kick(struct dest *d)
{
	const struct moat_conf *c = d->q->conf;
	time_t now = time(NULL);

	while (d->njobs > 0 && conn_reuse(d))
		;
	if (d->njobs == 0 || d->resolving)
		return;
	if (d->addrs == NULL || d->addrs_expire <= now) {
		d->resolving = 1;
		/* resolved() may have run (and kicked d again) by now: done here. */
		mx_resolve(d, resolved);
		return;
	}
	/* One new connection per waiting job, within the limits. */
	size_t want = d->njobs;
	while (want > 0 && d->active < c->limits.delivery_concurrency &&
	       d->q->conns < c->limits.delivery_conns_max) {
		conn_start(d);
		want--;
	}
}

int
dest_revive(struct dest *d)
{
	int was = d->dead_until > time(NULL);

	d->dead_until = 0;
	/* A next hop that was fixed may have moved too (new MX, new A). */
	if (!d->resolving)
		d->addrs_expire = 0;
	if (was)
		log_info("deliver destination=%s revived", log_escape_str(d->name));
	return was;
}

void
dest_conn_closed(struct dest *d, int delivered_any, const struct dresult *fail)
{
	const struct moat_conf *c = d->q->conf;

	d->active--;
	d->q->conns--;
	if (fail != NULL && !delivered_any) {
		/*
		 * This connection never got through. While others are still
		 * trying, opening more would only hammer a dead host: they take
		 * the queued jobs if they succeed, and the last one to fail
		 * stops the destination for a while (Postfix does too).
		 */
		if (d->active > 0)
			return;
		long pause = c->limits.retry_min < 60 ? c->limits.retry_min : 60;
		d->dead_until = time(NULL) + pause;
		snprintf(d->dead_reason, sizeof(d->dead_reason), "%s", fail->text);
		log_info("deliver destination=%s unreachable-for=%lds text=%s",
		         log_escape_str(d->name), pause, log_escape_str(fail->text));
		dest_fail_all(d, fail);
		return;
	}
	dest_kick(d);
}

void
dest_free_all(struct qmgr *q)
{
	struct dest *d;
	struct dresult res;

	memset(&res, 0, sizeof(res));
	res.status = DS_DEFER;
	snprintf(res.text, sizeof(res.text), "queue runner stopping");
	while ((d = TAILQ_FIRST(&q->dests)) != NULL) {
		TAILQ_REMOVE(&q->dests, d, entry);
		dest_fail_all(d, &res);
		conn_close_idle(d);
		mx_addrs_free(d);
		free(d);
	}
}
