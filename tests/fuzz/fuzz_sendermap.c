/* SPDX-License-Identifier: ISC */
/*
 * fuzz_sendermap.c - libFuzzer target for the sender map (src/policy/
 * sender_login.c, auth { sender_map }): sender_map_load() on arbitrary file
 * text, and sender_owned(), which says which MAIL FROM addresses a login
 * may use.
 *
 * Input: the map, a NUL, a login, a NUL and a sender; the last two NULs
 * end the map and the login, so the map may hold NULs itself. The map
 * goes to a file in a scratch directory (on tmpfs when there is one).
 * The configuration has two local domains. Checked against a plain reading
 * of the format written here (sender_login.h): a line is a login and the
 * addresses or "@domain"s it owns, separated by blanks or commas, up to a
 * '#' (a NUL ends what is read of a line); the first line of a login, in
 * any letters, is the one that counts. Every login and address of the file
 * is tried with every other, as written and in other letters, with the
 * map, and without one (a login then owns LOGIN@ a local domain, or itself
 * when it is an address); and so is the input's own pair. The null sender
 * is always owned.
 *
 * sender_login.c's screening stage is not run here: the policy calls it
 * makes are this file's and abort.
 */
#include <fcntl.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/conf.h"
#include "fuzz.h"
#include "policy/policy.h"
#include "policy/sender_login.h"

#define WORDS_MAX 16 /* words of the file tried as logins and senders */

/* policy.c is not linked: the stage that would call these is not run */
const struct moat_conf *
policy_conf(const struct policy *p)
{
	abort();
}

const struct sender_map *
policy_sender_map(const struct policy *p)
{
	abort();
}

void
policy_next(struct policy_check *chk)
{
	abort();
}

void
policy_stop(struct policy_check *chk, enum verdict_kind kind, int code, const char *enh,
            const char *rule, const char *fmt, ...)
{
	abort();
}

/* the reference's reading of the map */
struct entry {
	char *login;
	char **owned;
	size_t nowned;
};

struct ref {
	struct entry *e;
	size_t n;
	char **words; /* every word of the file, for subjects */
	size_t nwords;
};

static char dir[256], path[300];
static struct moat_conf conf;
static struct domain_conf domains[2];

static void
cleanup(void)
{
	unlink(path);
	rmdir(dir);
}

static void
setup(void)
{
	struct stat st;
	const char *base = stat("/dev/shm", &st) == 0 ? "/dev/shm" : "/tmp";

	snprintf(dir, sizeof(dir), "%s/fuzz-sendermap-XXXXXX", base);
	REQUIRE(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/sender_map", dir);
	domains[0].name = "example.test";
	domains[1].name = "lists.example.test";
	conf.domains = domains;
	conf.ndomains = 2;
	atexit(cleanup);
}

static void
put(const char *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);

	REQUIRE(fd != -1);
	REQUIRE(size == 0 || write(fd, data, size) == (ssize_t)size);
	close(fd);
}

static char *
xdup(const char *s, size_t n)
{
	char *d = strndup(s, n);

	REQUIRE(d != NULL);
	return d;
}

static void
append(char ***v, size_t *n, char *s)
{
	*v = realloc(*v, (*n + 1) * sizeof(**v));
	REQUIRE(*v != NULL);
	(*v)[(*n)++] = s;
}

/* reference - the map's lines: words split at blanks and commas */
static void
reference(const char *data, size_t size, struct ref *r)
{
	const char *p = data, *end = data + size;
	static const char delim[] = " \t\r,";

	memset(r, 0, sizeof(*r));
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		const char *q = p, *lend;
		struct entry *e = NULL;

		n = strnlen(p, n);
		lend = memchr(p, '#', n) != NULL ? memchr(p, '#', n) : p + n;
		while (q < lend) {
			size_t w;

			while (q < lend && strchr(delim, *q) != NULL)
				q++;
			for (w = 0; q + w < lend && strchr(delim, q[w]) == NULL; w++)
				;
			if (w == 0)
				break;
			if (e == NULL) {
				r->e = realloc(r->e, (r->n + 1) * sizeof(*r->e));
				REQUIRE(r->e != NULL);
				e = &r->e[r->n++];
				memset(e, 0, sizeof(*e));
				e->login = xdup(q, w);
			} else
				append(&e->owned, &e->nowned, xdup(q, w));
			if (r->nwords < WORDS_MAX)
				append(&r->words, &r->nwords, xdup(q, w));
			q += w;
		}
		p = nl != NULL ? nl + 1 : end;
	}
}

static void
ref_free(struct ref *r)
{
	for (size_t i = 0; i < r->n; i++) {
		for (size_t j = 0; j < r->e[i].nowned; j++)
			free(r->e[i].owned[j]);
		free(r->e[i].owned);
		free(r->e[i].login);
	}
	for (size_t i = 0; i < r->nwords; i++)
		free(r->words[i]);
	free(r->words);
	free(r->e);
}

static int
local_domain(const char *d)
{
	for (size_t i = 0; i < conf.ndomains; i++)
		if (strcasecmp(conf.domains[i].name, d) == 0)
			return 1;
	return 0;
}

/* ref_owned - sender_login.h's rule */
static int
ref_owned(const struct ref *r, const char *login, const char *sender)
{
	const char *at = strrchr(sender, '@');

	if (sender[0] == '\0')
		return 1;
	for (size_t i = 0; r != NULL && i < r->n; i++) {
		const struct entry *e = &r->e[i];
		if (strcasecmp(e->login, login) != 0)
			continue;
		for (size_t j = 0; j < e->nowned; j++) {
			const char *o = e->owned[j];
			if (o[0] == '@' ? at != NULL && strcasecmp(at + 1, o + 1) == 0
			                : strcasecmp(o, sender) == 0)
				return 1;
		}
		return 0;
	}
	if (strchr(login, '@') != NULL)
		return strcasecmp(login, sender) == 0;
	return at != NULL && (size_t)(at - sender) == strlen(login) &&
	       strncasecmp(sender, login, strlen(login)) == 0 && local_domain(at + 1);
}

/* swap_case - s with A-Z and a-z exchanged */
static void
swap_case(char *s)
{
	for (; *s != '\0'; s++)
		if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z'))
			*s ^= 0x20;
}

/* check - login and sender, as given and in other letters, with and
 * without the map */
static void
check(const struct sender_map *m, const struct ref *r, const char *login,
      const char *sender)
{
	char l2[600], s2[600];

	REQUIRE(sender_owned(&conf, m, login, sender) == ref_owned(r, login, sender));
	REQUIRE(sender_owned(&conf, NULL, login, sender) ==
	        ref_owned(NULL, login, sender));
	if (strlen(login) < sizeof(l2) && strlen(sender) < sizeof(s2)) {
		strcpy(l2, login);
		strcpy(s2, sender);
		swap_case(l2);
		swap_case(s2);
		/* letters do not matter */
		REQUIRE(sender_owned(&conf, m, l2, s2) == ref_owned(r, login, sender));
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1), *login, *sender;
	size_t flen;
	struct sender_map *m;
	struct ref r;

	if (dir[0] == '\0')
		setup();
	REQUIRE(buf != NULL);
	memcpy(buf, data, size);
	buf[size] = '\0';
	/* map NUL login NUL sender: the last two NULs end the map and the
	 * login, so the map may hold NULs itself; what is missing is empty */
	char *last = memrchr(buf, '\0', size), *prev;
	flen = size;
	login = sender = buf + size;
	if (last != NULL) {
		prev = memrchr(buf, '\0', (size_t)(last - buf));
		if (prev != NULL) {
			login = prev + 1;
			sender = last + 1;
			flen = (size_t)(prev - buf);
		} else {
			login = last + 1;
			flen = (size_t)(last - buf);
		}
	}

	put(buf, flen);
	m = sender_map_load(path);
	REQUIRE(m != NULL);
	reference(buf, flen, &r);

	check(m, &r, login, sender);
	for (size_t i = 0; i < r.n; i++) {
		const struct entry *e = &r.e[i];
		int first = 1;
		for (size_t k = 0; k < i && first; k++)
			first = strcasecmp(r.e[k].login, e->login) != 0;
		/* what a login's first line names is its own */
		for (size_t j = 0; j < e->nowned; j++) {
			char s[600];
			const char *o = e->owned[j];
			int domain = o[0] == '@' && strchr(o + 1, '@') == NULL;
			if (domain)
				snprintf(s, sizeof(s), "x%s", o);
			else
				snprintf(s, sizeof(s), "%s", o);
			check(m, &r, e->login, s);
			/* ("@a@b" is no domain, and no address either) */
			if (first && (domain || o[0] != '@') && strlen(o) < sizeof(s) - 1)
				REQUIRE(sender_owned(&conf, m, e->login, s) == 1);
		}
	}
	for (size_t i = 0; i < r.nwords; i++) {
		char s[600];
		for (size_t j = 0; j < r.nwords; j++)
			check(m, &r, r.words[i], r.words[j]);
		snprintf(s, sizeof(s), "%.200s@example.test", r.words[i]);
		check(m, &r, r.words[i], s);
		check(m, &r, r.words[i], "");
	}
	sender_map_free(m);
	ref_free(&r);
	free(buf);
	return 0;
}
