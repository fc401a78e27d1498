/* SPDX-License-Identifier: ISC */
/*
 * maildir.c - Maildir delivery.
 *
 * The message is stored with LF line ends (the Maildir convention), after a
 * Return-Path and a Delivered-To header. Durability: the file is fsynced in
 * tmp/, linked into new/, and new/ is fsynced before we report success, so
 * the queue file may then be removed.
 * SECURITY: the mailbox path is built from a configured domain and a user
 * name that is a safe directory name (conf_mailbox_name_ok(): no '/', never
 * "." or ".."), checked here again since a recipient lookup's user is the
 * client's; an extension folder is used only if it exists and is as safe.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/log.h"
#include "common/mailaddr.h"
#include "conf/conf.h"
#include "deliver/maildir.h"

const char *
dstatus_name(enum dstatus s)
{
	switch (s) {
	case DS_SENT:
		return "sent";
	case DS_DEFER:
		return "deferred";
	case DS_BOUNCE:
		return "bounced";
	}
	return "?";
}

/* copy_body - the queued body, CRLF → LF, from qfd at off into fd */
static int
copy_body(int qfd, off_t off, size_t size, int fd)
{
	char in[65536], out[65536];
	int pending_cr = 0;

	while (size > 0) {
		size_t want = size < sizeof(in) ? size : sizeof(in);
		ssize_t n = pread(qfd, in, want, off);
		size_t o = 0;
		if (n <= 0)
			return -1;
		for (ssize_t i = 0; i < n; i++) {
			if (pending_cr) {
				pending_cr = 0;
				if (in[i] != '\n')
					out[o++] = '\r';
			}
			if (in[i] == '\r') {
				pending_cr = 1;
				continue;
			}
			out[o++] = in[i];
		}
		if (write_all(fd, out, o) == -1)
			return -1;
		off += n;
		size -= (size_t)n;
	}
	if (pending_cr && write_all(fd, "\r", 1) == -1)
		return -1;
	return 0;
}

static void
fail(struct dresult *res, enum dstatus st, const char *what, const char *path)
{
	res->status = st;
	snprintf(res->text, sizeof(res->text), "%s %s: %s", what, path, strerror(errno));
}

/*
 * maildir_folder - with maildir_extension_folders, alice+lists@ goes to
 * alice's Maildir++ folder .lists if it exists (she made it, in her IMAP
 * client): never created here, so nobody fills a disk with folders by
 * sending to alice+1, alice+2, ...
 */
static void
maildir_folder(const struct moat_conf *conf, const char *local, const char *base,
               char *box, size_t boxsz)
{
	const char *ext = local + strlen(base);
	char dir[4200];
	struct stat st;

	if (!conf->maildir_extension_folders || *ext == '\0' || ext[1] == '\0' ||
	    !conf_mailbox_name_ok(ext + 1, strlen(ext + 1)))
		return;
	snprintf(dir, sizeof(dir), "%s/.%s", box, ext + 1);
	if (lstat(dir, &st) == 0 && S_ISDIR(st.st_mode) && strlen(dir) < boxsz)
		strlcpy(box, dir, boxsz);
}

void
maildir_deliver(const struct moat_conf *conf, const struct envelope *env, int qfd,
                size_t idx, struct dresult *res)
{
	const char *addr = env->rcpts[idx].addr;
	const char *at = strrchr(addr, '@');
	char box[4096], tmp[4200], new[4200], name[256], sub[4200];
	int fd = -1, dirfd = -1;

	memset(res, 0, sizeof(*res));
	strlcpy(res->relay, "maildir", sizeof(res->relay));
	if (at == NULL) {
		res->status = DS_BOUNCE;
		snprintf(res->text, sizeof(res->text), "no domain in recipient");
		return;
	}
	/* alice+tag@ is alice's mailbox; Delivered-To keeps the whole address */
	char local[MAILADDR_LOCAL_MAX + 1], base[MAILADDR_LOCAL_MAX + 1];
	snprintf(local, sizeof(local), "%.*s", (int)(at - addr), addr);
	conf_rcpt_base(conf, local, base, sizeof(base));
	/* a recipient lookup's user came from the client: checked again here */
	if (!conf_mailbox_name_ok(base, strlen(base)) ||
	    conf_domain_find(conf, at + 1) == NULL) {
		res->status = DS_BOUNCE;
		snprintf(res->text, sizeof(res->text), "5.1.3 no such mailbox name here");
		return;
	}
	snprintf(box, sizeof(box), "%s/%s/%s", conf->mail_dir, at + 1, base);
	maildir_folder(conf, local, base, box, sizeof(box));
	for (int i = 0; i < 3; i++) {
		static const char *subs[] = {"tmp", "new", "cur"};
		snprintf(sub, sizeof(sub), "%s/%s", box, subs[i]);
		if (mkdir_p(sub, 0700, 0700) == -1) {
			fail(res, DS_DEFER, "mkdir", sub);
			return;
		}
	}
	/* Deterministic name: the same (message, recipient) is the same file. */
	snprintf(name, sizeof(name), "%lld.%s_%zu.%s", (long long)env->arrival, env->id,
	         idx, conf->hostname);
	snprintf(tmp, sizeof(tmp), "%s/tmp/%s", box, name);
	snprintf(new, sizeof(new), "%s/new/%s", box, name);
	if (access(new, F_OK) == 0)
		goto delivered; /* an earlier attempt got this far */

	unlink(tmp);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) == -1) {
		fail(res, DS_DEFER, "create", tmp);
		return;
	}
	char hdr[1200];
	int n = snprintf(hdr, sizeof(hdr), "Return-Path: <%s>\nDelivered-To: %s\n",
	                 env->sender, addr);
	if (n < 0 || (size_t)n >= sizeof(hdr) || write_all(fd, hdr, (size_t)n) == -1 ||
	    copy_body(qfd, env->body_off, env->size, fd) == -1 || fsync(fd) == -1) {
		fail(res, DS_DEFER, "write", tmp);
		close(fd);
		unlink(tmp);
		return;
	}
	close(fd);
	if (link(tmp, new) == -1 && errno != EEXIST) {
		fail(res, DS_DEFER, "link", new);
		unlink(tmp);
		return;
	}
	unlink(tmp);
	snprintf(sub, sizeof(sub), "%s/new", box);
	if ((dirfd = open(sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    fsync(dirfd) == -1) {
		fail(res, DS_DEFER, "fsync", sub);
		if (dirfd != -1)
			close(dirfd);
		return;
	}
	close(dirfd);
delivered:
	res->status = DS_SENT;
	res->final = 1;
	snprintf(res->text, sizeof(res->text), "delivered to maildir");
}
