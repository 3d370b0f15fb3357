/* forward_ref.c — the reference kernel of the forward pass (pass.h's
 * cc_kernel_ops): plain loops on one thread, no SIMD and no BLAS, every dot
 * product, norm statistic and softmax sum in float64. The block's steps and
 * hooks are composed in compose.c, for this kernel and the fast one alike;
 * the fast kernel (forward.c) is tested against this one
 * (tests/test_forward_ref.c, tests/test_forward_shapes.c), the way llm.c keeps
 * its reference beside its kernels. */
#include "runtime/pass.h"

#include "runtime/act_check.h"
#include "model/model_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* out[r, j] = b[j] + sum_i x[r, i] W[i, j] for R rows: x [R, k]; W [k, n] with
 * row stride LDW; B [n] or NULL; out with row stride LDO. */
static void linear_ld(const float *x, size_t R, int k, const float *W, int ldw, const float *b, int n, float *out,
                      int ldo)
{
    for (size_t r = 0; r < R; r++)
        for (int j = 0; j < n; j++) {
            double acc = b ? b[j] : 0.0;
            for (int i = 0; i < k; i++) acc += (double)x[r * k + i] * W[(size_t)i * ldw + j];
            out[r * ldo + j] = (float)acc;
        }
}

static void linear(const float *x, size_t R, int k, const float *W, const float *b, int n, float *out)
{
    linear_ld(x, R, k, W, n, b, n, out, n);
}

static void heads(cc_pass *p, const float *x, const float *W, const float *b, int nh, int step, float *out)
{
    int d = p->c->d_model, dh = p->dh;
    for (int h = 0; h < nh; h++) /* head h's W is [d, dh], its bias [dh] */
        linear_ld(x, p->R, d, W + (size_t)h * step * d * dh, dh, b ? b + (size_t)h * step * dh : NULL, dh,
                  out + (size_t)h * dh, nh * dh);
}

/* LayerNorm: (x - mean) / sqrt(var + eps), then * w + b; RMSNorm:
 * x / sqrt(mean(x^2) + eps), then * w; the weights only when W is not NULL. */
static void norm(const cc_config *c, const float *x, size_t R, const float *w, const float *b, float *out)
{
    int d = c->d_model;
    bool rms = c->norm == CC_NORM_RMS;
    for (size_t r = 0; r < R; r++) {
        const float *xr = x + r * d;
        double mean = 0, var = 0;
        for (int i = 0; i < d && !rms; i++) mean += xr[i];
        mean /= d;
        for (int i = 0; i < d; i++) var += (xr[i] - mean) * (xr[i] - mean);
        double inv = 1.0 / sqrt(var / d + c->ln_eps);
        for (int i = 0; i < d; i++) {
            double y = (xr[i] - mean) * inv;
            out[r * d + i] = (float)(!w ? y : rms ? y * w[i] : y * w[i] + b[i]);
        }
    }
}

/* Scores q.k / scale of every segment and head, -inf where the key is not
 * visible; query head h reads key head h / group. */
static void scores(cc_pass *p, int l)
{
    int H = p->H, dh = p->dh;
    double scale = cc_pass_attn_scale(p->c);
    cc_hook_kind keys = cc_pass_key_hook(p->c);
    for (int s = 0; s < p->n_seg; s++) {
        const cc_segment *g = &p->seg[s];
        int n = g->end - g->start, e = g->end;
        for (int h = 0; h < H; h++)
            for (int i = 0; i < n; i++) {
                const float *q = p->q + (p->row_off[s] + (size_t)i) * H * dh + (size_t)h * dh;
                float *row = p->scores + p->sc_off[s] + ((size_t)h * n + i) * e;
                for (int j = 0; j < e; j++) {
                    if (!cc_pass_key_visible(p->c, l, g->start + i, j)) {
                        row[j] = -INFINITY;
                        continue;
                    }
                    const float *k = cc_pass_kv(p, keys, l, s, j, h / p->group);
                    double dot = 0;
                    for (int t = 0; t < dh; t++) dot += (double)q[t] * k[t];
                    row[j] = (float)(dot / scale);
                }
            }
    }
}

/* Softmax of every scores row in place; a row that is all -inf becomes 0. */
static void softmax(cc_pass *p)
{
    float *row = p->scores;
    for (const cc_segment *g = p->seg; g < p->seg + p->n_seg; g++) {
        int e = g->end;
        size_t n_rows = (size_t)p->H * (size_t)(g->end - g->start);
        for (size_t r = 0; r < n_rows; r++, row += e) {
            double mx = -INFINITY, sum = 0;
            for (int j = 0; j < e; j++) mx = row[j] > mx ? row[j] : mx;
            for (int j = 0; j < e; j++) sum += mx == -INFINITY ? 0.0 : exp(row[j] - mx);
            for (int j = 0; j < e; j++) row[j] = mx == -INFINITY ? 0.0f : (float)(exp(row[j] - mx) / sum);
        }
    }
}

/* z[i, h] = sum_j pattern[h, i, j] v[j, h / group]. */
static void mix(cc_pass *p, int l)
{
    int H = p->H, dh = p->dh;
    for (int s = 0; s < p->n_seg; s++) {
        const cc_segment *g = &p->seg[s];
        int n = g->end - g->start, e = g->end;
        for (int h = 0; h < H; h++)
            for (int i = 0; i < n; i++) {
                const float *pattern = p->scores + p->sc_off[s] + ((size_t)h * n + i) * e;
                float *z = p->z + (p->row_off[s] + (size_t)i) * H * dh + (size_t)h * dh;
                for (int t = 0; t < dh; t++) {
                    double acc = 0;
                    for (int j = 0; j < e; j++)
                        acc += (double)pattern[j] * cc_pass_kv(p, CC_HOOK_V, l, s, j, h / p->group)[t];
                    z[t] = (float)acc;
                }
            }
    }
}

/* The activation in place, in float64: gelu_new 0.5 x (1 + tanh(sqrt(2/pi)
 * (x + 0.044715 x^3))), gelu 0.5 x (1 + erf(x / sqrt(2))), silu x / (1 + e^-x), relu. */
static void act(const cc_config *c, float *x, size_t n)
{
    const double k = sqrt(2.0 / M_PI);
    for (size_t i = 0; i < n; i++) {
        double v = x[i];
        switch (c->act) {
        case CC_ACT_GELU_NEW: v = 0.5 * v * (1.0 + tanh(k * (v + 0.044715 * v * v * v))); break;
        case CC_ACT_GELU: v = 0.5 * v * (1.0 + erf(v / sqrt(2.0))); break;
        case CC_ACT_SILU: v = v / (1.0 + exp(-v)); break;
        case CC_ACT_RELU: v = v > 0 ? v : 0.0; break;
        }
        x[i] = (float)v;
    }
}

static void gate(float *x, const float *lin, const float *b, size_t R, int m)
{
    for (size_t r = 0; r < R; r++)
        for (int j = 0; j < m; j++) {
            size_t i = r * m + j;
            x[i] = (float)((double)x[i] * lin[i] + (b ? b[j] : 0.0));
        }
}

static void add(float *dst, const float *src, size_t n)
{
    for (size_t i = 0; i < n; i++) dst[i] += src[i];
}

static void copy(float *dst, const float *src, size_t n)
{
    memcpy(dst, src, n * sizeof *dst);
}

/* log_softmax(LOGITS [V])[TARGET] (NaN when TARGET < 0) and the argmax
 * (lowest index on ties); either output may be NULL. */
static void logprob_and_argmax(const float *logits, int V, int target, double *lp, int *amax)
{
    int best = 0;
    for (int v = 1; v < V; v++)
        if (logits[v] > logits[best]) best = v;
    double sum = 0;
    for (int v = 0; v < V; v++) sum += exp((double)logits[v] - logits[best]);
    if (lp) *lp = target < 0 ? NAN : ((double)logits[target] - logits[best]) - log(sum);
    if (amax) *amax = best;
}

/* The unembedding of p->xn row by row; the logits are kept whole only when
 * they are cached. */
static int unembed(cc_pass *p, const int *target, double *lp, int *amax, cc_error *err)
{
    const cc_weights *w = &p->m->w;
    int d = p->c->d_model, V = p->c->d_vocab;
    bool keep = cc_pass_logits_cached(p);
    float *logits = malloc((keep ? p->R : 1) * V * sizeof *logits);
    if (!logits) return cc_fail_code(err, CC_E_NOMEM, "out of memory for the logits (%zu x %d floats)", keep ? p->R : 1, V);
    for (size_t r = 0; r < p->R; r++) {
        float *row = keep ? logits + r * V : logits;
        linear(p->xn + r * d, 1, d, w->W_U, w->b_U, V, row);
        if (cc_logits_check(p->m, p->seg, p->n_seg, r, 1, 0, V, V, row, err) != 0) {
            free(logits);
            return -1;
        }
        logprob_and_argmax(row, V, target[r], lp ? lp + r : NULL, amax ? amax + r : NULL);
    }
    if (keep) return cc_pass_hook_give(p, CC_HOOK_LOGITS, 0, logits, err); /* cached: logits become the entry */
    free(logits);
    return 0;
}

/* One thread, nothing to hold or restore, no workspace of its own. */
static int begin(void) { return 0; }
static void end(int saved) { (void)saved; }
static int kernel_init(cc_pass *p, cc_error *err) { (void)p, (void)err; return 0; }
static void kernel_free(cc_pass *p) { (void)p; }

const cc_kernel_ops cc_ref_kernel = {
    .norm = norm, .linear = linear, .heads = heads, .scores = scores, .softmax = softmax, .mix = mix,
    .act = act, .gate = gate, .add = add, .copy = copy, .unembed = unembed,
    .begin = begin, .end = end, .kernel_init = kernel_init, .kernel_free = kernel_free,
};
