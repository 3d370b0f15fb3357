/* forward.c — GPT-2 forward pass (TransformerLens semantics) with hooks, a
 * cache, and causal resumption (see include/circuitc/forward.h).
 *
 * Dimension letters: B batch, T pos, H n_heads, dh d_head, d d_model,
 * m d_mlp, V d_vocab, R stacked rows (B*T for a full pass; the sum of segment
 * lengths when resuming). Every block works on R stacked rows described by a
 * list of segments; a full pass is B segments [0, T), so its stacked buffers are
 * exactly TransformerLens' [B, T, ...] layouts. Each step has a fast kernel
 * (sgemm) and a reference kernel (naive loops, float64 dot products). */
#include "circuitc/forward.h"

#include <assert.h>
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ hook names */

static const char *const HOOK_SUFFIX[CC_HOOK_COUNT] = {
    [CC_HOOK_EMBED] = "hook_embed",
    [CC_HOOK_POS_EMBED] = "hook_pos_embed",
    [CC_HOOK_RESID_PRE] = "hook_resid_pre",
    [CC_HOOK_Q] = "attn.hook_q",
    [CC_HOOK_K] = "attn.hook_k",
    [CC_HOOK_V] = "attn.hook_v",
    [CC_HOOK_ATTN_SCORES] = "attn.hook_attn_scores",
    [CC_HOOK_PATTERN] = "attn.hook_pattern",
    [CC_HOOK_Z] = "attn.hook_z",
    [CC_HOOK_ATTN_OUT] = "hook_attn_out",
    [CC_HOOK_RESID_MID] = "hook_resid_mid",
    [CC_HOOK_MLP_PRE] = "mlp.hook_pre",
    [CC_HOOK_MLP_POST] = "mlp.hook_post",
    [CC_HOOK_MLP_OUT] = "hook_mlp_out",
    [CC_HOOK_RESID_POST] = "hook_resid_post",
    [CC_HOOK_LN_FINAL] = "ln_final.hook_normalized",
    [CC_HOOK_LOGITS] = "logits",
};

bool cc_hook_per_layer(cc_hook_kind k)
{
    return k != CC_HOOK_EMBED && k != CC_HOOK_POS_EMBED && k != CC_HOOK_LN_FINAL && k != CC_HOOK_LOGITS;
}

const char *cc_hook_name(cc_hook_kind k, int layer, char *buf, size_t size)
{
    assert(k >= 0 && k < CC_HOOK_COUNT);
    if (cc_hook_per_layer(k)) snprintf(buf, size, "blocks.%d.%s", layer, HOOK_SUFFIX[k]);
    else snprintf(buf, size, "%s", HOOK_SUFFIX[k]);
    return buf;
}

int cc_hook_parse(const char *name, const cc_config *cfg, cc_hook_kind *k, int *layer, cc_error *err)
{
    for (int i = 0; i < CC_HOOK_COUNT; i++) {
        if (!cc_hook_per_layer((cc_hook_kind)i) && strcmp(name, HOOK_SUFFIX[i]) == 0) {
            *k = (cc_hook_kind)i, *layer = -1;
            return 0;
        }
    }
    int l = -1, n = 0;
    if (sscanf(name, "blocks.%d.%n", &l, &n) == 1 && n > 0 && l >= 0) {
        for (int i = 0; i < CC_HOOK_COUNT; i++) {
            if (cc_hook_per_layer((cc_hook_kind)i) && strcmp(name + n, HOOK_SUFFIX[i]) == 0) {
                if (cfg && l >= cfg->n_layers)
                    return cc_fail(err, "hook \"%s\": layer %d is out of range (this model has layers 0..%d)", name,
                                   l, cfg->n_layers - 1);
                *k = (cc_hook_kind)i, *layer = l;
                return 0;
            }
        }
    }
    return cc_fail(err, "unknown hook \"%s\": use a TransformerLens name such as blocks.0.attn.hook_pattern, "
                        "blocks.1.hook_mlp_out, hook_embed or ln_final.hook_normalized", name);
}

cc_act_shape cc_hook_shape(const cc_config *c, cc_hook_kind k, int batch, int pos)
{
    cc_act_shape s = {.ndim = 3, .dim = {batch, pos, c->d_model, 0}};
    switch (k) {
    case CC_HOOK_Q: case CC_HOOK_K: case CC_HOOK_V: case CC_HOOK_Z:
        s.ndim = 4, s.dim[2] = c->n_heads, s.dim[3] = c->d_head;
        break;
    case CC_HOOK_ATTN_SCORES: case CC_HOOK_PATTERN:
        s.ndim = 4, s.dim[1] = c->n_heads, s.dim[2] = pos, s.dim[3] = pos;
        break;
    case CC_HOOK_MLP_PRE: case CC_HOOK_MLP_POST: s.dim[2] = c->d_mlp; break;
    case CC_HOOK_LOGITS: s.dim[2] = c->d_vocab; break;
    default: break;
    }
    s.numel = 1;
    for (int i = 0; i < s.ndim; i++) s.numel *= (size_t)s.dim[i];
    return s;
}

void cc_fwd_want(cc_fwd_opts *opts, cc_hook_kind k, int layer)
{
    if (!cc_hook_per_layer(k)) opts->cache[k] |= 1;
    else if (layer < 0) opts->cache[k] = ~(uint64_t)0;
    else opts->cache[k] |= (uint64_t)1 << layer;
}

float *cc_fwd_act(const cc_fwd_result *res, cc_hook_kind k, int layer)
{
    int l = cc_hook_per_layer(k) ? layer : 0;
    if (l < 0 || l >= CC_FWD_MAX_LAYERS) return NULL;
    return res->act[k][l];
}

void cc_fwd_result_free(cc_fwd_result *res)
{
    for (int k = 0; k < CC_HOOK_COUNT; k++)
        for (int l = 0; l < CC_FWD_MAX_LAYERS; l++) free(res->act[k][l]);
    free(res->logprob);
    free(res->argmax);
    memset(res, 0, sizeof *res);
}

/* ------------------------------------------------------------------ kernels */

/* out[r, j] = sum_i x[r, i] W[i, j] + b[j] for r < R, j < n.
 * x: [R, k] (row stride k); W: [k, n] (row stride ldw); b: [n] or NULL;
 * out: [R, n] (row stride ldo). */
static void linear_fast(const float *x, int R, int k, const float *W, int ldw, const float *b, int n, float *out,
                        int ldo)
{
    if (R == 0) return;
    if (b)
        for (int r = 0; r < R; r++) memcpy(out + (size_t)r * ldo, b, (size_t)n * sizeof *b);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, R, n, k, 1.0f, x, k, W, ldw, b ? 1.0f : 0.0f, out, ldo);
}

static void linear_ref(const float *x, int R, int k, const float *W, int ldw, const float *b, int n, float *out,
                       int ldo)
{
    for (int r = 0; r < R; r++)
        for (int j = 0; j < n; j++) {
            double acc = 0;
            for (int i = 0; i < k; i++) acc += (double)x[(size_t)r * k + i] * W[(size_t)i * ldw + j];
            out[(size_t)r * ldo + j] = (float)acc + (b ? b[j] : 0.0f);
        }
}

static void linear(cc_kernel kern, const float *x, int R, int k, const float *W, int ldw, const float *b, int n,
                   float *out, int ldo)
{
    if (kern == CC_KERNEL_REF) linear_ref(x, R, k, W, ldw, b, n, out, ldo);
    else linear_fast(x, R, k, W, ldw, b, n, out, ldo);
}

/* LayerNorm over the last axis of x [R, d] into out [R, d]:
 * centre, divide by sqrt(mean(x^2) + eps), then *w + b when W is not NULL
 * (unprocessed model). Means in float64. Shared by both kernels. */
static void layernorm(const float *x, int R, int d, const float *w, const float *b, double eps, float *out)
{
    for (int r = 0; r < R; r++) {
        const float *xr = x + (size_t)r * d;
        float *o = out + (size_t)r * d;
        double s = 0;
        for (int i = 0; i < d; i++) s += xr[i];
        float mean = (float)(s / d);
        double ss = 0;
        for (int i = 0; i < d; i++) {
            o[i] = xr[i] - mean;
            ss += (double)o[i] * o[i];
        }
        float scale = (float)sqrt(ss / d + eps);
        for (int i = 0; i < d; i++) o[i] /= scale;
        if (w)
            for (int i = 0; i < d; i++) o[i] = o[i] * w[i] + b[i];
    }
}

/* gelu_new, elementwise on n values, in place:
 * 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3), evaluated as the
 * identical x / (1 + exp(-2u)) (one expf instead of tanhf's expm1f; accurate
 * in relative terms for every x, -0 for very negative x). */
static void gelu_new(float *x, size_t n)
{
    const float c = (float)sqrt(2.0 / M_PI);
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        float u = c * (v + 0.044715f * (v * v * v));
        x[i] = v / (1.0f + expf(-2.0f * u));
    }
}

/* The textbook form, for the reference kernel. */
static void gelu_new_ref(float *x, size_t n)
{
    const float c = (float)sqrt(2.0 / M_PI);
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        x[i] = 0.5f * v * (1.0f + tanhf(c * (v + 0.044715f * (v * v * v))));
    }
}

/* ------------------------------------------------------------------ a run */

typedef struct {
    const cc_model *m;
    const cc_config *c;
    cc_kernel kern;
    const int *tokens;           /* [batch, pos] */
    int batch, pos;
    const cc_segment *seg;
    int n_seg;
    size_t *row_off;             /* [n_seg] first stacked row of each segment */
    size_t *sc_off;              /* [n_seg] offset of each segment's scores block */
    size_t R, n_scores;
    const cc_fwd_result *clean;  /* resume mode: prefix keys/values; NULL in a full pass */
    const cc_fwd_opts *opts;     /* full pass only */
    cc_fwd_result *res;          /* full pass only */
    /* workspace */
    float *xn;                   /* [R, d] normalised residual */
    float *q, *k, *v, *z;        /* [R, H, dh] */
    float *scores;               /* per segment s, head h: [end_s - start_s, end_s]; full pass: [B, H, T, T] */
    float *attn_out;             /* [R, d] */
    float *mlp;                  /* [R, m] pre, then post (gelu in place when no hook needs both) */
    float *mlp_out;              /* [R, d] */
    float *wqkv;                 /* [d, H*dh]: one of W_Q/W_K/W_V of a layer, heads side by side */
} run;

/* Hook point: calls the edit callback, then keeps a copy when cached. */
static int at(run *r, cc_hook_kind k, int layer, float *act, cc_error *err)
{
    if (!r->opts) return 0;
    cc_act_shape s = cc_hook_shape(r->c, k, r->batch, r->pos);
    if (r->opts->hook && r->opts->hook(r->opts->hook_ctx, k, cc_hook_per_layer(k) ? layer : -1, act, &s, err) != 0)
        return -1;
    int l = cc_hook_per_layer(k) ? layer : 0;
    if (r->opts->cache[k] & ((uint64_t)1 << l)) {
        float *copy = malloc(s.numel * sizeof *copy);
        if (!copy) return cc_fail(err, "out of memory caching %s (%zu floats)", HOOK_SUFFIX[k], s.numel);
        memcpy(copy, act, s.numel * sizeof *copy);
        free(r->res->act[k][l]);
        r->res->act[k][l] = copy;
    }
    return 0;
}

/* Attention scores q.k / sqrt(dh) of block L for every segment and head, with
 * the causal mask (-inf where key position > query position). Keys of rows
 * before a segment's start come from the clean run. */
static void attn_scores(run *r, int l)
{
    const cc_config *c = r->c;
    int H = c->n_heads, dh = c->d_head, HD = H * dh;
    float scale = sqrtf((float)dh);
    for (int s = 0; s < r->n_seg; s++) {
        const cc_segment *g = &r->seg[s];
        int n = g->end - g->start, e = g->end, p = g->start;
        if (n == 0) continue;
        const float *ck = p > 0 ? r->clean->act[CC_HOOK_K][l] + (size_t)g->seq * r->pos * HD : NULL; /* [T, H, dh] */
        for (int h = 0; h < H; h++) {
            float *S = r->scores + r->sc_off[s] + (size_t)h * n * e; /* [n, e] */
            const float *q = r->q + r->row_off[s] * HD + h * dh;     /* [n, dh], row stride HD */
            const float *k = r->k + r->row_off[s] * HD + h * dh;     /* [n, dh], row stride HD */
            if (r->kern == CC_KERNEL_FAST) {
                if (p > 0)
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, p, dh, 1.0f, q, HD, ck + h * dh, HD, 0.0f,
                                S, e);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, dh, 1.0f, q, HD, k, HD, 0.0f, S + p, e);
            } else {
                for (int i = 0; i < n; i++)
                    for (int j = 0; j < e; j++) {
                        const float *kj = j < p ? ck + (size_t)j * HD + h * dh : k + (size_t)(j - p) * HD;
                        double acc = 0;
                        for (int t = 0; t < dh; t++) acc += (double)q[(size_t)i * HD + t] * kj[t];
                        S[(size_t)i * e + j] = (float)acc;
                    }
            }
            for (int i = 0; i < n; i++)
                for (int j = 0; j < e; j++)
                    S[(size_t)i * e + j] = j > p + i ? -INFINITY : S[(size_t)i * e + j] / scale;
        }
    }
}

/* Softmax over the last axis of every scores row, in place (masked -> 0;
 * a row that is all -inf becomes 0, like TransformerLens' nan -> 0). */
static void softmax_rows(run *r)
{
    for (int s = 0; s < r->n_seg; s++) {
        int n = r->seg[s].end - r->seg[s].start, e = r->seg[s].end;
        for (size_t row = 0; row < (size_t)r->c->n_heads * n; row++) {
            float *x = r->scores + r->sc_off[s] + row * e;
            float mx = -INFINITY;
            for (int j = 0; j < e; j++) mx = x[j] > mx ? x[j] : mx;
            if (mx == -INFINITY) {
                memset(x, 0, (size_t)e * sizeof *x);
                continue;
            }
            double sum = 0;
            for (int j = 0; j < e; j++) {
                x[j] = expf(x[j] - mx);
                sum += x[j];
            }
            for (int j = 0; j < e; j++) x[j] = (float)(x[j] / sum);
        }
    }
}

/* z[row, h] = sum_j pattern[h, i, j] v[j, h] (values of rows before a segment's
 * start from the clean run). */
static void attn_z(run *r, int l)
{
    const cc_config *c = r->c;
    int H = c->n_heads, dh = c->d_head, HD = H * dh;
    for (int s = 0; s < r->n_seg; s++) {
        const cc_segment *g = &r->seg[s];
        int n = g->end - g->start, e = g->end, p = g->start;
        if (n == 0) continue;
        const float *cv = p > 0 ? r->clean->act[CC_HOOK_V][l] + (size_t)g->seq * r->pos * HD : NULL; /* [T, H, dh] */
        for (int h = 0; h < H; h++) {
            const float *P = r->scores + r->sc_off[s] + (size_t)h * n * e; /* [n, e] */
            const float *v = r->v + r->row_off[s] * HD + h * dh;           /* [n, dh], stride HD */
            float *z = r->z + r->row_off[s] * HD + h * dh;                 /* [n, dh], stride HD */
            if (r->kern == CC_KERNEL_FAST) {
                if (p > 0)
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, dh, p, 1.0f, P, e, cv + h * dh, HD, 0.0f,
                                z, HD);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, dh, n, 1.0f, P + p, e, v, HD,
                            p > 0 ? 1.0f : 0.0f, z, HD);
            } else {
                for (int i = 0; i < n; i++)
                    for (int t = 0; t < dh; t++) {
                        double acc = 0;
                        for (int j = 0; j < e; j++) {
                            const float *vj = j < p ? cv + (size_t)j * HD + h * dh : v + (size_t)(j - p) * HD;
                            acc += (double)P[(size_t)i * e + j] * vj[t];
                        }
                        z[(size_t)i * HD + t] = (float)acc;
                    }
            }
        }
    }
}

/* One transformer block L on the stacked residual x [R, d], in place. */
static int block(run *r, int l, float *x, cc_error *err)
{
    const cc_config *c = r->c;
    const cc_weights *w = &r->m->w;
    int d = c->d_model, H = c->n_heads, dh = c->d_head, HD = H * dh, M = c->d_mlp;
    int R = (int)r->R;
    size_t Rd = r->R * d;
    if (at(r, CC_HOOK_RESID_PRE, l, x, err)) return -1;
    /* attention */
    layernorm(x, R, d, w->ln1_w ? w->ln1_w + (size_t)l * d : NULL, w->ln1_b ? w->ln1_b + (size_t)l * d : NULL,
              c->ln_eps, r->xn);
    const float *Wq[3] = {w->W_Q, w->W_K, w->W_V}, *bq[3] = {w->b_Q, w->b_K, w->b_V};
    float *outs[3] = {r->q, r->k, r->v};
    for (int t = 0; t < 3; t++) {
        const float *W = Wq[t] + (size_t)l * H * d * dh; /* [H, d, dh] */
        const float *bias = bq[t] + (size_t)l * HD;      /* [H, dh] == [H*dh] */
        if (r->kern == CC_KERNEL_REF) { /* head by head, straight from the TransformerLens layout */
            for (int h = 0; h < H; h++)
                linear_ref(r->xn, R, d, W + (size_t)h * d * dh, dh, bias + h * dh, dh, outs[t] + h * dh, HD);
        } else { /* one GEMM with N = H*dh: the weights rearranged to [d, H*dh] */
            for (int h = 0; h < H; h++)
                for (int k = 0; k < d; k++)
                    memcpy(r->wqkv + (size_t)k * HD + h * dh, W + ((size_t)h * d + k) * dh, (size_t)dh * sizeof(float));
            linear_fast(r->xn, R, d, r->wqkv, HD, bias, HD, outs[t], HD);
        }
    }
    if (at(r, CC_HOOK_Q, l, r->q, err) || at(r, CC_HOOK_K, l, r->k, err) || at(r, CC_HOOK_V, l, r->v, err)) return -1;
    attn_scores(r, l);
    if (at(r, CC_HOOK_ATTN_SCORES, l, r->scores, err)) return -1;
    softmax_rows(r);
    if (at(r, CC_HOOK_PATTERN, l, r->scores, err)) return -1;
    attn_z(r, l);
    if (at(r, CC_HOOK_Z, l, r->z, err)) return -1;
    linear(r->kern, r->z, R, HD, w->W_O + (size_t)l * HD * d, d, w->b_O + (size_t)l * d, d, r->attn_out, d);
    if (at(r, CC_HOOK_ATTN_OUT, l, r->attn_out, err)) return -1;
    for (size_t i = 0; i < Rd; i++) x[i] += r->attn_out[i];
    if (at(r, CC_HOOK_RESID_MID, l, x, err)) return -1;
    /* MLP */
    layernorm(x, R, d, w->ln2_w ? w->ln2_w + (size_t)l * d : NULL, w->ln2_b ? w->ln2_b + (size_t)l * d : NULL,
              c->ln_eps, r->xn);
    linear(r->kern, r->xn, R, d, w->W_in + (size_t)l * d * M, M, w->b_in + (size_t)l * M, M, r->mlp, M);
    if (at(r, CC_HOOK_MLP_PRE, l, r->mlp, err)) return -1;
    if (r->kern == CC_KERNEL_REF) gelu_new_ref(r->mlp, r->R * M);
    else gelu_new(r->mlp, r->R * M);
    if (at(r, CC_HOOK_MLP_POST, l, r->mlp, err)) return -1;
    linear(r->kern, r->mlp, R, M, w->W_out + (size_t)l * M * d, d, w->b_out + (size_t)l * d, d, r->mlp_out, d);
    if (at(r, CC_HOOK_MLP_OUT, l, r->mlp_out, err)) return -1;
    for (size_t i = 0; i < Rd; i++) x[i] += r->mlp_out[i];
    if (at(r, CC_HOOK_RESID_POST, l, x, err)) return -1;
    return 0;
}

/* Log-prob of TARGET and argmax of one logits row [V] (float64 reduction). */
static void row_stats(const float *lg, int V, int target, double *lp, int *amax)
{
    int best = 0;
    for (int v = 1; v < V; v++)
        if (lg[v] > lg[best]) best = v;
    if (amax) *amax = best;
    if (!lp) return;
    float mx = lg[best];
    double sum = 0; /* float terms (expf of a value <= 0), float64 sum */
    for (int v = 0; v < V; v++) sum += expf(lg[v] - mx);
    *lp = target < 0 ? NAN : ((double)lg[target] - mx) - log(sum);
}

/* Final LayerNorm and unembedding of x [R, d]: hooks, optional full logits,
 * next-token log-probs LP [R] and argmax AMAX [R] (either may be NULL). The
 * logits are computed CHUNK rows at a time unless they are cached. */
static int unembed(run *r, float *x, double *lp, int *amax, cc_error *err)
{
    const cc_config *c = r->c;
    const cc_weights *w = &r->m->w;
    int d = c->d_model, V = c->d_vocab;
    layernorm(x, (int)r->R, d, w->lnf_w, w->lnf_b, c->ln_eps, r->xn);
    if (at(r, CC_HOOK_LN_FINAL, 0, r->xn, err)) return -1;
    bool full = r->opts && (r->opts->cache[CC_HOOK_LOGITS] & 1);
    /* unembedding chunk: enough rows that W_U [d, V] is streamed from memory
     * rarely, with the chunk's logits at most about 64 MB */
    size_t chunk = full ? r->R : (size_t)(16 << 20) / (size_t)V;
    if (chunk < 32) chunk = 32;
    if (chunk > r->R) chunk = r->R;
    float *lg = malloc((chunk ? chunk : 1) * V * sizeof *lg); /* [chunk, V] */
    if (!lg) return cc_fail(err, "out of memory for logits (%zu x %d floats)", chunk, V);
    /* chunks run over the stacked rows, across segment boundaries */
    int s = 0;
    for (size_t r0 = 0; r0 < r->R; r0 += chunk) {
        size_t n = r->R - r0 < chunk ? r->R - r0 : chunk;
        float *out = full ? lg + r0 * V : lg; /* [n, V] */
        linear(r->kern, r->xn + r0 * d, (int)n, d, w->W_U, V, w->b_U, V, out, V);
        for (size_t i = 0; i < n && (lp || amax); i++) {
            size_t rr = r0 + i;
            while (rr >= r->row_off[s] + (size_t)(r->seg[s].end - r->seg[s].start)) s++;
            const cc_segment *g = &r->seg[s];
            int t = g->start + (int)(rr - r->row_off[s]);
            int target = t + 1 < r->pos ? r->tokens[(size_t)g->seq * r->pos + t + 1] : -1;
            row_stats(out + i * V, V, target, lp ? lp + rr : NULL, amax ? amax + rr : NULL);
        }
    }
    int rc = full ? at(r, CC_HOOK_LOGITS, 0, lg, err) : 0;
    free(lg);
    return rc;
}

static void run_free(run *r)
{
    free(r->row_off), free(r->sc_off), free(r->xn), free(r->q), free(r->k), free(r->v), free(r->z);
    free(r->scores), free(r->attn_out), free(r->mlp), free(r->mlp_out), free(r->wqkv);
}

/* Lays out the segments and allocates the workspace. */
static int run_init(run *r, cc_error *err)
{
    const cc_config *c = r->c;
    r->row_off = calloc((size_t)r->n_seg + 1, sizeof *r->row_off);
    r->sc_off = calloc((size_t)r->n_seg + 1, sizeof *r->sc_off);
    if (!r->row_off || !r->sc_off) return cc_fail(err, "out of memory");
    r->R = r->n_scores = 0;
    for (int s = 0; s < r->n_seg; s++) {
        size_t n = (size_t)(r->seg[s].end - r->seg[s].start);
        r->row_off[s] = r->R, r->sc_off[s] = r->n_scores;
        r->R += n;
        r->n_scores += (size_t)c->n_heads * n * (size_t)r->seg[s].end;
    }
    size_t R = r->R ? r->R : 1, d = (size_t)c->d_model;
    r->xn = malloc(R * d * sizeof(float));
    r->q = malloc(R * d * sizeof(float));
    r->k = malloc(R * d * sizeof(float));
    r->v = malloc(R * d * sizeof(float));
    r->z = malloc(R * d * sizeof(float));
    r->scores = malloc((r->n_scores ? r->n_scores : 1) * sizeof(float));
    r->attn_out = malloc(R * d * sizeof(float));
    r->mlp = malloc(R * (size_t)c->d_mlp * sizeof(float));
    r->mlp_out = malloc(R * d * sizeof(float));
    r->wqkv = malloc(d * d * sizeof(float));
    if (!r->wqkv || !r->xn || !r->q || !r->k || !r->v || !r->z || !r->scores || !r->attn_out || !r->mlp || !r->mlp_out)
        return cc_fail(err, "out of memory for the forward pass (%zu rows)", r->R);
    return 0;
}

static int check_tokens(const cc_model *m, const int *tokens, int batch, int pos, cc_error *err)
{
    const cc_config *c = &m->cfg;
    if (!m->loaded) return cc_fail(err, "forward pass: the model's weights are not loaded");
    if (c->n_layers > CC_FWD_MAX_LAYERS)
        return cc_fail(err, "forward pass: %d layers is more than the %d supported", c->n_layers, CC_FWD_MAX_LAYERS);
    if (batch < 1 || pos < 1)
        return cc_fail(err, "forward pass: batch (%d) and sequence length (%d) must be at least 1", batch, pos);
    if (pos > c->n_ctx)
        return cc_fail(err, "forward pass: sequence length %d exceeds the model's context n_ctx = %d", pos, c->n_ctx);
    for (size_t i = 0; i < (size_t)batch * pos; i++)
        if (tokens[i] < 0 || tokens[i] >= c->d_vocab)
            return cc_fail(err, "forward pass: token %d at [%zu, %zu] is outside the vocabulary [0, %d)", tokens[i],
                           i / pos, i % pos, c->d_vocab);
    return 0;
}

int cc_forward(const cc_model *m, const int *tokens, int batch, int pos, const cc_fwd_opts *opts,
               cc_fwd_result *res, cc_error *err)
{
    memset(res, 0, sizeof *res);
    if (check_tokens(m, tokens, batch, pos, err) != 0) return -1;
    const cc_config *c = &m->cfg;
    res->batch = batch, res->pos = pos, res->n_layers = c->n_layers;
    cc_segment *seg = malloc((size_t)batch * sizeof *seg);
    if (!seg) return cc_fail(err, "out of memory");
    for (int b = 0; b < batch; b++) seg[b] = (cc_segment){b, 0, pos};
    run r = {.m = m, .c = c, .kern = opts->kernel, .tokens = tokens, .batch = batch, .pos = pos, .seg = seg,
             .n_seg = batch, .opts = opts, .res = res};
    int d = c->d_model, rc = -1;
    float *x = NULL, *pe = NULL;
    if (run_init(&r, err) != 0) goto out;
    size_t R = r.R;
    x = malloc(R * d * sizeof *x);  /* [B, T, d] residual stream */
    pe = malloc(R * d * sizeof *pe); /* [B, T, d] positional embedding */
    if (!x || !pe) {
        cc_fail(err, "out of memory for the residual stream");
        goto out;
    }
    for (size_t i = 0; i < R; i++) {
        memcpy(x + i * d, m->w.W_E + (size_t)tokens[i] * d, (size_t)d * sizeof *x);
        memcpy(pe + i * d, m->w.W_pos + (i % pos) * d, (size_t)d * sizeof *x);
    }
    if (at(&r, CC_HOOK_EMBED, 0, x, err) || at(&r, CC_HOOK_POS_EMBED, 0, pe, err)) goto out;
    for (size_t i = 0; i < R * d; i++) x[i] += pe[i];
    for (int l = 0; l < c->n_layers; l++)
        if (block(&r, l, x, err) != 0) goto out;
    if (!opts->skip_unembed) {
        if (opts->logprobs) {
            res->logprob = malloc(R * sizeof *res->logprob); /* [B, T] here; compacted to [B, T-1] below */
            res->argmax = malloc(R * sizeof *res->argmax);   /* [B, T] */
            if (!res->logprob || !res->argmax) {
                cc_fail(err, "out of memory");
                goto out;
            }
        }
        if (unembed(&r, x, res->logprob, res->argmax, err) != 0) goto out;
        if (res->logprob) /* drop the last position of each row (no next token) */
            for (int b = 0; b < batch; b++)
                for (int t = 0; t + 1 < pos; t++)
                    res->logprob[(size_t)b * (pos - 1) + t] = res->logprob[(size_t)b * pos + t];
    }
    rc = 0;
out:
    free(x), free(pe), free(seg);
    run_free(&r);
    return rc;
}

int cc_forward_resume(const cc_model *m, const int *tokens, int batch, int pos, const cc_fwd_result *clean,
                      int layer, const cc_segment *seg, int n_seg, float *x, double *logprob, cc_kernel kernel,
                      cc_error *err)
{
    const cc_config *c = &m->cfg;
    if (check_tokens(m, tokens, batch, pos, err) != 0) return -1;
    if (layer < -1 || layer >= c->n_layers)
        return cc_fail(err, "resume: layer %d out of range [-1, %d)", layer, c->n_layers);
    if (clean->batch != batch || clean->pos != pos)
        return cc_fail(err, "resume: the clean run is [%d, %d], the tokens [%d, %d]", clean->batch, clean->pos, batch,
                       pos);
    for (int l = layer + 1; l < c->n_layers; l++)
        if (!clean->act[CC_HOOK_K][l] || !clean->act[CC_HOOK_V][l])
            return cc_fail(err, "resume: the clean run did not cache hook_k/hook_v of layer %d", l);
    for (int s = 0; s < n_seg; s++)
        if (seg[s].seq < 0 || seg[s].seq >= batch || seg[s].start < 0 || seg[s].start > seg[s].end ||
            seg[s].end > pos)
            return cc_fail(err, "resume: segment %d (seq %d, rows [%d, %d)) is out of range", s, seg[s].seq,
                           seg[s].start, seg[s].end);
    run r = {.m = m, .c = c, .kern = kernel, .tokens = tokens, .batch = batch, .pos = pos, .seg = seg,
             .n_seg = n_seg, .clean = clean};
    int rc = -1;
    if (run_init(&r, err) != 0) goto out;
    for (int l = layer + 1; l < c->n_layers; l++)
        if (block(&r, l, x, err) != 0) goto out;
    if (logprob && unembed(&r, x, logprob, NULL, err) != 0) goto out;
    rc = 0;
out:
    run_free(&r);
    return rc;
}
