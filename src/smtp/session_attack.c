/* SPDX-License-Identifier: ISC */
/*
 * session_attack.c - what a client sends, against the attack signatures
 * (sig/sig.h), at each stage: the first octets of the connection, every
 * command line, the HELO, MAIL and RCPT arguments, the AUTH user name,
 * the header lines of a message (never its body), the TLS server name and
 * an end of data that is not <CRLF>.<CRLF>. A hit changes no reply: the
 * command gets what it got before. It is reported (policy/attack.c); when
 * the report bans the client, the session ends with 421 once the reply
 * under way is out.
 * SECURITY: network bytes of any value; at most SIG_TEXT_MAX octets of one
 * text are matched, bounded in time by sigmatch.c's limits. AUTH
 * continuation lines (credentials) are never matched or logged.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "policy/attack.h"
#include "smtp/session_int.h"
#include "smtp/smtpd.h"

#define FIRST_OCTETS    512         /* of a connection: the connect stage's text */
#define REPORTS_MAX     32          /* texts with hits a session reports */
#define HEADER_SCAN_MAX (64 * 1024) /* octets of a header section scanned */

static void
banned_close(struct session *s)
{
	s->flags &= ~F_ATTACK_BAN;
	session_refuse(s, "attack", "attack-ban", NULL, 421, "4.7.1",
	               "%s Error: client host [%s] blocked", s->sd->conf->hostname,
	               s->peer_str);
	session_close(s, "attack ban");
}

static void
reported(void *arg, int banned)
{
	struct session *s = arg;

	s->attack_req = NULL;
	if (!banned || s->state == S_CLOSING)
		return;
	s->flags |= F_ATTACK_BAN;
	/* a reply under way (a check, a commit) goes out first: then
	 * session_input() sees the flag */
	if (s->wait == W_NONE)
		session_attack_banned(s);
}

int
session_attack_banned(struct session *s)
{
	if (!(s->flags & F_ATTACK_BAN) || s->state == S_CLOSING)
		return 0;
	banned_close(s);
	session_flush(s);
	return 1;
}

static int
has_rule(const struct sig_hits *h, const struct sig_rule *r)
{
	for (size_t i = 0; i < h->n; i++)
		if (h->rule[i] == r)
			return 1;
	return 0;
}

/* report - hits of one text, each rule once: the same octets seen at two
 * stages (a command line and its argument, the first octets and the first
 * line) are one attempt, logged and scored once */
static void
report(struct session *s, enum sig_stage stage, struct sig_hits *hits, const char *text,
       size_t len)
{
	size_t n = 0;

	if (s->first_hits != NULL && stage != SIG_CONNECT) {
		/* the first line was in the first octets: what they hit, it hit */
		for (size_t i = 0; i < hits->n; i++)
			if (!has_rule(s->first_hits, hits->rule[i]))
				hits->rule[n++] = hits->rule[i];
		hits->n = n;
		free(s->first_hits);
		s->first_hits = NULL;
	}
	if (hits->n == 0)
		return;
	/* A client that is never banned (its hits are in headers, or it is
	 * trusted) could make every header line of every message a log line
	 * and a store write: a session reports this many texts, no more. */
	if (s->attack_reports > REPORTS_MAX)
		return;
	if (++s->attack_reports > REPORTS_MAX) {
		log_info("attack sid=%s client=%s: more than %d texts with hits in "
		         "this session; the rest are not reported",
		         s->sid, s->peer_str, REPORTS_MAX);
		return;
	}
	/* the latest report answers for those before it: the store takes
	 * them in order, and its score includes theirs */
	attack_cancel(s->attack_req);
	s->attack_req =
	    attack_report(s->sd->policy, &s->pc, stage, hits, text,
	                  len > SIG_TEXT_MAX ? SIG_TEXT_MAX : len, reported, s);
}

void
session_sig(struct session *s, enum sig_stage stage, const char *text, size_t len,
            size_t full_len)
{
	const struct sigset *set = policy_signatures(s->sd->policy);
	struct sig_hits hits;

	if (set == NULL)
		return;
	sigset_match(set, stage, text, len, full_len, &hits);
	report(s, stage, &hits, text, len);
}

void
session_sig_first(struct session *s)
{
	char buf[FIRST_OCTETS];
	ev_ssize_t n;

	if (s->flags & F_FIRST_SEEN)
		return;
	n = evbuffer_copyout(bufferevent_get_input(s->bev), buf, sizeof(buf));
	if (n <= 0 && bufferevent_openssl_get_ssl(s->bev) == NULL)
		/* talked before the greeting, not read yet: in the socket */
		n = recv(bufferevent_getfd(s->bev), buf, sizeof(buf),
		         MSG_PEEK | MSG_DONTWAIT);
	if (n <= 0)
		return;
	s->flags |= F_FIRST_SEEN;
	const struct sigset *set = policy_signatures(s->sd->policy);
	struct sig_hits hits;
	if (set == NULL ||
	    sigset_match(set, SIG_CONNECT, buf, (size_t)n, (size_t)n, &hits) == 0)
		return;
	/* kept until the first command line, which these octets may hold */
	s->first_hits = xmalloc(sizeof(hits));
	*s->first_hits = hits;
	report(s, SIG_CONNECT, &hits, buf, (size_t)n);
}

void
session_sig_command(struct session *s, const char *line, size_t len, enum smtp_verb v,
                    const char *args, size_t argslen)
{
	if (v == V_AUTH) {
		/* "AUTH PLAIN <initial response>": the response is a password */
		const char *sp = memchr(line, ' ', len);
		if (sp != NULL &&
		    (sp = memchr(sp + 1, ' ', len - (size_t)(sp + 1 - line))))
			len = (size_t)(sp - line);
	}
	const struct sigset *set = policy_signatures(s->sd->policy);
	enum sig_stage stage = SIG_COMMAND, arg_stage = SIG_NSTAGES;
	struct sig_hits hits, arg;

	if (set == NULL)
		return;
	sigset_match(set, SIG_COMMAND, line, len, len, &hits);
	if (v == V_HELO || v == V_EHLO)
		arg_stage = SIG_HELO;
	else if (v == V_MAIL)
		arg_stage = SIG_MAIL;
	else if (v == V_RCPT)
		arg_stage = SIG_RCPT;
	if (arg_stage != SIG_NSTAGES && argslen > 0 &&
	    sigset_match(set, arg_stage, args, argslen, argslen, &arg) > 0) {
		/* the argument's hits name its stage; the line is the text */
		stage = arg_stage;
		for (size_t i = 0; i < arg.n && hits.n < SIG_HITS_MAX; i++)
			if (!has_rule(&hits, arg.rule[i]))
				hits.rule[hits.n++] = arg.rule[i];
		hits.cut |= arg.cut;
	}
	report(s, stage, &hits, line, len);
}

void
session_sig_long(struct session *s, const char *head, size_t headlen, size_t total)
{
	session_sig(s, SIG_COMMAND, head, headlen, total);
}

/* forward_seen - a Delivered-To: value (a folded one is not ours): the
 * loop, if it names a recipient of this message that we forward */
static void
forward_seen(struct transaction *tx, const char *v, size_t n)
{
	while (n > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		n--;
	}
	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	if (n > 1 && v[0] == '<' && v[n - 1] == '>') {
		v++;
		n -= 2;
	}
	for (size_t i = 0; i < tx->nforwards; i++)
		if (strlen(tx->forwards[i]) == n &&
		    strncasecmp(tx->forwards[i], v, n) == 0) {
			tx->loop = xstrdup(tx->forwards[i]);
			return;
		}
}

void
session_sig_headers(struct session *s)
{
	struct transaction *tx = &s->tx;
	struct evbuffer_ptr from, eol;
	size_t eollen;

	if (!tx->hdr_scan)
		return;
	for (;;) {
		char line[SIG_TEXT_MAX];
		size_t n, take;

		if (evbuffer_ptr_set(tx->buf, &from, tx->hdr_pos, EVBUFFER_PTR_SET) == -1)
			return;
		eol = evbuffer_search_eol(tx->buf, &from, &eollen,
		                          EVBUFFER_EOL_CRLF_STRICT);
		if (eol.pos == -1)
			return;
		n = (size_t)eol.pos - tx->hdr_pos;
		if (n == 0) {
			tx->hdr_scan = 0; /* the empty line: the body begins */
			session_submit_end(s, (size_t)eol.pos);
			return;
		}
		take = n < sizeof(line) ? n : sizeof(line);
		if (evbuffer_copyout_from(tx->buf, &from, line, take) != (ev_ssize_t)take)
			return;
		tx->hdr_pos = (size_t)eol.pos + eollen;
		tx->hdr_seen += n + eollen;
		/* submitted mail: a Date or Message-ID of its own, or the end
		 * of the section, with ours put in above this line */
		tx->hdr_pos += session_submit_line(s, line, take, (size_t)from.pos);
		/* the hops the message made so far (hop_count_max) */
		if (take >= 9 && strncasecmp(line, "Received:", 9) == 0)
			tx->hops++;
		/* a forward of ours that came back (a mail loop) */
		if (take >= 13 && strncasecmp(line, "Delivered-To:", 13) == 0 &&
		    tx->loop == NULL)
			forward_seen(tx, line + 13, take - 13);
		session_sig(s, SIG_HEADER, line, take, n);
		if (tx->hdr_seen > HEADER_SCAN_MAX) {
			tx->hdr_scan = 0;
			return;
		}
	}
}

void
session_sig_tls(struct session *s, const char *servername)
{
	if (servername != NULL)
		session_sig(s, SIG_TLS, servername, strlen(servername),
		            strlen(servername));
}

void
session_sig_cancel(struct session *s)
{
	free(s->first_hits);
	s->first_hits = NULL;
	attack_cancel(s->attack_req);
	s->attack_req = NULL;
}
