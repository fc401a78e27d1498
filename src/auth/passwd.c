/* SPDX-License-Identifier: ISC */
/*
 * passwd.c - the password-file backend: "user:hash" lines, crypt(3).
 *
 * Verification runs on one helper thread: yescrypt and bcrypt cost
 * milliseconds on purpose, and the event loop must keep serving everyone
 * else meanwhile. The file is re-read when its mtime changes, so
 * `moatctl user add` takes effect without a reload. An unknown user costs
 * the same hash as a known one (no timing oracle for account names).
 * With chroot = true the file is read once, before the chroot; a change
 * then applies at the next reload.
 * SECURITY: the password comes from the network; it is compared only by
 * crypt_r() and CRYPTO_memcmp(), and wiped after use. The file is opened
 * with safe_open(): never through a link or directory the run user could
 * change, never a file that user can write.
 */
#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "auth/authdb.h"
#include "common/log.h"
#include "common/safefile.h"
#include "common/xmalloc.h"
#include "conf/conf.h"

#define USER_MAX 256
#define PASS_MAX 1024

struct pjob {
	struct auth_req *req;
	char user[USER_MAX];
	char pass[PASS_MAX];
	enum auth_result result;
	TAILQ_ENTRY(pjob) entry;
};
TAILQ_HEAD(pjobq, pjob);

struct pwdb {
	char *path;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct pjobq todo, done;
	int stop;
	int wake[2];
	struct event *wake_ev;
	/* thread-only: the cached file */
	char *data;
	struct timespec mtime;
	off_t size;
	char *dummy; /* a real hash, verified when the user is unknown */
	int pinned;  /* chrooted: data is what was read at start */
};

/*
 * load - (re)read the file when it changed; thread only (or before the
 * thread starts). Chrooted, the copy read at start is the one: the path is
 * out of reach, and a changed file applies at the next reload.
 */
static int
load(struct pwdb *db)
{
	char err[1200];
	struct stat st;
	int fd;

	if (db->pinned)
		return db->data != NULL ? 0 : -1;
	/* No link the run user could have made, not writable by it. */
	if ((fd = safe_open(db->path, SAFE_STRICT, &st, err, sizeof(err))) == -1) {
		log_warnx("auth: password_file: %s", err);
		return -1;
	}
	if (db->data != NULL && st.st_mtim.tv_sec == db->mtime.tv_sec &&
	    st.st_mtim.tv_nsec == db->mtime.tv_nsec && st.st_size == db->size) {
		close(fd);
		return 0;
	}
	if (st.st_size > 64 * 1024 * 1024) {
		log_warnx("auth: %s: too large", log_escape_str(db->path));
		close(fd);
		return -1;
	}
	char *buf = xmalloc((size_t)st.st_size + 1);
	ssize_t n = read(fd, buf, (size_t)st.st_size);
	close(fd);
	if (n != st.st_size) {
		free(buf);
		return -1;
	}
	buf[n] = '\0';
	if (db->data != NULL)
		explicit_bzero(db->data, (size_t)db->size);
	free(db->data);
	db->data = buf;
	db->mtime = st.st_mtim;
	db->size = st.st_size;
	return 0;
}

/* lookup - the hash of user, copied into hash; 0 found, 1 not found */
static int
lookup(struct pwdb *db, const char *user, char *hash, size_t hashsz)
{
	size_t ulen = strlen(user);
	const char *p = db->data;

	/* A name is the text before a line's first ':'. One with a ':' of its
	 * own (AUTH allows it) would match the start of another user's line
	 * and take an extra field for the hash: "alice:X" against
	 * "alice:X:$...". */
	if (strchr(user, ':') != NULL)
		return 1;
	while (p != NULL && *p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		if (len > ulen && p[ulen] == ':' && strncmp(p, user, ulen) == 0 &&
		    p[0] != '#') {
			const char *h = p + ulen + 1;
			size_t hlen = len - ulen - 1;
			const char *colon = memchr(h, ':', hlen); /* extra fields */
			if (colon)
				hlen = (size_t)(colon - h);
			if (hlen > 0 && h[hlen - 1] == '\r')
				hlen--;
			if (hlen >= hashsz)
				return 1;
			memcpy(hash, h, hlen);
			hash[hlen] = '\0';
			return 0;
		}
		p = nl ? nl + 1 : NULL;
	}
	return 1;
}

static enum auth_result
check(struct pwdb *db, const char *user, const char *pass)
{
	struct crypt_data *cd = xcalloc(1, sizeof(*cd));
	char hash[CRYPT_OUTPUT_SIZE];
	enum auth_result r = AUTH_FAIL;
	int known;

	if (load(db) == -1) {
		free(cd);
		return AUTH_TEMPFAIL;
	}
	known = lookup(db, user, hash, sizeof(hash)) == 0 && hash[0] == '$';
	if (!known) {
		if (db->dummy == NULL)
			db->dummy = passwd_hash("no such user");
		strlcpy(hash, db->dummy ? db->dummy : "*", sizeof(hash));
	}
	const char *out = crypt_r(pass, hash, cd);
	if (known && out != NULL && out[0] != '*' && strlen(out) == strlen(hash) &&
	    CRYPTO_memcmp(out, hash, strlen(hash)) == 0)
		r = AUTH_OK;
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return r;
}

static void *
worker(void *arg)
{
	struct pwdb *db = arg;
	struct pjob *j;

	pthread_mutex_lock(&db->mu);
	for (;;) {
		while (TAILQ_EMPTY(&db->todo) && !db->stop)
			pthread_cond_wait(&db->cv, &db->mu);
		if (db->stop)
			break;
		j = TAILQ_FIRST(&db->todo);
		TAILQ_REMOVE(&db->todo, j, entry);
		pthread_mutex_unlock(&db->mu);
		j->result = check(db, j->user, j->pass);
		explicit_bzero(j->pass, sizeof(j->pass));
		pthread_mutex_lock(&db->mu);
		TAILQ_INSERT_TAIL(&db->done, j, entry);
		char c = 1;
		ssize_t w = write(db->wake[1], &c, 1);
		(void)w;
	}
	pthread_mutex_unlock(&db->mu);
	return NULL;
}

static void
wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pwdb *db = arg;
	struct pjobq done;
	struct pjob *j;
	char buf[64];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
	TAILQ_INIT(&done);
	pthread_mutex_lock(&db->mu);
	TAILQ_CONCAT(&done, &db->done, entry);
	pthread_mutex_unlock(&db->mu);
	while ((j = TAILQ_FIRST(&done)) != NULL) {
		TAILQ_REMOVE(&done, j, entry);
		authdb_done(j->req, j->result);
		free(j);
	}
}

static void *
pw_open(struct event_base *base, const struct moat_conf *conf)
{
	struct pwdb *db = xcalloc(1, sizeof(*db));

	db->path = xstrdup(conf->auth_password_file);
	pthread_mutex_init(&db->mu, NULL);
	pthread_cond_init(&db->cv, NULL);
	TAILQ_INIT(&db->todo);
	TAILQ_INIT(&db->done);
	if (pipe2(db->wake, O_NONBLOCK | O_CLOEXEC) == -1)
		fatal("auth: pipe");
	db->wake_ev = event_new(base, db->wake[0], EV_READ | EV_PERSIST, wake_cb, db);
	event_add(db->wake_ev, NULL);
	if (conf->chroot) {
		/* Before the chroot and before the thread: read it now, once. */
		if (load(db) == -1)
			log_warnx("auth: %s unreadable; logins fail until a reload",
			          db->path);
		db->pinned = 1;
	}
	if (pthread_create(&db->thread, NULL, worker, db) != 0)
		fatalx("auth: cannot start the verifier thread");
	return db;
}

static void
pw_close(void *ctx)
{
	struct pwdb *db = ctx;
	struct pjob *j;

	pthread_mutex_lock(&db->mu);
	db->stop = 1;
	pthread_cond_signal(&db->cv);
	pthread_mutex_unlock(&db->mu);
	pthread_join(db->thread, NULL);
	/* Requests still queued end as temporary failures. */
	TAILQ_CONCAT(&db->done, &db->todo, entry);
	TAILQ_FOREACH(j, &db->done, entry)
	j->result = AUTH_TEMPFAIL;
	wake_cb(db->wake[0], EV_READ, db);
	event_free(db->wake_ev);
	close(db->wake[0]);
	close(db->wake[1]);
	pthread_mutex_destroy(&db->mu);
	pthread_cond_destroy(&db->cv);
	if (db->data)
		explicit_bzero(db->data, (size_t)db->size);
	free(db->data);
	free(db->dummy);
	free(db->path);
	free(db);
}

static void
pw_verify(void *ctx, struct auth_req *req, const char *user, const char *pass,
          const struct auth_info *info)
{
	struct pwdb *db = ctx;
	struct pjob *j = xcalloc(1, sizeof(*j));

	j->req = req;
	if (strlcpy(j->user, user, sizeof(j->user)) >= sizeof(j->user) ||
	    strlcpy(j->pass, pass, sizeof(j->pass)) >= sizeof(j->pass)) {
		/* Too long to be ours: a failure, reported like any other. */
		j->user[0] = '\0';
		explicit_bzero(j->pass, sizeof(j->pass));
	}
	pthread_mutex_lock(&db->mu);
	TAILQ_INSERT_TAIL(&db->todo, j, entry);
	pthread_cond_signal(&db->cv);
	pthread_mutex_unlock(&db->mu);
}

const struct authdb_backend authdb_passwd = {pw_open, pw_close, pw_verify};

char *
passwd_hash(const char *pass)
{
	struct crypt_data *cd = xcalloc(1, sizeof(*cd));
	char *salt, *out = NULL;

	/* NULL prefix: libxcrypt's preferred method (yescrypt on Debian 12). */
	salt = crypt_gensalt_ra(NULL, 0, NULL, 0);
	if (salt != NULL) {
		const char *h = crypt_r(pass, salt, cd);
		if (h != NULL && h[0] == '$')
			out = xstrdup(h);
		free(salt);
	}
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return out;
}

int
passwd_file_set(const char *path, const char *user, const char *hash)
{
	char tmp[4096], err[1200];
	FILE *in = NULL, *out;
	char *line = NULL;
	size_t linesz = 0, ulen = strlen(user);
	ssize_t n;
	int fd, infd, replaced = 0, ended = 1;
	struct stat st;
	mode_t mode = 0600;

	/* What lookup() could never read back is not written: a name is the
	 * text before a line's first ':', on one line, and a line that starts
	 * with '#' is a comment ("#alice" would also replace "#alice:..."). */
	if (user[0] == '\0' || user[0] == '#' || strpbrk(user, ":\n") != NULL) {
		errno = EINVAL;
		return -1;
	}
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >=
	    (int)sizeof(tmp))
		return -1;
	/* Root runs this: the old file is read, and its owner and mode kept,
	 * from what was opened, never through a link at its name. */
	if ((infd = safe_open(path, SAFE_NOLINK, &st, err, sizeof(err))) == -1 &&
	    errno != ENOENT)
		return -1;
	if (infd != -1) {
		mode = st.st_mode & 0777;
		if ((in = fdopen(infd, "r")) == NULL) {
			close(infd);
			return -1;
		}
	}
	/* open() applies root's umask, which may be 077: the old mode is set
	 * exactly, or the daemon's group would lose its read access. */
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	               mode)) == -1 ||
	    fchmod(fd, mode) == -1 || (out = fdopen(fd, "w")) == NULL) {
		int saved = errno;
		if (fd != -1) {
			close(fd);
			unlink(tmp);
		}
		if (in != NULL)
			fclose(in);
		errno = saved;
		return -1;
	}
	if (in != NULL) {
		while ((n = getline(&line, &linesz, in)) != -1) {
			if (strncmp(line, user, ulen) == 0 && line[ulen] == ':') {
				if (!replaced)
					fprintf(out, "%s:%s\n", user, hash);
				replaced = 1;
				continue;
			}
			/* Other lines are kept octet for octet: fputs() would
			 * stop at a NUL and drop the rest, line end included,
			 * joining the next line to this one. */
			fwrite(line, 1, (size_t)n, out);
			ended = line[n - 1] == '\n';
		}
		free(line);
		fclose(in);
	}
	/* A last line without its line end (a hand edit) gets one: the new
	 * line would else be glued to it, and both users lost. */
	if (!replaced)
		fprintf(out, "%s%s:%s\n", ended ? "" : "\n", user, hash);
	if (fflush(out) != 0 || fsync(fileno(out)) != 0) {
		fclose(out);
		unlink(tmp);
		return -1;
	}
	/* Keep the owner (the daemon's user may need to read it). */
	if (infd != -1 && fchown(fileno(out), st.st_uid, st.st_gid) == -1)
		log_warn("auth: chown %s", log_escape_str(tmp));
	fclose(out);
	if (rename(tmp, path) == -1) {
		unlink(tmp);
		return -1;
	}
	return 0;
}
