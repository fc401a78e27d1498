/* SPDX-License-Identifier: ISC */
/*
 * fuzz_journal.c - libFuzzer target for journal recovery (journal_recover.c):
 * after a crash a segment's tail can hold anything.
 *
 * Input: a flag octet, then one segment file, which journal_recover() finds
 * in journal/ of a scratch spool (on tmpfs when there is one: recovery
 * syncs). The flags and the checks are told at LLVMFuzzerTestOneInput().
 * Seeds: tests/fuzz/corpus/journal/.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "common/log.h"
#include "fuzz.h"
#include "queue/envelope.h"
#include "queue/journal.h"
#include "queue/journal_int.h"

#define SEG_NAME "1700000000.000000.1.0"

/* Recovery logs what it finds; the fuzzer needs none of it. */
void
log_info(const char *fmt, ...)
{
}
void
log_warn(const char *fmt, ...)
{
}
void
log_warnx(const char *fmt, ...)
{
}
void
log_debug(const char *fmt, ...)
{
}
const char *
log_escape_str(const char *s)
{
	return s != NULL ? s : "";
}
void
fatal(const char *fmt, ...)
{
	abort();
}
void
fatalx(const char *fmt, ...)
{
	abort();
}
int
log_pid(void)
{
	return getpid();
}

static char spool[256];
static int journal_fd = -1, queue_fd = -1, tmp_fd = -1;

/* empty - remove every file of a directory; returns how many there were */
static size_t
empty(int dirfd, int want_qids)
{
	int fd = dup(dirfd);
	DIR *d;
	struct dirent *de;
	size_t n = 0;

	REQUIRE(fd != -1 && (d = fdopendir(fd)) != NULL);
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (want_qids)
			REQUIRE(qid_valid(de->d_name, strlen(de->d_name)));
		REQUIRE(unlinkat(dirfd, de->d_name, 0) == 0);
		n++;
	}
	closedir(d);
	return n;
}

static void
cleanup(void)
{
	char path[300];

	if (journal_fd == -1)
		return;
	empty(journal_fd, 0);
	empty(queue_fd, 0);
	empty(tmp_fd, 0);
	const char *sub[] = {"journal", "queue", "tmp", ""};
	for (size_t i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s/%s", spool, sub[i]);
		rmdir(path);
	}
}

static int
opendir_at(const char *sub)
{
	char path[300];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", spool, sub);
	REQUIRE(mkdir(path, 0700) == 0);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	REQUIRE(fd != -1);
	return fd;
}

static void
setup(void)
{
	struct stat st;
	const char *base = stat("/dev/shm", &st) == 0 ? "/dev/shm" : "/tmp";

	snprintf(spool, sizeof(spool), "%s/fuzz-journal-XXXXXX", base);
	REQUIRE(mkdtemp(spool) != NULL);
	journal_fd = opendir_at("journal");
	queue_fd = opendir_at("queue");
	tmp_fd = opendir_at("tmp");
	atexit(cleanup);
}

static uint64_t
get_le64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/*
 * sign - walk the records as recovery does and make each digest right;
 * returns how many records there are. first/first_len: the first image.
 */
static size_t
sign(unsigned char *seg, size_t len, const unsigned char **first, size_t *first_len)
{
	int has_nonce = memcmp(seg, SEG_MAGIC, strlen(SEG_MAGIC)) == 0;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	size_t n = 0;

	REQUIRE(md != NULL);
	for (size_t off = SEG_HDR; off + REC_HDR <= len; n++) {
		unsigned char *h = seg + off;
		uint64_t rlen = get_le64(h + REC_LEN_OFF);
		unsigned int mdlen = 32;

		if (memcmp(h, REC_MAGIC, 4) != 0 || rlen == 0 ||
		    rlen > len - off - REC_HDR)
			break;
		REQUIRE(EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1);
		if (has_nonce)
			EVP_DigestUpdate(md, seg + NONCE_OFF, NONCE_LEN);
		EVP_DigestUpdate(md, h + REC_HDR, rlen);
		EVP_DigestFinal_ex(md, h + REC_SHA_OFF, &mdlen);
		if (n == 0) {
			*first = h + REC_HDR;
			*first_len = rlen;
		}
		off += REC_HDR + rlen;
	}
	EVP_MD_CTX_free(md);
	return n;
}

/*
 * Flags: bit 0 signs the records (the digest of every record that parses is
 * made right, or the fuzzer would hardly get past the first one), bit 1
 * stamps this boot's id into the header (recovery then only retires), bit 2
 * puts the first record's image into queue/ beforehand (the "already there"
 * path of a restore).
 * Checked: recovery returns -1 or the number restored; it never restores
 * more files than there are records, never one after a same-boot crash, and
 * never under a name that is not a queue id; tmp/ is left empty; a segment
 * it could recover is gone.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *seg;
	const unsigned char *first = NULL;
	size_t len, nrec, first_len = 0, prefilled = 0, queued;
	char boot[BOOT_ID_LEN + 1];
	int flags, same_boot = 0, fd, r;

	if (size < 1)
		return 0;
	if (journal_fd == -1)
		setup();
	flags = data[0];
	len = size - 1;
	seg = malloc(len + 1);
	REQUIRE(seg != NULL);
	memcpy(seg, data + 1, len);

	journal_boot_id(boot);
	if ((flags & 2) && len >= SEG_HDR && boot[0] != '\0') {
		memcpy(seg + strlen(SEG_MAGIC), boot, BOOT_ID_LEN);
		same_boot = memcmp(seg, SEG_MAGIC, strlen(SEG_MAGIC)) == 0 ||
		            memcmp(seg, SEG_MAGIC_1, strlen(SEG_MAGIC_1)) == 0;
	}
	/* At most one record per 64 octets after the header, whatever they say. */
	nrec = len > SEG_HDR ? (len - SEG_HDR) / REC_HDR : 0;
	if ((flags & 1) && len >= SEG_HDR)
		nrec = sign(seg, len, &first, &first_len);
	if ((flags & 4) && first != NULL) {
		char id[QID_LEN + 1];
		memcpy(id, first - REC_HDR + 4, QID_LEN);
		id[QID_LEN] = '\0';
		if (qid_valid(id, QID_LEN)) {
			fd = openat(queue_fd, id,
			            O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
			REQUIRE(fd != -1);
			REQUIRE(write(fd, first, first_len) == (ssize_t)first_len);
			close(fd);
			prefilled = 1;
		}
	}

	fd = openat(journal_fd, SEG_NAME, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	REQUIRE(fd != -1);
	REQUIRE(len == 0 || write(fd, seg, len) == (ssize_t)len);
	close(fd);

	r = journal_recover(spool);
	REQUIRE(r >= -1 && r <= (int)nrec);
	if (same_boot)
		REQUIRE(r <= 0);
	/* A restore goes through tmp/ and leaves nothing there. */
	REQUIRE(empty(tmp_fd, 0) == 0);
	queued = empty(queue_fd, 1);
	if (r >= 0) {
		REQUIRE(queued <= (size_t)r + prefilled);
		/* Recovered, so retired. */
		REQUIRE(faccessat(journal_fd, SEG_NAME, F_OK, 0) == -1);
	}
	empty(journal_fd, 0);
	free(seg);
	return 0;
}
