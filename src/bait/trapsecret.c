/* SPDX-License-Identifier: ISC */
/*
 * trapsecret.c - the site secret of trap addresses (trap_secret_load(),
 * declared in trapaddr.h): read by the master as root before any child
 * exists, made with random bytes on first start. The children inherit it in
 * memory; the file stays root's alone.
 * SECURITY: no network input. Root reads the file: it must be a regular
 * file (never a link) of root's that nobody else can write, reached past
 * nothing the run user can change (safe_open(), SAFE_STRICT with the user
 * named by safe_distrust()); it is made with O_CREAT|O_EXCL|O_NOFOLLOW in a
 * directory checked the same way.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "bait/trapaddr.h"
#include "common/safefile.h"

int
trap_secret_load(const char *path, int create, struct trap_secret *s, char *err,
                 size_t errsz)
{
	char why[1200], name[256];
	struct stat st;
	ssize_t n;
	int fd, dirfd;

	memset(s, 0, sizeof(*s));
	/* Read by root: no link at its name, nothing the run user could have
	 * redirected on the way there, and root's alone (safefile.h). */
	fd = safe_open(path, SAFE_STRICT | SAFE_SECRET | SAFE_NOLINK, &st, why,
	               sizeof(why));
	if (fd == -1 && errno == ENOENT && create) {
		unsigned char key[32];
		if (RAND_bytes(key, sizeof(key)) != 1) {
			snprintf(err, errsz, "secret_file \"%s\": no random bytes", path);
			return -1;
		}
		if ((dirfd = safe_parent(path, SAFE_STRICT, name, sizeof(name), why,
		                         sizeof(why))) == -1) {
			snprintf(err, errsz, "secret_file \"%s\": %s", path, why);
			return -1;
		}
		fd = openat(dirfd, name,
		            O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		close(dirfd);
		if (fd == -1 || write(fd, key, sizeof(key)) != (ssize_t)sizeof(key) ||
		    fsync(fd) == -1) {
			snprintf(err, errsz, "secret_file \"%s\": %s", path,
			         strerror(errno));
			if (fd != -1)
				close(fd);
			return -1;
		}
		close(fd);
		memcpy(s->key, key, sizeof(key));
		s->len = sizeof(key);
		return 0;
	}
	if (fd == -1) {
		snprintf(err, errsz, "secret_file \"%s\": %s", path, why);
		return -1;
	}
	n = read(fd, s->key, sizeof(s->key));
	close(fd);
	if (n < TRAP_SECRET_MIN) {
		snprintf(err, errsz, "secret_file \"%s\": needs at least %d bytes", path,
		         TRAP_SECRET_MIN);
		return -1;
	}
	s->len = (size_t)n;
	return 0;
}
