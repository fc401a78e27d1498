/* SPDX-License-Identifier: ISC */
/*
 * report.h - results as a table for people or as JSON lines for programs.
 *
 * report_text() prints, per host, one row per test (test, MAIL FROM,
 * RCPT TO, decisive reply, verdict) and a summary line. report_json()
 * prints one JSON object per test, one per host and a final summary, each
 * on its own line. Both return the run's exit status: 0 no relay, 1 relay
 * found, 2 could not test.
 */
#ifndef MOAT_PROBE_REPORT_H
#define MOAT_PROBE_REPORT_H

#include <stdio.h>

#include "probe/probe.h"

int report_text(FILE *fp, struct probe_host *hosts, size_t nhosts, int have_sink);
int report_json(FILE *fp, struct probe_host *hosts, size_t nhosts, int have_sink);

/* report_counts - tallies of one host's verdicts, indexed by enum probe_verdict */
void report_counts(const struct probe_host *h, size_t counts[PV_ERROR + 1]);

#endif
