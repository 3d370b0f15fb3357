/* benchutil.h — what the benchmarks share: a monotonic clock, the peak memory
 * of the current process (Linux /proc), the default model, and running on the
 * BLAS kernel circuitc chooses. */
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

/* Runs the kernel benchmark on the OpenBLAS kernel circuitc itself would
 * choose (docs/blas.md), as its commands do: unless OPENBLAS_CORETYPE is set
 * (the environment as it is wins, as it does for circuitc), asks
 * `build/src/circuitc info --json` for its kernel and, when that differs from
 * the one this process loaded, re-executes itself with OPENBLAS_CORETYPE set.
 * The re-executed process removes the variable again (the library has read it),
 * so the processes it starts see the caller's environment. Call first in main. */
void bench_take_circuitc_kernel(char **argv);

/* How this process's kernel was chosen, for the report: "circuitc's choice
 * (auto_chosen)", "OPENBLAS_CORETYPE set by the caller", ... */
const char *bench_kernel_origin(void);

#endif
