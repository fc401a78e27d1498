/* SPDX-License-Identifier: ISC */
/*
 * session_localuser.c - sessions on the local submission socket
 * (run_dir/submit.sock): moat-sendmail's, for the programs of this host.
 *
 * Who connected is the kernel's word (SO_PEERCRED), never the client's: the
 * uid, gid and pid are recorded at connect, the uid's login name looked up
 * here (getpwuid). Such a session is a trusted one, as Postfix's sendmail
 * is: no DNS, no DNSBL, no greeting test, relaying allowed; its per-session
 * limits (message_size_max, recipients_max, ...) still hold. It shows as
 * client "local" in the log, with uid= and user= on its connect and queued
 * lines, and its Received: field names the user as Postfix's does.
 * SECURITY: the peer is any local user; what it may claim (the sender
 * address) is recorded next to the uid it cannot forge. The login name
 * comes from the password database and is still reduced to safe octets
 * before it is written into a header field.
 */
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>

#include "common/log.h"
#include "conf/conf.h"
#include "smtp/smtpd.h"
#include "smtp/session_int.h"

/* user_name - the uid's login name, kept to [A-Za-z0-9._-], or "" when the
 * password database does not know it (a chrooted worker does not see it) */
static void
user_name(uid_t uid, char *buf, size_t bufsz)
{
	struct passwd *pw = getpwuid(uid);
	size_t n = 0;

	buf[0] = '\0';
	if (pw == NULL || pw->pw_name == NULL)
		return;
	for (const char *p = pw->pw_name; *p != '\0' && n + 1 < bufsz; p++) {
		unsigned char c = (unsigned char)*p;
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		         (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
		buf[n++] = ok ? (char)c : '_';
	}
	buf[n] = '\0';
}

int
session_localuser_start(struct session *s, int fd)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	struct sockaddr_in sin;

	/* The policy layer keys on an address: loopback's, as a trusted
	 * network's client (no check uses it: the session is trusted). */
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	netaddr_from_sockaddr(&s->peer, (struct sockaddr *)&sin);
	s->peer_port = 0;
	strlcpy(s->peer_str, "local", sizeof(s->peer_str));
	s->flags |= F_LOCAL | F_TRUSTED;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == -1 ||
	    len != sizeof(cr)) {
		log_warn("smtp local: SO_PEERCRED");
		return -1;
	}
	s->local_uid = cr.uid;
	s->local_gid = cr.gid;
	s->local_pid = cr.pid;
	user_name(cr.uid, s->local_user, sizeof(s->local_user));
	return 0;
}

const char *
session_localuser_log(const struct session *s, char *buf, size_t bufsz)
{
	if (!(s->flags & F_LOCAL)) {
		buf[0] = '\0';
		return buf;
	}
	snprintf(buf, bufsz, " uid=%u user=%s", (unsigned)s->local_uid,
	         s->local_user[0] != '\0' ? s->local_user : "-");
	return buf;
}

/* The trace field of a local submission, after Postfix's "(Postfix, from
 * userid 1000)": no "from" clause (there is no client host), the user
 * named in the "by" clause's comment (RFC 5322 §3.6.7 allows comments). */
void
session_localuser_received(struct session *s, struct evbuffer *out, const char *with,
                           const char *qid, const char *date)
{
	if (s->local_user[0] != '\0')
		evbuffer_add_printf(
		    out, "Received: by %s (moat, from local user %s, uid %u)\r\n",
		    s->sd->conf->hostname, s->local_user, (unsigned)s->local_uid);
	else
		evbuffer_add_printf(out, "Received: by %s (moat, from local uid %u)\r\n",
		                    s->sd->conf->hostname, (unsigned)s->local_uid);
	evbuffer_add_printf(out, "\twith %s id %s", with, qid);
	if (s->tx.nrcpts == 1)
		evbuffer_add_printf(out, "\r\n\tfor <%s>", s->tx.rcpts[0]);
	evbuffer_add_printf(out, "; %s\r\n", date);
}
