/* SPDX-License-Identifier: ISC */
/*
 * fuzz_srs.c - libFuzzer target for the SRS decoder (src/common/srs.c):
 * the local part of an RCPT at the SRS domain, a stranger's bytes.
 *
 * Input: a string (up to its first NUL). Checked: srs_reverse() never
 * reads or writes out of bounds and, when it accepts, gives a terminated
 * address with an '@'; srs_forward() of the input as a sender, then
 * srs_reverse() of what it made, gives the input back (for an input that
 * is no SRS1 address and whose domain has no '=', which real ones never
 * have), so every rewrite we send can be undone (the tag "SRS0" may come
 * back in capitals). Seeds: corpus/srs/.
 */
#include "common/srs.h"
#include "fuzz.h"

#define NOW ((time_t)1796644744)

static char sec0[] = "t0ps3cret-for-fuzzing", sec1[] = "oldsecret";
static const struct srs srs = {.domain = "srs.example.org",
                               .sep = '=',
                               .max_age = SRS_MAX_AGE,
                               .nsecrets = 2,
                               .secrets = {sec0, sec1}};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = malloc(size + 1), out[600], back[600], local[600];
	const char *at;

	memcpy(in, data, size);
	in[size] = '\0';
	if (srs_reverse(&srs, in, NOW, out, sizeof(out)) == SRS_OK) {
		REQUIRE(strnlen(out, sizeof(out)) < sizeof(out));
		REQUIRE(strchr(out, '@') != NULL);
	}
	if (srs_forward(&srs, in, NOW, out, sizeof(out)) == SRS_OK) {
		REQUIRE(strnlen(out, sizeof(out)) < sizeof(out));
		at = strrchr(out, '@');
		REQUIRE(at != NULL && strcmp(at + 1, srs.domain) == 0);
		snprintf(local, sizeof(local), "%.*s", (int)(at - out), out);
		const char *host = strrchr(in, '@') + 1;
		int srs1 = strncasecmp(in, "SRS1", 4) == 0 &&
		           strchr("=+-", in[4]) != NULL && in[4] != '\0';
		if (!srs1 && strchr(host, '=') == NULL && strlen(local) < 256) {
			REQUIRE(srs_reverse(&srs, local, NOW, back, sizeof(back)) ==
			        SRS_OK);
			/* the SRS0 tag of an address made from an SRS0 one comes
			 * back in capitals */
			REQUIRE(strlen(back) == strlen(in) &&
			        strncasecmp(back, in, 4) == 0 &&
			        strcmp(back + (strlen(in) >= 4 ? 4 : 0),
			               in + (strlen(in) >= 4 ? 4 : 0)) == 0);
		}
	}
	free(in);
	return 0;
}
