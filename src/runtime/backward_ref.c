/* backward_ref.c — the reference kernel of the backward pass's matrix
 * products (backward_kernel.h): plain loops on one thread, every sum in
 * float64, as forward_ref.c is for the forward pass. */
#include "runtime/backward_kernel.h"

#include <string.h>

static void linear_t(const float *dy, size_t R, int n, const float *W, int k, float *dx, bool acc)
{
    for (size_t r = 0; r < R; r++)
        for (int i = 0; i < k; i++) {
            double s = acc ? dx[r * k + i] : 0.0;
            for (int j = 0; j < n; j++) s += (double)dy[r * n + j] * W[(size_t)i * n + j];
            dx[r * k + i] = (float)s;
        }
}

static void heads_t(const float *dout, size_t R, int nh, int dh, const float *W, int step, int d, float *dx)
{
    for (size_t r = 0; r < R; r++)
        for (int i = 0; i < d; i++) {
            double s = dx[r * d + i];
            for (int h = 0; h < nh; h++) {
                const float *Wh = W + (size_t)h * step * d * dh + (size_t)i * dh, *g = dout + (r * nh + h) * dh;
                for (int t = 0; t < dh; t++) s += (double)g[t] * Wh[t];
            }
            dx[r * d + i] = (float)s;
        }
}

/* Row (b, t) of head h of a [B, T, n, dh] tensor. */
static const float *row(const float *x, const cc_attn_grad *a, int n, int b, int t, int h)
{
    return x + (((size_t)b * a->T + t) * n + h) * a->dh;
}

static void pattern_t(const cc_attn_grad *a)
{
    int T = a->T, dh = a->dh;
    for (int b = 0; b < a->B; b++)
        for (int h = 0; h < a->H; h++) {
            int g = h / a->group;
            float *dP = a->dpattern + ((size_t)b * a->H + h) * T * T;
            for (int i = 0; i < T; i++)
                for (int j = 0; j < T; j++) {
                    const float *dz = row(a->dz, a, a->H, b, i, h), *v = row(a->v, a, a->K, b, j, g);
                    double s = 0;
                    for (int t = 0; t < dh; t++) s += (double)dz[t] * v[t];
                    dP[(size_t)i * T + j] = (float)s;
                }
        }
    for (int b = 0; b < a->B; b++)
        for (int g = 0; g < a->K; g++)
            for (int j = 0; j < T; j++)
                for (int t = 0; t < dh; t++) {
                    double s = 0;
                    for (int h = g * a->group; h < (g + 1) * a->group; h++) {
                        const float *P = a->pattern + ((size_t)b * a->H + h) * T * T;
                        for (int i = 0; i < T; i++) s += (double)P[(size_t)i * T + j] * row(a->dz, a, a->H, b, i, h)[t];
                    }
                    a->dv[(((size_t)b * T + j) * a->K + g) * dh + t] = (float)s;
                }
}

static void scores_t(const cc_attn_grad *a)
{
    int T = a->T, dh = a->dh;
    for (int b = 0; b < a->B; b++)
        for (int h = 0; h < a->H; h++) {
            const float *dS = a->dscores + ((size_t)b * a->H + h) * T * T;
            for (int i = 0; i < T; i++)
                for (int t = 0; t < dh; t++) {
                    double s = 0;
                    for (int j = 0; j < T; j++) s += (double)dS[(size_t)i * T + j] * row(a->k, a, a->K, b, j, h / a->group)[t];
                    a->dq[(((size_t)b * T + i) * a->H + h) * dh + t] = (float)(s / a->scale);
                }
        }
    for (int b = 0; b < a->B; b++)
        for (int g = 0; g < a->K; g++)
            for (int j = 0; j < T; j++)
                for (int t = 0; t < dh; t++) {
                    double s = 0;
                    for (int h = g * a->group; h < (g + 1) * a->group; h++) {
                        const float *dS = a->dscores + ((size_t)b * a->H + h) * T * T;
                        for (int i = 0; i < T; i++) s += (double)dS[(size_t)i * T + j] * row(a->q, a, a->H, b, i, h)[t];
                    }
                    a->dk[(((size_t)b * T + j) * a->K + g) * dh + t] = (float)(s / a->scale);
                }
}

static int begin(void) { return 0; }
static void end(int saved) { (void)saved; }

const cc_grad_kernel cc_grad_ref_kernel = {
    .linear_t = linear_t, .heads_t = heads_t, .pattern_t = pattern_t, .scores_t = scores_t, .begin = begin, .end = end,
};
