/* circuitc/topk.h — exact full-vocabulary top-k accuracy of a square
 * FactoredMatrix's diagonal, without forming the n x n matrix.
 *
 * Row i is "correct at k" when its diagonal entry is among the k largest
 * entries of row i. Ties follow torch.argmax (first index wins): the rank of
 * the diagonal is
 *     rank_i = #{j : s_ij > s_ii} + #{j < i : s_ij == s_ii},
 * and row i is correct at k iff rank_i < k. The scores s_ij are defined as the
 * float64 dot products A64[i,:] . B64[:,j] summed in index order, where A64 and
 * B64 are the factors in float64 (cc_fm.A64/B64: a circuit's weight chain
 * multiplied in float64), or the float32 factors widened when the matrix has
 * no float64 factors. Float32 GEMM tiles of the float32 roundings of the
 * factors are only a screen: their proven error bound covers both the GEMM's
 * rounding and the rounding of the factors to float32, and every comparison it
 * cannot settle is recomputed in float64, so both methods below return
 * identical results on every CPU, BLAS kernel and thread count.
 *
 * Near-ties (only when the matrix carries cc_fm.errA/errB): a float32
 * evaluation of the chain, as TransformerLens users write it, computes s_ij
 * with an error up to e_ij = eA_i |b_j| + |a_i| eB_j + eA_i eB_j +
 * lambda u sqrt(5m/6) (|a_i| + eA_i)(|b_j| + eB_j) (|.| Euclidean norms of the
 * float64 rows of A and columns of B, eA/eB their float32 chain errors, the last
 * term the final float32 product's; CC_FP32_ERR_LAMBDA). Let
 *     g_i = #{j : s_ij - s_ii > e_ij + e_ii},  w_i = #{j != i : |s_ij - s_ii| <= e_ij + e_ii}.
 * Such an evaluation can report any rank between g_i and g_i + w_i, so row i's
 * outcome at k can change iff g_i < k <= g_i + w_i; a row is a near-tie when
 * that holds for some reported k.
 *
 * Columns direction: set cc_topk_options.columns (or pass the transpose,
 * cc_fm_transpose, which copies both factors). */
#ifndef CIRCUITC_TOPK_H
#define CIRCUITC_TOPK_H

#include <stdbool.h>

#include "circuitc/factored.h"
#include "circuitc/progress.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CC_TOPK_MAX_K 64
#define CC_TOPK_NEAR_TIE_LIST 16 /* near-tie rows listed in cc_topk_result */

typedef enum {
    CC_TOPK_FAST,   /* SVD-ordered leading components + tail bounds; exact scores only where needed */
    CC_TOPK_BRUTE,  /* every entry through streamed float32 GEMM tiles (the reference) */
} cc_topk_method;

typedef enum {
    CC_TOPK_SCREEN_AUTO,    /* the fast path's settling scans in bfloat16 where the CPU has AVX-512 BF16 */
    CC_TOPK_SCREEN_F32,     /* float32 GEMM tiles only */
} cc_topk_screen;

typedef struct {
    int k_max;              /* report k = 1..k_max (1..CC_TOPK_MAX_K) */
    bool ranks;             /* also the exact rank of every diagonal (mean, median) */
    cc_topk_method method;
    int components;         /* fast path: leading components to score with; 0 = automatic */
    cc_topk_screen screen;  /* fast path: the screen of its full-row scans */
    bool columns;           /* the statistics of M^T's diagonal (columns of M) */
    int threads;            /* 0 = all cores */
    /* Optional [n] bytes: set to 1 for every near-tie row, 0 otherwise. */
    unsigned char *near_tie_mask;
    /* Optional progress callback: DONE of TOTAL rows settled (may cancel: progress.h). */
    cc_progress_fn progress;
    void *progress_ctx;
} cc_topk_options;

typedef struct {
    long n;                         /* rows */
    int k_max;
    long correct[CC_TOPK_MAX_K];    /* correct[k-1]: rows correct at k */
    long tied_rows;                 /* rows with #{s_ij > s_ii} < k_max and some j != i with s_ij == s_ii */
    bool has_near_ties;             /* the matrix carried float32 error bounds (errA/errB) */
    long near_ties;                 /* near-tie rows (see above) */
    long near_ties_at[CC_TOPK_MAX_K]; /* near_ties_at[k-1]: rows whose outcome at k can change */
    int near_tie_rows[CC_TOPK_NEAR_TIE_LIST]; /* the first near-tie rows, ascending */
    bool has_ranks;
    double rank_mean, rank_median;  /* 0-based ranks, when has_ranks */
    long exact_evaluations;         /* entries recomputed in float64 */
    long rows_scanned_fully;        /* fast path: rows that fell back to a full scan */
    int components;                 /* fast path: components used (0 for brute force) */
    bool bf16_screen;               /* fast path: its full-row scans ran through the bfloat16 screen */
    cc_topk_method method;          /* the method that actually ran */
    double seconds;
} cc_topk_result;

/* Computes the diagonal's top-k statistics of FM (which must be square). */
int cc_topk_diagonal(const cc_fm *fm, const cc_topk_options *opt, cc_topk_result *out, cc_error *err);

#ifdef __cplusplus
}
#endif

#endif
