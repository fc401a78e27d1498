/* SPDX-License-Identifier: ISC */
/*
 * milter_conn.c - one session's connection to one milter (milter_conn.h).
 *
 * States: NEW (nothing yet), CONNECTING, NEGOTIATING (our OPTNEG is out),
 * READY, DEAD. milter_negotiate() is the first ask: its answer comes when
 * the milter has said which steps it wants, and only then does the owner
 * send them. One ask is open at a time; its timer is the connect limit
 * plus the reply limit until the connection is up, then the reply limit
 * (a progress reply restarts it).
 * SECURITY: reads bytes from a milter: framed by milter_frame() (bounded by
 * MILTER_PACKET_MAX before anything is copied), parsed by
 * milter_reply_parse(); a reply nobody asked for, or a modification outside
 * the end of the message, kills the connection.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include <arpa/inet.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "milter/milter_conn.h"

enum mstate { MS_NEW = 0, MS_CONNECTING, MS_NEGOTIATING, MS_READY, MS_DEAD };

struct milter_conn {
	struct event_base *base;
	const struct ext_service_conf *conf;
	enum mstate state;
	struct bufferevent *bev;
	struct event *timer; /* the open ask's deadline, or a failure's turn */
	uint32_t protocol, actions;
	/* the open ask */
	int asking;
	milter_cb cb;
	milter_mod_cb mods;
	void *arg;
	char why[160]; /* dead: why */
	/* milter_drained() */
	void (*drain_cb)(void *);
	void *drain_arg;
	int busy;   /* in on_read(): a free waits for its end */
	int doomed; /* freed while busy */
};

static void
set_deadline(struct milter_conn *mc, long ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	evtimer_add(mc->timer, &tv);
}

/* finish - the open ask's answer */
static void
finish(struct milter_conn *mc, const struct milter_reply *r, const char *why)
{
	milter_cb cb = mc->cb;
	void *arg = mc->arg;

	if (!mc->asking)
		return;
	mc->asking = 0;
	mc->cb = NULL;
	mc->mods = NULL;
	evtimer_del(mc->timer);
	cb(arg, r, why);
}

/* die - the connection is unusable from now on; the open ask fails */
static void
die(struct milter_conn *mc, const char *why)
{
	if (mc->state == MS_DEAD)
		return;
	mc->state = MS_DEAD;
	strlcpy(mc->why, why, sizeof(mc->why));
	if (mc->bev != NULL) {
		bufferevent_free(mc->bev);
		mc->bev = NULL;
	}
	if (mc->drain_cb != NULL) {
		/* the owner waits for the drain: it learns of the death so */
		void (*cb)(void *) = mc->drain_cb;
		mc->drain_cb = NULL;
		cb(mc->drain_arg);
		return; /* mc may be gone */
	}
	finish(mc, NULL, mc->why);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct milter_conn *mc = arg;
	char why[160];

	(void)fd;
	(void)what;
	if (mc->state == MS_DEAD) {
		/* an ask after the death: answered from the loop */
		finish(mc, NULL, mc->why);
		return;
	}
	if (mc->state == MS_CONNECTING)
		snprintf(why, sizeof(why), "cannot connect to %s: timed out",
		         mc->conf->address);
	else
		snprintf(why, sizeof(why), "no reply within %ld ms",
		         mc->conf->timeout_ms);
	die(mc, why);
}

/* packet - one whole packet from the milter */
static int
packet(struct milter_conn *mc, char cmd, const unsigned char *data, size_t len)
{
	struct milter_reply r;
	char err[160];

	if (mc->state == MS_NEGOTIATING) {
		memset(&r, 0, sizeof(r));
		if (cmd != SMFIC_OPTNEG) {
			die(mc, "no option negotiation");
			return -1;
		}
		if (milter_optneg_parse(data, len, &(uint32_t){0}, &mc->actions,
		                        &mc->protocol, err, sizeof(err)) == -1) {
			die(mc, err);
			return -1;
		}
		/* only what moat offered counts */
		mc->protocol &= SMFIP_MOAT;
		mc->actions &= SMFIF_ALL;
		mc->state = MS_READY;
		r.cmd = SMFIR_CONTINUE;
		finish(mc, &r, NULL);
		return 0;
	}
	if (!mc->asking) {
		die(mc, "a reply nobody asked for");
		return -1;
	}
	if (milter_reply_parse(cmd, data, len, &r, err, sizeof(err)) == -1) {
		die(mc, err);
		return -1;
	}
	switch (cmd) {
	case SMFIR_PROGRESS:
		set_deadline(mc, mc->conf->timeout_ms);
		return 0;
	case SMFIR_ADDRCPT:
	case SMFIR_DELRCPT:
	case SMFIR_ADDRCPT_PAR:
	case SMFIR_REPLBODY:
	case SMFIR_ADDHEADER:
	case SMFIR_INSHEADER:
	case SMFIR_CHGHEADER:
	case SMFIR_CHGFROM:
	case SMFIR_QUARANTINE:
		if (mc->mods == NULL) {
			die(mc, "a modification before the end of the message");
			return -1;
		}
		mc->mods(mc->arg, &r);
		return 0;
	case SMFIR_CONN_FAIL:
	case SMFIR_SHUTDOWN:
		die(mc,
		    cmd == SMFIR_SHUTDOWN ? "the milter shut down" : "the milter failed");
		return -1;
	default:
		finish(mc, &r, NULL);
		return 0;
	}
}

static void
on_read(struct bufferevent *bev, void *arg)
{
	struct milter_conn *mc = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	mc->busy++;
	while (mc->state != MS_DEAD && !mc->doomed) {
		size_t len = evbuffer_get_length(in), plen, dlen;
		const unsigned char *data;
		unsigned char lenbuf[4];
		uint32_t n;
		char cmd;
		int rc;

		if (len < 4)
			break;
		/* the length first: a packet is pulled up only when all here */
		evbuffer_copyout(in, lenbuf, 4);
		memcpy(&n, lenbuf, 4);
		n = ntohl(n);
		if (n == 0 || n > MILTER_PACKET_MAX) {
			die(mc, "a packet longer than moat reads, or empty");
			break;
		}
		if (len < 4 + (size_t)n)
			break;
		if (milter_frame(evbuffer_pullup(in, 4 + (ev_ssize_t)n), 4 + (size_t)n,
		                 &plen, &cmd, &data, &dlen) != 1) {
			die(mc, "a broken packet");
			break;
		}
		rc = packet(mc, cmd, data, dlen);
		/* dead: the input went with the connection; doomed: the owner
		 * let go of mc in a callback */
		if (mc->state == MS_DEAD || mc->doomed || rc == -1)
			break;
		evbuffer_drain(in, plen);
	}
	if (--mc->busy == 0 && mc->doomed)
		milter_conn_free(mc);
}

static void
on_write(struct bufferevent *bev, void *arg)
{
	struct milter_conn *mc = arg;
	void (*cb)(void *) = mc->drain_cb;

	(void)bev;
	if (cb == NULL)
		return;
	mc->drain_cb = NULL;
	evtimer_del(mc->timer);
	bufferevent_setwatermark(mc->bev, EV_WRITE, 0, 0);
	cb(mc->drain_arg);
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	struct milter_conn *mc = arg;
	char why[160];

	if (what & BEV_EVENT_CONNECTED) {
		struct evbuffer *out = evbuffer_new();
		bufferevent_set_timeouts(bev, NULL, NULL);
		mc->state = MS_NEGOTIATING;
		milter_put_optneg(out);
		bufferevent_write_buffer(bev, out);
		evbuffer_free(out);
		if (mc->asking)
			set_deadline(mc, mc->conf->timeout_ms);
		return;
	}
	if (mc->state == MS_CONNECTING)
		snprintf(why, sizeof(why), "cannot connect to %s: %s", mc->conf->address,
		         (what & BEV_EVENT_TIMEOUT)
		             ? "timed out"
		             : evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	else if (what & BEV_EVENT_EOF)
		snprintf(why, sizeof(why), "the milter closed the connection");
	else
		snprintf(why, sizeof(why), "connection error: %s",
		         evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	die(mc, why);
}

static void
start(struct milter_conn *mc)
{
	long ms = mc->conf->timeout_connect_ms;
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	mc->state = MS_CONNECTING;
	/* deferred callbacks: none runs inside a call of ours */
	mc->bev = bufferevent_socket_new(mc->base, -1,
	                                 BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (mc->bev == NULL)
		fatalx("milter: out of memory");
	bufferevent_setcb(mc->bev, on_read, on_write, on_event, mc);
	bufferevent_set_timeouts(mc->bev, NULL, &tv);
	if (bufferevent_socket_connect(mc->bev, (struct sockaddr *)&mc->conf->ss,
	                               (int)mc->conf->sslen) == 0)
		bufferevent_enable(mc->bev, EV_READ);
	/* else: the ask's deadline answers it */
}

struct milter_conn *
milter_conn_new(struct event_base *base, const struct ext_service_conf *conf)
{
	struct milter_conn *mc = xcalloc(1, sizeof(*mc));

	mc->base = base;
	mc->conf = conf;
	mc->timer = evtimer_new(base, on_timer, mc);
	if (mc->timer == NULL)
		fatalx("milter: out of memory");
	return mc;
}

static void
queue(struct milter_conn *mc, struct evbuffer *pkts)
{
	/* before READY nothing may go out but the negotiation: what the
	 * milter asked to skip is only known after it */
	if (mc->state == MS_READY)
		bufferevent_write_buffer(mc->bev, pkts);
	evbuffer_drain(pkts, evbuffer_get_length(pkts));
}

void
milter_write(struct milter_conn *mc, struct evbuffer *pkts)
{
	queue(mc, pkts);
}

void
milter_negotiate(struct milter_conn *mc, milter_cb cb, void *arg)
{
	struct evbuffer *none = evbuffer_new();

	if (none == NULL)
		fatalx("milter: out of memory");
	if (mc->state == MS_NEW)
		start(mc);
	milter_ask(mc, none, cb, NULL, arg);
	evbuffer_free(none);
}

void
milter_ask(struct milter_conn *mc, struct evbuffer *pkts, milter_cb cb,
           milter_mod_cb mods, void *arg)
{
	mc->asking = 1;
	mc->cb = cb;
	mc->mods = mods;
	mc->arg = arg;
	queue(mc, pkts);
	if (mc->state == MS_DEAD) {
		/* the answer goes out from the loop, as every answer does */
		struct timeval zero = {0, 0};
		evtimer_add(mc->timer, &zero);
		return;
	}
	/* connecting: its own limit (the bufferevent's), then the reply's */
	set_deadline(mc, mc->state == MS_CONNECTING
	                     ? mc->conf->timeout_connect_ms + mc->conf->timeout_ms
	                     : mc->conf->timeout_ms);
}

size_t
milter_backlog(const struct milter_conn *mc)
{
	if (mc->state == MS_READY)
		return evbuffer_get_length(bufferevent_get_output(mc->bev));
	return 0;
}

void
milter_drained(struct milter_conn *mc, size_t low, void (*cb)(void *), void *arg)
{
	/* only called with a backlog, so READY; a milter that stops reading
	 * dies of its reply timeout, and the callback runs then */
	mc->drain_cb = cb;
	mc->drain_arg = arg;
	bufferevent_setwatermark(mc->bev, EV_WRITE, low, 0);
	set_deadline(mc, mc->conf->timeout_ms);
}

uint32_t
milter_protocol(const struct milter_conn *mc)
{
	return mc->protocol;
}

uint32_t
milter_actions(const struct milter_conn *mc)
{
	return mc->actions;
}

int
milter_dead(const struct milter_conn *mc)
{
	return mc->state == MS_DEAD;
}

const char *
milter_why(const struct milter_conn *mc)
{
	return mc->why;
}

void
milter_conn_free(struct milter_conn *mc)
{
	if (mc == NULL)
		return;
	if (mc->busy) {
		/* a callback of on_read() lets go: on_read() frees it */
		mc->doomed = 1;
		mc->asking = 0;
		return;
	}
	if (mc->bev != NULL) {
		if (mc->state == MS_READY) {
			/* a courtesy: it learns the session is over */
			struct evbuffer *out = evbuffer_new();
			milter_put(out, SMFIC_QUIT, NULL, 0);
			evbuffer_write(out, bufferevent_getfd(mc->bev));
			evbuffer_free(out);
		}
		bufferevent_free(mc->bev);
	}
	event_free(mc->timer);
	free(mc);
}
