/* backward_kernel.h — the matrix products of the backward pass, one table
 * per kernel (internal to the library): backward_fast.c (OpenBLAS sgemm) and
 * backward_ref.c (plain loops, float64 sums). backward.c composes the blocks'
 * backward steps once for both and does the element-wise and row-wise steps
 * itself, in float64.
 *
 * Dimension letters as in pass.h: B batch, T pos, H heads, K key/value heads,
 * dh d_head, d d_model, R = B * T stacked rows (a full pass). */
#ifndef CC_RUNTIME_BACKWARD_KERNEL_H
#define CC_RUNTIME_BACKWARD_KERNEL_H

#include <stdbool.h>
#include <stddef.h>

/* One layer's attention, for its backward steps. q and k are the ones the
 * scores read (after the rotation on a rotary model); query head h reads
 * key/value head h / group. */
typedef struct {
    int B, T, H, K, dh, group;
    double scale;                 /* the scores' divisor (cc_pass_attn_scale) */
    const float *q;               /* [B, T, H, dh] */
    const float *k, *v;           /* [B, T, K, dh] */
    const float *pattern;         /* [B, H, T, T] */
    const float *dz;              /* [B, T, H, dh] */
    float *dpattern;              /* [B, H, T, T] */
    const float *dscores;         /* [B, H, T, T] */
    float *dq;                    /* [B, T, H, dh] */
    float *dk, *dv;               /* [B, T, K, dh] */
} cc_attn_grad;

typedef struct {
    /* DX [R, k] = DY [R, n] W^T for W [k, n] row-major, added to DX when ACC. */
    void (*linear_t)(const float *dy, size_t R, int n, const float *W, int k, float *dx, bool acc);
    /* DX [R, d] += sum over i < NH of DOUT[:, i, :] W_i^T, DOUT [R, nh, dh],
     * W_i = W + i * STEP * d * dh ([d, dh]: the layout cc_pass_ops.heads reads). */
    void (*heads_t)(const float *dout, size_t R, int nh, int dh, const float *W, int step, int d, float *dx);
    /* a->dpattern = dz . v at every (query, key) pair, masked ones included
     * (TransformerLens' einsum reads them all); a->dv = pattern^T dz summed over
     * each key/value head's group. */
    void (*pattern_t)(const cc_attn_grad *a);
    /* a->dq = dscores k / scale, a->dk = dscores^T q / scale summed over each group. */
    void (*scores_t)(const cc_attn_grad *a);
    /* A backward pass's thread policy, as the forward kernel's (pass.h): begin
     * returns what end restores. */
    int (*begin)(void);
    void (*end)(int saved);
} cc_grad_kernel;

extern const cc_grad_kernel cc_grad_fast_kernel; /* backward_fast.c */
extern const cc_grad_kernel cc_grad_ref_kernel;  /* backward_ref.c */

#endif
