/* circuitc/topk.h — exact full-vocabulary top-k accuracy of a square
 * FactoredMatrix's diagonal, without forming the n x n matrix.
 *
 * Row i is "correct at k" when its diagonal entry is among the k largest
 * entries of row i. Ties follow torch.argmax (first index wins): the rank of
 * the diagonal is
 *     rank_i = #{j : s_ij > s_ii} + #{j < i : s_ij == s_ii},
 * and row i is correct at k iff rank_i < k. The scores s_ij are defined as the
 * float64 dot products of the float32 factors, A[i,:] . B[:,j], summed in index
 * order: every comparison the float32 GEMM cannot settle within its proven
 * rounding-error bound is recomputed that way, so both methods below return
 * identical results.
 *
 * Columns direction: pass the transpose (cc_fm_transpose). */
#ifndef CIRCUITC_TOPK_H
#define CIRCUITC_TOPK_H

#include <stdbool.h>

#include "circuitc/factored.h"

#define CC_TOPK_MAX_K 64

typedef enum {
    CC_TOPK_FAST,   /* SVD-ordered leading components + tail bounds; exact scores only where needed */
    CC_TOPK_BRUTE,  /* every entry through streamed float32 GEMM tiles (the reference) */
} cc_topk_method;

typedef struct {
    int k_max;              /* report k = 1..k_max (1..CC_TOPK_MAX_K) */
    bool ranks;             /* also the exact rank of every diagonal (mean, median) */
    cc_topk_method method;
    int components;         /* fast path: leading components to score with; 0 = automatic */
    int threads;            /* 0 = all cores */
    /* Optional progress callback: DONE of TOTAL rows settled. */
    void (*progress)(void *ctx, long done, long total);
    void *progress_ctx;
} cc_topk_options;

typedef struct {
    long n;                         /* rows */
    int k_max;
    long correct[CC_TOPK_MAX_K];    /* correct[k-1]: rows correct at k */
    long tied_rows;                 /* rows with #{s_ij > s_ii} < k_max and some j != i with s_ij == s_ii */
    bool has_ranks;
    double rank_mean, rank_median;  /* 0-based ranks, when has_ranks */
    long exact_evaluations;         /* entries recomputed in float64 */
    long rows_scanned_fully;        /* fast path: rows that fell back to a full scan */
    int components;                 /* fast path: components used (0 for brute force) */
    cc_topk_method method;          /* the method that actually ran */
    double seconds;
} cc_topk_result;

/* Computes the diagonal's top-k statistics of FM (which must be square). */
int cc_topk_diagonal(const cc_fm *fm, const cc_topk_options *opt, cc_topk_result *out, cc_error *err);

#endif
