/* SPDX-License-Identifier: ISC */
/*
 * session.h - one SMTP server session (RFC 5321) on a bufferevent.
 */
#ifndef MOAT_SESSION_H
#define MOAT_SESSION_H

#include <sys/socket.h>

struct smtpd;
struct session;
struct listener_conf;

void session_start(struct smtpd *sd, const struct listener_conf *lc, int fd,
                   const struct sockaddr *sa, int salen);
/* session_abort - free a session at once, without a reply (shutdown) */
void session_abort(struct session *s);
/* session_release_holds - held refusals go out now (draining) */
void session_release_holds(struct smtpd *sd);
/* session_preempt - a full house: the longest-idle session outside a mail
 * transaction of a client without a good record says 421 and goes at once;
 * 0 if there is none */
int session_preempt(struct smtpd *sd);
/* session_stress - stress began or ended: the sessions' timeouts follow */
void session_stress(struct smtpd *sd);

#endif
