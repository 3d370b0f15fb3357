/* backward.c — gradients of a metric at the hook points
 * (include/circuitc/backward.h): a forward pass (compose.c) that saves what
 * the backward pass reads, the metric and its gradient at the logits, then
 * every block's backward steps in reverse, composed once for every block
 * shape, mirroring compose.c's block():
 *
 *   sequential: d resid_mid = d resid_post + MLP^T(d mlp_out = d resid_post);
 *               d resid_pre = d resid_mid + attention^T(d attn_out = d resid_mid)
 *   parallel:   d resid_pre = d resid_post + MLP^T(d resid_post) + attention^T(d resid_post)
 *   attn_only:  d resid_pre = d resid_post + attention^T(d resid_post)
 *
 * What the backward pass reads from the forward one: every block's
 * resid_pre (its norm's input, recomputed rather than saved), resid_mid
 * (sequential blocks), the scores' q and k (rot_q / rot_k on rotary models),
 * v, the pattern, the MLP's pre-activations, and the last resid_post; each
 * block's are released once its backward step is done.
 *
 * The element-wise and row-wise steps (norms, activations, rotation, softmax,
 * the metric) are computed here in float64 for both kernels; the matrix
 * products are the kernel's (backward_kernel.h). */
#include "circuitc/backward.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/args.h"
#include "model/rotary.h"
#include "runtime/backward_kernel.h"
#include "runtime/pass.h"
#include "core/parallel.h"
#include "model/model_internal.h"

#define UNEMBED_CHUNK 64 /* rows of logits materialised at once */

typedef struct {
    const cc_model *m;
    const cc_config *c;
    const cc_kernel_ops *fwd; /* the forward kernel: the final norm and the logits */
    const cc_grad_kernel *k;
    const int *tokens;
    int B, T, H, K, dh, group;
    size_t R;
    const cc_grad_metric *metric;
    const cc_grad_opts *opts;
    cc_grad_result *res;
    cc_fwd_result f;          /* the forward pass's saved activations */
    size_t held, peak;        /* bytes of saved activations and buffers */
    float *dx;                /* [R, d] d metric / d residual stream at the current point */
    float *dout;              /* [R, d] d metric / d (attn_out or mlp_out) */
    float *dxn, *dxqk, *dpe;  /* [R, d] d / d a norm's output; shortformer: d / d the q/k input, d / d W_pos rows */
    float *dz, *dq;           /* [R, H, dh] */
    float *dk, *dv;           /* [R, K, dh] */
    float *dpat;              /* [B, H, T, T] d / d pattern, then d / d scores in place */
    float *dmlp, *dlin;       /* [R, m] d / d post then d / d pre; gated: d / d pre_linear */
    float *rot_nsin, *rot_cos, *rot_tmp; /* rotary: the table with the sines negated (the inverse rotation) */
    double *norm_ws;          /* [2 d] norm_t's scratch */
} grad_pass;

/* ------------------------------------------------------------------ memory and hooks */

static float *gp_alloc(grad_pass *g, size_t n)
{
    float *p = calloc(n ? n : 1, sizeof *p);
    if (!p) return NULL;
    g->held += n * sizeof *p;
    if (g->held > g->peak) g->peak = g->held;
    return p;
}

static void gp_release(grad_pass *g, float **p, size_t n)
{
    if (!*p) return;
    free(*p), *p = NULL;
    g->held -= n * sizeof **p;
}

static size_t hook_numel(const grad_pass *g, cc_hook_kind k)
{
    return cc_hook_shape(g->c, k, g->B, g->T).numel;
}

static bool wanted(const cc_grad_opts *o, cc_hook_kind k, int l)
{
    return (o->want[k] >> (cc_hook_per_layer(k) ? l : 0)) & 1;
}

/* Hands the gradient GRAD at hook (KIND, L) to the result when it was asked for. */
static int emit(grad_pass *g, cc_hook_kind kind, int l, const float *grad, cc_error *err)
{
    if (!wanted(g->opts, kind, l)) return 0;
    size_t n = hook_numel(g, kind);
    float *copy = gp_alloc(g, n);
    if (!copy) {
        char name[96];
        return cc_fail_code(err, CC_E_NOMEM, "out of memory for the gradient at %s (%zu floats)", cc_hook_name(kind, l, name, sizeof name), n);
    }
    memcpy(copy, grad, n * sizeof *copy);
    g->res->grad[kind][cc_hook_per_layer(kind) ? l : 0] = copy;
    return 0;
}

/* Whether the backward pass reads the forward activation (KIND, L). */
static bool saved(const cc_config *c, cc_hook_kind kind, int l)
{
    bool rotary = c->pos == CC_POS_ROTARY;
    switch (kind) {
    case CC_HOOK_RESID_PRE: case CC_HOOK_V: case CC_HOOK_PATTERN: return true;
    case CC_HOOK_RESID_MID: return !c->parallel && !c->attn_only;
    case CC_HOOK_Q: case CC_HOOK_K: return !rotary;
    case CC_HOOK_ROT_Q: case CC_HOOK_ROT_K: return rotary;
    case CC_HOOK_MLP_PRE: return !c->attn_only;
    case CC_HOOK_MLP_PRE_LINEAR: return c->gated && !c->attn_only;
    case CC_HOOK_RESID_POST: return l == c->n_layers - 1;
    default: return false;
    }
}

/* Frees block L's saved activations the caller did not ask to keep. */
static void release_block(grad_pass *g, int l)
{
    for (int k = 0; k < CC_HOOK_COUNT; k++)
        if (cc_hook_per_layer((cc_hook_kind)k) && saved(g->c, (cc_hook_kind)k, l) &&
            !(g->opts->keep_acts && wanted(g->opts, (cc_hook_kind)k, l)))
            gp_release(g, &g->f.act[k][l], hook_numel(g, (cc_hook_kind)k));
}

/* ------------------------------------------------------------------ element-wise steps (float64) */

/* DX [R, d] += d/dx of norm(x) (* w) given DOUT, the gradient at its output;
 * the statistics are recomputed from X [R, d]. WS: 2 d doubles of scratch. */
static void norm_t(const cc_config *c, const float *x, size_t R, const float *w, const float *dout, float *dx,
                   double *ws)
{
    int d = c->d_model;
    bool rms = c->norm == CC_NORM_RMS;
    double *gy = ws, *y = ws + d;
    for (size_t r = 0; r < R; r++) {
        const float *xr = x + r * d, *gr = dout + r * d;
        double mean = 0, var = 0, mg = 0, mgy = 0;
        for (int i = 0; i < d && !rms; i++) mean += xr[i];
        mean /= d;
        for (int i = 0; i < d; i++) var += (xr[i] - mean) * (xr[i] - mean);
        double inv = 1.0 / sqrt(var / d + c->ln_eps);
        for (int i = 0; i < d; i++) {
            y[i] = (xr[i] - mean) * inv;
            gy[i] = (double)gr[i] * (w ? w[i] : 1.0);
            mg += gy[i], mgy += gy[i] * y[i];
        }
        mg = rms ? 0.0 : mg / d, mgy /= d;
        for (int i = 0; i < d; i++) dx[r * d + i] += (float)(inv * (gy[i] - mg - y[i] * mgy));
    }
}

/* The activation and its derivative at X, in float64 (forward_ref.c's formulas). */
static double act_value(cc_act_kind a, double x, double *deriv)
{
    const double k = sqrt(2.0 / M_PI), c3 = 0.044715;
    switch (a) {
    case CC_ACT_GELU_NEW: {
        double t = tanh(k * (x + c3 * x * x * x));
        *deriv = 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * k * (1.0 + 3.0 * c3 * x * x);
        return 0.5 * x * (1.0 + t);
    }
    case CC_ACT_GELU: {
        double cdf = 0.5 * (1.0 + erf(x / sqrt(2.0)));
        *deriv = cdf + x * exp(-0.5 * x * x) / sqrt(2.0 * M_PI);
        return x * cdf;
    }
    case CC_ACT_SILU: {
        double s = 1.0 / (1.0 + exp(-x));
        *deriv = s * (1.0 + x * (1.0 - s));
        return x * s;
    }
    case CC_ACT_RELU: *deriv = x > 0 ? 1.0 : 0.0; return x > 0 ? x : 0.0;
    }
    *deriv = 0;
    return 0;
}

/* DPAT [B, H, T, T] (d / d pattern) becomes d / d scores in place, row by
 * row: P_j (dP_j - sum_k P_k dP_k), written P_j (dP_j sum_k P_k - sum_k P_k
 * dP_k) = P_j sum_k P_k (dP_j - dP_k). Equal when the pattern sums to 1, but
 * the float32 rounding of a saturated P_j (near 1) then cancels out instead of
 * being multiplied by |dP|. */
static void softmax_t(const float *pattern, float *dpat, size_t rows, int T)
{
    for (size_t r = 0; r < rows; r++) {
        const float *P = pattern + r * T;
        float *g = dpat + r * T;
        double s = 0, total = 0;
        for (int j = 0; j < T; j++) s += (double)P[j] * g[j], total += P[j];
        for (int j = 0; j < T; j++) g[j] = (float)(P[j] * ((double)g[j] * total - s));
    }
}

/* The inverse rotation of every head of X [R, nh, dh] (the transpose of compose.c's rotate). */
static void unrotate(grad_pass *g, float *x, int nh)
{
    int rd = g->c->rotary_dim;
    for (size_t r = 0; r < g->R; r++) {
        size_t t = r % (size_t)g->T;
        for (int h = 0; h < nh; h++)
            cc_rotary_apply(g->c, g->rot_nsin + t * rd, g->rot_cos + t * rd, x + (r * nh + h) * g->dh, g->rot_tmp);
    }
}

/* ------------------------------------------------------------------ the metric */

/* Row B's position under METRIC (NULL position: the last; negative: from the end). */
static int metric_pos(const cc_grad_metric *mt, int b, int T)
{
    int p = mt->position ? mt->position[b] : -1;
    return p < 0 ? T + p : p;
}

static int check_metric(const cc_config *c, const cc_grad_metric *mt, int B, int T, cc_error *err)
{
    if (mt->kind == CC_GRAD_LOSS) {
        if (T < 2) return cc_fail(err, "metric loss: needs at least 2 positions (it predicts each next token), got %d", T);
        if ((mt->loss_lo || mt->loss_hi) && (mt->loss_lo < 0 || mt->loss_lo >= mt->loss_hi || mt->loss_hi > T - 1))
            return cc_fail(err, "metric loss: positions [%d, %d) must be a non-empty range inside [0, %d)",
                           mt->loss_lo, mt->loss_hi, T - 1);
        return 0;
    }
    if (mt->kind == CC_GRAD_LOGIT_DIFF && (!mt->answer || !mt->wrong))
        return cc_fail(err, "metric logit_diff: the answer and wrong token arrays are required");
    if (mt->kind == CC_GRAD_KL && !mt->clean_logprobs)
        return cc_fail(err, "metric kl: the clean log-probabilities (cc_grad_metric_logprobs) are required");
    for (int b = 0; b < B; b++) {
        int p = metric_pos(mt, b, T);
        if (p < 0 || p >= T)
            return cc_fail(err, "metric %s: position %d of row %d is outside the sequence (length %d)",
                           cc_grad_metric_name(mt->kind), mt->position[b], b, T);
        if (mt->kind == CC_GRAD_LOGIT_DIFF)
            for (int i = 0; i < 2; i++) {
                int t = i ? mt->wrong[b] : mt->answer[b];
                if (t < 0 || t >= c->d_vocab)
                    return cc_fail(err, "metric logit_diff: %s token %d of row %d is outside the vocabulary [0, %d)",
                                   i ? "wrong" : "answer", t, b, c->d_vocab);
            }
    }
    return 0;
}

/* The positions [*LO, *HI) whose predictions a loss reads. */
static void loss_range(const cc_grad_metric *mt, int T, int *lo, int *hi)
{
    bool all = mt->loss_lo == 0 && mt->loss_hi == 0;
    *lo = all ? 0 : mt->loss_lo, *hi = all ? T - 1 : mt->loss_hi;
}

/* The rows the metric reads: ROW [n] stacked-row indices (b * T + t), into caller arrays of B * T. */
static int metric_rows(const cc_grad_metric *mt, int B, int T, size_t *row)
{
    int n = 0, lo, hi;
    loss_range(mt, T, &lo, &hi);
    for (int b = 0; b < B; b++) {
        if (mt->kind == CC_GRAD_LOSS)
            for (int t = lo; t < hi; t++) row[n++] = (size_t)b * T + t;
        else
            row[n++] = (size_t)b * T + metric_pos(mt, b, T);
    }
    return n;
}

/* Adds stacked row R's share of the metric (logits LG [V]) to *VALUE and, when
 * DLG is not NULL, writes d metric / d logits of that row into DLG [V]. */
static void metric_row(const cc_grad_metric *mt, const int *tokens, int B, int T, int V, size_t r, const float *lg,
                       double *value, float *dlg)
{
    int b = (int)(r / (size_t)T);
    if (mt->kind == CC_GRAD_LOGIT_DIFF) {
        *value += ((double)lg[mt->answer[b]] - lg[mt->wrong[b]]) / B;
        if (!dlg) return;
        memset(dlg, 0, (size_t)V * sizeof *dlg);
        dlg[mt->answer[b]] += (float)(1.0 / B), dlg[mt->wrong[b]] -= (float)(1.0 / B);
        return;
    }
    double mx = -INFINITY, sum = 0;
    for (int v = 0; v < V; v++) mx = lg[v] > mx ? lg[v] : mx;
    for (int v = 0; v < V; v++) sum += exp((double)lg[v] - mx);
    double lse = mx + log(sum);
    if (mt->kind == CC_GRAD_LOSS) {
        int lo, hi;
        loss_range(mt, T, &lo, &hi);
        double n = (double)B * (hi - lo);
        int next = tokens[r + 1];
        *value -= ((double)lg[next] - lse) / n;
        if (dlg)
            for (int v = 0; v < V; v++) dlg[v] = (float)((exp((double)lg[v] - lse) - (v == next)) / n);
        return;
    }
    const float *q = mt->clean_logprobs + (size_t)b * V; /* KL(clean || model) = sum q (log q - log p) */
    double kl = 0, qsum = 0;
    for (int v = 0; v < V; v++) {
        double qv = exp((double)q[v]);
        if (qv > 0) kl += qv * ((double)q[v] - ((double)lg[v] - lse));
        qsum += qv;
    }
    *value += kl / B;
    if (dlg)
        for (int v = 0; v < V; v++) dlg[v] = (float)((exp((double)lg[v] - lse) * qsum - exp((double)q[v])) / B);
}

/* XG [n, d]: the N final residual rows gathered from XF [R, d] at ROW; XN [n, d]:
 * the same rows through the final norm. */
static void rows_final_norm(const cc_model *m, const cc_kernel_ops *fwd, const float *xf, const size_t *row, int n,
                            float *xg, float *xn)
{
    const cc_config *c = &m->cfg;
    size_t d = (size_t)c->d_model;
    for (int i = 0; i < n; i++) memcpy(xg + i * d, xf + row[i] * d, d * sizeof *xg);
    fwd->norm(c, xg, (size_t)n, m->w.lnf_w, m->w.lnf_b, xn);
}

/* LOGITS [n, V] of the N final residual rows X (gathered from XF [R, d] at ROW)
 * through the final norm and the unembedding, as cc_fwd_unembed computes them;
 * XN [n, d] receives the gathered rows. */
static void rows_logits(const cc_model *m, const cc_kernel_ops *fwd, const float *xf, const size_t *row, int n,
                        float *xg, float *xn, float *logits)
{
    rows_final_norm(m, fwd, xf, row, n, xg, xn);
    fwd->linear(xn, (size_t)n, m->cfg.d_model, m->w.W_U, m->w.b_U, m->cfg.d_vocab, logits);
}

/* The logit difference of the N metric rows ROW, their final-normed rows XN
 * [n, d], added to g->res->metric, and d / d XN into DXN [n, d], from the
 * answer and wrong columns of the unembedding alone: its other columns have a
 * zero gradient, and reading the whole [d, V] matrix twice per row (the
 * logits, then their gradient back) was most of the backward pass's
 * unembedding. Each row's two columns (and biases) are gathered into WCOLS
 * [d, 2] and go through the kernel's own linear maps: the reference kernel's
 * values are the full path's to the bit, the fast kernel's to float32
 * rounding (sgemm's order of summation). */
static void logit_diff_t(grad_pass *g, const size_t *row, int n, const float *xn, float *dxn, float *wcols)
{
    const cc_weights *w = &g->m->w;
    size_t d = (size_t)g->c->d_model, V = (size_t)g->c->d_vocab;
    const float inv = (float)(1.0 / g->B);
    for (int i = 0; i < n; i++) {
        int b = (int)(row[i] / (size_t)g->T), col[2] = {g->metric->answer[b], g->metric->wrong[b]};
        float bias[2], lg[2], dlg[2] = {inv, -inv};
        for (size_t k = 0; k < d; k++)
            wcols[2 * k] = w->W_U[k * V + col[0]], wcols[2 * k + 1] = w->W_U[k * V + col[1]];
        for (int j = 0; j < 2; j++) bias[j] = w->b_U ? w->b_U[col[j]] : 0.0f;
        g->fwd->linear(xn + i * d, 1, (int)d, wcols, w->b_U ? bias : NULL, 2, lg);
        g->res->metric += ((double)lg[0] - lg[1]) / g->B;
        if (col[0] == col[1]) dlg[0] = dlg[1] = 0.0f; /* +1/B - 1/B on one logit, as metric_row writes it */
        g->k->linear_t(dlg, 1, 2, wcols, (int)d, dxn + i * d, false);
    }
}

/* The metric and its gradient back to the last block's resid_post (into g->dx),
 * through the logits and the final norm, UNEMBED_CHUNK rows at a time. */
static int unembed_t(grad_pass *g, cc_error *err)
{
    const cc_config *c = g->c;
    size_t d = (size_t)c->d_model, V = (size_t)c->d_vocab;
    const float *xf = g->f.act[CC_HOOK_RESID_POST][c->n_layers - 1], *lnf_w = g->m->w.lnf_w;
    bool want_logits = wanted(g->opts, CC_HOOK_LOGITS, 0), want_ln = wanted(g->opts, CC_HOOK_LN_FINAL, 0);
    size_t *row = malloc(g->R * sizeof *row);
    float *xg = gp_alloc(g, UNEMBED_CHUNK * d), *xn = gp_alloc(g, UNEMBED_CHUNK * d), *dxn = gp_alloc(g, UNEMBED_CHUNK * d);
    /* the logit difference reads two columns of the logits (logit_diff_t); the others all of them */
    bool two_cols = g->metric->kind == CC_GRAD_LOGIT_DIFF && !want_logits;
    size_t lg_n = two_cols ? 2 * d : UNEMBED_CHUNK * V;
    float *lg = gp_alloc(g, lg_n); /* [UNEMBED_CHUNK, V] logits then their gradient; two_cols: [d, 2] W_U columns */
    float *glogits = want_logits ? gp_alloc(g, g->R * V) : NULL, *gln = want_ln ? gp_alloc(g, g->R * d) : NULL;
    int rc = -1;
    if (!row || !xg || !xn || !dxn || !lg || (want_logits && !glogits) || (want_ln && !gln)) {
        cc_fail_code(err, CC_E_NOMEM, "out of memory for the unembedding's backward pass");
        goto out;
    }
    int n = metric_rows(g->metric, g->B, g->T, row);
    g->res->metric = 0;
    for (int i0 = 0; i0 < n; i0 += UNEMBED_CHUNK) {
        int cn = n - i0 < UNEMBED_CHUNK ? n - i0 : UNEMBED_CHUNK;
        if (two_cols) {
            rows_final_norm(g->m, g->fwd, xf, row + i0, cn, xg, xn);
            logit_diff_t(g, row + i0, cn, xn, dxn, lg);
        } else {
            rows_logits(g->m, g->fwd, xf, row + i0, cn, xg, xn, lg);
            for (int i = 0; i < cn; i++)
                metric_row(g->metric, g->tokens, g->B, g->T, c->d_vocab, row[i0 + i], lg + i * V, &g->res->metric,
                           lg + i * V);
            g->k->linear_t(lg, (size_t)cn, c->d_vocab, g->m->w.W_U, c->d_model, dxn, false);
        }
        for (int i = 0; i < cn; i++) {
            size_t r = row[i0 + i];
            if (glogits) memcpy(glogits + r * V, lg + i * V, V * sizeof *lg);
            /* RMSNorm's hook_normalized is before its weight (hooks.h), LayerNorm's after */
            bool before_w = c->norm == CC_NORM_RMS && lnf_w;
            if (gln)
                for (size_t j = 0; j < d; j++) gln[r * d + j] = dxn[i * d + j] * (before_w ? lnf_w[j] : 1.0f);
        }
        float *dxg = xn; /* reuse: the rows' d / d resid_post */
        memset(dxg, 0, (size_t)cn * d * sizeof *dxg);
        norm_t(c, xg, (size_t)cn, lnf_w, dxn, dxg, g->norm_ws);
        for (int i = 0; i < cn; i++)
            for (size_t j = 0; j < d; j++) g->dx[row[i0 + i] * d + j] += dxg[i * d + j];
    }
    if (glogits) g->res->grad[CC_HOOK_LOGITS][0] = glogits, glogits = NULL;
    if (gln) g->res->grad[CC_HOOK_LN_FINAL][0] = gln, gln = NULL;
    rc = 0;
out:
    free(row);
    gp_release(g, &xg, UNEMBED_CHUNK * d), gp_release(g, &xn, UNEMBED_CHUNK * d);
    gp_release(g, &dxn, UNEMBED_CHUNK * d), gp_release(g, &lg, lg_n);
    gp_release(g, &glogits, g->R * V), gp_release(g, &gln, g->R * d);
    return rc;
}

/* ------------------------------------------------------------------ the block, in reverse */

static const float *at_layer(const float *a, int l, size_t n)
{
    return a ? a + (size_t)l * n : NULL;
}

/* The MLP's activation in reverse over elements [lo, hi) of a [R, m] block:
 * DMLP (d / d post) becomes d / d pre; gated, DLIN receives d / d pre_linear. */
typedef struct {
    const cc_config *c;
    const float *pre, *lin; /* the forward pass's pre-activation and (gated) pre_linear */
    float *dmlp, *dlin;
} act_t_ctx;

static void act_t_range(void *p, size_t lo, size_t hi)
{
    const act_t_ctx *a = p;
    for (size_t i = lo; i < hi; i++) {
        double deriv, v = act_value(a->c->act, a->pre[i], &deriv);
        if (!a->c->gated) {
            a->dmlp[i] = (float)(a->dmlp[i] * deriv);
            continue;
        }
        a->dlin[i] = (float)(a->dmlp[i] * v), a->dmlp[i] = (float)(a->dmlp[i] * (double)a->lin[i] * deriv);
    }
}

/* Adds to g->dx the gradient through block L's MLP at its input X (resid_mid,
 * or resid_pre in a parallel block), given DOUT = d / d mlp_out. */
static int mlp_t(grad_pass *g, int l, const float *x, const float *dout, cc_error *err)
{
    const cc_config *c = g->c;
    const cc_weights *w = &g->m->w;
    int d = c->d_model, M = c->d_mlp;
    size_t dM = (size_t)d * M, n = g->R * (size_t)M;
    const float *pre = g->f.act[CC_HOOK_MLP_PRE][l], *lin = g->f.act[CC_HOOK_MLP_PRE_LINEAR][l];
    g->k->linear_t(dout, g->R, d, w->W_out + l * dM, M, g->dmlp, false); /* d post */
    if (emit(g, CC_HOOK_MLP_POST, l, g->dmlp, err)) return -1;
    /* float64 tanh / erf / exp per element: split across threads (each element computed as on one) */
    cc_par_for(n, 16384, act_t_range, &(act_t_ctx){c, pre, lin, g->dmlp, g->dlin});
    if (c->gated && emit(g, CC_HOOK_MLP_PRE_LINEAR, l, g->dlin, err)) return -1;
    if (emit(g, CC_HOOK_MLP_PRE, l, g->dmlp, err)) return -1;
    g->k->linear_t(g->dmlp, g->R, M, (c->gated ? w->W_gate : w->W_in) + l * dM, d, g->dxn, false);
    if (c->gated) g->k->linear_t(g->dlin, g->R, M, w->W_in + l * dM, d, g->dxn, true);
    if (!g->opts->split_inputs) {
        norm_t(c, x, g->R, at_layer(w->ln2_w, l, d), g->dxn, g->dx, g->norm_ws);
        return 0;
    }
    float *din = gp_alloc(g, g->R * d); /* split_inputs: hook_mlp_in's gradient kept, then added */
    if (!din) return cc_fail_code(err, CC_E_NOMEM, "out of memory for the MLP input gradient of layer %d", l);
    norm_t(c, x, g->R, at_layer(w->ln2_w, l, d), g->dxn, din, g->norm_ws);
    for (size_t i = 0; i < g->R * d; i++) g->dx[i] += din[i];
    g->res->mlp_input[l] = din;
    return 0;
}

/* split_inputs: res->qkv_input[*][L], each head's own path back through W_Q,
 * W_K or W_V and its copy of ln1 to the block's input X [R, d] (TransformerLens'
 * split q/k/v inputs), from g->dq, g->dk, g->dv. */
static int split_qkv_t(grad_pass *g, int l, const float *x, cc_error *err)
{
    const cc_config *c = g->c;
    const cc_weights *w = &g->m->w;
    size_t d = (size_t)c->d_model, R = g->R, Wl = (size_t)g->H * d * g->dh;
    const float *W[3] = {w->W_Q + l * Wl, w->W_K + l * Wl, w->W_V + l * Wl};
    const float *dsrc[3] = {g->dq, g->dk, g->dv};
    int nh[3] = {g->H, g->K, g->K}, step[3] = {1, g->group, g->group};
    float *one = gp_alloc(g, R * g->dh), *dxn = gp_alloc(g, R * d), *dres = gp_alloc(g, R * d);
    int rc = 0;
    for (int i = 0; i < 3 && one && dxn && dres; i++) {
        float *out = gp_alloc(g, R * nh[i] * d);
        if (!out) break;
        g->res->qkv_input[i][l] = out;
        for (int h = 0; h < nh[i]; h++) {
            for (size_t r = 0; r < R; r++)
                memcpy(one + r * g->dh, dsrc[i] + (r * nh[i] + h) * g->dh, (size_t)g->dh * sizeof *one);
            memset(dxn, 0, R * d * sizeof *dxn), memset(dres, 0, R * d * sizeof *dres);
            g->k->heads_t(one, R, 1, g->dh, W[i] + (size_t)h * step[i] * d * g->dh, 1, c->d_model, dxn);
            norm_t(c, x, R, at_layer(w->ln1_w, l, d), dxn, dres, g->norm_ws);
            for (size_t r = 0; r < R; r++) memcpy(out + (r * nh[i] + h) * d, dres + r * d, d * sizeof *out);
        }
    }
    if (!one || !dxn || !dres || !g->res->qkv_input[2][l])
        rc = cc_fail_code(err, CC_E_NOMEM, "out of memory for the split q/k/v input gradients of layer %d", l);
    gp_release(g, &one, R * g->dh), gp_release(g, &dxn, R * d), gp_release(g, &dres, R * d);
    return rc;
}

/* Adds to g->dx the gradient through block L's attention at its input X
 * (resid_pre), given DOUT = d / d attn_out. */
static int attention_t(grad_pass *g, int l, const float *x, const float *dout, cc_error *err)
{
    const cc_config *c = g->c;
    const cc_weights *w = &g->m->w;
    int d = c->d_model, H = g->H, K = g->K, dh = g->dh;
    size_t Wl = (size_t)H * d * dh, Rd = g->R * d;
    bool rotary = c->pos == CC_POS_ROTARY, shortformer = c->pos == CC_POS_SHORTFORMER;
    g->k->linear_t(dout, g->R, d, w->W_O + (size_t)l * H * dh * d, H * dh, g->dz, false);
    if (emit(g, CC_HOOK_Z, l, g->dz, err)) return -1;
    cc_attn_grad a = {.B = g->B, .T = g->T, .H = H, .K = K, .dh = dh, .group = g->group,
                      .scale = cc_pass_attn_scale(c),
                      .q = g->f.act[rotary ? CC_HOOK_ROT_Q : CC_HOOK_Q][l],
                      .k = g->f.act[cc_pass_key_hook(c)][l], .v = g->f.act[CC_HOOK_V][l],
                      .pattern = g->f.act[CC_HOOK_PATTERN][l], .dz = g->dz, .dpattern = g->dpat,
                      .dscores = g->dpat, .dq = g->dq, .dk = g->dk, .dv = g->dv};
    g->k->pattern_t(&a);
    if (emit(g, CC_HOOK_PATTERN, l, g->dpat, err)) return -1;
    softmax_t(a.pattern, g->dpat, (size_t)g->B * H * g->T, g->T);
    if (emit(g, CC_HOOK_ATTN_SCORES, l, g->dpat, err)) return -1;
    g->k->scores_t(&a);
    if (rotary) {
        if (emit(g, CC_HOOK_ROT_Q, l, g->dq, err) || emit(g, CC_HOOK_ROT_K, l, g->dk, err)) return -1;
        unrotate(g, g->dq, H), unrotate(g, g->dk, K);
    }
    if (emit(g, CC_HOOK_Q, l, g->dq, err) || emit(g, CC_HOOK_K, l, g->dk, err) || emit(g, CC_HOOK_V, l, g->dv, err))
        return -1;
    if (g->opts->split_inputs && split_qkv_t(g, l, x, err)) return -1;
    /* the queries and keys read xn (+ W_pos on a shortformer model), the values xn */
    float *dqk = shortformer ? g->dxqk : g->dxn;
    memset(g->dxn, 0, Rd * sizeof *g->dxn);
    if (shortformer) memset(g->dxqk, 0, Rd * sizeof *g->dxqk);
    g->k->heads_t(g->dq, g->R, H, dh, w->W_Q + l * Wl, 1, d, dqk);
    g->k->heads_t(g->dk, g->R, K, dh, w->W_K + l * Wl, g->group, d, dqk);
    if (shortformer)
        for (size_t i = 0; i < Rd; i++) g->dpe[i] += g->dxqk[i], g->dxn[i] += g->dxqk[i];
    g->k->heads_t(g->dv, g->R, K, dh, w->W_V + l * Wl, g->group, d, g->dxn);
    norm_t(c, x, g->R, at_layer(w->ln1_w, l, d), g->dxn, g->dx, g->norm_ws);
    return 0;
}

/* Block L in reverse: g->dx holds d / d resid_post on entry, d / d resid_pre on exit. */
static int block_t(grad_pass *g, int l, cc_error *err)
{
    const cc_config *c = g->c;
    size_t Rd = g->R * c->d_model;
    const float *pre = g->f.act[CC_HOOK_RESID_PRE][l];
    if (emit(g, CC_HOOK_RESID_POST, l, g->dx, err)) return -1;
    memcpy(g->dout, g->dx, Rd * sizeof *g->dout);
    if (c->attn_only) {
        if (emit(g, CC_HOOK_ATTN_OUT, l, g->dout, err) || attention_t(g, l, pre, g->dout, err)) return -1;
    } else if (c->parallel) { /* attention and MLP both read resid_pre and add to resid_post */
        if (emit(g, CC_HOOK_MLP_OUT, l, g->dout, err) || emit(g, CC_HOOK_ATTN_OUT, l, g->dout, err) ||
            mlp_t(g, l, pre, g->dout, err) || attention_t(g, l, pre, g->dout, err))
            return -1;
    } else {
        if (emit(g, CC_HOOK_MLP_OUT, l, g->dout, err) ||
            mlp_t(g, l, g->f.act[CC_HOOK_RESID_MID][l], g->dout, err) || emit(g, CC_HOOK_RESID_MID, l, g->dx, err))
            return -1;
        memcpy(g->dout, g->dx, Rd * sizeof *g->dout);
        if (emit(g, CC_HOOK_ATTN_OUT, l, g->dout, err) || attention_t(g, l, pre, g->dout, err)) return -1;
    }
    return emit(g, CC_HOOK_RESID_PRE, l, g->dx, err);
}

/* ------------------------------------------------------------------ the pass */

static int alloc_buffers(grad_pass *g, cc_error *err)
{
    const cc_config *c = g->c;
    size_t R = g->R, d = (size_t)c->d_model, HD = (size_t)g->H * g->dh, KD = (size_t)g->K * g->dh;
    size_t M = c->attn_only ? 0 : (size_t)c->d_mlp, P = (size_t)g->B * g->H * g->T * g->T;
    bool ok = (g->dx = gp_alloc(g, R * d)) && (g->dout = gp_alloc(g, R * d)) && (g->dxn = gp_alloc(g, R * d)) &&
              (g->dz = gp_alloc(g, R * HD)) && (g->dq = gp_alloc(g, R * HD)) && (g->dk = gp_alloc(g, R * KD)) &&
              (g->dv = gp_alloc(g, R * KD)) && (g->dpat = gp_alloc(g, P)) &&
              (g->norm_ws = malloc(2 * d * sizeof *g->norm_ws));
    if (ok && M) ok = (g->dmlp = gp_alloc(g, R * M)) && (!c->gated || (g->dlin = gp_alloc(g, R * M)));
    if (ok && c->pos == CC_POS_SHORTFORMER) ok = (g->dxqk = gp_alloc(g, R * d)) && (g->dpe = gp_alloc(g, R * d));
    if (ok && c->pos == CC_POS_ROTARY) {
        size_t n = (size_t)g->T * c->rotary_dim;
        ok = (g->rot_nsin = gp_alloc(g, n)) && (g->rot_cos = gp_alloc(g, n)) &&
             (g->rot_tmp = gp_alloc(g, (size_t)c->rotary_dim));
        if (ok) {
            cc_rotary_table(c, g->T, g->rot_nsin, g->rot_cos);
            for (size_t i = 0; i < n; i++) g->rot_nsin[i] = -g->rot_nsin[i];
        }
    }
    return ok ? 0 : cc_fail_code(err, CC_E_NOMEM, "out of memory for the backward pass (%zu rows)", R);
}

static void free_buffers(grad_pass *g)
{
    float **bufs[] = {&g->dx, &g->dout, &g->dxn, &g->dxqk, &g->dpe, &g->dz, &g->dq, &g->dk, &g->dv, &g->dpat,
                      &g->dmlp, &g->dlin, &g->rot_nsin, &g->rot_cos, &g->rot_tmp};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(*bufs[i]), *bufs[i] = NULL;
    free(g->norm_ws), g->norm_ws = NULL;
}

/* The forward pass: saves what the backward pass reads (and the wanted
 * activations with keep_acts) and counts them as held. */
/* The forward pass's hook: opts->embed in place of hook_embed. */
static int embed_override(void *ctx, cc_hook_kind kind, int layer, float *act, const cc_act_shape *shape,
                          cc_error *err)
{
    (void)layer, (void)err;
    if (kind == CC_HOOK_EMBED) memcpy(act, ((const grad_pass *)ctx)->opts->embed, shape->numel * sizeof *act);
    return 0;
}

static int forward(grad_pass *g, cc_error *err)
{
    const cc_config *c = g->c;
    cc_fwd_opts fo = {.kernel = g->opts->kernel, .skip_unembed = true,
                      .hook = g->opts->embed ? embed_override : NULL, .hook_ctx = g};
    for (int k = 0; k < CC_HOOK_COUNT; k++) {
        if (g->opts->keep_acts) fo.cache[k] = g->opts->want[k];
        for (int l = 0; l < c->n_layers; l++)
            if (cc_hook_per_layer((cc_hook_kind)k) && saved(c, (cc_hook_kind)k, l)) fo.cache[k] |= (uint64_t)1 << l;
    }
    if (fo.cache[CC_HOOK_LOGITS]) fo.skip_unembed = false;
    if (cc_forward(g->m, g->tokens, g->B, g->T, &fo, &g->f, err) != 0) return -1;
    for (int k = 0; k < CC_HOOK_COUNT; k++)
        for (int l = 0; l < CC_FWD_MAX_LAYERS; l++)
            if (g->f.act[k][l]) g->held += hook_numel(g, (cc_hook_kind)k) * sizeof(float);
    g->peak = g->held;
    return 0;
}

void cc_grad_want(cc_grad_opts *opts, cc_hook_kind k, int layer)
{
    if (!opts) return;
    CC_ARG_ENUM(k, CC_HOOK_COUNT, NULL, );
    if (!cc_hook_per_layer(k)) opts->want[k] |= 1;
    else if (layer < 0) opts->want[k] = ~(uint64_t)0;
    else opts->want[k] |= (uint64_t)1 << layer;
}

float *cc_grad_of(const cc_grad_result *res, cc_hook_kind k, int layer)
{
    CC_ARG_NOT_NULL(res, NULL, NULL);
    CC_ARG_ENUM(k, CC_HOOK_COUNT, NULL, NULL);
    int l = cc_hook_per_layer(k) ? layer : 0;
    if (l < 0 || l >= CC_FWD_MAX_LAYERS) return NULL;
    return res->grad[k][l];
}

void cc_grad_result_free(cc_grad_result *res)
{
    if (!res) return;
    for (int k = 0; k < CC_HOOK_COUNT; k++)
        for (int l = 0; l < CC_FWD_MAX_LAYERS; l++) free(res->grad[k][l]), free(res->act[k][l]);
    for (int l = 0; l < CC_FWD_MAX_LAYERS; l++)
        free(res->qkv_input[0][l]), free(res->qkv_input[1][l]), free(res->qkv_input[2][l]), free(res->mlp_input[l]);
    memset(res, 0, sizeof *res);
}

const char *cc_grad_metric_name(cc_grad_metric_kind kind)
{
    CC_ARG_ENUM(kind, CC_GRAD_METRIC_COUNT, NULL, "?");
    static const char *const names[CC_GRAD_METRIC_COUNT] = {"logit_diff", "loss", "kl"};
    return names[kind];
}

/* Refuses a wanted hook the model does not have, naming it. */
static int check_want(const cc_config *c, const cc_grad_opts *opts, cc_error *err)
{
    for (int k = 0; k < CC_HOOK_COUNT; k++)
        if (opts->want[k] && cc_hook_check(c, (cc_hook_kind)k, -1, err) != 0) return -1;
    return 0;
}

int cc_backward(const cc_model *m, const int *tokens, int batch, int pos, const cc_grad_metric *metric,
                const cc_grad_opts *opts, cc_grad_result *res, cc_error *err)
{
    CC_PAR_CALL(opts ? opts->threads : 0);
    CC_ARG_NOT_NULL(m, err, -1);
    CC_ARG_NOT_NULL(tokens, err, -1);
    CC_ARG_NOT_NULL(metric, err, -1);
    CC_ARG_ENUM(metric->kind, CC_GRAD_METRIC_COUNT, err, -1);
    CC_ARG_NOT_NULL(opts, err, -1);
    CC_ARG_ENUM(opts->kernel, CC_KERNEL_REF + 1, err, -1);
    CC_ARG_NOT_NULL(res, err, -1);
    memset(res, 0, sizeof *res);
    const cc_config *c = &m->cfg;
    if (check_want(c, opts, err) != 0 || check_metric(c, metric, batch, pos, err) != 0) return -1;
    grad_pass g = {.m = m, .c = c, .fwd = opts->kernel == CC_KERNEL_REF ? &cc_ref_kernel : &cc_fast_kernel,
                   .k = opts->kernel == CC_KERNEL_REF ? &cc_grad_ref_kernel : &cc_grad_fast_kernel,
                   .tokens = tokens, .B = batch, .T = pos, .R = (size_t)batch * pos, .H = c->n_heads,
                   .K = cc_config_kv_heads(c), .dh = c->d_head, .metric = metric, .opts = opts, .res = res};
    g.group = g.H / g.K;
    res->batch = batch, res->pos = pos, res->n_layers = c->n_layers;
    int rc = -1, saved_threads = g.k->begin();
    if (forward(&g, err) != 0 || alloc_buffers(&g, err) != 0 || unembed_t(&g, err) != 0) goto out;
    for (int l = c->n_layers - 1; l >= 0; l--) {
        if (block_t(&g, l, err) != 0) goto out;
        release_block(&g, l);
    }
    if (emit(&g, CC_HOOK_EMBED, 0, g.dx, err) != 0) goto out;
    if (c->pos != CC_POS_ROTARY && emit(&g, CC_HOOK_POS_EMBED, 0, c->pos == CC_POS_SHORTFORMER ? g.dpe : g.dx, err))
        goto out;
    if (opts->keep_acts)
        for (int k = 0; k < CC_HOOK_COUNT; k++)
            for (int l = 0; l < CC_FWD_MAX_LAYERS; l++)
                if (wanted(opts, (cc_hook_kind)k, l) && (cc_hook_per_layer((cc_hook_kind)k) || l == 0))
                    res->act[k][l] = g.f.act[k][l], g.f.act[k][l] = NULL;
    res->peak_bytes = g.peak;
    rc = 0;
out:
    g.k->end(saved_threads);
    free_buffers(&g);
    cc_fwd_result_free(&g.f);
    return rc;
}

int cc_grad_metric_eval(const cc_model *m, const int *tokens, int batch, int pos, const cc_grad_metric *metric,
                   const float *logits, double *value, cc_error *err)
{
    CC_ARG_NOT_NULL(m, err, -1);
    CC_ARG_NOT_NULL(tokens, err, -1);
    CC_ARG_NOT_NULL(metric, err, -1);
    CC_ARG_ENUM(metric->kind, CC_GRAD_METRIC_COUNT, err, -1);
    CC_ARG_NOT_NULL(logits, err, -1);
    CC_ARG_NOT_NULL(value, err, -1);
    const cc_config *c = &m->cfg;
    if (batch < 1 || pos < 1) return cc_fail(err, "metric: batch (%d) and positions (%d) must be at least 1", batch, pos);
    if (check_metric(c, metric, batch, pos, err) != 0) return -1;
    size_t *row = malloc((size_t)batch * pos * sizeof *row);
    if (!row) return cc_fail_code(err, CC_E_NOMEM, "out of memory");
    int n = metric_rows(metric, batch, pos, row);
    *value = 0;
    for (int i = 0; i < n; i++)
        metric_row(metric, tokens, batch, pos, c->d_vocab, row[i], logits + row[i] * c->d_vocab, value, NULL);
    free(row);
    return 0;
}

int cc_grad_metric_logprobs(const cc_model *m, const int *tokens, int batch, int pos, const int *position,
                       cc_kernel kernel, float *out, cc_error *err)
{
    CC_ARG_NOT_NULL(m, err, -1);
    CC_ARG_NOT_NULL(tokens, err, -1);
    CC_ARG_ENUM(kernel, CC_KERNEL_REF + 1, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    const cc_config *c = &m->cfg;
    cc_fwd_opts fo = {.kernel = kernel, .skip_unembed = true};
    cc_fwd_want(&fo, CC_HOOK_RESID_POST, c->n_layers - 1);
    cc_fwd_result f;
    if (cc_forward(m, tokens, batch, pos, &fo, &f, err) != 0) {
        cc_fwd_result_free(&f);
        return -1;
    }
    size_t d = (size_t)c->d_model, V = (size_t)c->d_vocab;
    size_t *row = calloc((size_t)batch, sizeof *row);
    float *xg = malloc((size_t)batch * d * sizeof *xg), *xn = malloc((size_t)batch * d * sizeof *xn);
    int rc = -1;
    if (!row || !xg || !xn) {
        cc_fail_code(err, CC_E_NOMEM, "out of memory");
        goto out;
    }
    cc_grad_metric where = {.kind = CC_GRAD_KL, .position = position};
    for (int b = 0; b < batch; b++) {
        int p = metric_pos(&where, b, pos);
        if (p < 0 || p >= pos) {
            cc_fail(err, "metric: position %d of row %d is outside the sequence (length %d)", position[b], b, pos);
            goto out;
        }
        row[b] = (size_t)b * pos + p;
    }
    rows_logits(m, kernel == CC_KERNEL_REF ? &cc_ref_kernel : &cc_fast_kernel,
                f.act[CC_HOOK_RESID_POST][c->n_layers - 1], row, batch, xg, xn, out);
    for (int b = 0; b < batch; b++) {
        float *lg = out + (size_t)b * V;
        double mx = -INFINITY, sum = 0;
        for (size_t v = 0; v < V; v++) mx = lg[v] > mx ? lg[v] : mx;
        for (size_t v = 0; v < V; v++) sum += exp((double)lg[v] - mx);
        double lse = mx + log(sum);
        for (size_t v = 0; v < V; v++) lg[v] = (float)((double)lg[v] - lse);
    }
    rc = 0;
out:
    free(row), free(xg), free(xn);
    cc_fwd_result_free(&f);
    return rc;
}
