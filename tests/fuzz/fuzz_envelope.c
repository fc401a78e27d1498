/* SPDX-License-Identifier: ISC */
/*
 * fuzz_envelope.c - envelope_read() on arbitrary queue files (a crash can
 * leave any prefix of one; the journal's recovery writes them back).
 * Invariants: no crash, no leak (a record given twice once leaked); a file
 * read as good has an id, a sender, recipients and a body that ends the
 * file, and every offset envelope_set_*() would write at lies inside the
 * header, on a field of the width it writes; a failed read leaves nothing
 * to free.
 */
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "queue/envelope.h"

/* digits - n decimal digits at data[off], all inside the header */
static int
digits(const uint8_t *data, off_t off, size_t n, off_t body_off)
{
	if (off <= 0 || off + (off_t)n >= body_off)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (data[off + (off_t)i] < '0' || data[off + (off_t)i] > '9')
			return 0;
	return data[off + (off_t)n] == '\n';
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	struct envelope env;

	if (fd == -1 && (fd = memfd_create("fuzz_envelope", MFD_CLOEXEC)) == -1)
		abort();
	if (ftruncate(fd, 0) == -1 ||
	    (size > 0 && pwrite(fd, data, size, 0) != (ssize_t)size))
		abort();
	if (envelope_read(fd, &env) == -1) {
		REQUIRE(env.rcpts == NULL && env.nrcpts == 0 && env.sender == NULL &&
		        env.client == NULL && env.helo == NULL && env.auth == NULL);
		return 0;
	}
	REQUIRE(env.id[0] != '\0' && env.sender != NULL && env.nrcpts > 0);
	REQUIRE(env.size > 0 && env.body_off > 0 &&
	        (size_t)env.body_off + env.size == size);
	REQUIRE(memcmp(data + env.body_off - 5, "body\n", 5) == 0);
	REQUIRE(digits(data, env.attempts_off, 6, env.body_off));
	REQUIRE(digits(data, env.next_off, 12, env.body_off));
	for (size_t i = 0; i < env.nrcpts; i++) {
		const struct env_rcpt *r = &env.rcpts[i];
		REQUIRE(r->addr != NULL && r->addr[0] != '\0');
		REQUIRE(r->status_off > 0 && r->status_off < env.body_off);
		REQUIRE(data[r->status_off] == (uint8_t)r->status);
	}
	envelope_free(&env);
	return 0;
}
