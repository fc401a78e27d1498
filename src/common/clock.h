/* SPDX-License-Identifier: ISC */
/*
 * clock.h - the clocks in milliseconds.
 *
 * clock_mono_ms() is CLOCK_MONOTONIC, for intervals and deadlines inside a
 * process (a wall clock set back would stretch them); clock_real_ms() is
 * CLOCK_REALTIME, milliseconds since the Unix epoch, for times that are
 * stored or shared between processes.
 */
#ifndef MOAT_CLOCK_H
#define MOAT_CLOCK_H

#include <stdint.h>

int64_t clock_mono_ms(void);
int64_t clock_real_ms(void);
/* clock_mono_us - CLOCK_MONOTONIC in microseconds, for latencies below a
 * millisecond (the metrics' histograms) */
int64_t clock_mono_us(void);

#endif
