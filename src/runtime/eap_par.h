/* eap_par.h — the per-pair loops of EAP's scores and circuit evaluation on the
 * library's threads (internal). Pairs are split in contiguous ranges with
 * OpenBLAS held to one thread, so each pair is computed exactly as on one
 * thread; callers keep one result per pair and combine them in pair order,
 * so nothing depends on the thread count. */
#ifndef CIRCUITC_RUNTIME_EAP_PAR_H
#define CIRCUITC_RUNTIME_EAP_PAR_H

#include <pthread.h>

#include "circuitc/eap.h"
#include "circuitc/progress.h"

/* Work on pair I; 0, or -1 with ERR filled. */
typedef int (*cci_eap_pair_fn)(void *ctx, int i, cc_error *err);

/* A call's progress over its pair loops (cc_eap_run: the pairs scored, then
 * the pairs evaluated): DONE of TOTAL pairs, reported after each pair under
 * LOCK (one thread at a time); once the callback asks to stop, no pair starts
 * and the loop fails with CC_E_CANCELLED. FN NULL: nothing reported. */
typedef struct {
    cc_progress_fn fn;
    void *ctx;
    long done, total;
    int cancelled;
    pthread_mutex_t lock;
} cci_eap_progress;

/* Calls FN(CTX, i) for every i in [LO, HI), then reports each pair to PROGRESS
 * (may be NULL). 0, or -1 with ERR from the lowest pair that failed (each
 * thread stops at its first failure). */
int cci_eap_for_pairs(int lo, int hi, cci_eap_pair_fn fn, void *ctx, cci_eap_progress *progress, cc_error *err);

/* cc_eap_scores, cc_eap_evaluate and cc_eap_faithfulness reporting to PROGRESS (may be NULL), without
 * their argument checks (the public calls make them, cc_eap_run makes its own). */
int cci_eap_scores(const cc_model *m, const cc_eap_graph *g, const cc_eap_pairs *p, cc_pair_metric metric,
                   int ig_steps, cc_kernel kernel, cci_eap_progress *progress, double *scores, cc_error *err);
int cci_eap_evaluate(const cc_model *m, const cc_eap_graph *g, const cc_eap_pairs *p,
                     const unsigned char *const *circuits, int n_circuits, cc_pair_metric metric, cc_kernel kernel,
                     cci_eap_progress *progress, double *values, double *clean, double *corrupt, cc_error *err);
int cci_eap_faithfulness(const cc_model *m, const cc_eap_graph *g, const cc_eap_pairs *p, const double *scores,
                         const cc_eap_faith_options *o, cci_eap_progress *progress, cc_eap_curve *out,
                         cc_error *err);

#endif
