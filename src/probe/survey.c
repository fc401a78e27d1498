/* SPDX-License-Identifier: ISC */
/*
 * survey.c - target specs, CIDR expansion, the survey file, the state file.
 *
 * A range is expanded address by address, capped at SURVEY_HOSTS_MAX in
 * total. The state file is append-only text, one "done" line per finished
 * host: "done KEY status=S relayed=N accepted=N refused=N errors=N time=T".
 * SECURITY: input is local files and command-line text; every line is
 * bounded by SURVEY_LINE_MAX, every copy by its buffer.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/mailaddr.h"
#include "common/netaddr.h"
#include "common/xmalloc.h"
#include "probe/report.h"
#include "probe/survey.h"

static struct probe_host *
target_new(struct targets *t)
{
	if (t->n == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 16;
		t->hosts = xreallocarray(t->hosts, t->cap, sizeof(*t->hosts));
	}
	memset(&t->hosts[t->n], 0, sizeof(t->hosts[0]));
	return &t->hosts[t->n++];
}

int
target_set_addr(struct probe_host *h, const struct netaddr *na, int port)
{
	memset(&h->ss, 0, sizeof(h->ss));
	h->port = port;
	netaddr_str(na, h->ip, sizeof(h->ip));
	if (na->family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&h->ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		memcpy(&sin->sin_addr, na->addr, 4);
		h->sslen = sizeof(*sin);
		snprintf(h->key, sizeof(h->key), "%s:%d", h->ip, port);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&h->ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		memcpy(&sin6->sin6_addr, na->addr, 16);
		h->sslen = sizeof(*sin6);
		snprintf(h->key, sizeof(h->key), "[%s]:%d", h->ip, port);
	}
	h->resolved = 1;
	return 0;
}

static int
parse_port(const char *s, int *port)
{
	const char *errstr = NULL;
	long long v = strtonum(s, 1, 65535, &errstr);

	if (errstr != NULL)
		return -1;
	*port = (int)v;
	return 0;
}

/* add_range - every address of a CIDR block */
static int
add_range(struct targets *t, const char *spec, const char *slash, int default_port,
          int i_own, char *err, size_t errsz)
{
	char net[SURVEY_LINE_MAX];
	const char *colon = strchr(slash, ':');
	struct cidr c;
	int port = default_port, bits;
	unsigned long long count;

	if (strlcpy(net, spec, sizeof(net)) >= sizeof(net))
		goto bad;
	if (colon != NULL) {
		net[colon - spec] = '\0';
		if (parse_port(colon + 1, &port) < 0)
			goto bad;
	}
	if (cidr_parse(&c, net) < 0)
		goto bad;
	bits = (c.net.family == AF_INET ? 32 : 128) - c.prefix;
	if (bits > 16) {
		snprintf(err, errsz, "%s: range too large (at most %d addresses)", spec,
		         SURVEY_HOSTS_MAX);
		return -1;
	}
	count = 1ULL << bits;
	if (count > 1 && !i_own) {
		snprintf(err, errsz,
		         "%s: a range of %llu addresses; scan only networks you own, "
		         "and say so with --i-own-these",
		         spec, count);
		return -1;
	}
	if (t->n + count > SURVEY_HOSTS_MAX) {
		snprintf(err, errsz, "%s: more than %d targets in all", spec,
		         SURVEY_HOSTS_MAX);
		return -1;
	}
	netaddr_mask(&c.net, c.prefix);
	for (unsigned long long i = 0; i < count; i++) {
		struct netaddr na = c.net;
		int len = na.family == AF_INET ? 4 : 16;
		unsigned long long carry = i;
		for (int b = len - 1; b >= 0 && carry > 0; b--) {
			unsigned sum = na.addr[b] + (unsigned)(carry & 0xff);
			na.addr[b] = (uint8_t)sum;
			carry = (carry >> 8) + (sum >> 8);
		}
		struct probe_host *h = target_new(t);
		strlcpy(h->name, spec, sizeof(h->name));
		target_set_addr(h, &na, port);
	}
	return 0;
bad:
	snprintf(err, errsz, "%s: not a CIDR range", spec);
	return -1;
}

int
targets_add(struct targets *t, const char *spec, int default_port, int i_own, char *err,
            size_t errsz)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	const char *slash = strchr(spec, '/');
	char name[PROBE_NAME_MAX];
	const char *colon;
	int port = default_port;

	if (slash != NULL)
		return add_range(t, spec, slash, default_port, i_own, err, errsz);
	if (t->n >= SURVEY_HOSTS_MAX) {
		snprintf(err, errsz, "more than %d targets", SURVEY_HOSTS_MAX);
		return -1;
	}
	if (endpoint_parse(spec, default_port, &ss, &sslen, 0) == 0) {
		struct probe_host *h = target_new(t);
		struct netaddr na;
		netaddr_from_sockaddr(&na, (struct sockaddr *)&ss);
		strlcpy(h->name, spec, sizeof(h->name));
		target_set_addr(h, &na, netaddr_port((struct sockaddr *)&ss));
		return 0;
	}
	/* A host name, resolved before anything is sent. */
	if (strlcpy(name, spec, sizeof(name)) >= sizeof(name))
		goto bad;
	if ((colon = strchr(name, ':')) != NULL) {
		if (parse_port(colon + 1, &port) < 0)
			goto bad;
		name[colon - name] = '\0';
	}
	if (!domain_valid(name, strlen(name)))
		goto bad;
	struct probe_host *h = target_new(t);
	strlcpy(h->name, name, sizeof(h->name));
	h->port = port; /* the address comes from resolve.c */
	return 0;
bad:
	snprintf(err, errsz, "%s: not an address, host name or range", spec);
	return -1;
}

int
survey_load(struct targets *t, const char *path, int default_port, int i_own, char *err,
            size_t errsz)
{
	FILE *fp = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int lineno = 0, rc = 0;

	if (fp == NULL) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		return -1;
	}
	while ((len = getline(&line, &cap, fp)) >= 0) {
		char spec[SURVEY_LINE_MAX], e[256];
		char *p = line, *end;

		lineno++;
		if (len > SURVEY_LINE_MAX) {
			snprintf(err, errsz, "%s:%d: line too long", path, lineno);
			rc = -1;
			break;
		}
		if ((end = strchr(p, '#')) != NULL)
			*end = '\0';
		p += strspn(p, " \t\r\n");
		end = p + strcspn(p, " \t\r\n");
		*end = '\0';
		if (*p == '\0')
			continue;
		strlcpy(spec, p, sizeof(spec));
		if (targets_add(t, spec, default_port, i_own, e, sizeof(e)) < 0) {
			snprintf(err, errsz, "%s:%d: %s", path, lineno, e);
			rc = -1;
			break;
		}
	}
	free(line);
	fclose(fp);
	if (rc == 0 && t->n == 0) {
		snprintf(err, errsz, "%s: no targets", path);
		rc = -1;
	}
	return rc;
}

int
state_load(const char *path, struct probe_host *hosts, size_t n, char *err, size_t errsz)
{
	FILE *fp = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;

	if (fp == NULL) {
		if (errno == ENOENT)
			return 0; /* a first run */
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		return -1;
	}
	while ((len = getline(&line, &cap, fp)) >= 0) {
		char key[PROBE_KEY_MAX];
		size_t klen;

		if (len > SURVEY_LINE_MAX || strncmp(line, "done ", 5) != 0)
			continue;
		line[strcspn(line, "\r\n")] = '\0';
		klen = strcspn(line + 5, " ");
		if (klen == 0 || klen >= sizeof(key))
			continue;
		memcpy(key, line + 5, klen);
		key[klen] = '\0';
		for (size_t i = 0; i < n; i++)
			if (hosts[i].resolved && strcmp(hosts[i].key, key) == 0) {
				hosts[i].from_state = 1;
				strlcpy(hosts[i].state_line, line,
				        sizeof(hosts[i].state_line));
			}
	}
	free(line);
	fclose(fp);
	return 0;
}

int
state_append(const char *path, const struct probe_host *h, int status)
{
	size_t c[PV_ERROR + 1];
	char line[SURVEY_LINE_MAX];
	int fd, n, rc = 0;

	report_counts(h, c);
	n = snprintf(line, sizeof(line),
	             "done %s status=%d relayed=%zu accepted=%zu refused=%zu errors=%zu "
	             "time=%lld\n",
	             h->key, status, c[PV_RELAYED], c[PV_ACCEPTED], c[PV_REFUSED],
	             c[PV_ERROR] + c[PV_REFUSED_CONN], (long long)time(NULL));
	if (n < 0 || (size_t)n >= sizeof(line))
		return -1;
	if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644)) < 0)
		return -1;
	if (write(fd, line, (size_t)n) != n || fsync(fd) < 0)
		rc = -1;
	close(fd);
	return rc;
}
