/* vecmath.h — the fast forward pass's element-wise and row-wise kernels:
 * gelu_new, softmax rows, LayerNorm and RMSNorm rows and the pieces of the log-sum-exp
 * over the vocabulary (private to the library).
 *
 * Each is written once on 8-lane vectors and compiled twice: for the baseline
 * x86-64 target (the vectors lowered to SSE pairs) and for AVX2 (one ymm
 * register); each call runs the AVX2 body when the CPU has AVX2. The build
 * forbids FMA contraction and every lane does the same operations in the same
 * order on both, so results are bit-identical whichever body runs. */
#ifndef CC_RUNTIME_VECMATH_H
#define CC_RUNTIME_VECMATH_H

#include <stdbool.h>
#include <stddef.h>

/* gelu_new in place on X[lo, hi): 0.5 x (1 + tanh(sqrt(2/pi)(x + 0.044715 x^3))),
 * evaluated as the identical x / (1 + exp(-2u)) (relative error about 1e-7). */
void cc_vec_gelu_new(float *x, size_t lo, size_t hi);

/* Softmax of X [n] in place; -inf entries become exactly 0 and a row that is
 * all -inf becomes all 0 (TransformerLens' nan -> 0). Sum in float64. */
void cc_vec_softmax(float *x, int n);

/* Largest value of X [n] (-inf when n = 0). */
float cc_vec_max(const float *x, int n);

/* Sum of exp(x[i] - mx) over X [n], mx >= every x[i]: float terms, float64 sum. */
double cc_vec_sum_exp(const float *x, int n, float mx);

/* LayerNorm of one row X [d] into OUT [d]: centre (mean in float64), divide by
 * sqrt(mean(x^2) + eps) (float64 sum), then * W + B when W is not NULL. */
void cc_vec_layernorm(const float *x, int d, const float *w, const float *b, double eps, float *out);

/* RMSNorm of one row X [d] into OUT [d]: divide by sqrt(mean(x^2) + eps)
 * (float64 sum), then * W when W is not NULL. */
void cc_vec_rmsnorm(const float *x, int d, const float *w, double eps, float *out);

/* The index of the first element of X [n] that is NaN or has |x| >= LIMIT
 * (LIMIT > 0; INFINITY: the first non-finite one), -inf entries aside when
 * NEG_INF_OK; n when there is none. */
size_t cc_vec_first_beyond(const float *x, size_t n, float limit, bool neg_inf_ok);

#endif
