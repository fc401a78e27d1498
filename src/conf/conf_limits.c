/* SPDX-License-Identifier: ISC */
/*
 * conf_limits.c - the limits section: every row of limits.h gives a range
 * check here (conf.c's limit_opts gives the option and its default).
 * API: conf_int.h.
 * SECURITY: reads only the administrator's configuration.
 */
#include <string.h>

#include "common/fdlimit.h"
#include "conf/conf_int.h"

struct limit_row {
	const char *name;
	long def, min, max;
	const char *what;
};

static const struct limit_row limit_rows[] = {
#define LIMIT_ROW(name, def, min, max, what) {#name, def, min, max, what},
    MOAT_LIMITS(LIMIT_ROW)
#undef LIMIT_ROW
};

static int
validate_limit(cfg_t *cfg, cfg_opt_t *opt)
{
	const char *name = cfg_opt_name(opt);
	long v = cfg_opt_getnint(opt, 0);

	for (size_t i = 0; i < sizeof(limit_rows) / sizeof(limit_rows[0]); i++) {
		const struct limit_row *r = &limit_rows[i];
		if (strcmp(r->name, name) != 0)
			continue;
		if (v < r->min || v > r->max) {
			cfg_error(cfg, "%s = %ld is out of range [%ld, %ld] (%s)", name,
			          v, r->min, r->max, r->what);
			return -1;
		}
		/* a session or a delivery is a descriptor (fdlimit.h) */
		if ((strcmp(name, "sessions_max") == 0 ||
		     strcmp(name, "delivery_conns_max") == 0) &&
		    v + FDLIMIT_SPARE > fdlimit_reachable()) {
			cfg_error(cfg,
			          "%s = %ld needs %ld file descriptors; this process can "
			          "have at most %ld (RLIMIT_NOFILE, fs.nr_open)",
			          name, v, v + FDLIMIT_SPARE, fdlimit_reachable());
			return -1;
		}
		return 0;
	}
	return 0;
}

void
conf_limits_validators(cfg_t *cfg)
{
#define LIMIT_VALIDATOR(name, def, min, max, what)                                       \
	cfg_set_validate_func(cfg, "limits|" #name, validate_limit);
	MOAT_LIMITS(LIMIT_VALIDATOR)
#undef LIMIT_VALIDATOR
}

void
conf_limits_build(struct moat_limits *l, cfg_t *sec)
{
#define LIMIT_GET(name, def, min, max, what) l->name = cfg_getint(sec, #name);
	MOAT_LIMITS(LIMIT_GET)
#undef LIMIT_GET
}
