/* SPDX-License-Identifier: ISC */
/*
 * fuzz_conf.c - libFuzzer target for the configuration reader: conf_load()
 * (src/conf/, libconfuse underneath) on arbitrary moat.conf text, and a
 * domain's users_file.
 *
 * conf_load() takes a path, so the input is written to a file in a scratch
 * directory (on tmpfs when there is one) before each call. Input: the
 * configuration, then optionally a NUL and the text of a users file; both
 * go to files in that directory, which is $MOAT_FUZZ_DIR (libconfuse
 * expands "${MOAT_FUZZ_DIR}/users" in strings). It also holds cert.pem,
 * key.pem (mode 0600) and access, so that a seed's tls section and access
 * lists pass their checks. Seeds: etc/moat*.conf and configurations like the
 * e2e tests' (tests/e2e/harness.py).
 *
 * Checked: no crash, no leak, no exit (conf_load() reports problems and
 * returns NULL); a configuration it accepts holds what the rest of moatd
 * relies on (check()). Its messages go to /dev/null: stderr the FILE is
 * pointed there for the call (glibc allows it), fd 2 stays for sanitizers.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/mailaddr.h"
#include "conf/conf.h"
#include "conf/conf_dnsbl.h"
#include "fuzz.h"

static char dir[256], conf_path[300];
static FILE *devnull;

/* put - write a whole file in the scratch directory, mode as given */
static void
put(const char *name, const void *data, size_t len, mode_t mode)
{
	char path[300];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
	REQUIRE(fd != -1);
	REQUIRE(len == 0 || write(fd, data, len) == (ssize_t)len);
	REQUIRE(fchmod(fd, mode) == 0);
	close(fd);
}

static void
cleanup(void)
{
	static const char *const names[] = {"moat.conf", "users", "access", "cert.pem",
	                                    "key.pem"};
	char path[300];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
}

static void
setup(void)
{
	struct stat st;
	const char *base = stat("/dev/shm", &st) == 0 ? "/dev/shm" : "/tmp";

	snprintf(dir, sizeof(dir), "%s/fuzz-conf-XXXXXX", base);
	REQUIRE(mkdtemp(dir) != NULL);
	snprintf(conf_path, sizeof(conf_path), "%s/moat.conf", dir);
	REQUIRE(setenv("MOAT_FUZZ_DIR", dir, 1) == 0);
	put("access", "", 0, 0644);
	put("cert.pem", "", 0, 0644);
	put("key.pem", "", 0, 0600);
	devnull = fopen("/dev/null", "w");
	REQUIRE(devnull != NULL);
	atexit(cleanup);
}

static int
is_lower(const char *s)
{
	for (; *s != '\0'; s++)
		if (*s >= 'A' && *s <= 'Z')
			return 0;
	return 1;
}

static void
check_domain(const struct moat_conf *c, const struct domain_conf *d)
{
	char upper[MAILADDR_LOCAL_MAX + 1];

	REQUIRE(d->name != NULL && is_lower(d->name));
	REQUIRE(domain_valid(d->name, strlen(d->name)));
	REQUIRE(conf_domain_find(c, d->name) == d);
	REQUIRE(d->delivery == DELIVER_MAILDIR || d->delivery_target != NULL);
	for (size_t i = 0; i < d->nusers; i++) {
		const char *u = d->users[i];
		size_t n = strlen(u);
		/* a user names a Maildir directory: a dot-string, no '/' */
		REQUIRE(n > 0 && n <= MAILADDR_LOCAL_MAX && is_lower(u));
		REQUIRE(local_is_dotstring(u, n) && strchr(u, '/') == NULL);
		REQUIRE(i == 0 || strcmp(d->users[i - 1], u) <= 0);
		/* the lookup ignores case */
		for (size_t j = 0; j <= n; j++)
			upper[j] = u[j] >= 'a' && u[j] <= 'z' ? (char)(u[j] - 32) : u[j];
		REQUIRE(conf_domain_has_user(d, upper));
	}
	/* no user has a '/'; the lookup must hold with no users at all */
	REQUIRE(!conf_domain_has_user(d, "no/user"));
}

/* check - what the rest of moatd takes for granted in a loaded config */
static void
check(const struct moat_conf *c)
{
	REQUIRE(c->path != NULL && strcmp(c->path, conf_path) == 0);
	REQUIRE(c->hostname != NULL && c->user != NULL);
	REQUIRE(c->spool_dir[0] == '/' && c->mail_dir[0] == '/' && c->run_dir[0] == '/' &&
	        c->state_dir[0] == '/');
	REQUIRE(c->workers >= 1 && c->workers <= 64);
	REQUIRE(c->nlisteners >= 1 && c->ndomains >= 1);
	/* the local submission socket's listener: last, and only then */
	REQUIRE(c->nlisteners >= (size_t)(c->local_submission ? 2 : 1));
	for (size_t i = 0; i < c->nlisteners; i++) {
		const struct listener_conf *l = &c->listeners[i];
		int local_one = c->local_submission && i == c->nlisteners - 1;
		REQUIRE((l->role == ROLE_LOCAL) == local_one);
		if (local_one) {
			REQUIRE(strcmp(l->name, LOCAL_LISTENER_NAME) == 0);
			REQUIRE(strncmp(l->address, "unix:/", 6) == 0 &&
			        strstr(l->address, LOCAL_SUBMIT_SOCKET) != NULL);
			continue;
		}
		REQUIRE(strcmp(l->name, LOCAL_LISTENER_NAME) != 0 ||
		        !c->local_submission);
		REQUIRE(l->role == ROLE_MX || l->role == ROLE_SUBMISSION ||
		        l->role == ROLE_SMTPS);
		REQUIRE(l->sslen > 0 && l->sslen <= sizeof(l->ss));
		if (l->role != ROLE_MX)
			REQUIRE(c->tls_cert_file != NULL &&
			        (c->auth_password_file != NULL ||
			         c->auth_dovecot_socket != NULL));
	}
	for (size_t i = 0; i < c->ndomains; i++)
		check_domain(c, &c->domains[i]);
	REQUIRE((c->tls_cert_file == NULL) == (c->tls_key_file == NULL));
	/* the certificates: the default first, each a whole pair */
	REQUIRE((c->tls_cert_file == NULL) == (c->ntls_certs == 0));
	if (c->ntls_certs > 0)
		REQUIRE(strcmp(c->tls_cert_file, c->tls_certs[0].cert_file) == 0 &&
		        strcmp(c->tls_key_file, c->tls_certs[0].key_file) == 0);
	for (size_t i = 0; i < c->ntls_certs; i++)
		REQUIRE(c->tls_certs[i].cert_file[0] == '/' &&
		        c->tls_certs[i].key_file[0] == '/' && c->tls_certs[i].line > 0);
	REQUIRE(c->auth_password_file == NULL || c->auth_dovecot_socket == NULL);
	REQUIRE(c->auth_dovecot_socket == NULL || c->auth_dovecot_socket[0] == '/');
	for (size_t i = 0; i < c->ndns_servers; i++)
		REQUIRE(c->dns_servers[i] != NULL);
	REQUIRE(c->dns_servers[c->ndns_servers] == NULL);

#define LIMIT_IN_RANGE(name, def, min, max, what)                                        \
	REQUIRE(c->limits.name >= (min) && c->limits.name <= (max));
	MOAT_LIMITS(LIMIT_IN_RANGE)
#undef LIMIT_IN_RANGE

	const struct screen_conf *s = &c->screen;
	REQUIRE(s->fcrdns >= FCRDNS_IGNORE && s->fcrdns <= FCRDNS_TEMPFAIL);
	REQUIRE(s->sender_domain >= SDOM_OFF && s->sender_domain <= SDOM_REJECT);
	for (size_t i = 0; i < s->ndnsbl; i++) {
		const struct dnsbl_zone *z = &s->dnsbl[i];
		size_t n = strnlen(z->zone, sizeof(z->zone));
		REQUIRE(n > 0 && n <= DNSBL_ZONE_MAX && domain_valid(z->zone, n));
		REQUIRE(z->weight != 0 && z->weight >= -1000 && z->weight <= 1000);
	}

	const struct bait_conf *b = &c->bait;
	REQUIRE(b->domain == NULL || conf_domain_find(c, b->domain) != NULL);
	REQUIRE(b->listen == NULL || (b->secret_file != NULL && b->listen_len > 0));
	for (size_t i = 0; i < b->nspamtraps; i++)
		REQUIRE(is_lower(b->spamtraps[i]));
	REQUIRE(b->spamtraps[b->nspamtraps] == NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, '\0', size);
	size_t conf_len = nul != NULL ? (size_t)(nul - data) : size;
	struct moat_conf *c;
	FILE *saved;

	if (dir[0] == '\0')
		setup();
	put("moat.conf", data, conf_len, 0644);
	put("users", nul != NULL ? nul + 1 : data, nul != NULL ? size - conf_len - 1 : 0,
	    0644);

	saved = stderr;
	stderr = devnull;
	c = conf_load(conf_path);
	stderr = saved;
	if (c != NULL) {
		check(c);
		conf_free(c);
	}
	return 0;
}
