/* circuitc/composition.h — composition scores of every earlier-layer head into
 * every later-layer head (TransformerLens' all_composition_scores) and their
 * random baseline (docs/experiments.md, "Composition scores").
 *
 * score(left, right) = ||W_A W_B||_F / (||W_A||_F ||W_B||_F) with
 * W_A = W_V W_O of the earlier head (its OV circuit) and W_B = the later
 * head's W_Q W_K^T (Q-composition), (W_Q W_K^T)^T = W_K W_Q^T (K-composition)
 * or W_V W_O (V-composition). */
#ifndef CIRCUITC_COMPOSITION_H
#define CIRCUITC_COMPOSITION_H

#include <stdint.h>

#include "circuitc/error.h"
#include "circuitc/factored.h"
#include "circuitc/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { CC_COMP_Q = 0, CC_COMP_K = 1, CC_COMP_V = 2 } cc_comp_mode;

/* "q", "k", "v". */
const char *cc_comp_mode_name(cc_comp_mode mode);

/* SCORES [L, H, L, H] (caller's buffer of L*H*L*H doubles): entry
 * [l1, h1, l2, h2] is the score of head (l1, h1)'s OV into head (l2, h2)'s
 * circuit for MODE; entries with l1 >= l2 are exactly 0 (TransformerLens'
 * mask). Computed in float64 from per-head d_head x d_head Gram factors:
 * with A1^T A1 = R1^T R1 and B2 B2^T = R2^T R2 (symmetric eigen-square-roots),
 * ||A1 B1 A2 B2||_F = ||(R1 B1)(A2 R2^T)||_F, so every pair costs one
 * [d_head, d] x [d, d_head] block of a per-layer GEMM. */
int cc_composition_scores(const cc_model *m, cc_comp_mode mode, double *scores, cc_error *err);

/* The same for explicit factored matrices: OUT [n_left, n_right] with
 * out[i, j] = score(LEFT[i], RIGHT[j]) for every pair (no mask). All lefts
 * share one shape, all rights another, and left.r == right.l. */
int cc_composition_scores_fm(const cc_fm *left, int n_left, const cc_fm *right, int n_right, double *out,
                             cc_error *err);

/* The random baseline: SAMPLES scores of pairs of random rank-D_HEAD
 * [d_model, d_model] matrices, each factored as N(0,1) [d_model, d_head] x
 * N(0,1) [d_head, d_model], drawn with cc_rng_normal from one stream seeded
 * with SEED in the order A1, A2, B1, B2 (row-major) per sample. SCORES
 * (optional, [samples]) receives them; *MEAN and *STD (population, ddof 0)
 * summarise them. */
int cc_composition_baseline(int d_model, int d_head, int samples, uint64_t seed, double *scores, double *mean,
                            double *std, cc_error *err);

#ifdef __cplusplus
}
#endif

#endif
