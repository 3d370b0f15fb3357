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

/* Threads a loop may use: the count of the public call running on this
 * thread (cc_par_call_begin), else the online cores; at most CC_PAR_MAX. */
int cc_par_threads(void);

/* The count the public call running on this thread was given, 0 when none. */
int cc_par_call_threads(void);

/* A public call's thread count (its options' `threads`, docs/library.md):
 * from begin to end, loops started on this thread (and on the threads they
 * start) use at most THREADS threads; with 1, OpenBLAS is also held to one
 * thread, so that the call runs on its own thread alone. (OpenBLAS' pool is
 * one setting of the process: a larger count leaves it as configured, as
 * the default does.) THREADS 0 changes nothing (a call inside another keeps
 * the outer call's count). CC_PAR_CALL does both for the rest of the
 * enclosing block, whatever way it is left. */
typedef struct {
    int outer;  /* the count to restore */
    int held;   /* cc_blas_threads_hold's result */
} cc_par_call;

cc_par_call cc_par_call_begin(int threads);
void cc_par_call_end(const cc_par_call *c);
#define CC_PAR_CALL(threads) \
    cc_par_call cc_par_call_scope __attribute__((cleanup(cc_par_call_end), unused)) = \
        cc_par_call_begin(threads)

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
