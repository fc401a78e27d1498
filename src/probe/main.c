/* SPDX-License-Identifier: ISC */
/*
 * main.c - moat-probe: test SMTP servers for open relaying, with proof
 * (see doc/moat-probe.1).
 *
 * Options -> targets (one host, or a survey file) -> names resolved ->
 * every address checked against --only before anything is sent -> the
 * receipt sink started -> hosts run at most --concurrency at a time -> wait
 * for tokens to come back -> report. Exit: 0 no relay, 1 relay, 2 untested.
 */
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "common/log.h"
#include "common/netaddr.h"
#include "common/xmalloc.h"
#include "probe/catalog.h"
#include "probe/report.h"
#include "probe/resolve.h"
#include "probe/runner.h"
#include "probe/sink.h"
#include "probe/survey.h"
#include "probe/token.h"

#define TOKEN_MAX_AGE  (7 * 86400) /* a receipt this old still proves relaying */
#define TOKEN_MAX_SKEW 300

struct run {
	struct event_base *base;
	struct probe_opts *o;
	struct targets t;
	struct runner_env env;
	struct token_key key;
	struct sink *sink;
	struct event *wait_timer;
	size_t next; /* next host to start */
	int running;
	int waiting; /* all hosts done; waiting for receipts */
	unsigned long proofs;
};

static void
usage(FILE *fp)
{
	fprintf(
	    fp,
	    "usage: moat-probe [options] HOST[:PORT] ...\n"
	    "       moat-probe [options] --survey FILE [--i-own-these] [--state FILE]\n"
	    "       moat-probe --list\n"
	    "options:\n"
	    "  -p, --port N            default port (25)\n"
	    "  -o, --only CIDR         refuse any target outside CIDR (repeatable)\n"
	    "  -s, --sink ADDR:PORT    run a receipt sink there: prove relaying\n"
	    "  -w, --wait SECONDS      wait this long for receipts (60)\n"
	    "  -k, --key-file FILE     HMAC key for tokens (default: random per run)\n"
	    "  -r, --relay-domain DOM  external destination domain (example.com)\n"
	    "  -x, --relay-literal IP  external address literal (sink's, or 192.0.2.1)\n"
	    "      --rcpt LOCAL        external local part (relaytest)\n"
	    "      --helo NAME         our EHLO name (this host's name)\n"
	    "      --sender ADDR       the tool-like sender (moat-probe@HELO)\n"
	    "      --hostname NAME     target's name (default: from its greeting)\n"
	    "      --domain DOMAIN     target's own domain (default: from its name)\n"
	    "  -t, --tests PATTERN     run only tests whose id matches (fnmatch)\n"
	    "  -j, --json              JSON lines instead of a table\n"
	    "      --starttls          use STARTTLS when offered (no verification)\n"
	    "      --source ADDR       connect from this address\n"
	    "      --dns ADDR[:PORT]   DNS server for target names\n"
	    "  -S, --survey FILE       targets from FILE (hosts, host:port, CIDR)\n"
	    "      --i-own-these       allow ranges of more than one address\n"
	    "  -c, --concurrency N     hosts at once (4)\n"
	    "      --rate N            connections per minute per host (60)\n"
	    "      --state FILE        resumable survey state\n"
	    "      --timeout SECONDS   per connect and reply (30)\n"
	    "  -l, --list              print the battery and exit\n"
	    "  -v, --verbose           log the SMTP dialogue to stderr\n");
}

static int
num(const char *s, long long lo, long long hi, const char *what)
{
	const char *errstr = NULL;
	long long v = strtonum(s, lo, hi, &errstr);

	if (errstr != NULL) {
		fprintf(stderr, "moat-probe: %s %s: %s (%lld..%lld)\n", what, s, errstr,
		        lo, hi);
		exit(2);
	}
	return (int)v;
}

/* pending_proofs - messages accepted whose token has not come back */
static size_t
pending_proofs(const struct run *r)
{
	size_t n = 0;

	for (size_t i = 0; i < r->t.n; i++)
		for (size_t j = 0; j < r->t.hosts[i].ntests; j++)
			n += r->t.hosts[i].res[j].data_sent &&
			     r->t.hosts[i].res[j].verdict == PV_ACCEPTED;
	return n;
}

static void
token_cb(void *arg, const char *tok, const char *peer, const char *rcpt)
{
	struct run *r = arg;
	struct token tk;
	time_t now = time(NULL);

	if (token_verify(&r->key, tok, &tk) < 0 || tk.when < now - TOKEN_MAX_AGE ||
	    tk.when > now + TOKEN_MAX_SKEW) {
		log_info("sink: ignored token %s from %s", log_escape_str(tok),
		         log_escape_str(peer));
		return;
	}
	for (size_t i = 0; i < r->t.n; i++) {
		struct probe_host *h = &r->t.hosts[i];
		if (strcmp(h->key, tk.target) != 0)
			continue;
		for (size_t j = 0; j < h->ntests; j++) {
			struct probe_result *res = &h->res[j];
			/* Only a message this run sent can prove this run's test. */
			if (strcmp(h->tests[j].id, tk.id) != 0 || res->sent_at == 0)
				continue;
			if (res->verdict != PV_RELAYED) {
				res->verdict = PV_RELAYED;
				res->proof_at = now;
				strlcpy(res->proof_peer, peer, sizeof(res->proof_peer));
				strlcpy(res->proof_rcpt, rcpt, sizeof(res->proof_rcpt));
				r->proofs++;
				log_debug("sink: proof %s %s via %s",
				          log_escape_str(h->key), log_escape_str(tk.id),
				          log_escape_str(peer));
			}
		}
	}
	if (r->waiting && pending_proofs(r) == 0)
		event_base_loopbreak(r->base);
}

static void start_hosts(struct run *r);

static void
host_done(struct probe_host *h, void *arg)
{
	struct run *r = arg;

	r->running--;
	if (r->o->state_file != NULL &&
	    state_append(r->o->state_file, h, probe_host_status(h, r->sink != NULL)) < 0)
		log_warn("state file %s", log_escape_str(r->o->state_file));
	start_hosts(r);
}

static void
wait_cb(evutil_socket_t fd, short what, void *arg)
{
	struct run *r = arg;

	event_base_loopbreak(r->base);
}

/* start_hosts - keep --concurrency hosts busy; when all are done, wait for receipts */
static void
start_hosts(struct run *r)
{
	while (r->running < r->o->concurrency && r->next < r->t.n) {
		struct probe_host *h = &r->t.hosts[r->next++];
		if (h->from_state || !h->resolved)
			continue;
		r->running++;
		runner_start(&r->env, h, host_done, r);
	}
	if (r->running > 0 || r->next < r->t.n)
		return;
	if (r->sink != NULL && r->o->wait > 0 && pending_proofs(r) > 0) {
		struct timeval tv = {r->o->wait, 0};
		log_info(
		    "all tests done; waiting up to %d s for %zu receipts at the sink",
		    r->o->wait, pending_proofs(r));
		r->waiting = 1;
		evtimer_add(r->wait_timer, &tv);
		return;
	}
	event_base_loopbreak(r->base);
}

static void
resolved_cb(void *arg)
{
	struct run *r = arg;

	event_base_loopbreak(r->base);
}

/* check_only - every target inside --only, or nothing is sent at all */
static int
check_only(struct run *r)
{
	int bad = 0;

	if (r->o->nonly == 0)
		return 0;
	for (size_t i = 0; i < r->t.n; i++) {
		struct probe_host *h = &r->t.hosts[i];
		struct netaddr na;
		size_t j;

		if (!h->resolved)
			continue;
		netaddr_from_sockaddr(&na, (struct sockaddr *)&h->ss);
		for (j = 0; j < r->o->nonly; j++)
			if (cidr_match(&r->o->only[j], &na))
				break;
		if (j == r->o->nonly) {
			fprintf(
			    stderr,
			    "moat-probe: refusing %s (%s): outside the --only networks\n",
			    h->name, h->key);
			bad = 1;
		}
	}
	if (bad)
		fprintf(stderr, "moat-probe: nothing was sent\n");
	return bad ? -1 : 0;
}

/* default_helo - this host's name, the name we give in EHLO */
static void
default_helo(char *buf, size_t bufsz)
{
	if (gethostname(buf, bufsz) != 0 || buf[0] == '\0' ||
	    !domain_valid(buf, strlen(buf)))
		strlcpy(buf, "moat-probe.invalid", bufsz);
}

/* tests_match - the --tests pattern selects at least one test */
static int
tests_match(const char *pattern)
{
	struct catalog_params p = {.sender = "s@x.test",
	                           .rcpt_local = "r",
	                           .relay_domain = "x.test",
	                           .relay_literal = "[192.0.2.1]",
	                           .srvname = "mx.x.test",
	                           .ip_literal = "[192.0.2.2]",
	                           .domain = "x.test",
	                           .pattern = pattern};
	struct probe_test *t;
	size_t n = catalog_build(&p, &t);

	free(t);
	return n > 0;
}

/* source_addr - a numeric address to bind to, any port */
static int
source_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	struct probe_host h;
	struct netaddr na;

	if (netaddr_parse(&na, s) < 0)
		return -1;
	memset(&h, 0, sizeof(h));
	target_set_addr(&h, &na, 0);
	*ss = h.ss;
	*len = h.sslen;
	return 0;
}

static int
setup_sink(struct run *r, struct sockaddr_storage *ss, socklen_t sslen)
{
	char err[256];

	r->sink = sink_new(r->base, (struct sockaddr *)ss, sslen, r->o->helo, token_cb, r,
	                   err, sizeof(err));
	if (r->sink == NULL) {
		fprintf(stderr, "moat-probe: sink %s: %s\n", r->o->sink, err);
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"port", required_argument, NULL, 'p'},
	    {"only", required_argument, NULL, 'o'},
	    {"sink", required_argument, NULL, 's'},
	    {"wait", required_argument, NULL, 'w'},
	    {"key-file", required_argument, NULL, 'k'},
	    {"relay-domain", required_argument, NULL, 'r'},
	    {"relay-literal", required_argument, NULL, 'x'},
	    {"rcpt", required_argument, NULL, 1},
	    {"helo", required_argument, NULL, 2},
	    {"sender", required_argument, NULL, 3},
	    {"hostname", required_argument, NULL, 4},
	    {"domain", required_argument, NULL, 5},
	    {"tests", required_argument, NULL, 't'},
	    {"json", no_argument, NULL, 'j'},
	    {"starttls", no_argument, NULL, 6},
	    {"source", required_argument, NULL, 7},
	    {"dns", required_argument, NULL, 8},
	    {"survey", required_argument, NULL, 'S'},
	    {"i-own-these", no_argument, NULL, 9},
	    {"concurrency", required_argument, NULL, 'c'},
	    {"rate", required_argument, NULL, 10},
	    {"state", required_argument, NULL, 11},
	    {"timeout", required_argument, NULL, 12},
	    {"list", no_argument, NULL, 'l'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct probe_opts o;
	struct run r;
	struct sockaddr_storage sink_ss, src_ss, tmp_ss;
	socklen_t sink_len = 0, src_len = 0, tmp_len;
	char helo[PROBE_NAME_MAX], err[512];
	const char *survey = NULL, *sender = NULL;
	int ch, i_own = 0, list = 0, status = 2;
	SSL_CTX *ctx = NULL;

	memset(&o, 0, sizeof(o));
	memset(&r, 0, sizeof(r));
	o.rcpt_local = "relaytest";
	o.relay_domain = "example.com";
	o.concurrency = 4;
	o.rate = 60;
	o.timeout = 30;
	o.wait = 60;
	o.port = 25;
	while ((ch = getopt_long(argc, argv, "p:o:s:w:k:r:x:t:jS:c:lvh", longopts,
	                         NULL)) != -1) {
		switch (ch) {
		case 'p':
			o.port = num(optarg, 1, 65535, "--port");
			break;
		case 'o':
			if (o.nonly >= PROBE_ONLY_MAX ||
			    cidr_parse(&o.only[o.nonly], optarg) < 0) {
				fprintf(
				    stderr,
				    "moat-probe: --only %s: not a CIDR (or too many)\n",
				    optarg);
				return 2;
			}
			netaddr_mask(&o.only[o.nonly].net, o.only[o.nonly].prefix);
			o.nonly++;
			break;
		case 's':
			o.sink = optarg;
			break;
		case 'w':
			o.wait = num(optarg, 0, 86400, "--wait");
			break;
		case 'k':
			o.key_file = optarg;
			break;
		case 'r':
			o.relay_domain = optarg;
			break;
		case 'x':
			if (strlcpy(o.relay_literal, optarg, sizeof(o.relay_literal)) >=
			    sizeof(o.relay_literal)) {
				fprintf(stderr,
				        "moat-probe: --relay-literal: too long\n");
				return 2;
			}
			break;
		case 1:
			o.rcpt_local = optarg;
			break;
		case 2:
			o.helo = optarg;
			break;
		case 3:
			sender = optarg;
			break;
		case 4:
			o.hostname = optarg;
			break;
		case 5:
			o.domain = optarg;
			break;
		case 't':
			o.tests = optarg;
			break;
		case 'j':
			o.json = 1;
			break;
		case 6:
			o.starttls = 1;
			break;
		case 7:
			o.source = optarg;
			break;
		case 8:
			o.dns = optarg;
			break;
		case 'S':
			survey = optarg;
			break;
		case 9:
			i_own = 1;
			break;
		case 'c':
			o.concurrency = num(optarg, 1, 256, "--concurrency");
			break;
		case 10:
			o.rate = num(optarg, 1, 60000, "--rate");
			break;
		case 11:
			o.state_file = optarg;
			break;
		case 12:
			o.timeout = num(optarg, 1, 3600, "--timeout");
			break;
		case 'l':
			list = 1;
			break;
		case 'v':
			o.verbose = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	argc -= optind;
	argv += optind;
	log_init("moat-probe", 1, o.verbose);
	if (list) {
		catalog_list(stdout);
		return 0;
	}
	if ((survey == NULL) == (argc == 0)) {
		usage(stderr);
		return 2;
	}

	/* Who we are, and what we send. */
	if (o.helo == NULL) {
		default_helo(helo, sizeof(helo));
		o.helo = helo;
	}
	if (!domain_valid(o.helo, strlen(o.helo)) ||
	    !domain_valid(o.relay_domain, strlen(o.relay_domain))) {
		fprintf(stderr,
		        "moat-probe: --helo and --relay-domain must be domain names\n");
		return 2;
	}
	if (o.domain != NULL && !domain_valid(o.domain, strlen(o.domain))) {
		fprintf(stderr, "moat-probe: --domain %s: not a domain\n", o.domain);
		return 2;
	}
	if (strlen(o.rcpt_local) == 0 ||
	    !local_is_dotstring(o.rcpt_local, strlen(o.rcpt_local))) {
		fprintf(stderr, "moat-probe: --rcpt must be a plain local part\n");
		return 2;
	}
	if (o.tests != NULL && !tests_match(o.tests)) {
		fprintf(stderr, "moat-probe: --tests %s: no test matches (see --list)\n",
		        o.tests);
		return 2;
	}
	if (sender != NULL)
		strlcpy(o.sender, sender, sizeof(o.sender));
	else
		snprintf(o.sender, sizeof(o.sender), "moat-probe@%s", o.helo);
	if (o.sink != NULL && endpoint_parse(o.sink, 25, &sink_ss, &sink_len, 0) < 0) {
		fprintf(stderr, "moat-probe: --sink %s: want ADDR:PORT\n", o.sink);
		return 2;
	}
	if (o.relay_literal[0] == '\0') {
		struct netaddr na;
		if (o.sink != NULL &&
		    netaddr_from_sockaddr(&na, (struct sockaddr *)&sink_ss) == 0)
			netaddr_str(&na, o.relay_literal, sizeof(o.relay_literal));
		else
			strlcpy(o.relay_literal, "192.0.2.1", sizeof(o.relay_literal));
	} else {
		struct netaddr na;
		if (netaddr_parse(&na, o.relay_literal) < 0) {
			fprintf(stderr, "moat-probe: --relay-literal: not an address\n");
			return 2;
		}
	}
	if (o.source != NULL && source_addr(o.source, &src_ss, &src_len) < 0) {
		fprintf(stderr, "moat-probe: --source %s: not an address\n", o.source);
		return 2;
	}
	if (o.dns != NULL && endpoint_parse(o.dns, 53, &tmp_ss, &tmp_len, 0) < 0) {
		fprintf(stderr, "moat-probe: --dns %s: want ADDR[:PORT]\n", o.dns);
		return 2;
	}
	if (o.key_file != NULL ? token_key_load(&r.key, o.key_file, err, sizeof(err)) < 0
	                       : token_key_random(&r.key) < 0) {
		fprintf(stderr, "moat-probe: key: %s\n",
		        o.key_file ? err : "no randomness");
		return 2;
	}

	/* The targets. */
	if (survey != NULL) {
		if (survey_load(&r.t, survey, o.port, i_own, err, sizeof(err)) < 0) {
			fprintf(stderr, "moat-probe: %s\n", err);
			goto out;
		}
	} else {
		for (int i = 0; i < argc; i++)
			if (targets_add(&r.t, argv[i], o.port, i_own, err, sizeof(err)) <
			    0) {
				fprintf(stderr, "moat-probe: %s\n", err);
				goto out;
			}
	}
	r.o = &o;
	if (check_only(&r) < 0)
		goto out;
	/* A peer that resets while we write must not kill the run. */
	signal(SIGPIPE, SIG_IGN);
	if ((r.base = event_base_new()) == NULL)
		fatalx("event_base_new");
	if (resolve_hosts(r.base, o.dns, r.t.hosts, r.t.n, resolved_cb, &r) > 0) {
		event_base_dispatch(r.base);
		resolve_free();
		for (size_t i = 0; i < r.t.n; i++)
			if (!r.t.hosts[i].resolved) {
				r.t.hosts[i].conn_code = 451;
				r.t.hosts[i].conn_local = 1;
				strlcpy(r.t.hosts[i].key, r.t.hosts[i].name,
				        sizeof(r.t.hosts[i].key));
				snprintf(r.t.hosts[i].conn_reply,
				         sizeof(r.t.hosts[i].conn_reply),
				         "local: cannot resolve %s", r.t.hosts[i].name);
			}
		if (check_only(&r) < 0)
			goto out;
	}
	if (o.state_file != NULL &&
	    state_load(o.state_file, r.t.hosts, r.t.n, err, sizeof(err)) < 0) {
		fprintf(stderr, "moat-probe: %s\n", err);
		goto out;
	}

	/* The sink, then the run. */
	if (o.sink != NULL && setup_sink(&r, &sink_ss, sink_len) < 0)
		goto out;
	if (o.starttls) {
		if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL)
			fatalx("SSL_CTX_new");
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE,
		                   NULL); /* any TLS beats none here */
	}
	r.env.base = r.base;
	r.env.opts = &o;
	r.env.key = &r.key;
	r.env.ssl_ctx = ctx;
	r.env.have_sink = r.sink != NULL;
	if (src_len > 0) {
		r.env.bind_addr = (struct sockaddr *)&src_ss;
		r.env.bind_len = src_len;
	}
	r.wait_timer = evtimer_new(r.base, wait_cb, &r);
	start_hosts(&r);
	if (r.running > 0 || r.waiting)
		event_base_dispatch(r.base);

	status = o.json ? report_json(stdout, r.t.hosts, r.t.n, r.sink != NULL)
	                : report_text(stdout, r.t.hosts, r.t.n, r.sink != NULL);
	fflush(stdout);
out:
	for (size_t i = 0; i < r.t.n; i++) {
		runner_free(&r.t.hosts[i]);
		free(r.t.hosts[i].tests);
		free(r.t.hosts[i].res);
	}
	free(r.t.hosts);
	sink_free(r.sink);
	if (r.wait_timer != NULL)
		event_free(r.wait_timer);
	if (ctx != NULL)
		SSL_CTX_free(ctx);
	if (r.base != NULL)
		event_base_free(r.base);
	return status;
}
