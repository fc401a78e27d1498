/* SPDX-License-Identifier: ISC */
/*
 * conn_txn.c - one message's transaction on a delivery connection (conn.c
 * has the connection): MAIL, the RCPTs and DATA, and what each reply means
 * for the job's recipients. To an SMTP server that offers PIPELINING,
 * MAIL, every RCPT and DATA go in one group (RFC 2920 §3.1, as Postfix
 * does): the message waits for one round trip less. Should every recipient
 * be refused and the server say 354 all the same, only the final dot
 * follows. While jobs wait for a connection, the next one's group goes
 * right behind the final dot (chain()). Otherwise (no PIPELINING, or LMTP,
 * whose DATA must get as many replies as there are accepted recipients)
 * MAIL and the RCPTs go first, pipelined if offered, and DATA once the
 * recipients are known. One final reply (SMTP) or one per accepted
 * recipient (LMTP).
 * SECURITY: every reply is untrusted; client.c bounds and parses them, here
 * only the code and the first line are used.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "common/log.h"
#include "common/mailaddr.h"
#include "common/srs.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "deliver/conn_int.h"
#include "deliver/qmgr_int.h"
#include "smtp/client.h"
#include "smtp/command.h"

/* " NOTIFY=SUCCESS,FAILURE,DELAY ORCPT=type;xtext" at most */
#define DSN_PARAMS_MAX (40 + DSN_ORCPT_MAX * 3 + 8)

/* One message's transaction on a connection. */
struct txn {
	struct conn *cn;
	struct job *job;
	struct rcpt_result *res;
	int *accepted;
	size_t naccepted;
	size_t rcpt_replies;
	size_t data_replies;
	int mail_failed;
	int data_sent; /* DATA went in the group with MAIL and the RCPTs */
	TAILQ_ENTRY(txn) entry;
};

/* set_result - a reply (or local failure) as a delivery result */
static void
set_result(struct conn *cn, struct dresult *res, const struct smtp_reply *r)
{
	char first[512];

	memset(res, 0, sizeof(*res));
	res->status = r->code / 100 == 2   ? DS_SENT
	              : r->code / 100 == 5 ? DS_BOUNCE
	                                   : DS_DEFER;
	/* A local failure is ours: never permanent. */
	if (r->local && res->status == DS_BOUNCE)
		res->status = DS_DEFER;
	strlcpy(res->relay, cn->relay, sizeof(res->relay));
	res->final = cn->d->lmtp;
	res->dsn_passed =
	    !cn->d->lmtp && cn->c != NULL && smtp_client_has_ext(cn->c, "DSN");
	res->tls = 1 + (int)cn->reached;
	smtp_reply_first(r, first, sizeof(first));
	snprintf(res->text, sizeof(res->text), "%s%d %s", r->local ? "local: " : "",
	         r->code, first);
}

/* txn_free - off the connection's list, and gone */
static void
txn_free(struct txn *t)
{
	TAILQ_REMOVE(&t->cn->txns, t, entry);
	t->cn->ntxns--;
	free(t->res);
	free(t->accepted);
	free(t);
}

static void
job_complete(struct txn *t)
{
	struct conn *cn = t->cn;
	struct job *job = t->job;

	cn->msgs++;
	for (size_t i = 0; i < job->nrcpts; i++)
		if (t->res[i].res.status == DS_SENT)
			cn->delivered_any = 1;
	qmgr_job_done(job, t->res, job->nrcpts);
	txn_free(t);
	/* A transaction behind this one ends on its own; a dead client
	 * answers it with its failure. */
	if (cn->ntxns > 0)
		return;
	if (smtp_client_dead(cn->c)) {
		conn_close(cn);
		return;
	}
	conn_next_job(cn);
}

static void
data_cb(struct smtp_client *c, const struct smtp_reply *r, void *arg)
{
	struct txn *t = arg;
	struct conn *cn = t->cn;
	struct job *job = t->job;
	size_t want = cn->d->lmtp ? t->naccepted : 1;

	/* SMTP: one reply for all; LMTP: the index-th accepted recipient */
	for (size_t i = 0, k = 0; i < job->nrcpts; i++) {
		if (!t->accepted[i])
			continue;
		if (!cn->d->lmtp || (int)k == r->index)
			set_result(cn, &t->res[i].res, r);
		k++;
	}
	if (r->code / 100 != 2)
		cn->need_rset = 1;
	if (++t->data_replies >= want)
		job_complete(t);
}

/*
 * chain - the server said 354 to t's DATA, sent in one group with its MAIL
 * and RCPTs, and the body is on its way: the next waiting job's MAIL, RCPTs
 * and DATA go in the same write, right behind the final dot (RFC 2920 §3.1:
 * the content may begin a group), and their replies come back with the
 * dot's. A message costs the connection one write and one read instead of
 * two each, on both ends. Only when jobs wait, that is, when every
 * connection the destination may have is busy.
 */
static void
chain(struct smtp_client *c, const struct smtp_reply *r, void *arg)
{
	struct txn *t = arg;
	struct conn *cn = t->cn;
	struct job *job;

	if (cn->ntxns != 1 || smtp_client_dead(c) ||
	    cn->msgs + cn->ntxns >= cn->d->q->conf->limits.delivery_msgs_per_conn)
		return;
	if ((job = dest_take_job(cn->d)) != NULL)
		conn_send_job(cn, job);
}

/* read_body - the message from the queue file; NULL (and errno) if it cannot */
static struct evbuffer *
read_body(const struct job *job)
{
	const struct envelope *env = &job->msg->env;
	struct evbuffer *body = evbuffer_new();
	struct evbuffer_iovec v;
	ssize_t n = -1;

	/* Read straight into the buffer the client sends from: no copy. */
	if (body != NULL && evbuffer_reserve_space(
	                        body, env->size ? (ev_ssize_t)env->size : 1, &v, 1) == 1)
		n = pread(job->msg->fd, v.iov_base, env->size, env->body_off);
	if (n != (ssize_t)env->size) {
		if (n >= 0)
			errno = EIO; /* short: the file changed under us */
		if (body != NULL)
			evbuffer_free(body);
		return NULL;
	}
	v.iov_len = env->size;
	evbuffer_commit_space(body, &v, 1);
	return body;
}

/*
 * A message up to this size is read whole when its DATA is queued; a
 * larger one a piece at a time as the connection takes it, through a
 * descriptor of its own (smtp_client_data_file()): memory stays bounded
 * however large messages come, and a 10 MiB message no longer costs the
 * page faults of a 10 MiB buffer on every delivery.
 */
#define BODY_WHOLE_MAX (256 * 1024)

/* body_source - the DATA to come: *body (read whole) or *fd (a descriptor
 * of the queue file, read as it goes); -1 (errno) if neither */
static int
body_source(const struct job *job, struct evbuffer **body, int *fd)
{
	*body = NULL;
	*fd = -1;
	if (job->msg->env.size > BODY_WHOLE_MAX) {
		*fd = fcntl(job->msg->fd, F_DUPFD_CLOEXEC, 0);
		return *fd == -1 ? -1 : 0;
	}
	*body = read_body(job);
	return *body == NULL ? -1 : 0;
}

/* queue_data - DATA, with what body_source() gave */
static void
queue_data(struct conn *cn, struct txn *t, struct evbuffer *body, int fd, size_t nrcpt)
{
	const struct envelope *env = &t->job->msg->env;

	if (body != NULL)
		smtp_client_data(cn->c, body, nrcpt, data_cb, t);
	else
		smtp_client_data_file(cn->c, fd, env->body_off, env->size, nrcpt, data_cb,
		                      t);
}

static void
send_body(struct txn *t)
{
	struct conn *cn = t->cn;
	struct evbuffer *body;
	int fd;

	if (body_source(t->job, &body, &fd) == -1) {
		struct dresult res;
		memset(&res, 0, sizeof(res));
		res.status = DS_DEFER;
		strlcpy(res.relay, cn->relay, sizeof(res.relay));
		snprintf(res.text, sizeof(res.text), "local: cannot read queue file: %s",
		         strerror(errno));
		for (size_t i = 0; i < t->job->nrcpts; i++)
			t->res[i].res = res;
		cn->need_rset = 1;
		job_complete(t);
		return;
	}
	queue_data(cn, t, body, fd, t->naccepted);
}

static void
rcpt_cb(struct smtp_client *c, const struct smtp_reply *r, void *arg)
{
	struct txn *t = arg;
	struct conn *cn = t->cn;
	size_t i = t->rcpt_replies++;

	if (!t->mail_failed) {
		if (r->code / 100 == 2) {
			t->accepted[i] = 1;
			t->naccepted++;
		} else
			set_result(cn, &t->res[i].res, r);
	}
	if (t->rcpt_replies < t->job->nrcpts)
		return;
	if (t->mail_failed || t->naccepted == 0) {
		cn->need_rset = 1;
		if (t->data_sent) {
			/* DATA's reply follows; data_cb completes the job. */
			smtp_client_data_drop_body(cn->c);
			return;
		}
		job_complete(t);
		return;
	}
	if (!t->data_sent)
		send_body(t);
}

static void
mail_cb(struct smtp_client *c, const struct smtp_reply *r, void *arg)
{
	struct txn *t = arg;

	if (r->code / 100 == 2)
		return;
	/* MAIL refused: every recipient shares its fate (RCPT replies follow). */
	t->mail_failed = 1;
	for (size_t i = 0; i < t->job->nrcpts; i++)
		set_result(t->cn, &t->res[i].res, r);
}

static void
ignore_cb(struct smtp_client *c, const struct smtp_reply *r, void *arg)
{
}

/*
 * utf8_refused - a message that needs SMTPUTF8, and a next hop that does
 * not offer it: every recipient bounces with 5.6.7 (RFC 6531 §3.2: no
 * silent downgrade), and the connection goes on with its next job (a run
 * of such jobs recurses through conn_next_job() at most
 * delivery_msgs_per_conn deep: each one counts as a message)
 */
static void
utf8_refused(struct conn *cn, struct txn *t)
{

	for (size_t i = 0; i < t->job->nrcpts; i++) {
		struct dresult *res = &t->res[i].res;
		memset(res, 0, sizeof(*res));
		res->status = DS_BOUNCE;
		strlcpy(res->relay, cn->relay, sizeof(res->relay));
		snprintf(res->text, sizeof(res->text),
		         "554 5.6.7 the next hop does not offer SMTPUTF8, which this "
		         "message needs (RFC 6531: no downgrade)");
	}
	job_complete(t);
}

/* rcpt_dsn_params - " NOTIFY=... ORCPT=..." for a next hop offering DSN */
static void
rcpt_dsn_params(int dsn, const struct env_rcpt *r, char *out, size_t outsz)
{
	char buf[64], x[DSN_ORCPT_MAX * 3 + 1];
	const char *semi;

	out[0] = '\0';
	if (!dsn)
		return;
	if (r->notify != 0) {
		strlcat(out, " NOTIFY=", outsz);
		strlcat(out, dsn_notify_format(r->notify, buf, sizeof(buf)), outsz);
	}
	if (r->orcpt != NULL && (semi = strchr(r->orcpt, ';')) != NULL) {
		/* the type as it is, the address as xtext */
		xtext_encode(semi + 1, x, sizeof(x));
		snprintf(out + strlen(out), outsz - strlen(out), " ORCPT=%.*s;%s",
		         (int)(semi - r->orcpt), r->orcpt, x);
	}
}

/*
 * job_sender - the envelope sender a job goes out with: with SRS, a
 * stranger's message to remote addresses is a forward (a stranger cannot
 * relay: only an alias, a lookup's target or an SRS bounce leads there),
 * and its sender is rewritten so that SPF passes at the next hop. Mail
 * from trusted networks and authenticated users is relayed as it came.
 */
static const char *
job_sender(const struct conn *cn, const struct job *job, char *buf, size_t bufsz)
{
	const struct moat_conf *c = cn->d->q->conf;
	const struct envelope *env = &job->msg->env;
	const char *sat = strrchr(env->sender, '@');
	int remote = 0;

	/* one remote recipient makes it a forward (a next hop a local domain
	 * shares with the relayhost may carry both) */
	for (size_t i = 0; i < job->nrcpts && !remote; i++) {
		const char *at = strrchr(env->rcpts[job->rcpts[i]].addr, '@');
		remote = at != NULL && conf_domain_find(c, at + 1) == NULL;
	}
	if (c->srs == NULL || env->origin != ORIGIN_STRANGER || !remote ||
	    (sat != NULL && conf_domain_find(c, sat + 1) != NULL) ||
	    srs_forward(c->srs, env->sender, time(NULL), buf, bufsz) != SRS_OK)
		return env->sender;
	log_info("deliver id=%s srs sender=%s rewritten=%s", env->id,
	         log_escape_addr(env->sender), log_escape_addr(buf));
	return buf;
}

void
conn_send_job(struct conn *cn, struct job *job)
{
	const struct envelope *env = &job->msg->env;
	struct evbuffer *body = NULL;
	int fd = -1, have_body = 0;
	struct txn *t = xcalloc(1, sizeof(*t));
	char srsbuf[MAILADDR_FMT_MAX];
	const char *sender = job_sender(cn, job, srsbuf, sizeof(srsbuf));

	t->cn = cn;
	t->job = job;
	t->res = xcalloc(job->nrcpts, sizeof(*t->res));
	t->accepted = xcalloc(job->nrcpts, sizeof(int));
	TAILQ_INSERT_TAIL(&cn->txns, t, entry);
	cn->ntxns++;
	for (size_t i = 0; i < job->nrcpts; i++)
		t->res[i].index = job->rcpts[i];
	if (env->smtputf8 && !smtp_client_has_ext(cn->c, "SMTPUTF8")) {
		utf8_refused(cn, t);
		return;
	}
	/* If the message cannot be read now, DATA waits for the recipients
	 * and send_body() reports it then. */
	if (!cn->d->lmtp && smtp_client_pipelining(cn->c))
		have_body = body_source(job, &body, &fd) == 0;
	if (cn->need_rset) {
		smtp_client_cmd(cn->c, ignore_cb, cn, "RSET");
		cn->need_rset = 0;
	}
	/* DSN (RFC 3461 §5.2): what the sender asked goes on to a next hop
	 * that offers it; to one that does not, we report "relayed" */
	char mparams[200] = "", rparams[DSN_PARAMS_MAX];
	int dsn = smtp_client_has_ext(cn->c, "DSN");
	if (smtp_client_size(cn->c) >= 0)
		snprintf(mparams, sizeof(mparams), " SIZE=%zu", env->size);
	if (dsn && env->ret != 0)
		strlcat(mparams, env->ret == ENV_RET_HDRS ? " RET=HDRS" : " RET=FULL",
		        sizeof(mparams));
	if (dsn && env->envid != NULL) {
		char x[DSN_ENVID_MAX * 3 + 1];
		xtext_encode(env->envid, x, sizeof(x));
		strlcat(mparams, " ENVID=", sizeof(mparams));
		strlcat(mparams, x, sizeof(mparams));
	}
	if (env->smtputf8)
		strlcat(mparams, " SMTPUTF8", sizeof(mparams));
	smtp_client_cmd(cn->c, mail_cb, t, "MAIL FROM:<%s>%s", sender, mparams);
	for (size_t i = 0; i < job->nrcpts; i++) {
		const struct env_rcpt *r = &env->rcpts[job->rcpts[i]];
		rcpt_dsn_params(dsn, r, rparams, sizeof(rparams));
		smtp_client_cmd(cn->c, rcpt_cb, t, "RCPT TO:<%s>%s", r->addr, rparams);
	}
	if (have_body) {
		queue_data(cn, t, body, fd, job->nrcpts);
		smtp_client_data_sending(cn->c, chain);
		t->data_sent = 1;
	}
}

/* ---- the connection ---- */

void
conn_txn_drop_all(struct conn *cn, const char *why)
{
	struct txn *t;

	while ((t = TAILQ_FIRST(&cn->txns)) != NULL) {
		struct dresult res;
		memset(&res, 0, sizeof(res));
		res.status = DS_DEFER;
		strlcpy(res.relay, cn->relay, sizeof(res.relay));
		strlcpy(res.text, why, sizeof(res.text));
		job_finish_all(t->job, &res);
		txn_free(t);
	}
}
