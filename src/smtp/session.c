/* SPDX-License-Identifier: ISC */
/*
 * session.c - the SMTP server session's life cycle: its start (and the
 * connect line), the one writer of its state, its protocol errors, junk
 * commands and timeouts, the socket's events, the disconnect (with its
 * command counts), a refusal held back, its end, and the sessions a full
 * house or stress takes back. Its input (command lines, the command
 * table) is session_input.c.
 *
 * SECURITY: the session of an untrusted client; this file copies none of
 * its bytes (session_input.c does), it only sees whether some wait.
 * Client errors end in a 421 past errors_max; nothing here can reach
 * fatal(): protocol errors are replies, counters and state changes.
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include "auth/authdb.h"
#include "common/ascii.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "conf/limits.h"
#include "dns/resolver.h"
#include "queue/spool.h"
#include "smtp/preempted.h"
#include "smtp/session.h"
#include "smtp/session_int.h"
#include "smtp/smtpd.h"

void
session_enter(struct session *s, enum state st)
{
	if (!session_state_legal(s->state, st)) {
		/* A broken invariant of ours, never the client's doing: kept
		 * out of release builds' way, caught by the sanitizer builds. */
		log_warnx("smtp BUG sid=%s: state %s -> %s is not a legal move", s->sid,
		          session_state_name(s->state), session_state_name(st));
#ifdef MOAT_SANITIZE
		abort();
#endif
	}
	if (log_verbose() && s->state != st)
		log_debug("smtp state sid=%s %s -> %s", s->sid,
		          session_state_name(s->state), session_state_name(st));
	s->state = st;
	session_idle_update(s);
}

/*
 * session_idle_update - a full house takes back the slot of the session
 * that has been idle longest outside a mail transaction, of a client
 * without a good record (policy.h: PC_GOOD_RECORD); a refusal held back
 * (refuse_hold_ms) is the first to go. Such sessions wait on sd->idle,
 * longest idle first; activity moves them to the end (line_input()).
 */
void
session_idle_update(struct session *s)
{
	struct smtpd *sd = s->sd;
	int may = s->state != S_CLOSING &&
	          ((s->flags & F_HELD) || ((s->state == S_HELO || s->state == S_READY) &&
	                                   !(s->pc.flags & PC_GOOD_RECORD)));

	if (may && !s->on_idle) {
		TAILQ_INSERT_TAIL(&sd->idle, s, idle_entry);
		s->on_idle = 1;
	} else if (!may && s->on_idle) {
		TAILQ_REMOVE(&sd->idle, s, idle_entry);
		s->on_idle = 0;
	}
}

int
may_relay(const struct session *s)
{
	return (s->flags & (F_TRUSTED | F_AUTHED)) != 0;
}

/*
 * client_error - count a protocol error; past errors_max the session ends
 * with 421 (RFC 5321 §4.2.2 lets a server close after errors).
 */
void
client_error(struct session *s)
{
	const struct moat_limits *l = &s->sd->conf->limits;
	/* Under stress one error is enough (Postfix's stress-dependent
	 * smtpd_hard_error_limit): the slot is worth more to someone else. */
	long max = s->sd->stress ? 1 : l->errors_max;

	s->pc.errors = ++s->errors;
	if (s->errors < max) {
		/* Tarpit: each error makes the next answer come later. */
		long d = l->tarpit_step_ms * s->errors;
		s->tarpit_ms = d > l->tarpit_max_ms ? l->tarpit_max_ms : d;
		return;
	}
	session_refuse(s, "command", "errors-max", NULL, 421, "4.7.0",
	               "%s Error: too many errors", s->sd->conf->hostname);
	session_close(s, "too many errors");
}

/*
 * session_junk - NOOP, RSET, VRFY, HELP, EXPN, ETRN, a cancelled AUTH and a
 * duplicate RCPT cost us a reply and move no mail: past junk_commands_max
 * (Postfix's smtpd_junk_command_limit) since the last accepted message the
 * session ends. Such a client would otherwise hold its slot for ever with
 * one NOOP per timeout.
 */
int
session_junk(struct session *s)
{
	if (++s->junk <= s->sd->conf->limits.junk_commands_max)
		return 1;
	session_refuse(s, "command", "junk-commands", NULL, 421, "4.7.0",
	               "%s Error: too many commands that move no mail",
	               s->sd->conf->hostname);
	session_close(s, "too many junk commands");
	return 0;
}

long
session_timeout_command(const struct session *s)
{
	const struct moat_limits *l = &s->sd->conf->limits;

	return s->sd->stress && l->stress_timeout < l->timeout_command
	           ? l->stress_timeout
	           : l->timeout_command;
}

void
session_set_timeout(struct session *s, long seconds)
{
	struct timeval tv = {seconds, 0};
	bufferevent_set_timeouts(s->bev, &tv, &tv);
}

/* ---- connection events ---- */

void
session_read_cb(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;

	/* the first octets, whenever they come: a TLS ClientHello or an
	 * HTTP request does not wait for the greeting */
	if (!(s->flags & F_FIRST_SEEN))
		session_sig_first(s);
	if ((s->state == S_CONNECT || s->state == S_GREETING) &&
	    s->sd->conf->screen.early_talker &&
	    evbuffer_get_length(bufferevent_get_input(bev)) > 0) {
		session_early_talker(s, "before the greeting");
		return;
	}
	if (s->wait == W_COMMIT) {
		/* Input while the message is being committed (see end_of_data):
		 * keep what came, read no more until the reply is out. */
		bufferevent_disable(bev, EV_READ);
		return;
	}
	session_input(s);
}

static void
drained_cb(struct bufferevent *bev, void *arg)
{
	session_free(arg);
}

void
session_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct session *s = arg;

	if (what & BEV_EVENT_CONNECTED) {
		tls_established(s);
		return;
	}
	if (s->wait == W_COMMIT && (what & BEV_EVENT_READING)) {
		/* Reading stays on while a message is committed (read_cb()): a
		 * client that leaves meanwhile is seen when the commit is done,
		 * its reply written and logged; reading again then meets the
		 * same end (a reset reads as end of file the second time). */
		bufferevent_disable(bev, EV_READ);
		return;
	}
	if (s->state == S_CLOSING) {
		session_free(s);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		if (what & BEV_EVENT_READING) {
			session_refuse(s, "command", "timeout", NULL, 421, "4.4.2",
			               "%s Error: timeout exceeded",
			               s->sd->conf->hostname);
			session_close(s, "timeout");
		} else {
			session_close(s, "write timeout");
			session_free(s);
		}
		return;
	}
	if ((what & BEV_EVENT_ERROR) && (s->flags & F_HANDSHAKE)) {
		session_close(s, "TLS handshake failed");
		session_free(s);
		return;
	}
	session_close(s, (what & BEV_EVENT_EOF) ? "lost connection" : "connection error");
	session_free(s);
}

/* session_install_bev - (re)attach the session to a bufferevent */
void
session_install_bev(struct session *s, struct bufferevent *bev)
{
	s->bev = bev;
	bufferevent_setcb(bev, session_read_cb, NULL, session_event_cb, s);
	session_set_timeout(s, session_timeout_command(s));
	bufferevent_enable(bev, EV_READ);
}

void
session_start(struct smtpd *sd, const struct listener_conf *lc, int fd,
              const struct sockaddr *sa, int salen)
{
	struct session *s = xcalloc(1, sizeof(*s));

	s->sd = sd;
	s->lc = lc;
	s->out = evbuffer_new();
	snprintf(s->sid, sizeof(s->sid), "%012llX", (unsigned long long)sd->next_sid++);
	if (lc->role == ROLE_LOCAL) {
		/* a local user (session_localuser.c); a peer the kernel
		 * cannot name is not served */
		if (session_localuser_start(s, fd) == -1) {
			evbuffer_free(s->out);
			free(s);
			close(fd);
			return;
		}
	} else {
		/* Replies go out whole, one write per pipelined group, so Nagle
		 * saves no packets here; it only holds a reply behind a TLS 1.3
		 * session ticket not yet acknowledged, until the client's delayed
		 * ACK (40 ms) comes: a connection per message took 48 ms. */
		int one = 1;
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		netaddr_from_sockaddr(&s->peer, sa);
		s->peer_port = netaddr_port(sa);
		/* the TCP peer's; a PROXY header's client replaces it */
		netaddr_str(&s->peer, s->peer_str, sizeof(s->peer_str));
	}
	clock_gettime(CLOCK_MONOTONIC, &s->start);
	TAILQ_INSERT_TAIL(&sd->sessions, s, entry);
	sd->nsessions++;
	/* A load balancer's connection: who the client is comes first, in
	 * its PROXY header (session_proxy.c), which then begins the session. */
	if (lc->nproxy_from > 0 &&
	    conf_cidr_listed(lc->proxy_from, lc->nproxy_from, &s->peer)) {
		session_proxy_wait(s, fd);
		return;
	}
	session_begin(s, fd);
}

void
session_begin(struct session *s, int fd)
{
	struct smtpd *sd = s->sd;
	const struct listener_conf *lc = s->lc;

	if (!(s->flags & F_LOCAL)) { /* a local user's are set already */
		netaddr_str(&s->peer, s->peer_str, sizeof(s->peer_str));
		if (conf_is_trusted(sd->conf, &s->peer))
			s->flags |= F_TRUSTED;
	}
	s->pc.addr = s->peer;
	netaddr_str(&s->peer, s->pc.addr_str, sizeof(s->pc.addr_str));
	strlcpy(s->pc.sid, s->sid, sizeof(s->pc.sid));
	if (s->flags & F_TRUSTED)
		s->pc.flags |= PC_TRUSTED;
	if (lc->role == ROLE_SUBMISSION || lc->role == ROLE_SMTPS)
		s->pc.flags |= PC_SUBMISSION; /* login bans apply here only */
	sd->stats.sessions++;
	char who[96];
	log_info("smtp connect sid=%s client=%s:%d listener=%s%s%s%s%s", s->sid,
	         s->peer_str, s->peer_port, log_escape_str(lc->name),
	         s->via[0] ? " proxy=" : "", s->via,
	         (s->flags & F_TRUSTED) ? " trusted=yes" : "",
	         session_localuser_log(s, who, sizeof(who)));
	/* s->state is S_CONNECT (0) from xcalloc */
	if (lc->role == ROLE_SMTPS) {
		/* the PROXY header's reader lets go of the socket, which goes
		 * under TLS as it is: the ClientHello is still in it */
		if (s->bev != NULL) {
			bufferevent_setfd(s->bev, -1);
			bufferevent_free(s->bev);
			s->bev = NULL;
		}
		tls_start_implicit(s, fd); /* RFC 8314: TLS from the first byte */
	} else if (s->bev != NULL)
		session_install_bev(s, s->bev);
	else
		session_install_bev(
		    s, bufferevent_socket_new(sd->base, fd, BEV_OPT_CLOSE_ON_FREE));
	session_connect_checks(s);
}

static void
counts(const struct session *s, char *buf, size_t sz)
{
	size_t n = 0;
	buf[0] = '\0';
	for (int v = 1; v < V_NVERBS; v++) {
		if (s->total[v] == 0)
			continue;
		char name[16];
		ascii_lower_copy(name, smtp_verb_name(v), sizeof(name));
		int w =
		    snprintf(buf + n, sz - n, " %s=%u/%u", name, s->ok[v], s->total[v]);
		if (w < 0 || (size_t)w >= sz - n)
			break;
		n += (size_t)w;
	}
	if (s->total[V_UNKNOWN] > 0 && n < sz)
		snprintf(buf + n, sz - n, " unknown=0/%u", s->total[V_UNKNOWN]);
}

/* session_local - the address the client connected to, looked up when
 * first asked for (AUTH): most connections of a flood never need it. */
const char *
session_local(struct session *s)
{
	struct sockaddr_storage local;
	socklen_t locallen = sizeof(local);
	struct netaddr la;

	if (s->local_str[0] == '\0' &&
	    getsockname(bufferevent_getfd(s->bev), (struct sockaddr *)&local,
	                &locallen) == 0 &&
	    netaddr_from_sockaddr(&la, (struct sockaddr *)&local) == 0)
		netaddr_str(&la, s->local_str, sizeof(s->local_str));
	return s->local_str;
}

/* session_done - the session's dealings end: no check goes on, no count
 * stays, nothing more is read, no delayed flush is pending */
static void
session_done(struct session *s)
{
	/* A check still running (the client hung up, or talked early, while a
	 * store or DNS answer was on its way) ends here: its verdict would be
	 * logged after the disconnect and acted on for nobody. What it counted
	 * is handed back when it stops (policy.c's finish()). */
	if (s->chk != NULL) {
		policy_cancel(s->chk);
		s->chk = NULL;
	}
	/* the milters hear no more of it (QUIT), and answer nothing more */
	session_milter_free(s);
	/* The session's counts go back now, not when its last words are out:
	 * a client that reconnects at once (conn_per_ip = 1) may reach the
	 * other worker before this one frees the session. */
	policy_disconnect(s->sd->policy, &s->pc);
	s->pc.counted = 0;
	bufferevent_disable(s->bev, EV_READ);
	if (s->flush_ev != NULL)
		evtimer_del(s->flush_ev);
	if (s->line_ev != NULL)
		evtimer_del(s->line_ev);
	if (s->data_ev != NULL)
		evtimer_del(s->data_ev);
	s->flush_pending = 0;
}

/* session_close - queue nothing more, log the disconnect, free once flushed */
void
session_close(struct session *s, const char *reason)
{
	struct timespec now;
	char cmds[512];

	if (s->state == S_CLOSING)
		return;
	if (s->flags & F_HELD) {
		evtimer_del(s->hold_ev);
		s->flags &= ~F_HELD;
		s->sd->nheld--;
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	counts(s, cmds, sizeof(cmds));
	log_info(
	    "smtp disconnect sid=%s client=%s:%d reason=\"%s\" state=%s duration=%.3f "
	    "messages=%d errors=%d%s",
	    s->sid, s->peer_str, s->peer_port, reason, session_state_name(s->state),
	    (double)(now.tv_sec - s->start.tv_sec) +
	        (double)(now.tv_nsec - s->start.tv_nsec) / 1e9,
	    s->nmsgs, s->errors, cmds);
	session_enter(s, S_CLOSING);
	session_done(s);
	/* Last words go out now: no tarpit or stutter for them. */
	session_flush_now(s);
	bufferevent_setcb(s->bev, NULL, drained_cb, session_event_cb, s);
	if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
		bufferevent_trigger(s->bev, EV_WRITE, BEV_TRIG_DEFER_CALLBACKS);
}

static void
hold_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;

	session_close(s, s->hold_reason);
}

/*
 * session_close_refused - close a session refused at connect, after
 * refuse_hold_ms. A bot that waits for its answer is not reconnecting:
 * OpenBSD's spamd holds the clients it blocks for the same reason, and
 * postscreen keeps them talking to its dummy engine. Held, a refused bot
 * costs a socket and a timer instead of a new connection, its store
 * counts and its checks every second or so. Nothing is read meanwhile.
 * Its counts go back now: it is no longer anybody's session, and must not
 * hold a slot of conn_per_ip. Held sessions still take accept slots, so
 * at most half of them are held; past that, and while draining, the
 * refusal goes out at once.
 */
void
session_close_refused(struct session *s, const char *reason)
{
	struct smtpd *sd = s->sd;
	long hold = sd->conf->limits.refuse_hold_ms;

	if (hold <= 0 || sd->draining || sd->nheld >= sd->sessions_max / 2 ||
	    s->state == S_CLOSING || (s->flags & F_HELD)) {
		session_close(s, reason);
		return;
	}
	/* nothing goes out before the time, not even a tarpit's delayed
	 * flush; W_HELD stops pipelined commands already read */
	session_done(s);
	s->wait = W_HELD;
	if (s->hold_ev == NULL)
		s->hold_ev = evtimer_new(sd->base, hold_cb, s);
	s->hold_reason = reason;
	s->flags |= F_HELD;
	sd->nheld++;
	session_idle_update(s);
	struct timeval tv = {hold / 1000, (hold % 1000) * 1000};
	evtimer_add(s->hold_ev, &tv);
}

void
session_release_holds(struct smtpd *sd)
{
	struct session *s;

	/* session_close() leaves the list alone: it frees later */
	for (s = TAILQ_FIRST(&sd->sessions); s != NULL; s = TAILQ_NEXT(s, entry))
		if (s->flags & F_HELD)
			session_close(s, s->hold_reason);
}

void
session_free(struct session *s)
{
	struct smtpd *sd = s->sd;

	session_proxy_free(s);
	if (s->rdns_req != NULL)
		dns_rdns_cancel(s->rdns_req);
	if (s->chk != NULL)
		policy_cancel(s->chk);
	if (s->greet_ev != NULL)
		event_free(s->greet_ev);
	if (s->line_ev != NULL)
		event_free(s->line_ev);
	if (s->data_ev != NULL)
		event_free(s->data_ev);
	if (s->hold_ev != NULL)
		event_free(s->hold_ev);
	if (s->flush_ev != NULL)
		event_free(s->flush_ev);
	evbuffer_free(s->out);
	free(s->pending_helo);
	free(s->pending_targets);
	free(s->long_head);
	session_sig_cancel(s);
	auth_cleanup(s);
	tx_reset(s);
	if (s->on_idle)
		TAILQ_REMOVE(&sd->idle, s, idle_entry);
	bufferevent_free(s->bev);
	free(s->helo);
	free(s->rdns);
	free(s->auth_user);
	TAILQ_REMOVE(&sd->sessions, s, entry);
	free(s);
	sd->nsessions--;
	smtpd_session_closed(sd);
}

void
session_abort(struct session *s)
{
	session_close(s, "shutdown");
	session_free(s);
}

int
session_preempt(struct smtpd *sd)
{
	struct session *s;

	/* a session whose message is being committed waits for its 250 */
	for (s = TAILQ_FIRST(&sd->idle); s != NULL; s = TAILQ_NEXT(s, idle_entry))
		if (s->wait != W_COMMIT)
			break;
	if (s == NULL)
		return 0;
	if (!(s->flags & F_HELD))
		session_refuse(s, "connect", "preempted", NULL, 421, "4.7.0",
		               "%s Error: too many connections; closing idle session",
		               sd->conf->hostname);
	/* Gone at once, not when its last words are out: a client that does
	 * not read would keep the slot (and the descriptor) until the write
	 * timeout. One try to write them (a held refusal's too), no more; the
	 * bufferevent's own output cannot be written from here. */
	if (bufferevent_openssl_get_ssl(s->bev) == NULL &&
	    evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
		(void)evbuffer_write(s->out, bufferevent_getfd(s->bev));
	if (s->flags & F_HELD)
		session_close(s, s->hold_reason);
	else
		session_close(s, "preempted for a new client");
	sd->stats.preempted++;
	preempted_note(sd->preempted, &s->peer, time(NULL));
	session_free(s);
	return 1;
}

void
session_stress(struct smtpd *sd)
{
	struct session *s;

	for (s = TAILQ_FIRST(&sd->sessions); s != NULL; s = TAILQ_NEXT(s, entry))
		if (s->state != S_DATA && s->state != S_CLOSING && s->bev != NULL)
			session_set_timeout(s, session_timeout_command(s));
}
