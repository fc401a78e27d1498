/* SPDX-License-Identifier: ISC */
/*
 * smtpd.c - an SMTP worker: accepts on the inherited listener sockets and
 * runs sessions on one event loop. Every second the counters that grew
 * since the last time are added to the store (stat:NAME), so moatctl stats
 * sums all workers; an addition that fails is tried again, none is sent
 * twice.
 * SECURITY: accepts connections from anyone; beyond sessions_max a client
 * gets 421 before any session state is allocated.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "dns/resolver.h"
#include "queue/spool.h"
#include "smtp/session.h"
#include "smtp/smtpd.h"
#include "auth/authdb.h"
#include "policy/authfail.h"
#include "policy/policy.h"
#include "policy/sender_login.h"
#include "store/store.h"
#include <openssl/ssl.h>

/* The longest command line any state accepts (AUTH lines, RFC 4954 §4). */
#define AUTH_LINE_MAX 12288

#define STATS_FLUSH_MS 1000

/* The store counters this worker adds to, and where each is counted. */
static const struct {
	const char *key;
	size_t off;
} stat_keys[] = {
    {"stat:sessions", offsetof(struct smtpd_stats, sessions)},
    {"stat:messages", offsetof(struct smtpd_stats, messages)},
    {"stat:rejected_rcpts", offsetof(struct smtpd_stats, rejected_rcpts)},
    {"stat:refused_connect", offsetof(struct smtpd_stats, refused_connect)},
};

#define STAT(st, off) (*(uint64_t *)((char *)(st) + (off)))

/* stats_flush - add what each counter gained since the last flush */
static void
stats_flush(struct smtpd *sd)
{
	for (size_t i = 0; i < sizeof(stat_keys) / sizeof(stat_keys[0]); i++)
		store_counter_flush(sd->store, stat_keys[i].key,
		                    STAT(&sd->stats, stat_keys[i].off),
		                    &STAT(&sd->stats_sent, stat_keys[i].off));
}

/* stats_cb - the flush timer */
static void
stats_cb(evutil_socket_t fd, short what, void *arg)
{
	stats_flush(arg);
}

static void
accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
          void *arg)
{
	struct smtpd *sd = arg;
	size_t i;

	for (i = 0; i < sd->nlisteners; i++)
		if (sd->listeners[i] == l)
			break;
	if (sd->draining || sd->nsessions >= sd->sessions_max) {
		char msg[300];
		int n = snprintf(msg, sizeof(msg),
		                 "421 4.7.0 %s Error: too many connections\r\n",
		                 sd->conf->hostname);
		ssize_t w = send(fd, msg, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
		(void)w;
		close(fd);
		sd->stats.refused_connect++;
		log_info("smtp refuse client=- stage=connect rule=sessions-max "
		         "reply=\"421 4.7.0\"");
		return;
	}
	session_start(sd, &sd->conf->listeners[i], fd, sa, salen);
}

static void
accept_error_cb(struct evconnlistener *l, void *arg)
{
	/* EMFILE and friends: local trouble; keep listening. */
	log_warn("smtp: accept");
}

/* purge_cb - expired store entries give their space back */
static void
purge_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtpd *sd = arg;
	store_purge(sd->store, NULL, NULL);
}

struct smtpd *
smtpd_new(struct event_base *base, const struct moat_conf *conf, const int *fds,
          size_t nfds, int notify_fd, size_t sessions_max, SSL_CTX *tls_ctx)
{
	struct smtpd *sd = xcalloc(1, sizeof(*sd));
	size_t maxline = (size_t)conf->limits.command_line_max + 26 + 500;

	sd->base = base;
	sd->conf = conf;
	sd->sessions_max = sessions_max;
	TAILQ_INIT(&sd->sessions);
	sd->next_sid = ((unsigned long long)getpid() << 24);
	if (maxline < AUTH_LINE_MAX)
		maxline = AUTH_LINE_MAX;
	sd->linebuf_sz = maxline + 1;
	sd->linebuf = xmalloc(sd->linebuf_sz);
	sd->res = resolver_new(base, conf);
	sd->spool = spool_new(base, conf->spool_dir, notify_fd, conf->spool_sync,
	                      conf->limits.journal_retire);
	sd->tls_ctx = tls_ctx;
	sd->authdb = authdb_new(base, conf);
	sd->authfail = authfail_new(conf);
	sd->sender_map = sender_map_load(conf->auth_sender_map);
	struct store_config sc;
	store_config_defaults(&sc);
	snprintf(sc.path, sizeof(sc.path), "%s/store", conf->state_dir);
	sc.map_size = (size_t)conf->limits.store_map_mb << 20;
	sc.sync_ms = (unsigned)conf->limits.store_sync_ms;
	if ((sd->store = store_open(&sc, base)) == NULL)
		fatalx("smtp: cannot open the state store in %s", sc.path);
	sd->policy = policy_new(base, conf, sd->res, sd->store);
	sd->purge_ev = event_new(base, -1, EV_PERSIST, purge_cb, sd);
	struct timeval tv = {300, 0};
	event_add(sd->purge_ev, &tv);
	sd->stats_ev = event_new(base, -1, EV_PERSIST, stats_cb, sd);
	struct timeval stv = {STATS_FLUSH_MS / 1000, (STATS_FLUSH_MS % 1000) * 1000};
	event_add(sd->stats_ev, &stv);
	sd->nlisteners = nfds;
	sd->listeners = xcalloc(nfds, sizeof(*sd->listeners));
	for (size_t i = 0; i < nfds; i++) {
		sd->listeners[i] = evconnlistener_new(base, accept_cb, sd,
		                                      LEV_OPT_CLOSE_ON_FREE, -1, fds[i]);
		if (sd->listeners[i] == NULL)
			fatalx("smtp: listener %s", conf->listeners[i].name);
		evconnlistener_set_error_cb(sd->listeners[i], accept_error_cb);
	}
	return sd;
}

void
smtpd_drain(struct smtpd *sd)
{
	sd->draining = 1;
	/* held refusals go out now: they would only delay the exit */
	session_release_holds(sd);
	for (size_t i = 0; i < sd->nlisteners; i++) {
		if (sd->listeners[i] != NULL)
			evconnlistener_free(sd->listeners[i]);
		sd->listeners[i] = NULL;
	}
	if (sd->nsessions == 0)
		event_base_loopexit(sd->base, NULL);
}

void
smtpd_shutdown(struct smtpd *sd)
{
	struct session *s;

	sd->draining = 1;
	while ((s = TAILQ_FIRST(&sd->sessions)) != NULL)
		session_abort(s);
}

void
smtpd_session_closed(struct smtpd *sd)
{
	if (sd->draining && sd->nsessions == 0)
		event_base_loopexit(sd->base, NULL);
}

void
smtpd_free(struct smtpd *sd)
{
	for (size_t i = 0; i < sd->nlisteners; i++)
		if (sd->listeners[i] != NULL)
			evconnlistener_free(sd->listeners[i]);
	free(sd->listeners);
	spool_free(sd->spool);
	event_free(sd->purge_ev);
	event_free(sd->stats_ev);
	/* Checks cancelled with their sessions may still wait for DNS: the
	 * resolver ends their queries first (their callbacks run now, and may
	 * hand counts back to the store), the store's final run answers what
	 * is queued, and only then does the policy they point to go. */
	resolver_free(sd->res);
	sd->res = NULL;
	/* The last counts go out with the store's final run. */
	stats_flush(sd);
	store_close(sd->store);
	policy_free(sd->policy);
	authdb_free(sd->authdb);
	authfail_free(sd->authfail);
	sender_map_free(sd->sender_map);
	if (sd->tls_ctx != NULL)
		SSL_CTX_free(sd->tls_ctx);
	free(sd->linebuf);
	free(sd);
}
