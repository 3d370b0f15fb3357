/* backward_fast.c — the fast kernel of the backward pass's matrix products
 * (backward_kernel.h): OpenBLAS sgemm, float32, OpenBLAS' own threads. */
#include "runtime/backward_kernel.h"

#include <cblas.h>
#include <string.h>

static void linear_t(const float *dy, size_t R, int n, const float *W, int k, float *dx, bool acc)
{
    if (R == 0) return;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)R, k, n, 1.0f, dy, n, W, n, acc ? 1.0f : 0.0f, dx, k);
}

static void heads_t(const float *dout, size_t R, int nh, int dh, const float *W, int step, int d, float *dx)
{
    if (R == 0) return;
    for (int h = 0; h < nh; h++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)R, d, dh, 1.0f, dout + (size_t)h * dh, nh * dh,
                    W + (size_t)h * step * d * dh, dh, 1.0f, dx, d);
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
    .linear_t = linear_t, .heads_t = heads_t, .pattern_t = pattern_t, .scores_t = scores_t,
};
