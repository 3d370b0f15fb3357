/* parallel.h — the library's one way of running a loop on several threads
 * (internal). A range [0, n) is split into contiguous parts, one per thread,
 * the calling thread included; each item is computed exactly as it would be on
 * one thread, so results never depend on the thread count. */
#ifndef CIRCUITC_PARALLEL_H
#define CIRCUITC_PARALLEL_H

#include <stddef.h>

/* Most threads a loop is split across. */
#define CC_PAR_MAX 8

typedef void (*cc_par_fn)(void *ctx, size_t lo, size_t hi);

/* Threads a loop may use: the online cores, at most CC_PAR_MAX. */
int cc_par_threads(void);

/* Calls FN(CTX, lo, hi) over [0, N) split in contiguous ranges; splits only
 * when each range gets at least GRAIN items (thread start-up costs ~20 us). */
void cc_par_for(size_t n, size_t grain, cc_par_fn fn, void *ctx);

/* Holds OpenBLAS to one thread while our own threads split a loop (each GEMM
 * then runs on one core instead of OpenBLAS' workers spinning against ours).
 * Holds may overlap (other threads, nested loops): the count is restored when
 * the last one ends. Returns what cc_blas_threads_restore needs: 1, or 0 when
 * nothing was changed (no OpenBLAS thread control in this build). */
int cc_blas_threads_hold(void);
void cc_blas_threads_restore(int held);

#endif
