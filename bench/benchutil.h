/* benchutil.h — what both benchmarks need: a monotonic clock and the peak
 * memory of the current process (Linux /proc). */
#ifndef CIRCUITC_BENCHUTIL_H
#define CIRCUITC_BENCHUTIL_H

/* Seconds on a monotonic clock. */
double bench_now(void);

/* The value of KEY ("VmRSS", "VmHWM", ...) in /proc/self/status, in KiB, or -1. */
long bench_status_kib(const char *key);

/* Resets the peak resident set (VmHWM) to the current RSS, so that a following
 * VmHWM - VmRSS is the peak of the work measured since. */
void bench_reset_peak(void);

/* The seeded GPT-2-small-shaped model (docs/synthetic-models.md, seed 0) in
 * $TMPDIR, written on first use; its folder goes into DIR. Returns 0, or -1
 * after printing why on stderr. */
int bench_default_model(char *dir, unsigned long size);

#endif
