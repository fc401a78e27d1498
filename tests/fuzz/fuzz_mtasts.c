/* SPDX-License-Identifier: ISC */
/*
 * fuzz_mtasts.c - libFuzzer target for the MTA-STS texts
 * (src/deliver/mtasts_policy.c): a policy file from any HTTPS server a
 * domain names, and an "_mta-sts" TXT record from DNS.
 *
 * Input: the bytes of either. Checked: a parsed policy has a known mode, a
 * max_age within a year, at most MTASTS_MX_MAX lower-case patterns, each
 * terminated and matching itself (or, as a wildcard, a name one label
 * longer); mx is present unless the mode is none; its formatted form reads
 * back the same. A refused one has a printable reason. A parsed TXT id is
 * 1..32 letters and digits, whether from the record's text or from a
 * whole DNS answer (mtasts_txt_answer(), c-ares reading the input as a
 * reply). Seeds: corpus/mtasts/.
 */
#include "deliver/mtasts_policy.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct mtasts_policy p, q;
	static char out[MTASTS_POLICY_MAX];
	const char *buf = (const char *)data;
	char err[160], id[MTASTS_ID_MAX + 1];

	if (mtasts_policy_parse(buf, size, &p, err, sizeof(err)) == 0) {
		REQUIRE(p.mode <= MTASTS_ENFORCE);
		REQUIRE(p.max_age >= 0 && p.max_age <= MTASTS_MAX_AGE_MAX);
		REQUIRE(p.nmx <= MTASTS_MX_MAX);
		REQUIRE(p.nmx > 0 || p.mode == MTASTS_NONE);
		for (size_t i = 0; i < p.nmx; i++) {
			size_t n = strnlen(p.mx[i], sizeof(p.mx[i]));
			REQUIRE(n > 0 && n < sizeof(p.mx[i]));
			for (size_t j = 0; j < n; j++)
				REQUIRE(!(p.mx[i][j] >= 'A' && p.mx[i][j] <= 'Z'));
			if (p.mx[i][0] == '*') {
				char name[MTASTS_PATTERN_MAX + 3];
				snprintf(name, sizeof(name), "x%s", p.mx[i] + 1);
				REQUIRE(strlen(name) > MTASTS_PATTERN_MAX ||
				        mtasts_mx_match(&p, name));
			} else
				REQUIRE(mtasts_mx_match(&p, p.mx[i]));
		}
		int n = mtasts_policy_format(&p, out, sizeof(out));
		REQUIRE(n > 0);
		REQUIRE(mtasts_policy_parse(out, (size_t)n, &q, err, sizeof(err)) == 0);
		REQUIRE(memcmp(&p, &q, sizeof(p)) == 0);
	} else {
		size_t n = strnlen(err, sizeof(err));
		REQUIRE(n > 0 && n < sizeof(err));
		for (size_t i = 0; i < n; i++)
			REQUIRE(err[i] >= 32 && err[i] <= 126);
	}
	if (mtasts_txt_parse(buf, size, id) == 0) {
		size_t n = strnlen(id, sizeof(id));
		REQUIRE(n > 0 && n <= MTASTS_ID_MAX);
		for (size_t i = 0; i < n; i++)
			REQUIRE((id[i] >= 'a' && id[i] <= 'z') ||
			        (id[i] >= 'A' && id[i] <= 'Z') ||
			        (id[i] >= '0' && id[i] <= '9'));
	}
	if (size <= 65535 && mtasts_txt_answer(data, (int)size, id) == 0) {
		size_t n = strnlen(id, sizeof(id));
		REQUIRE(n > 0 && n <= MTASTS_ID_MAX);
	}
	return 0;
}
