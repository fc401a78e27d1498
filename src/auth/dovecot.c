/* SPDX-License-Identifier: ISC */
/*
 * dovecot.c - Dovecot's authentication protocol (auth-client socket), the
 * backend Postfix uses, so a Dovecot site needs no second password file.
 *
 * One connection carries every request, tagged by id:
 *   C: VERSION\t1\t2  CPID\t<pid>
 *   S: VERSION\t1\t2 ... MECH ... DONE
 *   C: AUTH\t<id>\tPLAIN\tservice=smtp\tnologin\t[secured\t]rip=..\tresp=<b64>
 *   S: OK\t<id>\t...  |  FAIL\t<id>\t...  |  CONT\t<id>\t... (not for PLAIN)
 * The connection is opened on demand and reopened after an error; a request
 * that gets no answer in time is a temporary failure (4xx upstream).
 * SECURITY: reads a local socket (Dovecot, trusted but checked): lines are
 * bounded, and only the status word, our own id and, in a FAIL, whole
 * tab-separated fields are interpreted (values echo the client's user name).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "auth/authdb.h"
#include "auth/dovecot.h"
#include "common/base64.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "conf/conf.h"

#define DC_LINE_MAX 8192
#define DC_TIMEOUT  10

struct dreq {
	unsigned id;
	struct auth_req *req;
	char *line; /* the AUTH line, sent once the handshake is done */
	struct event *timer;
	struct dcdb *db;
	TAILQ_ENTRY(dreq) entry;
};
TAILQ_HEAD(dreqq, dreq);

struct dcdb {
	struct event_base *base;
	char *path;
	struct bufferevent *bev;
	int ready; /* server handshake seen (DONE) */
	unsigned next_id;
	struct dreqq reqs;
};

static void dc_fail_all(struct dcdb *db, enum auth_result r);

static void
dreq_finish(struct dreq *d, enum auth_result r)
{
	struct dcdb *db = d->db;

	TAILQ_REMOVE(&db->reqs, d, entry);
	event_free(d->timer);
	if (d->line) {
		explicit_bzero(d->line, strlen(d->line));
		free(d->line);
	}
	authdb_done(d->req, r);
	free(d);
}

static void
dc_disconnect(struct dcdb *db)
{
	if (db->bev != NULL)
		bufferevent_free(db->bev);
	db->bev = NULL;
	db->ready = 0;
}

static void
dc_send_pending(struct dcdb *db)
{
	struct dreq *d;

	TAILQ_FOREACH(d, &db->reqs, entry)
	if (d->line != NULL) {
		bufferevent_write(db->bev, d->line, strlen(d->line));
		explicit_bzero(d->line, strlen(d->line));
		free(d->line);
		d->line = NULL;
	}
}

/*
 * fail_is_temp - do the fields of a FAIL reply (after its id) mark Dovecot's
 * own trouble? Dovecot 2.3 says "code=temp_fail", 2.2 a bare "temp" field.
 * Only whole fields count: the reply also echoes "user=NAME", and a user
 * named "tempadmin" must not turn a wrong password into a 4xx that no
 * failed-login limit counts.
 */
static int
fail_is_temp(const char *fields)
{
	while (fields != NULL && *fields != '\0') {
		size_t n = strcspn(fields, "\t");
		if ((n == 4 && strncmp(fields, "temp", 4) == 0) ||
		    (n == 14 && strncmp(fields, "code=temp_fail", 14) == 0))
			return 1;
		fields += n;
		if (*fields == '\t')
			fields++;
	}
	return 0;
}

/* dovecot_reply - see dovecot.h */
enum dc_reply
dovecot_reply(char *line, unsigned *id)
{
	char *tab = strchr(line, '\t');
	const char *err = NULL;

	*id = 0;
	if (strcmp(line, "DONE") == 0)
		return DC_DONE;
	if (tab == NULL)
		return DC_OTHER;
	*tab = '\0';
	if (strcmp(line, "OK") != 0 && strcmp(line, "FAIL") != 0 &&
	    strcmp(line, "CONT") != 0)
		return DC_OTHER; /* VERSION, MECH, SPID, CUID, COOKIE... */
	char *idstr = tab + 1, *end = strchr(idstr, '\t');
	if (end)
		*end = '\0';
	*id = (unsigned)strtonum(idstr, 1, 0x7fffffff, &err);
	if (err != NULL)
		return DC_OTHER;
	if (strcmp(line, "OK") == 0)
		return DC_OK;
	if (strcmp(line, "FAIL") == 0)
		return fail_is_temp(end != NULL ? end + 1 : NULL) ? DC_TEMPFAIL : DC_FAIL;
	return DC_CONT;
}

static void
dc_line(struct dcdb *db, char *line)
{
	struct dreq *d;
	unsigned id;
	enum dc_reply r = dovecot_reply(line, &id);

	if (r == DC_DONE) {
		db->ready = 1;
		dc_send_pending(db);
		return;
	}
	if (r == DC_OTHER)
		return;
	TAILQ_FOREACH(d, &db->reqs, entry)
	if (d->id == id)
		break;
	if (d == NULL)
		return;
	/* DC_CONT fails too: PLAIN never needs a second round */
	if (r == DC_OK)
		dreq_finish(d, AUTH_OK);
	else if (r == DC_TEMPFAIL)
		dreq_finish(d, AUTH_TEMPFAIL);
	else
		dreq_finish(d, AUTH_FAIL);
}

static void
dc_read_cb(struct bufferevent *bev, void *arg)
{
	struct dcdb *db = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char *line;
	size_t len;

	while ((line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF)) != NULL) {
		dc_line(db, line);
		free(line);
	}
	if (evbuffer_get_length(in) > DC_LINE_MAX) {
		log_warnx("auth: dovecot: line too long; reconnecting");
		dc_disconnect(db);
		dc_fail_all(db, AUTH_TEMPFAIL);
	}
}

static void
dc_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct dcdb *db = arg;

	if (what & BEV_EVENT_CONNECTED)
		return;
	log_warnx("auth: dovecot socket %s: %s", log_escape_str(db->path),
	          (what & BEV_EVENT_EOF) ? "closed" : "error");
	dc_disconnect(db);
	dc_fail_all(db, AUTH_TEMPFAIL);
}

static int
dc_connect(struct dcdb *db)
{
	struct sockaddr_un sun;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlcpy(sun.sun_path, db->path, sizeof(sun.sun_path)) >= sizeof(sun.sun_path))
		return -1;
	db->bev = bufferevent_socket_new(db->base, -1, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(db->bev, dc_read_cb, NULL, dc_event_cb, db);
	if (bufferevent_socket_connect(db->bev, (struct sockaddr *)&sun, sizeof(sun)) ==
	    -1) {
		log_warn("auth: connect %s", log_escape_str(db->path));
		dc_disconnect(db);
		return -1;
	}
	bufferevent_enable(db->bev, EV_READ);
	evbuffer_add_printf(bufferevent_get_output(db->bev), "VERSION\t1\t2\nCPID\t%d\n",
	                    (int)getpid());
	return 0;
}

static void
dc_fail_all(struct dcdb *db, enum auth_result r)
{
	struct dreq *d;

	while ((d = TAILQ_FIRST(&db->reqs)) != NULL)
		dreq_finish(d, r);
}

static void
dreq_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct dreq *d = arg;

	log_warnx("auth: dovecot: no answer for request %u", d->id);
	dreq_finish(d, AUTH_TEMPFAIL);
}

static void *
dc_open(struct event_base *base, const struct moat_conf *conf)
{
	struct dcdb *db = xcalloc(1, sizeof(*db));

	db->base = base;
	db->path = xstrdup(conf->auth_dovecot_socket);
	TAILQ_INIT(&db->reqs);
	return db;
}

static void
dc_close(void *ctx)
{
	struct dcdb *db = ctx;

	dc_fail_all(db, AUTH_TEMPFAIL);
	dc_disconnect(db);
	free(db->path);
	free(db);
}

/* clean - Dovecot's protocol is tab-separated: no tabs or newlines in values */
static int
clean(const char *s)
{
	return strpbrk(s, "\t\r\n") == NULL;
}

static void
dc_verify(void *ctx, struct auth_req *req, const char *user, const char *pass,
          const struct auth_info *info)
{
	struct dcdb *db = ctx;
	struct dreq *d = xcalloc(1, sizeof(*d));
	size_t ulen = strlen(user), plen = strlen(pass);
	unsigned char plain[1 + 256 + 1 + 1024];
	char b64[sizeof(plain) * 4 / 3 + 8];
	struct timeval tv = {DC_TIMEOUT, 0};
	int n = -1;

	d->db = db;
	d->req = req;
	d->id = ++db->next_id;
	if (db->next_id >= 0x7ffffff0)
		db->next_id = 0;
	d->timer = evtimer_new(db->base, dreq_timeout, d);
	TAILQ_INSERT_TAIL(&db->reqs, d, entry);

	/* PLAIN response: authzid NUL authcid NUL password (RFC 4616) */
	if (ulen <= 256 && plen <= 1024 && clean(info->client_ip)) {
		plain[0] = '\0';
		memcpy(plain + 1, user, ulen);
		plain[1 + ulen] = '\0';
		memcpy(plain + 2 + ulen, pass, plen);
		n = base64_encode(plain, 2 + ulen + plen, b64, sizeof(b64));
		explicit_bzero(plain, sizeof(plain));
	}
	if (n < 0) {
		/* Not sendable: fail it from the loop, never from here. */
		tv.tv_sec = 0;
		evtimer_assign(d->timer, db->base, dreq_timeout, d);
		evtimer_add(d->timer, &tv);
		return;
	}
	xasprintf(&d->line, "AUTH\t%u\tPLAIN\tservice=smtp\tnologin\t%srip=%s\tresp=%s\n",
	          d->id, info->secured ? "secured\t" : "", info->client_ip, b64);
	explicit_bzero(b64, sizeof(b64));
	evtimer_add(d->timer, &tv);
	if (db->bev == NULL && dc_connect(db) == -1) {
		tv.tv_sec = 0;
		evtimer_add(d->timer, &tv);
		return;
	}
	if (db->ready)
		dc_send_pending(db);
}

const struct authdb_backend authdb_dovecot = {dc_open, dc_close, dc_verify};
