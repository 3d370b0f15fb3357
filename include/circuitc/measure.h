/* circuitc/measure.h — the standard measurements of the analyzer, as one call
 * each: a square circuit's exact accuracy in both directions with its spectrum,
 * and the composition score of two heads against its random baseline. The CLI
 * (kcomp, qcomp, vcomp, ov, qk, compile --plot, kcomp-chart), validate and the
 * tests all report these; the CLI only turns the structs into JSON and text. */
#ifndef CIRCUITC_MEASURE_H
#define CIRCUITC_MEASURE_H

#include <stdbool.h>
#include <stdint.h>

#include "circuitc/circuit.h"
#include "circuitc/composition.h"
#include "circuitc/error.h"
#include "circuitc/factored.h"
#include "circuitc/heads.h"
#include "circuitc/model.h"
#include "circuitc/progress.h"
#include "circuitc/topk.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Vocabularies up to this size get exact diagonal ranks under CC_RANKS_AUTO. */
#define CC_MEASURE_AUTO_RANKS_MAX 16384

typedef enum {
    CC_RANKS_AUTO = 0, /* only when the circuit has at most CC_MEASURE_AUTO_RANKS_MAX rows */
    CC_RANKS_ALWAYS,   /* one extra brute-force pass per direction */
    CC_RANKS_NEVER,
} cc_measure_ranks;

typedef struct {
    int k_max;                 /* top-k counts for k = 1..k_max (1..CC_TOPK_MAX_K) */
    cc_measure_ranks ranks;
    cc_topk_method method;
    bool compare;              /* also run the other method; any difference is an error */
    int components;            /* fast path components, 0 = automatic */
    int n_singular;            /* leading singular values to keep */
    /* Optional: called before each direction with "exact top-k, rows" or
     * "exact top-k, columns" (static strings), then PROGRESS reports its rows. */
    void (*phase)(void *ctx, const char *label);
    cc_progress_fn progress;
    void *progress_ctx;
    int threads;                /* threads for the call, 0: the default (docs/library.md, "Threads per call") */
} cc_measure_options;

/* k_max 5, ranks auto, the fast method, 8 singular values, no callbacks. */
void cc_measure_defaults(cc_measure_options *o);

typedef struct {
    int n;                     /* rows = columns */
    int inner_dim;             /* the factors' shared dimension */
    int rank;                  /* singular values above S_max * n * 2^-23 (float32 values) */
    double frobenius_norm;
    int n_singular;            /* entries of singular_values: min(options' n_singular, the spectrum's length) */
    double *singular_values;   /* leading ones, descending, rounded to float32 as TransformerLens' S is */
    cc_topk_result rows;       /* the diagonal's statistics over rows ... */
    cc_topk_result cols;       /* ... and over columns (the transpose's rows); has_ranks says whether ranks ran */
    double seconds;            /* the whole measurement */
} cc_circuit_measurement;

/* Measures square circuit FM: exact top-1..top-k_max of its diagonal over rows
 * and columns (ranks: diagonal-rank mean and median, from a brute-force pass
 * checked against the chosen method's counts), its singular values, numerical
 * rank and Frobenius norm. C (optional) names the circuit in errors. Free OUT
 * with cc_circuit_measurement_free (also after a failure). */
int cc_circuit_measure(const cc_circuit *c, const cc_fm *fm, const cc_measure_options *o, cc_circuit_measurement *out,
                       cc_error *err);

void cc_circuit_measurement_free(cc_circuit_measurement *m);

typedef struct {
    cc_comp_mode mode;
    double score;              /* ||W_A W_B||_F / (||W_A||_F ||W_B||_F), composition.h */
    int baseline_samples;      /* 0: no baseline; the three fields below are 0 */
    uint64_t seed;
    double baseline_mean, baseline_std;
    double ratio_to_baseline;  /* score / baseline_mean */
} cc_head_composition;

/* The MODE composition score of EARLY's OV circuit into LATE (TransformerLens'
 * all_composition_scores entry [EARLY, LATE]) and, when BASELINE_SAMPLES > 0,
 * the random baseline of that many pairs drawn from SEED
 * (cc_composition_baseline). Needs EARLY's V and O, and LATE's Q and K (q, k)
 * or V and O (v). */
int cc_head_composition_score(const cc_model *m, cc_comp_mode mode, cc_head early, cc_head late, int baseline_samples,
                              uint64_t seed, cc_head_composition *out, cc_error *err);

#ifdef __cplusplus
}
#endif

#endif
