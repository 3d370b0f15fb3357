/* backward_fast.c — the fast kernel of the backward pass's matrix products
 * (backward_kernel.h): OpenBLAS sgemm, float32, on our threads.
 *
 * As in the forward pass (forward.c), OpenBLAS is held to one thread for the
 * whole backward pass and each product is split by its output's columns
 * across our threads: each thread then reads and packs only its own rows of
 * the weight matrix, every output element is the same single-threaded sgemm
 * sum whatever the thread count, and no OpenBLAS worker spins (sched_yield)
 * between the products against the element-wise steps. */
#include "runtime/backward_kernel.h"

#include <cblas.h>
#include <string.h>

#include "core/parallel.h"
#include "runtime/pass.h"

/* Set while a backward pass runs with OpenBLAS held to one thread (begin). */
static _Thread_local bool t_split;

static int begin(void)
{
    int saved = cc_fast_kernel.begin(); /* the forward kernel's policy: OpenBLAS held when we have threads */
    t_split = saved > 0;
    return saved;
}

static void end(int saved)
{
    cc_fast_kernel.end(saved);
    if (saved > 0) t_split = false;
}

/* Output columns per thread, at least: a part of fewer multiply-adds than
 * this costs more in starting a thread (~20 us) than it saves. */
static size_t grain(size_t R, int inner)
{
    size_t work = R * (size_t)inner, cols = work ? ((size_t)1 << 20) / work : 0;
    return cols < 64 ? 64 : cols;
}

/* DX [R, k] = DY [R, n] W^T (+ DX when ACC), W [k, n]; columns [lo, hi) of DX are rows [lo, hi) of W. */
typedef struct {
    const float *dy, *W;
    size_t R;
    int n, k;
    float *dx;
    bool acc;
} lin_t_ctx;

static void linear_t_cols(void *p, size_t lo, size_t hi)
{
    const lin_t_ctx *a = p;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)a->R, (int)(hi - lo), a->n, 1.0f, a->dy, a->n,
                a->W + lo * a->n, a->n, a->acc ? 1.0f : 0.0f, a->dx + lo, a->k);
}

static void linear_t(const float *dy, size_t R, int n, const float *W, int k, float *dx, bool acc)
{
    if (R == 0) return;
    lin_t_ctx a = {dy, W, R, n, k, dx, acc};
    if (t_split) cc_par_for((size_t)k, grain(R, n), linear_t_cols, &a);
    else linear_t_cols(&a, 0, (size_t)k);
}

/* DX [R, d] += sum over heads of DOUT[:, h] W_h^T; columns [lo, hi) of DX are rows [lo, hi) of each W_h [d, dh]. */
typedef struct {
    const float *dout, *W;
    size_t R;
    int nh, dh, step, d;
    float *dx;
} heads_t_ctx;

static void heads_t_cols(void *p, size_t lo, size_t hi)
{
    const heads_t_ctx *a = p;
    for (int h = 0; h < a->nh; h++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)a->R, (int)(hi - lo), a->dh, 1.0f,
                    a->dout + (size_t)h * a->dh, a->nh * a->dh, a->W + ((size_t)h * a->step * a->d + lo) * a->dh,
                    a->dh, 1.0f, a->dx + lo, a->d);
}

static void heads_t(const float *dout, size_t R, int nh, int dh, const float *W, int step, int d, float *dx)
{
    if (R == 0) return;
    heads_t_ctx a = {dout, W, R, nh, dh, step, d, dx};
    if (t_split) cc_par_for((size_t)d, grain(R, nh * dh), heads_t_cols, &a);
    else heads_t_cols(&a, 0, (size_t)d);
}

/* Offsets of head h's first row in sequence b of a [B, T, n, dh] tensor, and of
 * its [T, T] block in a [B, H, T, T] one. */
static size_t head_off(const cc_attn_grad *a, int n, int b, int h)
{
    return ((size_t)b * a->T * n + h) * a->dh;
}

static size_t block_off(const cc_attn_grad *a, int b, int h)
{
    return ((size_t)b * a->H + h) * a->T * a->T;
}

static void pattern_t(const cc_attn_grad *a)
{
    int T = a->T, dh = a->dh, ldq = a->H * dh, ldk = a->K * dh;
    memset(a->dv, 0, (size_t)a->B * T * ldk * sizeof *a->dv);
    for (int b = 0; b < a->B; b++)
        for (int h = 0; h < a->H; h++) {
            const float *dz = a->dz + head_off(a, a->H, b, h);
            size_t kv = head_off(a, a->K, b, h / a->group);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, dh, 1.0f, dz, ldq, a->v + kv, ldk, 0.0f,
                        a->dpattern + block_off(a, b, h), T);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, dh, T, 1.0f, a->pattern + block_off(a, b, h), T,
                        dz, ldq, 1.0f, a->dv + kv, ldk);
        }
}

static void scores_t(const cc_attn_grad *a)
{
    int T = a->T, dh = a->dh, ldq = a->H * dh, ldk = a->K * dh;
    float inv = (float)(1.0 / a->scale);
    memset(a->dk, 0, (size_t)a->B * T * ldk * sizeof *a->dk);
    for (int b = 0; b < a->B; b++)
        for (int h = 0; h < a->H; h++) {
            size_t qo = head_off(a, a->H, b, h), kv = head_off(a, a->K, b, h / a->group);
            const float *dS = a->dscores + block_off(a, b, h);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, dh, T, inv, dS, T, a->k + kv, ldk, 0.0f,
                        a->dq + qo, ldq);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, dh, T, inv, dS, T, a->q + qo, ldq, 1.0f,
                        a->dk + kv, ldk);
        }
}

const cc_grad_kernel cc_grad_fast_kernel = {
    .linear_t = linear_t, .heads_t = heads_t, .pattern_t = pattern_t, .scores_t = scores_t, .begin = begin, .end = end,
};
