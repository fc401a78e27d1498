/* SPDX-License-Identifier: ISC */
/*
 * fuzz_passwd.c - libFuzzer target for the password file (src/auth/
 * passwd.c): the "user:hash" lines as the verifier reads them for a login,
 * and as passwd_file_set() (moatctl user add) rewrites them.
 *
 * Input: the file, a NUL, the user name, a NUL, the password; the last
 * two NULs end the file and the name, so the file may hold NULs itself
 * (with one NUL only the password, with none both, are empty). The file goes to a scratch
 * directory (on tmpfs when there is one); a password backend is opened on it through
 * authdb_new() and asked for user and password, the way a session does, on a fresh event
 * loop turn. No password is hashed: crypt_r() and crypt_gensalt_ra() are this file's
 * (libcrypt is not linked), a stand-in hash that gives back the setting for the password
 * RIGHT and a different string of the same length for any other. So the target sees which
 * hash the verifier took.
 *
 * Checked against a plain reading of the format written here: a user's
 * line is the first one, not a '#' comment, whose text before the first
 * ':' is the name; its hash runs to the next ':' or the end of line (one
 * CR dropped); the data ends at a NUL (the file is read as a C string).
 * The login succeeds exactly when that hash starts with '$' and the
 * password is RIGHT; every login hashes once, an unknown user with the
 * dummy hash (no timing oracle for names). Then passwd_file_set() gives
 * the user a new hash: for a name the file can hold (not empty, no ':' or
 * line end, not a comment) the new file is the old one, octet for octet,
 * with the user's first line replaced (later ones dropped) or a line of
 * its own added, and the mode kept, whatever the umask; the user then logs
 * in with RIGHT. A name the file cannot hold is refused, the file kept.
 */
#include <crypt.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "auth/authdb.h"
#include "conf/conf.h"
#include "fuzz.h"

#define RIGHT     "right"
#define FAKE_SALT "$fake$salt"
#define NEW_HASH  "$fake$new.hash"
#define USER_MAX  255 /* passwd.c's USER_MAX, less its NUL */
#define PASS_MAX  1023

static char dir[256], path[300], tmp_path[320];
static struct event_base *base;

/* the stand-in hash's calls, for the verifier's thread; read after it is done */
static int ncrypt;
static char last_setting[CRYPT_OUTPUT_SIZE];

/* fake_hash - the setting itself for RIGHT; the same length, not equal, else */
static void
fake_hash(const char *phrase, const char *setting, char *out, size_t outsz)
{
	size_t n;

	snprintf(out, outsz, "%s", setting);
	n = strlen(out);
	if (strcmp(phrase, RIGHT) != 0 && n > 0)
		out[n - 1] = out[n - 1] == 'x' ? 'y' : 'x';
}

char *
crypt_r(const char *phrase, const char *setting, struct crypt_data *cd)
{
	ncrypt++;
	snprintf(last_setting, sizeof(last_setting), "%s", setting);
	/* libcrypt's failure token for a setting it does not know */
	if (setting[0] != '$') {
		snprintf(cd->output, sizeof(cd->output), "*0");
		return cd->output;
	}
	fake_hash(phrase, setting, cd->output, sizeof(cd->output));
	return cd->output;
}

char *
crypt_gensalt_ra(const char *prefix, unsigned long count, const char *rbytes, int nrbytes)
{
	return strdup(FAKE_SALT);
}

static void
cleanup(void)
{
	unlink(path);
	unlink(tmp_path);
	rmdir(dir);
}

static void
setup(void)
{
	struct stat st;
	const char *tmpbase = stat("/dev/shm", &st) == 0 ? "/dev/shm" : "/tmp";

	snprintf(dir, sizeof(dir), "%s/fuzz-passwd-XXXXXX", tmpbase);
	REQUIRE(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/passwd", dir);
	/* passwd_file_set()'s temporary file, should one be left behind */
	snprintf(tmp_path, sizeof(tmp_path), "%s.tmp.%d", path, (int)getpid());
	/* root's umask may be strict; the file's mode must not depend on it */
	umask(077);
	base = event_base_new();
	REQUIRE(base != NULL);
	atexit(cleanup);
}

static void
put(const char *data, size_t len, mode_t mode)
{
	int fd;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	REQUIRE(fd != -1);
	REQUIRE(len == 0 || write(fd, data, len) == (ssize_t)len);
	REQUIRE(fchmod(fd, mode) == 0);
	close(fd);
}

/* slurp - the whole file into a new buffer (NUL after it), its size in *len */
static char *
slurp(size_t *len)
{
	struct stat st;
	char *buf;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	REQUIRE(fd != -1 && fstat(fd, &st) == 0);
	buf = malloc((size_t)st.st_size + 1);
	REQUIRE(buf != NULL);
	REQUIRE(read(fd, buf, (size_t)st.st_size) == st.st_size);
	buf[st.st_size] = '\0';
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

/*
 * ref_lookup - user's hash in the file data (a C string), or NULL when the
 * user has no line or the first one's hash is too long for crypt(3)
 */
static int
ref_lookup(const char *data, const char *user, char *hash, size_t hashsz)
{
	const char *p = data;

	while (*p != '\0') {
		size_t len = strcspn(p, "\n");
		size_t nlen = strcspn(p, ":\n");

		if (p[0] != '#' && nlen < len && nlen == strlen(user) &&
		    strncmp(p, user, nlen) == 0) {
			const char *h = p + nlen + 1;
			size_t hlen = strcspn(h, ":\n");
			if (hlen > 0 && h[hlen - 1] == '\r')
				hlen--;
			if (hlen >= hashsz)
				return -1;
			memcpy(hash, h, hlen);
			hash[hlen] = '\0';
			return 0;
		}
		p += len;
		if (*p == '\n')
			p++;
	}
	return -1;
}

static void
done_cb(void *arg, enum auth_result r)
{
	*(int *)arg = (int)r;
}

/* login - user and pass through a password backend opened on the file */
static enum auth_result
login(const char *user, const char *pass)
{
	struct moat_conf conf;
	struct auth_info info = {"192.0.2.1", "192.0.2.25", 1};
	struct authdb *db;
	int result = -1;

	memset(&conf, 0, sizeof(conf));
	conf.auth_password_file = path;
	ncrypt = 0;
	last_setting[0] = '\0';
	REQUIRE((db = authdb_new(base, &conf)) != NULL);
	REQUIRE(authdb_verify(db, user, pass, &info, done_cb, &result) != NULL);
	/* the callback comes from the loop, never from inside authdb_verify() */
	REQUIRE(result == -1);
	while (result == -1)
		REQUIRE(event_base_loop(base, EVLOOP_ONCE) == 0);
	authdb_free(db);
	return (enum auth_result)result;
}

/* check_login - the verifier took the hash the file gives, or the dummy */
static void
check_login(const char *data, const char *user, const char *pass)
{
	char hash[CRYPT_OUTPUT_SIZE], dummy[CRYPT_OUTPUT_SIZE];
	enum auth_result r = login(user, pass);
	int known;

	/* too long to be ours: an empty name and password are checked */
	if (strlen(user) > USER_MAX || strlen(pass) > PASS_MAX)
		user = pass = "";
	known = ref_lookup(data, user, hash, sizeof(hash)) == 0 && hash[0] == '$';
	fake_hash("no such user", FAKE_SALT, dummy, sizeof(dummy));
	REQUIRE(r == AUTH_OK || r == AUTH_FAIL);
	REQUIRE((r == AUTH_OK) == (known && strcmp(pass, RIGHT) == 0));
	/* one hash per login; the first unknown user also makes the dummy */
	REQUIRE(ncrypt == (known ? 1 : 2));
	REQUIRE(strcmp(last_setting, known ? hash : dummy) == 0);
}

/* name_fits - a name the file can hold: the text of a line before its first
 * ':', so not empty, on one line, without ':' and not a '#' comment */
static int
name_fits(const char *user)
{
	return user[0] != '\0' && user[0] != '#' && strpbrk(user, ":\n") == NULL;
}

/* expect_set - the old file with user's hash set, the way the format says */
static char *
expect_set(const char *old, size_t oldlen, const char *user, size_t *len)
{
	size_t ulen = strlen(user), n = 0, cap = oldlen + ulen + sizeof(NEW_HASH) + 4;
	char *out = malloc(cap);
	const char *p = old, *end = old + oldlen;
	int replaced = 0;

	REQUIRE(out != NULL);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t llen = nl != NULL ? (size_t)(nl - p) + 1 : (size_t)(end - p);

		if (llen > ulen && memcmp(p, user, ulen) == 0 && p[ulen] == ':') {
			if (!replaced)
				n += (size_t)sprintf(out + n, "%s:%s\n", user, NEW_HASH);
			replaced = 1;
		} else {
			memcpy(out + n, p, llen);
			n += llen;
		}
		p += llen;
	}
	if (!replaced) {
		/* a last line without its line end keeps it to itself */
		if (n > 0 && out[n - 1] != '\n')
			out[n++] = '\n';
		n += (size_t)sprintf(out + n, "%s:%s\n", user, NEW_HASH);
	}
	REQUIRE(n < cap);
	*len = n;
	return out;
}

/* check_set - passwd_file_set() keeps every other line and the mode */
static void
check_set(const char *user, mode_t mode)
{
	size_t oldlen, newlen, wantlen;
	char *old = slurp(&oldlen), *now, *want;
	struct stat st;
	int r;

	r = passwd_file_set(path, user, NEW_HASH);
	REQUIRE(access(tmp_path, F_OK) == -1);
	now = slurp(&newlen);
	REQUIRE(stat(path, &st) == 0 && (st.st_mode & 0777) == mode);
	if (!name_fits(user)) {
		/* what a login could never find is not written */
		REQUIRE(r == -1);
		REQUIRE(newlen == oldlen && memcmp(now, old, oldlen) == 0);
	} else {
		REQUIRE(r == 0);
		want = expect_set(old, oldlen, user, &wantlen);
		REQUIRE(newlen == wantlen && memcmp(now, want, wantlen) == 0);
		free(want);
		/* A login reads up to the first NUL: past one, a line is lost
		 * to it whatever passwd_file_set() does. Longer names never
		 * reach the file. */
		if (memchr(now, '\0', newlen) == NULL && strlen(user) <= USER_MAX) {
			REQUIRE(login(user, RIGHT) == AUTH_OK);
			REQUIRE(login(user, "wrong") == AUTH_FAIL);
		}
	}
	free(old);
	free(now);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1), *user, *pass;
	const mode_t mode = 0640;
	size_t flen = size;

	if (dir[0] == '\0')
		setup();
	REQUIRE(buf != NULL);
	memcpy(buf, data, size);
	buf[size] = '\0';
	/* the last two NULs end the file and the user name: the file may
	 * hold NULs itself */
	char *last = memrchr(buf, '\0', size), *prev;
	user = pass = buf + size;
	if (last != NULL) {
		prev = memrchr(buf, '\0', (size_t)(last - buf));
		if (prev != NULL) {
			user = prev + 1;
			pass = last + 1;
			flen = (size_t)(prev - buf);
		} else {
			user = last + 1;
			flen = (size_t)(last - buf);
		}
	}

	put(buf, flen, mode);
	check_login(buf, user, pass);
	check_set(user, mode);
	free(buf);
	return 0;
}
