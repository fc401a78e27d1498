/* SPDX-License-Identifier: ISC */
/*
 * smtpd.c - an SMTP worker: accepts on the inherited listener sockets and
 * runs sessions on one event loop. Every second the counters that grew
 * since the last time are added to the store (stat:NAME), so moatctl stats
 * sums all workers; an addition that fails is tried again, none is sent
 * twice. The metrics (metrics.h) are flushed with them, and the number
 * of open sessions is put as "sessions:#wPID".
 * SECURITY: accepts connections from anyone; beyond sessions_max a client
 * gets 421 before any session state is allocated.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "dns/resolver.h"
#include "queue/journal.h"
#include "queue/spool.h"
#include "common/netaddr.h"
#include "conf/limits.h"
#include "smtp/preempted.h"
#include "smtp/reply.h"
#include "smtp/session.h"
#include "smtp/smtpd.h"
#include "auth/authdb.h"
#include "policy/attack.h"
#include "policy/policy.h"
#include "store/store.h"
#include <openssl/ssl.h>

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
    {"stat:preempted", offsetof(struct smtpd_stats, preempted)},
    {"stat:stress_began", offsetof(struct smtpd_stats, stress)},
    {"stat:store_alarms", offsetof(struct smtpd_stats, store_alarms)},
    {"stat:attack_hits", offsetof(struct smtpd_stats, attack_hits)},
    {"stat:attack_bans", offsetof(struct smtpd_stats, attack_bans)},
};

#define STAT(st, off) (*(uint64_t *)((char *)(st) + (off)))

/*
 * sessions_gauge - this worker's open sessions as "sessions:#wPID", when
 * the number changed and with every heartbeat (refresh):
 * moat_sessions_open is their sum. Swept with the worker's other keys when
 * it is gone (sweep.c); with a shared store, the key of a host that died
 * whole expires after STORE_HOST_TTL seconds, as its session shares stop
 * counting then.
 */
static void
sessions_gauge(struct smtpd *sd, int refresh)
{
	char key[48], val[24];
	int n;

	if (sd->policy == NULL ||
	    (!refresh && sd->sessions_put && sd->nsessions == sd->sessions_shown))
		return;
	snprintf(key, sizeof(key), "sessions:#%s", policy_holder(sd->policy));
	n = snprintf(val, sizeof(val), "%zu", sd->nsessions);
	store_put(sd->store, key, val, (size_t)n, STORE_HOST_TTL, NULL, NULL);
	sd->sessions_shown = sd->nsessions;
	sd->sessions_put = 1;
}

/* stats_flush - add what each counter gained since the last flush */
static void
stats_flush(struct smtpd *sd)
{
	if (sd->policy != NULL) {
		sd->stats.store_alarms = policy_store_alarms(sd->policy);
		sd->stats.attack_hits = policy_attack_hits(sd->policy);
		sd->stats.attack_bans = policy_attack_bans(sd->policy);
	}
	for (size_t i = 0; i < sizeof(stat_keys) / sizeof(stat_keys[0]); i++)
		store_counter_flush(sd->store, stat_keys[i].key,
		                    STAT(&sd->stats, stat_keys[i].off),
		                    &STAT(&sd->stats_sent, stat_keys[i].off));
	store_metrics_flush(sd->store);
	sessions_gauge(sd, 0);
}

/* heartbeat - this host is alive: with a shared store (Redis), the session
 * counts of a host whose key has expired are not counted by the others
 * (store_redis_scripts.c), so a host that dies whole stops counting within
 * STORE_HOST_TTL seconds; every worker of the host keeps it up */
static void
heartbeat(struct smtpd *sd)
{
	char key[48];

	if (sd->host_tag[0] == '\0')
		return;
	snprintf(key, sizeof(key), "host:%s", sd->host_tag);
	store_put(sd->store, key, "1", 1, STORE_HOST_TTL, NULL, NULL);
}

/* stats_cb - the flush timer, and the heartbeat every third tick */
static void
stats_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtpd *sd = arg;

	stats_flush(sd);
	if (++sd->ticks % 3 == 0) {
		heartbeat(sd);
		sessions_gauge(sd, 1);
	}
}

/*
 * stress_check - Postfix's stress mode: above stress_high_water percent of
 * its sessions a worker shortens the command timeout to stress_timeout and
 * ends a session at its first error, until the count falls a tenth of
 * sessions_max below the mark. The state goes to the store as
 * "stress:#wPID" (moatctl stats), swept when the worker is gone.
 */
static void
stress_check(struct smtpd *sd)
{
	char key[40];
	int on =
	    sd->stress ? sd->nsessions >= sd->stress_off : sd->nsessions >= sd->stress_on;

	if (on == sd->stress)
		return;
	sd->stress = on;
	snprintf(key, sizeof(key), "stress:#%s", policy_holder(sd->policy));
	if (on) {
		sd->stats.stress++;
		log_warnx("smtp stress on: %zu sessions of %zu; command timeout %lds, "
		          "one error ends a session",
		          sd->nsessions, sd->sessions_max,
		          sd->conf->limits.stress_timeout);
		store_put(sd->store, key, "1", 1, 0, NULL, NULL);
	} else {
		log_info("smtp stress off: %zu sessions of %zu", sd->nsessions,
		         sd->sessions_max);
		store_del(sd->store, key, NULL, NULL);
	}
	session_stress(sd);
}

/* accept_resume - the pause after EMFILE is over: accept again */
static void
accept_resume(evutil_socket_t fd, short what, void *arg)
{
	struct smtpd *sd = arg;

	if (sd->draining)
		return;
	for (size_t i = 0; i < sd->nlisteners; i++)
		if (sd->listeners[i] != NULL)
			evconnlistener_enable(sd->listeners[i]);
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
	sd->accept_pause_ms = 0; /* descriptors are there again */
	/* A full house makes room for the newcomer, if an idle session of a
	 * client without a good record has it (session_preempt()); not for a
	 * client whose own idle session went for it lately: holders that come
	 * back when dropped would take each other's slots for ever, each at
	 * the cost of the whole connect screening (preempted.h). */
	if (!sd->draining && sd->nsessions >= sd->sessions_max) {
		struct netaddr na;
		if (netaddr_from_sockaddr(&na, sa) == -1 ||
		    !preempted_lately(sd->preempted, &na, time(NULL)))
			(void)session_preempt(sd);
	}
	if (sd->draining || sd->nsessions >= sd->sessions_max) {
		/* no session state for it: the reply and its log line here */
		char line[REPLY_LINE_MAX + 1], text[300], addr[NETADDR_STRLEN];
		struct netaddr na;
		struct reply_who who = {"-", "-", 0};
		size_t n;

		if (netaddr_from_sockaddr(&na, sa) == 0) {
			who.addr = netaddr_str(&na, addr, sizeof(addr));
			who.port = netaddr_port(sa);
		}
		snprintf(text, sizeof(text), "%s Error: too many connections",
		         sd->conf->hostname);
		n = reply_format(line, 421, ' ', "4.7.0", text);
		ssize_t w = send(fd, line, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		(void)w;
		close(fd);
		sd->stats.refused_connect++;
		reply_log_refusal(&who, "connect", "sessions-max", 421, "4.7.0", NULL,
		                  NULL);
		return;
	}
	session_start(sd, &sd->conf->listeners[i], fd, sa, salen);
	stress_check(sd);
}

/*
 * accept_error_cb - local trouble, most often EMFILE/ENFILE: the pending
 * connection stays in the backlog, so accepting again at once would spin.
 * Every listener pauses (100 ms, doubling to 3.2 s while it lasts) and the
 * trouble is logged at most once a second.
 */
static void
accept_error_cb(struct evconnlistener *l, void *arg)
{
	struct smtpd *sd = arg;
	int err = EVUTIL_SOCKET_ERROR();
	time_t now = time(NULL);

	sd->accept_errors++;
	if (now != sd->accept_logged) {
		sd->accept_logged = now;
		log_warnx("smtp: accept: %s; pausing %ld ms (%lu errors)", strerror(err),
		          sd->accept_pause_ms ? sd->accept_pause_ms * 2 : 100,
		          sd->accept_errors);
	}
	if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM)
		return;
	sd->accept_pause_ms = sd->accept_pause_ms == 0 ? 100 : sd->accept_pause_ms * 2;
	if (sd->accept_pause_ms > 3200)
		sd->accept_pause_ms = 3200;
	for (size_t i = 0; i < sd->nlisteners; i++)
		if (sd->listeners[i] != NULL)
			evconnlistener_disable(sd->listeners[i]);
	struct timeval tv = {sd->accept_pause_ms / 1000,
	                     (sd->accept_pause_ms % 1000) * 1000};
	evtimer_add(sd->accept_ev, &tv);
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

	sd->base = base;
	sd->conf = conf;
	sd->sessions_max = sessions_max;
	sd->stress_on = sessions_max * (size_t)conf->limits.stress_high_water / 100;
	if (sd->stress_on == 0)
		sd->stress_on = 1;
	sd->stress_off =
	    sd->stress_on > sessions_max / 10 ? sd->stress_on - sessions_max / 10 : 0;
	TAILQ_INIT(&sd->sessions);
	TAILQ_INIT(&sd->idle);
	sd->preempted = preempted_new();
	sd->accept_ev = evtimer_new(base, accept_resume, sd);
	sd->spool_fd = open(conf->spool_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sd->spool_fd == -1)
		log_warn("smtp: %s (its free space goes unwatched)", conf->spool_dir);
	sd->next_sid = ((unsigned long long)getpid() << 24);
	/* session_input.c's line_limit() never asks for more (limits.h) */
	sd->linebuf_sz = (size_t)limits_line_longest(conf->limits.command_line_max) + 1;
	sd->linebuf = xmalloc(sd->linebuf_sz);
	sd->res = resolver_new(base, conf);
	sd->spool = spool_new(base, conf->spool_dir, notify_fd, conf->spool_sync,
	                      conf->limits.journal_retire);
	sd->tls_ctx = tls_ctx;
	sd->authdb = authdb_new(base, conf);
	struct store_config sc;
	store_config_moat(&sc, conf);
	if ((sd->store = store_open(&sc, base)) == NULL)
		fatalx("smtp: cannot open the state store in %s", sc.path);
	sd->policy = policy_new(base, conf, sd->res, sd->store);
	/* the trap bookkeeping apart: it must not crowd out the screening */
	store_config_traps(&sc, conf);
	if ((sd->traps = store_open(&sc, base)) == NULL)
		log_warnx("smtp: no trap store in %s; trap hits go unrecorded",
		          log_escape_str(sc.path));
	policy_set_trap_store(sd->policy, sd->traps);
	sd->purge_ev = event_new(base, -1, EV_PERSIST, purge_cb, sd);
	struct timeval tv = {300, 0};
	event_add(sd->purge_ev, &tv);
	store_host_tag(conf, sd->host_tag, sizeof(sd->host_tag));
	heartbeat(sd);
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

int
smtpd_spool_short(struct smtpd *sd)
{
	const struct moat_conf *c = sd->conf;
	time_t now = time(NULL);
	struct statvfs vfs;
	unsigned long long need, avail;

	if (now == sd->room_checked)
		return sd->room_short;
	sd->room_checked = now;
	/* by descriptor: a chrooted worker no longer sees spool_dir's path */
	if (sd->spool_fd == -1 || fstatvfs(sd->spool_fd, &vfs) == -1) {
		sd->room_short = 0; /* cannot tell: the writes will say */
		return 0;
	}
	need = (unsigned long long)c->limits.spool_free_min;
	if (need == 0)
		need = (unsigned long long)c->limits.message_size_max * 3 / 2 +
		       (c->spool_sync == SPOOL_SYNC_JOURNAL ? JOURNAL_SEGMENT_MAX : 0);
	avail = (unsigned long long)vfs.f_bavail * vfs.f_frsize;
	sd->room_short = avail < need;
	if (sd->room_short && now - sd->room_logged >= 60) {
		sd->room_logged = now;
		log_warnx("smtp: %s has %llu octets free, less than %llu: MAIL gets 452 "
		          "4.3.1 until there is room",
		          c->spool_dir, avail, need);
	}
	return sd->room_short;
}

void
smtpd_session_closed(struct smtpd *sd)
{
	if (!sd->draining)
		stress_check(sd);
	if (sd->draining && sd->nsessions == 0)
		event_base_loopexit(sd->base, NULL);
}

void
smtpd_free(struct smtpd *sd)
{
	/* the freed sessions' deferred bufferevent callbacks hold their last
	 * references: let them run (the loop is over), or they leak */
	event_base_loop(sd->base, EVLOOP_NONBLOCK);
	for (size_t i = 0; i < sd->nlisteners; i++)
		if (sd->listeners[i] != NULL)
			evconnlistener_free(sd->listeners[i]);
	free(sd->listeners);
	spool_free(sd->spool);
	event_free(sd->purge_ev);
	event_free(sd->stats_ev);
	event_free(sd->accept_ev);
	preempted_free(sd->preempted);
	if (sd->spool_fd != -1)
		close(sd->spool_fd);
	/* Checks cancelled with their sessions may still wait for DNS: the
	 * resolver ends their queries first (their callbacks run now, and may
	 * hand counts back to the store), the store's final run answers what
	 * is queued, and only then does the policy they point to go. */
	resolver_free(sd->res);
	sd->res = NULL;
	/* ... and the policy services theirs, the same way */
	policy_services_stop(sd->policy);
	/* The last counts go out with the store's final run. */
	stats_flush(sd);
	store_close(sd->store);
	if (sd->traps != NULL)
		store_close(sd->traps);
	policy_free(sd->policy);
	authdb_free(sd->authdb);
	if (sd->tls_ctx != NULL)
		SSL_CTX_free(sd->tls_ctx);
	free(sd->linebuf);
	free(sd);
}
