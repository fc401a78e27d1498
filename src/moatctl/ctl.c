/* SPDX-License-Identifier: ISC */
/*
 * ctl.c - moatctl commands for the running daemon: checks the command line,
 * makes it the request line of the control protocol (moatd/control.h) and
 * hands it to ctl_talk() (ctl_client.c).
 *
 * API: ctl_command(), ctl_usage() in ctl.h.
 * The daemon checks every request again; the checks here only turn typing
 * mistakes into a usage message (exit 2) before anything is sent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/netaddr.h"
#include "conf/conf.h"
#include "moatctl/ctl.h"
#include "moatd/control.h"
#include "queue/envelope.h"

enum arg_kind {
	ARG_NONE,
	ARG_IP,
	ARG_SECONDS,
	ARG_SECONDS_OR_TEXT, /* digits must be seconds; anything else is text */
	ARG_QID,
	ARG_QID_OR_ALL,
	ARG_JSON /* the word --json */
};

/* The daemon's commands: words, argument counts (-1: any), what they take. */
static const struct ctl_cmd {
	const char *name, *sub;
	int min, max;
	enum arg_kind arg0, arg1; /* the first two arguments */
	const char *args, *what;  /* for the usage text */
} ctl_cmds[] = {
    {"ban", NULL, 1, -1, ARG_IP, ARG_SECONDS_OR_TEXT, "IP [SECONDS] [REASON...]",
     "refuse IP's connections (default reason \"manual\")"},
    {"unban", NULL, 1, 1, ARG_IP, ARG_NONE, "IP",
     "lift IP's ban and early-talker mark, reset its unknown recipients and attack "
     "score"},
    {"allow", NULL, 1, 2, ARG_IP, ARG_SECONDS, "IP [SECONDS]",
     "let IP past every screening test (0 or none: until disallowed)"},
    {"disallow", NULL, 1, 1, ARG_IP, ARG_NONE, "IP", "remove IP from the allow list"},
    {"bans", NULL, 0, 0, ARG_NONE, ARG_NONE, "", "list the bans"},
    {"events", NULL, 0, 1, ARG_IP, ARG_NONE, "[IP]",
     "recent attack signature hits (of IP): time, client, stage, rule, reference, text"},
    {"allows", NULL, 0, 0, ARG_NONE, ARG_NONE, "", "list the allow entries"},
    {"show", NULL, 1, 1, ARG_IP, ARG_NONE, "IP",
     "what the daemon knows of IP: bans, counters, rates, greylist"},
    {"greylist", NULL, 0, 0, ARG_NONE, ARG_NONE, "",
     "pending greylist triplets and the networks that passed"},
    {"stats", NULL, 0, 0, ARG_NONE, ARG_NONE, "", "the counters, on one line"},
    {"reload", NULL, 0, 0, ARG_NONE, ARG_NONE, "", "re-read the configuration"},
    {"queue", "list", 0, 1, ARG_JSON, ARG_NONE, "[--json]",
     "the messages in the queue (--json: a JSON object a line)"},
    {"queue", "show", 1, 1, ARG_QID, ARG_NONE, "ID", "one message's envelope"},
    {"queue", "retry", 1, 1, ARG_QID_OR_ALL, ARG_NONE, "ID|all", "try to deliver now"},
    {"queue", "delete", 1, 1, ARG_QID, ARG_NONE, "ID",
     "remove a message, without a bounce"},
    {"queue", "hold", 1, 1, ARG_QID_OR_ALL, ARG_NONE, "ID|all",
     "keep a message in the queue, undelivered"},
    {"queue", "release", 1, 1, ARG_QID_OR_ALL, ARG_NONE, "ID|all",
     "let a held message be delivered"},
    {"traps", NULL, 0, 0, ARG_NONE, ARG_NONE, "",
     "harvesters and the senders that mailed their trap addresses"},
    {"export", "rbldnsd", 0, 1, ARG_NONE, ARG_NONE, "[FILE]",
     "write the bans as rbldnsd data (FILE, FILE.v6)"},
};
#define NCMDS (sizeof(ctl_cmds) / sizeof(ctl_cmds[0]))

/* ctl_usage - the daemon commands, for the usage message */
void
ctl_usage(FILE *f)
{
	char left[64];

	for (size_t i = 0; i < NCMDS; i++) {
		const struct ctl_cmd *c = &ctl_cmds[i];
		snprintf(left, sizeof(left), "%s%s%s%s%s", c->name, c->sub ? " " : "",
		         c->sub ? c->sub : "", c->args[0] ? " " : "", c->args);
		fprintf(f, "  %-33s %s\n", left, c->what);
	}
}

/* is_ip - an IPv4 or IPv6 address, or the "v6prefix::/64" form */
static int
is_ip(const char *s)
{
	char buf[NETADDR_STRLEN + 4];
	struct netaddr na;
	size_t len = strlen(s);

	if (len >= sizeof(buf))
		return 0;
	strlcpy(buf, s, sizeof(buf));
	if (len > 3 && strcmp(buf + len - 3, "/64") == 0) {
		buf[len - 3] = '\0';
		return netaddr_parse(&na, buf) == 0 && na.family == AF_INET6;
	}
	return netaddr_parse(&na, buf) == 0;
}

/* is_number - seconds from 0 to ten years */
static int
is_number(const char *s)
{
	const char *errstr = NULL;

	strtonum(s, 0, 315360000, &errstr);
	return errstr == NULL;
}

/* is_qid - QID_LEN digits 0-9A-F */
static int
is_qid(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if (i >= QID_LEN ||
		    !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'F')))
			return 0;
	return i == QID_LEN;
}

/* arg_ok - one argument of the kind the command expects; complains if not */
static int
arg_ok(enum arg_kind kind, const char *s)
{
	const char *want = NULL;

	switch (kind) {
	case ARG_NONE:
		return 1;
	case ARG_IP:
		if (!is_ip(s))
			want = "an IP address";
		break;
	case ARG_SECONDS:
		if (!is_number(s))
			want = "a number of seconds";
		break;
	case ARG_SECONDS_OR_TEXT:
		if (strspn(s, "0123456789") == strlen(s) && !is_number(s))
			want = "a number of seconds (at most ten years)";
		break;
	case ARG_QID:
		if (!is_qid(s))
			want = "a queue id";
		break;
	case ARG_QID_OR_ALL:
		if (strcmp(s, "all") != 0 && !is_qid(s))
			want = "a queue id or \"all\"";
		break;
	case ARG_JSON:
		if (strcmp(s, "--json") != 0)
			want = "--json";
		break;
	}
	if (want == NULL)
		return 1;
	fprintf(stderr, "moatctl: \"%s\" is not %s\n", s, want);
	return 0;
}

/* request - the request line for argv; -1 if it cannot be one */
static int
request(char *line, size_t linesz, int argc, char **argv)
{
	size_t n = 0;

	line[0] = '\0';
	for (int i = 0; i < argc; i++) {
		for (const char *p = argv[i]; *p; p++)
			if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e) {
				fprintf(stderr,
				        "moatctl: arguments must be printable ASCII\n");
				return -1;
			}
		n = strlcat(line, i > 0 ? " " : "", linesz);
		n = strlcat(line, argv[i], linesz);
		if (n >= linesz) {
			fprintf(stderr, "moatctl: the request is longer than %d octets\n",
			        CONTROL_LINE_MAX - 1);
			return -1;
		}
	}
	return 0;
}

/* ctl_command - run argv against the daemon; the exit status */
int
ctl_command(struct moat_conf *conf, int argc, char **argv)
{
	const struct ctl_cmd *cmd = NULL;
	char line[CONTROL_LINE_MAX]; /* the LF makes it CONTROL_LINE_MAX */
	int nargs, skip;

	for (size_t i = 0; i < NCMDS && cmd == NULL; i++)
		if (strcmp(ctl_cmds[i].name, argv[0]) == 0 &&
		    (ctl_cmds[i].sub == NULL ||
		     (argc > 1 && strcmp(ctl_cmds[i].sub, argv[1]) == 0)))
			cmd = &ctl_cmds[i];
	if (cmd == NULL) {
		fprintf(stderr, "moatctl: unknown command \"%s%s%s\"\n", argv[0],
		        argc > 1 && strcmp(argv[0], "queue") == 0 ? " " : "",
		        argc > 1 && strcmp(argv[0], "queue") == 0 ? argv[1] : "");
		return 2;
	}
	skip = cmd->sub != NULL ? 2 : 1;
	nargs = argc - skip;
	if (nargs < cmd->min || (cmd->max >= 0 && nargs > cmd->max)) {
		fprintf(stderr, "usage: moatctl %s%s%s%s%s\n", cmd->name,
		        cmd->sub ? " " : "", cmd->sub ? cmd->sub : "",
		        cmd->args[0] ? " " : "", cmd->args);
		return 2;
	}
	if ((nargs > 0 && !arg_ok(cmd->arg0, argv[skip])) ||
	    (nargs > 1 && cmd->arg1 != ARG_NONE && !arg_ok(cmd->arg1, argv[skip + 1])))
		return 2;
	if (request(line, sizeof(line), argc, argv) == -1)
		return 2;
	return ctl_talk(conf, line);
}
