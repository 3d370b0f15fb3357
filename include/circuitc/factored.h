/* circuitc/factored.h — FactoredMatrix: a matrix M = A B kept as its two
 * factors, A [l, m] and B [m, r], with TransformerLens' operations
 * (docs/factored.md). The product is never formed unless asked for
 * (cc_fm_AB); SVD, norms and composition scores go through the small m x m core.
 *
 * A cc_fm owns its factors. Functions that produce a cc_fm fill *out, which the
 * caller releases with cc_fm_free. Storage is float32 row-major; reductions and
 * decompositions run in float64. */
#ifndef CIRCUITC_FACTORED_H
#define CIRCUITC_FACTORED_H

#include "circuitc/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int l, m, r;
    float *A; /* [l, m] */
    float *B; /* [m, r] */
    /* Optional (NULL when absent, owned when present): the factors in float64,
     * e.g. a circuit's weight chain multiplied in float64 from its float32
     * weights. When present they define the matrix for exact top-k (topk.h);
     * A and B are then float32 roundings of the same chain. */
    double *A64; /* [l, m] */
    double *B64; /* [m, r] */
    /* Optional: for each row i of A (column j of B), a bound on the Euclidean
     * norm of the error with which a float32 left-to-right evaluation of the
     * chain (TransformerLens' A and B) computes that row (column): the
     * statistical rounding-error bound described at CC_FP32_ERR_LAMBDA. Used
     * only to report near-ties (topk.h). */
    double *errA; /* [l] */
    double *errB; /* [r] */
} cc_fm;

/* Rounding-error bound of a float32 dot product of length n computed as users
 * do (any summation order), used for near-ties: with the rounding errors
 * modelled as independent and mean-zero (Higham & Mary 2019), the error of
 * s = sum_t x_t y_t is at most lambda u sqrt(sum_k S_k^2), S_k the partial
 * sums, u = 2^-24, except with probability about 2 exp(-lambda^2 / 2) (below
 * 1e-5 for lambda = 5). Over a random summation order
 * E[sum_k S_k^2] = (n+1)(Q/6 + s^2/3) with Q = sum_t (x_t y_t)^2; the bound
 * uses (n+1)(Q/2 + s^2/3). */
#define CC_FP32_ERR_LAMBDA 5.0

/* New factored matrix from copies of A [l, m] and B [m, r]. */
int cc_fm_create(const float *A, const float *B, int l, int m, int r, cc_fm *out, cc_error *err);
/* Takes ownership of malloc'ed A and B (no copy). */
void cc_fm_wrap(float *A, float *B, int l, int m, int r, cc_fm *out);
void cc_fm_free(cc_fm *fm);

/* Dense products, into caller buffers: AB [l, r]; BA [m, m] (needs l == r). */
void cc_fm_AB(const cc_fm *fm, float *out);
int cc_fm_BA(const cc_fm *fm, float *out, cc_error *err);

/* M^T = (B^T, A^T); the optional float64 factors and error bounds follow. */
int cc_fm_transpose(const cc_fm *fm, cc_fm *out, cc_error *err);

/* M @ X for dense X [r, c]: (A, B X) when r > m, else (A B, X). */
int cc_fm_matmul_dense(const cc_fm *fm, const float *X, int c, cc_fm *out, cc_error *err);
/* X @ M for dense X [c, l]: (X A, B) when l > m, else (X, A B). */
int cc_fm_rmatmul_dense(const float *X, int c, const cc_fm *fm, cc_fm *out, cc_error *err);
/* M1 @ M2 = (M1 @ A2) @ B2. */
int cc_fm_matmul(const cc_fm *m1, const cc_fm *m2, cc_fm *out, cc_error *err);

/* Multiplies M by S (scales A, and A64 and errA when present). */
void cc_fm_scale(cc_fm *fm, float s);

/* Rows ROWS[0..n) of M, keeping the factorisation: (A[rows], B). Likewise columns: (A, B[:, cols]). */
int cc_fm_rows(const cc_fm *fm, const int *rows, int n, cc_fm *out, cc_error *err);
int cc_fm_cols(const cc_fm *fm, const int *cols, int n, cc_fm *out, cc_error *err);

/* Reduced SVD M = U diag(S) V^T with k = min(l, m, r), S descending. */
typedef struct {
    int k, l, r;
    float *U; /* [l, k] */
    float *S; /* [k] */
    float *V; /* [r, k] */
} cc_fm_svd;
int cc_fm_svd_compute(const cc_fm *fm, cc_fm_svd *out, cc_error *err);
/* The same singular values without the singular vectors, into S [min(l, m, r)]
 * (float64, descending), from the QR factorisations of A and B^T: cheaper. */
int cc_fm_singular_values(const cc_fm *fm, double *S, cc_error *err);
void cc_fm_svd_free(cc_fm_svd *s);

/* The m eigenvalues of BA (needs l == r), as (re, im) pairs sorted by
 * descending modulus, then descending real part, then descending imaginary part. */
int cc_fm_eigenvalues(const cc_fm *fm, double *re, double *im, cc_error *err);

/* Frobenius norm sqrt(sum S^2), computed as sqrt(tr(A^T A  B B^T)) in float64. */
double cc_fm_norm(const cc_fm *fm);

/* collapse_l = diag(S) V^T [k, r]; collapse_r = U diag(S) [l, k]; both need the SVD. */
int cc_fm_collapse_l(const cc_fm *fm, float **out, int *k, cc_error *err);
int cc_fm_collapse_r(const cc_fm *fm, float **out, int *k, cc_error *err);
/* (U sqrt(S), sqrt(S) V^T). */
int cc_fm_make_even(const cc_fm *fm, cc_fm *out, cc_error *err);

/* The top-left n x n corner of AB, into out [n, n]. */
void cc_fm_corner(const cc_fm *fm, int n, float *out);

/* Composition score ||L R||_F / (||L||_F ||R||_F) for L [x, y], R [y, z]
 * (equal to TransformerLens' collapse_l/collapse_r definition, since the
 * orthonormal factors it drops do not change Frobenius norms). */
int cc_fm_composition_score(const cc_fm *left, const cc_fm *right, double *score, cc_error *err);

#ifdef __cplusplus
}
#endif

#endif
