/* SPDX-License-Identifier: ISC */
/*
 * sig.h - attack signatures: a set of rules read from signatures_file
 * (sigset.c) and matched against what clients send, one stage at a time
 * (sigmatch.c). The rules are data, not code: each names its stages, a
 * match (literal, case-insensitive literal or PCRE2 expression), a score
 * and a reference (CVE or advisory). What a hit leads to (the event, the
 * score in the store, the ban) is policy's (policy/attack.c).
 *
 * The file, one rule a line ('#' starts a comment line):
 *
 *     ID  STAGES  SCORE  REFERENCE  [longer=N]  KIND:TEXT
 *
 *     exim-run  helo,mail,rcpt  10  CVE-2019-10149  re:\$\{run\{
 *
 * ID: [A-Za-z0-9._-], at most SIG_ID_MAX octets, unique. STAGES: a comma
 * list of connect, command, helo, mail, rcpt, auth, header, tls, data.
 * SCORE:
 * 0..1000. REFERENCE: printable, no spaces, "-" for none. longer=N: the
 * rule matches only text longer than N octets (over-long probes; the text
 * matched is then its first SIG_TEXT_MAX octets). KIND: lit (exact), icase
 * (ASCII case-insensitive) or re (PCRE2, byte mode; no backreferences and
 * no backtracking control verbs, which would break the one pass). TEXT: the
 * rest of the line, trailing blanks removed.
 *
 * SECURITY: the file is the administrator's; the text matched is network
 * bytes of any value and length (the caller bounds it to SIG_TEXT_MAX).
 * Every match runs under PCRE2 match and depth limits, so no rule can
 * backtrack without bound; a match cut short by them is reported, with
 * the hits found until then.
 */
#ifndef MOAT_SIG_H
#define MOAT_SIG_H

#include <stddef.h>
#include <stdio.h>

enum sig_stage {
	SIG_CONNECT = 0, /* the first octets a client sends */
	SIG_COMMAND,     /* any command line */
	SIG_HELO,        /* HELO/EHLO argument */
	SIG_MAIL,        /* MAIL FROM argument */
	SIG_RCPT,        /* RCPT TO argument */
	SIG_AUTH,        /* the decoded AUTH user name */
	SIG_HEADER,      /* a header line of a message (never the body) */
	SIG_TLS,         /* the TLS server name (SNI) a client asks for */
	SIG_DATA,        /* an end of data other than <CRLF>.<CRLF>, as sent */
	SIG_NSTAGES
};

#define SIG_ID_MAX    63
#define SIG_REF_MAX   63
#define SIG_RULES_MAX 1024
#define SIG_TEXT_MAX  1024 /* octets of one text that are matched */
#define SIG_HITS_MAX  16   /* hits reported for one text */

struct sig_rule {
	char id[SIG_ID_MAX + 1];
	char ref[SIG_REF_MAX + 1];
	unsigned stages; /* 1u << enum sig_stage */
	int score;
	size_t longer; /* 0: any length */
	unsigned line; /* in the file */
};

struct sigset;

/* sig_stage_name - "rcpt" etc. */
const char *sig_stage_name(enum sig_stage st);

/*
 * sigset_load - read and compile path. NULL after writing every error as
 * "path:line: what is wrong" to err (nothing written if err is NULL).
 */
struct sigset *sigset_load(const char *path, FILE *err);

/* sigset_parse - the same from a buffer; name is used in the messages */
struct sigset *sigset_parse(const char *name, const char *buf, size_t len, FILE *err);

void sigset_free(struct sigset *set);

/* sigset_count - how many rules, in all or for one stage (-1: all) */
size_t sigset_count(const struct sigset *set, int stage);

struct sig_hits {
	const struct sig_rule *rule[SIG_HITS_MAX];
	size_t n;
	int cut; /* the match limits stopped the scan: hits may be missing */
};

/*
 * sigset_match - every rule of stage that matches text[0..len) (full_len:
 * the text's whole length, when the caller passes only its head), in one
 * pass over the text. Fills hits (in rule order); returns hits->n.
 */
size_t sigset_match(const struct sigset *set, enum sig_stage stage, const char *text,
                    size_t len, size_t full_len, struct sig_hits *hits);

#endif
