/* forward.c — GPT-2 forward pass (TransformerLens semantics) with hooks, a
 * cache, and causal resumption (see include/circuitc/forward.h).
 *
 * Dimension letters: B batch, T pos, H n_heads, dh d_head, d d_model,
 * m d_mlp, V d_vocab, R stacked rows (B*T for a full pass; the sum of segment
 * lengths when resuming). Every block works on R stacked rows described by a
 * list of segments; a full pass is B segments [0, T), so its stacked buffers are
 * exactly TransformerLens' [B, T, ...] layouts. These are the fast kernels
 * (sgemm, our threads, vectorised exp); CC_KERNEL_REF runs the plain reference
 * pass of forward_ref.c instead. */
#include "circuitc/forward.h"

#include "core/args.h"
#include "core/parallel.h"
#include "runtime/act_check.h"
#include "runtime/forward_ref.h"
#include "runtime/vecmath.h"

#include <assert.h>
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ threads */

/* The element-wise and row-wise kernels (LayerNorm, softmax, gelu, the
 * per-row log-sum-exp over the vocabulary) run through cc_par_for: every
 * element or row is computed exactly as on one thread. */

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
    CC_ARG_ENUM(k, CC_HOOK_COUNT, NULL, false);
    return k != CC_HOOK_EMBED && k != CC_HOOK_POS_EMBED && k != CC_HOOK_LN_FINAL && k != CC_HOOK_LOGITS;
}

const char *cc_hook_name(cc_hook_kind k, int layer, char *buf, size_t size)
{
    CC_ARG_ENUM(k, CC_HOOK_COUNT, NULL, "?");
    CC_ARG_NOT_NULL(buf, NULL, NULL);
    assert(k >= 0 && k < CC_HOOK_COUNT);
    if (cc_hook_per_layer(k)) snprintf(buf, size, "blocks.%d.%s", layer, HOOK_SUFFIX[k]);
    else snprintf(buf, size, "%s", HOOK_SUFFIX[k]);
    return buf;
}

int cc_hook_parse(const char *name, const cc_config *cfg, cc_hook_kind *k, int *layer, cc_error *err)
{
    CC_ARG_NOT_NULL(name, err, -1);
    CC_ARG_NOT_NULL(k, err, -1);
    CC_ARG_NOT_NULL(layer, err, -1);
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

cc_act_shape cc_hook_shape(const cc_config *cfg, cc_hook_kind k, int batch, int pos)
{
    CC_ARG_NOT_NULL(cfg, NULL, (cc_act_shape){0});
    CC_ARG_ENUM(k, CC_HOOK_COUNT, NULL, (cc_act_shape){0});
    cc_act_shape s = {.ndim = 3, .dim = {batch, pos, cfg->d_model, 0}};
    switch (k) {
    case CC_HOOK_Q: case CC_HOOK_K: case CC_HOOK_V: case CC_HOOK_Z:
        s.ndim = 4, s.dim[2] = cfg->n_heads, s.dim[3] = cfg->d_head;
        break;
    case CC_HOOK_ATTN_SCORES: case CC_HOOK_PATTERN:
        s.ndim = 4, s.dim[1] = cfg->n_heads, s.dim[2] = pos, s.dim[3] = pos;
        break;
    case CC_HOOK_MLP_PRE: case CC_HOOK_MLP_POST: s.dim[2] = cfg->d_mlp; break;
    case CC_HOOK_LOGITS: s.dim[2] = cfg->d_vocab; break;
    default: break;
    }
    s.numel = 1;
    for (int i = 0; i < s.ndim; i++) s.numel *= (size_t)s.dim[i];
    return s;
}

void cc_fwd_want(cc_fwd_opts *opts, cc_hook_kind k, int layer)
{
    if (!opts) return;
    CC_ARG_ENUM(k, CC_HOOK_COUNT, NULL, );
    if (!cc_hook_per_layer(k)) opts->cache[k] |= 1;
    else if (layer < 0) opts->cache[k] = ~(uint64_t)0;
    else opts->cache[k] |= (uint64_t)1 << layer;
}

float *cc_fwd_act(const cc_fwd_result *res, cc_hook_kind k, int layer)
{
    CC_ARG_NOT_NULL(res, NULL, NULL);
    CC_ARG_ENUM(k, CC_HOOK_COUNT, NULL, NULL);
    int l = cc_hook_per_layer(k) ? layer : 0;
    if (l < 0 || l >= CC_FWD_MAX_LAYERS) return NULL;
    return res->act[k][l];
}

void cc_fwd_result_free(cc_fwd_result *res)
{
    if (!res) return;
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
typedef struct {
    const float *x, *W, *b;
    int R, k, ldw, n, ldo;
    float *out;
    bool by_cols;
} lin_ctx;

/* Rows (or columns) [lo, hi) of a linear map, one single-threaded sgemm. */
static void linear_range(void *p, size_t lo, size_t hi)
{
    const lin_ctx *a = p;
    int r0 = a->by_cols ? 0 : (int)lo, r1 = a->by_cols ? a->R : (int)hi;
    int c0 = a->by_cols ? (int)lo : 0, c1 = a->by_cols ? (int)hi : a->n;
    if (a->b)
        for (int r = r0; r < r1; r++)
            memcpy(a->out + (size_t)r * a->ldo + c0, a->b + c0, (size_t)(c1 - c0) * sizeof *a->b);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, r1 - r0, c1 - c0, a->k, 1.0f, a->x + (size_t)r0 * a->k,
                a->k, a->W + c0, a->ldw, a->b ? 1.0f : 0.0f, a->out + (size_t)r0 * a->ldo + c0, a->ldo);
}

/* Set while a pass runs with OpenBLAS held to one thread (see own_threads_begin):
 * linear_fast then splits its GEMMs across our threads itself. */
static _Thread_local bool t_own_threads;

static void linear_fast(const float *x, int R, int k, const float *W, int ldw, const float *b, int n, float *out,
                        int ldo)
{
    if (R == 0) return;
    lin_ctx a = {x, W, b, R, k, ldw, n, ldo, out, false};
    if (!t_own_threads) {
        linear_range(&a, 0, (size_t)R);
        return;
    }
    /* wide and short (the unembedding): split the columns; else the rows.
     * Splitting the columns of the [R,768] x [768,768] projections runs faster
     * alone (each thread then packs all of x and half of W, instead of all of
     * W) but made the whole [30, 101] pass about 7% slower here, and left the
     * patching sweep unchanged: measure the pass, not the GEMM, before
     * changing this. */
    a.by_cols = n >= 4 * R;
    cc_par_for(a.by_cols ? (size_t)n : (size_t)R, a.by_cols ? 256 : 64, linear_range, &a);
}

/* A pass's thread policy: with OpenBLAS' thread control and more than one core,
 * OpenBLAS is held to one thread for the pass and every parallel step (GEMMs
 * split by rows or columns, attention by segments, the element-wise kernels)
 * runs on our threads: OpenBLAS' own workers would otherwise spin (sched_yield)
 * between GEMMs against the threads of the other steps. Returns the thread
 * count to restore (0: nothing changed). */
static int own_threads_begin(void)
{
    if (cc_par_threads() <= 1) return 0;
    int saved = cc_blas_threads_hold();
    t_own_threads = saved > 0;
    return saved;
}

static void own_threads_end(int saved)
{
    cc_blas_threads_restore(saved);
    if (saved > 0) t_own_threads = false;
}

/* LayerNorm over the last axis of x [R, d] into out [R, d]:
 * centre, divide by sqrt(mean(x^2) + eps), then *w + b when W is not NULL
 * (unprocessed model). Means in float64; rows are split across threads. */
typedef struct {
    const float *x, *w, *b;
    int d;
    double eps;
    float *out;
} ln_ctx;

static void layernorm_rows(void *p, size_t lo, size_t hi)
{
    const ln_ctx *a = p;
    for (size_t r = lo; r < hi; r++) cc_vec_layernorm(a->x + r * a->d, a->d, a->w, a->b, a->eps, a->out + r * a->d);
}

static void layernorm(const float *x, int R, int d, const float *w, const float *b, double eps, float *out)
{
    ln_ctx a = {x, w, b, d, eps, out};
    cc_par_for((size_t)R, 64, layernorm_rows, &a);
}

/* gelu_new in place on x [n], split across threads. */
static void gelu_range(void *p, size_t lo, size_t hi)
{
    cc_vec_gelu_new(p, lo, hi);
}

static void gelu_new(float *x, size_t n)
{
    cc_par_for(n, 1 << 16, gelu_range, x);
}

/* dst[i] += src[i] (ADD) or dst[i] = src[i] over n floats, split across
 * threads: the residual additions and the cache copies would otherwise leave
 * the other cores idle between the parallel steps. */
typedef struct {
    float *dst;
    const float *src;
    bool add;
} ew_ctx;

static void ew_range(void *p, size_t lo, size_t hi)
{
    const ew_ctx *a = p;
    if (!a->add) {
        memcpy(a->dst + lo, a->src + lo, (hi - lo) * sizeof *a->dst);
        return;
    }
    for (size_t i = lo; i < hi; i++) a->dst[i] += a->src[i];
}

static void par_add(float *dst, const float *src, size_t n)
{
    cc_par_for(n, 1 << 16, ew_range, &(ew_ctx){dst, src, true});
}

static void par_copy(float *dst, const float *src, size_t n)
{
    cc_par_for(n, 1 << 16, ew_range, &(ew_ctx){dst, src, false});
}

/* ------------------------------------------------------------------ a run */

typedef struct {
    const cc_model *m;
    const cc_config *c;
    const int *tokens;           /* [batch, pos] */
    int batch, pos;
    const cc_segment *seg;
    int n_seg;
    size_t *row_off;             /* [n_seg] first stacked row of each segment */
    size_t *sc_off;              /* [n_seg] offset of each segment's scores block */
    size_t R, n_scores;
    const cc_fwd_result *clean;  /* resume mode: prefix keys/values (the base run); NULL in a full pass */
    int patch_layer;             /* resume mode: the block whose hooks apply the segments' patches (-1: none) */
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

/* Hook point: applies a resumed pass's patches, calls the edit callback, checks
 * the result's range (act_check.h), then keeps a copy when cached. */
static int at(run *r, cc_hook_kind k, int layer, float *act, cc_error *err)
{
    if (r->clean && layer == r->patch_layer) cc_segment_patches_apply(r->c, r->pos, r->seg, r->n_seg, k, act);
    cc_act_shape s = cc_hook_shape(r->c, k, r->batch, r->pos);
    if (r->opts && r->opts->hook &&
        r->opts->hook(r->opts->hook_ctx, k, cc_hook_per_layer(k) ? layer : -1, act, &s, err) != 0)
        return -1;
    if (cc_act_check(r->m, r->seg, r->n_seg, k, layer, act, err) != 0) return -1;
    if (!r->opts) return 0;
    int l = cc_hook_per_layer(k) ? layer : 0;
    if (r->opts->cache[k] & ((uint64_t)1 << l)) {
        float *copy = malloc(s.numel * sizeof *copy);
        if (!copy) return cc_fail(err, "out of memory caching %s (%zu floats)", HOOK_SUFFIX[k], s.numel);
        par_copy(copy, act, s.numel);
        free(r->res->act[k][l]);
        r->res->act[k][l] = copy;
    }
    return 0;
}

/* A block's attention step over segments [lo, hi), for cc_par_for. */
typedef struct {
    run *r;
    int l;
} seg_ctx;

static void attn_z_segs(void *p, size_t lo, size_t hi);

/* Attention scores q.k / sqrt(dh) of block L for every segment and head, with
 * the causal mask (-inf where key position > query position). Keys of rows
 * before a segment's start come from the clean run. */
static void attn_scores_segs(void *p, size_t lo, size_t hi)
{
    run *r = ((seg_ctx *)p)->r;
    int l = ((seg_ctx *)p)->l;
    const cc_config *c = r->c;
    int H = c->n_heads, dh = c->d_head, HD = H * dh;
    float scale = sqrtf((float)dh);
    for (size_t s = lo; s < hi; s++) {
        const cc_segment *g = &r->seg[s];
        int n = g->end - g->start, e = g->end, p = g->start;
        if (n == 0) continue;
        const float *ck = p > 0 ? r->clean->act[CC_HOOK_K][l] + (size_t)g->seq * r->pos * HD : NULL; /* [T, H, dh] */
        for (int h = 0; h < H; h++) {
            float *S = r->scores + r->sc_off[s] + (size_t)h * n * e; /* [n, e] */
            const float *q = r->q + r->row_off[s] * HD + h * dh;     /* [n, dh], row stride HD */
            const float *k = r->k + r->row_off[s] * HD + h * dh;     /* [n, dh], row stride HD */
            if (p > 0)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, p, dh, 1.0f, q, HD, ck + h * dh, HD, 0.0f, S,
                            e);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, dh, 1.0f, q, HD, k, HD, 0.0f, S + p, e);
            for (int i = 0; i < n; i++)
                for (int j = 0; j < e; j++)
                    S[(size_t)i * e + j] = j > p + i ? -INFINITY : S[(size_t)i * e + j] / scale;
        }
    }
}

/* Softmax over the last axis of every scores row, in place (masked -> 0;
 * a row that is all -inf becomes 0, like TransformerLens' nan -> 0).
 * Segments are split across threads. */
static void softmax_segs(void *p, size_t lo, size_t hi)
{
    run *r = p;
    for (size_t s = lo; s < hi; s++) {
        int n = r->seg[s].end - r->seg[s].start, e = r->seg[s].end;
        for (size_t row = 0; row < (size_t)r->c->n_heads * n; row++) cc_vec_softmax(r->scores + r->sc_off[s] + row * e, e);
    }
}

/* Segments per thread for the attention steps: split only when each thread
 * gets about 64k scores or more. */
static size_t seg_grain(const run *r)
{
    size_t per = r->n_seg ? r->n_scores / (size_t)r->n_seg + 1 : 1;
    return (size_t)(1 << 16) / per + 1;
}

static void softmax_rows(run *r)
{
    cc_par_for((size_t)r->n_seg, seg_grain(r), softmax_segs, r);
}

/* The attention GEMMs are small ([n, dh] x [dh, e] per segment and head):
 * segments go to our threads, each running single-threaded sgemm calls, instead
 * of waking OpenBLAS' threads for every small product. */
static void attn_par(run *r, int l, cc_par_fn fn)
{
    seg_ctx a = {r, l};
    size_t grain = seg_grain(r);
#ifdef CC_HAVE_OPENBLAS_THREADS
    bool split = !t_own_threads && cc_par_threads() > 1 && (size_t)r->n_seg >= 2 * grain;
    int saved = split ? openblas_get_num_threads() : 0;
    if (split) openblas_set_num_threads(1);
    cc_par_for((size_t)r->n_seg, grain, fn, &a);
    if (split) openblas_set_num_threads(saved);
#else
    fn(&a, 0, (size_t)r->n_seg); /* without thread control, one thread drives BLAS */
#endif
}

static void attn_scores(run *r, int l)
{
    attn_par(r, l, attn_scores_segs);
}

static void attn_z(run *r, int l)
{
    attn_par(r, l, attn_z_segs);
}

/* z[row, h] = sum_j pattern[h, i, j] v[j, h] (values of rows before a segment's
 * start from the clean run). */
static void attn_z_segs(void *p, size_t lo, size_t hi)
{
    run *r = ((seg_ctx *)p)->r;
    int l = ((seg_ctx *)p)->l;
    const cc_config *c = r->c;
    int H = c->n_heads, dh = c->d_head, HD = H * dh;
    for (size_t s = lo; s < hi; s++) {
        const cc_segment *g = &r->seg[s];
        int n = g->end - g->start, e = g->end, p = g->start;
        if (n == 0) continue;
        const float *cv = p > 0 ? r->clean->act[CC_HOOK_V][l] + (size_t)g->seq * r->pos * HD : NULL; /* [T, H, dh] */
        for (int h = 0; h < H; h++) {
            const float *P = r->scores + r->sc_off[s] + (size_t)h * n * e; /* [n, e] */
            const float *v = r->v + r->row_off[s] * HD + h * dh;           /* [n, dh], stride HD */
            float *z = r->z + r->row_off[s] * HD + h * dh;                 /* [n, dh], stride HD */
            if (p > 0)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, dh, p, 1.0f, P, e, cv + h * dh, HD, 0.0f, z,
                            HD);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, dh, n, 1.0f, P + p, e, v, HD, p > 0 ? 1.0f : 0.0f,
                        z, HD);
        }
    }
}

static int block_mlp(run *r, int l, float *x, cc_error *err);

/* Rows [lo, hi) of OUT [d, H*dh] from W [H, d, dh]: each head's d_head
 * columns side by side, so Q (K, V) of all heads is one GEMM. */
typedef struct {
    const float *W;
    float *out;
    int H, d, dh;
} side_ctx;

static void heads_side_by_side(void *p, size_t lo, size_t hi)
{
    const side_ctx *a = p;
    for (size_t k = lo; k < hi; k++)
        for (int h = 0; h < a->H; h++)
            memcpy(a->out + (k * a->H + h) * a->dh, a->W + ((size_t)h * a->d + k) * a->dh, (size_t)a->dh * sizeof *a->out);
}

/* One transformer block L on the stacked residual x [R, d], in place. */
static int block(run *r, int l, float *x, cc_error *err)
{
    const cc_config *c = r->c;
    const cc_weights *w = &r->m->w;
    int d = c->d_model, H = c->n_heads, dh = c->d_head, HD = H * dh;
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
        /* one GEMM with N = H*dh: the weights rearranged to [d, H*dh] */
        cc_par_for((size_t)d, 64, heads_side_by_side, &(side_ctx){W, r->wqkv, H, d, dh});
        linear_fast(r->xn, R, d, r->wqkv, HD, bias, HD, outs[t], HD);
    }
    if (at(r, CC_HOOK_Q, l, r->q, err) || at(r, CC_HOOK_K, l, r->k, err) || at(r, CC_HOOK_V, l, r->v, err)) return -1;
    attn_scores(r, l);
    if (at(r, CC_HOOK_ATTN_SCORES, l, r->scores, err)) return -1;
    softmax_rows(r);
    if (at(r, CC_HOOK_PATTERN, l, r->scores, err)) return -1;
    attn_z(r, l);
    if (at(r, CC_HOOK_Z, l, r->z, err)) return -1;
    linear_fast(r->z, R, HD, w->W_O + (size_t)l * HD * d, d, w->b_O + (size_t)l * d, d, r->attn_out, d);
    if (at(r, CC_HOOK_ATTN_OUT, l, r->attn_out, err)) return -1;
    par_add(x, r->attn_out, Rd);
    if (at(r, CC_HOOK_RESID_MID, l, x, err)) return -1;
    return block_mlp(r, l, x, err);
}

/* The MLP half of block L on the stacked residual x [R, d] (resid_mid), in place. */
static int block_mlp(run *r, int l, float *x, cc_error *err)
{
    const cc_config *c = r->c;
    const cc_weights *w = &r->m->w;
    int d = c->d_model, M = c->d_mlp;
    int R = (int)r->R;
    size_t Rd = r->R * d;
    layernorm(x, R, d, w->ln2_w ? w->ln2_w + (size_t)l * d : NULL, w->ln2_b ? w->ln2_b + (size_t)l * d : NULL,
              c->ln_eps, r->xn);
    linear_fast(r->xn, R, d, w->W_in + (size_t)l * d * M, M, w->b_in + (size_t)l * M, M, r->mlp, M);
    if (at(r, CC_HOOK_MLP_PRE, l, r->mlp, err)) return -1;
    gelu_new(r->mlp, r->R * M);
    if (at(r, CC_HOOK_MLP_POST, l, r->mlp, err)) return -1;
    linear_fast(r->mlp, R, M, w->W_out + (size_t)l * M * d, d, w->b_out + (size_t)l * d, d, r->mlp_out, d);
    if (at(r, CC_HOOK_MLP_OUT, l, r->mlp_out, err)) return -1;
    par_add(x, r->mlp_out, Rd);
    if (at(r, CC_HOOK_RESID_POST, l, x, err)) return -1;
    return 0;
}

/* ------------------------------------------------------------------ unembedding */

/* Log-sum-exp state of one logits row over the columns folded in so far. The
 * fused unembedding visits a row tile by tile and never holds it whole; a row
 * folded in one piece gives exactly the two-pass (max, then sum) result. */
typedef struct {
    float max;    /* largest logit so far; -inf before the first column */
    int amax;     /* lowest column holding it; -1 before the first column */
    double sum;   /* sum of exp(logit - max) */
    float target; /* logit of the next token once its column was folded, else NaN */
} lse_row;

static const lse_row LSE_EMPTY = {-INFINITY, -1, 0.0, NAN};

/* Folds LG, the logits of columns [c0, c0+n) of one row, into S. */
static void lse_fold(lse_row *s, const float *lg, int n, int c0, int target)
{
    float mx = cc_vec_max(lg, n);
    if (mx > s->max || s->amax < 0) {
        int best = 0;
        while (best < n - 1 && !(lg[best] == mx)) best++; /* torch.argmax: lowest index */
        s->sum = s->amax < 0 ? 0.0 : s->sum * exp((double)s->max - mx);
        s->max = mx, s->amax = c0 + best;
    }
    s->sum += cc_vec_sum_exp(lg, n, s->max);
    if (target >= c0 && target < c0 + n) s->target = lg[target - c0];
}

/* Merges B, the state of columns after A's, into A (ties keep A's column). */
static void lse_merge(lse_row *a, const lse_row *b)
{
    if (b->amax >= 0) {
        if (b->max > a->max || a->amax < 0) {
            a->sum = (a->amax < 0 ? 0.0 : a->sum * exp((double)a->max - b->max)) + b->sum;
            a->max = b->max, a->amax = b->amax;
        } else {
            a->sum += b->sum * exp((double)b->max - a->max);
        }
    }
    if (!isnan(b->target)) a->target = b->target;
}

/* Log-prob of the next token (NaN when TARGET < 0) and argmax; either output may be NULL. */
static void lse_finish(const lse_row *s, int target, double *lp, int *amax)
{
    if (amax) *amax = s->amax;
    if (lp) *lp = target < 0 ? NAN : ((double)s->target - s->max) - log(s->sum);
}

/* Unfused: log-prob and argmax of whole logits rows [lo, hi) of a chunk, for cc_par_for. */
typedef struct {
    const float *lg; /* [n, V] */
    int V;
    const int *target; /* [n] */
    double *lp;        /* [n] or NULL */
    int *amax;         /* [n] or NULL */
} rs_ctx;

static void row_stats_range(void *p, size_t lo, size_t hi)
{
    const rs_ctx *a = p;
    for (size_t i = lo; i < hi; i++) {
        lse_row s = LSE_EMPTY;
        lse_fold(&s, a->lg + i * a->V, a->V, 0, a->target[i]);
        lse_finish(&s, a->target[i], a->lp ? a->lp + i : NULL, a->amax ? a->amax + i : NULL);
    }
}

/* Fused: each part (one per thread) owns a column range of W_U and walks it in
 * tiles of about FUSED_TILE_FLOATS logits (4 MB: the GEMM writes a tile and the
 * fold reads it back while it is still in cache), over row blocks of at most
 * FUSED_MAX_ROWS; its per-row lse_row states are merged in column order. */
#define FUSED_TILE_FLOATS ((size_t)1 << 20)
#define FUSED_MAX_ROWS 1024

typedef struct {
    const run *r;
    const float *xn, *W_U, *b_U; /* [R, d], [d, V], [V] or NULL */
    int R, d, V, parts;
    const int *target; /* [R] */
    lse_row *state;    /* [parts, R] */
    float *tiles;      /* [parts, FUSED_TILE_FLOATS] */
    cc_error *part_err; /* [parts]: a tile's logits out of range (act_check.h), first per part */
    int *part_rc;       /* [parts] */
} fused_ctx;

static void unembed_parts(void *p, size_t lo, size_t hi)
{
    const fused_ctx *a = p;
    int R = a->R, d = a->d, blocks = (R + FUSED_MAX_ROWS - 1) / FUSED_MAX_ROWS;
    for (size_t part = lo; part < hi; part++) {
        int c_lo = (int)((size_t)a->V * part / a->parts), c_hi = (int)((size_t)a->V * (part + 1) / a->parts);
        lse_row *st = a->state + part * R;
        float *tile = a->tiles + part * FUSED_TILE_FLOATS;
        for (int i = 0; i < R; i++) st[i] = LSE_EMPTY;
        for (int b = 0; b < blocks; b++) {
            int r0 = (int)((size_t)R * b / blocks), nr = (int)((size_t)R * (b + 1) / blocks) - r0;
            int cols = (int)(FUSED_TILE_FLOATS / (size_t)nr);
            for (int c0 = c_lo; c0 < c_hi; c0 += cols) {
                int nc = c_hi - c0 < cols ? c_hi - c0 : cols;
                lin_ctx g = {a->xn + (size_t)r0 * d, a->W_U + c0, a->b_U ? a->b_U + c0 : NULL, nr, d, a->V, nc, nc,
                             tile, false};
                linear_range(&g, 0, (size_t)nr); /* one single-threaded sgemm on our threads */
                if (!a->part_rc[part])
                    a->part_rc[part] = cc_logits_check(a->r->m, a->r->seg, a->r->n_seg, (size_t)r0, nr, c0, nc, nc,
                                                       tile, &a->part_err[part]);
                for (int i = 0; i < nr; i++)
                    lse_fold(st + r0 + i, tile + (size_t)i * nc, nc, c0, a->target[r0 + i]);
            }
        }
    }
}

static int unembed_fused(run *r, const int *target, double *lp, int *amax, cc_error *err)
{
    const cc_config *c = r->c;
    int R = (int)r->R, parts = t_own_threads ? cc_par_threads() : 1;
    lse_row *state = malloc((size_t)parts * r->R * sizeof *state);
    float *tiles = malloc((size_t)parts * FUSED_TILE_FLOATS * sizeof *tiles);
    cc_error *part_err = malloc((size_t)parts * sizeof *part_err);
    int *part_rc = calloc((size_t)parts, sizeof *part_rc);
    int rc = -1;
    if (!state || !tiles || !part_err || !part_rc) {
        cc_fail(err, "out of memory for the unembedding tiles");
        goto out;
    }
    fused_ctx a = {r, r->xn, r->m->w.W_U, r->m->w.b_U, R, c->d_model, c->d_vocab, parts, target, state, tiles,
                   part_err, part_rc};
    cc_par_for((size_t)parts, 1, unembed_parts, &a);
    for (int part = 0; part < parts; part++)
        if (part_rc[part]) {
            if (err) *err = part_err[part];
            goto out;
        }
    for (int i = 0; i < R; i++) {
        for (int part = 1; part < parts; part++) lse_merge(&state[i], &state[(size_t)part * R + i]);
        lse_finish(&state[i], target[i], lp ? lp + i : NULL, amax ? amax + i : NULL);
    }
    rc = 0;
out:
    free(state), free(tiles), free(part_err), free(part_rc);
    return rc;
}

/* Unfused: the logits in row chunks (all of them when they are cached), each
 * chunk reduced row by row. */
static int unembed_rows(run *r, const int *target, double *lp, int *amax, bool full, cc_error *err)
{
    const cc_weights *w = &r->m->w;
    int d = r->c->d_model, V = r->c->d_vocab;
    size_t chunk = full ? r->R : (size_t)(16 << 20) / (size_t)V; /* at most about 64 MB of logits */
    if (chunk < 32) chunk = 32;
    if (chunk > r->R) chunk = r->R;
    float *lg = malloc((chunk ? chunk : 1) * V * sizeof *lg); /* [chunk, V] */
    if (!lg) return cc_fail(err, "out of memory for logits (%zu x %d floats)", chunk, V);
    for (size_t r0 = 0; r0 < r->R; r0 += chunk) {
        size_t n = r->R - r0 < chunk ? r->R - r0 : chunk;
        float *out = full ? lg + r0 * V : lg; /* [n, V] */
        linear_fast(r->xn + r0 * d, (int)n, d, w->W_U, V, w->b_U, V, out, V);
        rs_ctx a = {out, V, target + r0, lp ? lp + r0 : NULL, amax ? amax + r0 : NULL};
        if (lp || amax) cc_par_for(n, 4, row_stats_range, &a);
    }
    int rc = full ? at(r, CC_HOOK_LOGITS, 0, lg, err) : 0;
    free(lg);
    return rc;
}

/* Final LayerNorm and unembedding of x [R, d]: hooks, optional full logits,
 * next-token log-probs LP [R] and argmax AMAX [R] (either may be NULL). Unless
 * the logits are cached, the unembedding is fused with the
 * log-softmax (unembed_fused): the [R, V] logits are never stored. */
static int unembed(run *r, float *x, double *lp, int *amax, cc_error *err)
{
    const cc_config *c = r->c;
    const cc_weights *w = &r->m->w;
    layernorm(x, (int)r->R, c->d_model, w->lnf_w, w->lnf_b, c->ln_eps, r->xn);
    if (at(r, CC_HOOK_LN_FINAL, 0, r->xn, err)) return -1;
    bool full = r->opts && (r->opts->cache[CC_HOOK_LOGITS] & 1);
    if (!full && !lp && !amax) return 0;
    int *target = malloc((r->R ? r->R : 1) * sizeof *target); /* [R] next token, -1: none */
    if (!target) return cc_fail(err, "out of memory");
    for (int s = 0; s < r->n_seg; s++) { /* rows are stacked segment after segment */
        const cc_segment *g = &r->seg[s];
        for (int t = g->start; t < g->end; t++)
            target[r->row_off[s] + (size_t)(t - g->start)] =
                t + 1 < r->pos ? r->tokens[(size_t)g->seq * r->pos + t + 1] : -1;
    }
    int rc = full ? unembed_rows(r, target, lp, amax, full, err) : unembed_fused(r, target, lp, amax, err);
    free(target);
    return rc;
}

int cc_fwd_unembed(const cc_model *m, const float *x, int rows, cc_kernel kernel, float *logits, cc_error *err)
{
    CC_ARG_NOT_NULL(m, err, -1);
    CC_ARG_NOT_NULL(x, err, -1);
    CC_ARG_ENUM(kernel, CC_KERNEL_REF + 1, err, -1);
    CC_ARG_NOT_NULL(logits, err, -1);
    if (kernel == CC_KERNEL_REF) return cc_forward_ref_unembed(m, x, rows, logits, err);
    const cc_config *c = &m->cfg;
    const cc_weights *w = &m->w;
    float *xn = malloc((size_t)(rows > 0 ? rows : 1) * c->d_model * sizeof *xn);
    if (!xn) return cc_fail(err, "out of memory for %d rows of the residual stream", rows);
    layernorm(x, rows, c->d_model, w->lnf_w, w->lnf_b, c->ln_eps, xn);
    int saved_threads = own_threads_begin();
    linear_fast(xn, rows, c->d_model, w->W_U, c->d_vocab, w->b_U, c->d_vocab, logits, c->d_vocab);
    own_threads_end(saved_threads);
    free(xn);
    return cc_act_check(m, NULL, rows, CC_HOOK_LOGITS, 0, logits, err);
}

/* Releases the blocks' workspace (the unembedding needs only xn): lowers the
 * pass's peak memory. */
static void run_free_blocks(run *r)
{
    free(r->q), free(r->k), free(r->v), free(r->z), free(r->scores), free(r->attn_out), free(r->mlp),
        free(r->mlp_out), free(r->wqkv);
    r->q = r->k = r->v = r->z = r->scores = r->attn_out = r->mlp = r->mlp_out = r->wqkv = NULL;
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

/* Rows [lo, hi) of a full pass's token and positional embeddings. */
typedef struct {
    const cc_model *m;
    const int *tokens; /* [R] */
    int pos;
    float *x, *pe; /* [R, d] */
} embed_ctx;

static void embed_rows(void *p, size_t lo, size_t hi)
{
    const embed_ctx *a = p;
    int d = a->m->cfg.d_model;
    for (size_t i = lo; i < hi; i++) {
        memcpy(a->x + i * d, a->m->w.W_E + (size_t)a->tokens[i] * d, (size_t)d * sizeof *a->x);
        memcpy(a->pe + i * d, a->m->w.W_pos + (i % (size_t)a->pos) * d, (size_t)d * sizeof *a->pe);
    }
}

int cc_forward(const cc_model *m, const int *tokens, int batch, int pos, const cc_fwd_opts *opts,
               cc_fwd_result *res, cc_error *err)
{
    CC_ARG_NOT_NULL(m, err, -1);
    CC_ARG_NOT_NULL(tokens, err, -1);
    CC_ARG_NOT_NULL(opts, err, -1);
    CC_ARG_ENUM(opts->kernel, CC_KERNEL_REF + 1, err, -1);
    CC_ARG_NOT_NULL(res, err, -1);
    memset(res, 0, sizeof *res);
    if (check_tokens(m, tokens, batch, pos, err) != 0) return -1;
    const cc_config *c = &m->cfg;
    res->batch = batch, res->pos = pos, res->n_layers = c->n_layers;
    if (opts->kernel == CC_KERNEL_REF) return cc_forward_ref_run(m, tokens, batch, pos, opts, res, err);
    cc_segment *seg = malloc((size_t)batch * sizeof *seg);
    if (!seg) return cc_fail(err, "out of memory");
    for (int b = 0; b < batch; b++) seg[b] = (cc_segment){b, 0, pos, NULL};
    run r = {.m = m, .c = c, .tokens = tokens, .batch = batch, .pos = pos, .seg = seg,
             .n_seg = batch, .opts = opts, .res = res};
    int d = c->d_model, rc = -1;
    int saved_threads = own_threads_begin();
    float *x = NULL, *pe = NULL;
    if (run_init(&r, err) != 0) goto out;
    size_t R = r.R;
    x = malloc(R * d * sizeof *x);  /* [B, T, d] residual stream */
    pe = malloc(R * d * sizeof *pe); /* [B, T, d] positional embedding */
    if (!x || !pe) {
        cc_fail(err, "out of memory for the residual stream");
        goto out;
    }
    cc_par_for(R, 256, embed_rows, &(embed_ctx){m, tokens, pos, x, pe});
    if (at(&r, CC_HOOK_EMBED, 0, x, err) || at(&r, CC_HOOK_POS_EMBED, 0, pe, err)) goto out;
    par_add(x, pe, R * d);
    free(pe);
    pe = NULL;
    for (int l = 0; l < c->n_layers; l++)
        if (block(&r, l, x, err) != 0) goto out;
    run_free_blocks(&r);
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
    own_threads_end(saved_threads);
    return rc;
}

int cc_forward_resume(const cc_model *m, const int *tokens, int batch, int pos, const cc_fwd_result *base,
                      cc_hook_kind from, int layer, const cc_segment *seg, int n_seg, float *x, double *logprob,
                      cc_kernel kernel, cc_error *err)
{
    CC_ARG_NOT_NULL(m, err, -1);
    CC_ARG_NOT_NULL(tokens, err, -1);
    CC_ARG_NOT_NULL(base, err, -1);
    CC_ARG_ENUM(from, CC_HOOK_COUNT, err, -1);
    CC_ARG_NOT_NULL(seg, err, -1);
    CC_ARG_NOT_NULL(x, err, -1);
    CC_ARG_ENUM(kernel, CC_KERNEL_REF + 1, err, -1);
    const cc_config *c = &m->cfg;
    if (check_tokens(m, tokens, batch, pos, err) != 0) return -1;
    if (from != CC_HOOK_RESID_PRE && from != CC_HOOK_RESID_MID && from != CC_HOOK_RESID_POST)
        return cc_fail(err, "resume: start at hook_resid_pre, hook_resid_mid or hook_resid_post");
    if (layer < 0 || layer >= c->n_layers)
        return cc_fail(err, "resume: layer %d out of range [0, %d)", layer, c->n_layers);
    if (base->batch != batch || base->pos != pos)
        return cc_fail(err, "resume: the base run is [%d, %d], the tokens [%d, %d]", base->batch, base->pos, batch,
                       pos);
    int first_attn = from == CC_HOOK_RESID_PRE ? layer : layer + 1; /* first block whose attention runs */
    for (int l = first_attn; l < c->n_layers; l++)
        if (!base->act[CC_HOOK_K][l] || !base->act[CC_HOOK_V][l])
            return cc_fail(err, "resume: the base run did not cache hook_k/hook_v of layer %d", l);
    for (int s = 0; s < n_seg; s++) {
        const cc_row_patch *p = seg[s].patch;
        if (seg[s].seq < 0 || seg[s].seq >= batch || seg[s].start < 0 || seg[s].start > seg[s].end ||
            seg[s].end > pos)
            return cc_fail(err, "resume: segment %d (seq %d, rows [%d, %d)) is out of range", s, seg[s].seq,
                           seg[s].start, seg[s].end);
        if (p && (from != CC_HOOK_RESID_PRE || p->pos_lo < seg[s].start || p->pos_hi > seg[s].end ||
                  p->pos_lo + p->src_shift < 0 || p->pos_hi + p->src_shift > pos || p->head >= c->n_heads ||
                  (p->kind != CC_HOOK_Q && p->kind != CC_HOOK_K && p->kind != CC_HOOK_V &&
                   p->kind != CC_HOOK_PATTERN && p->kind != CC_HOOK_Z)))
            return cc_fail(err, "resume: the patch of segment %d is not inside it or not a head hook of the first block", s);
    }
    if (kernel == CC_KERNEL_REF)
        return cc_forward_ref_resume(m, tokens, batch, pos, base, from, layer, seg, n_seg, x, logprob, err);
    run r = {.m = m, .c = c, .tokens = tokens, .batch = batch, .pos = pos, .seg = seg,
             .n_seg = n_seg, .clean = base, .patch_layer = layer};
    int rc = -1, saved_threads = own_threads_begin();
    if (run_init(&r, err) != 0) goto out;
    if (from == CC_HOOK_RESID_MID && block_mlp(&r, layer, x, err) != 0) goto out;
    for (int l = first_attn; l < c->n_layers; l++)
        if (block(&r, l, x, err) != 0) goto out;
    run_free_blocks(&r);
    if (logprob && unembed(&r, x, logprob, NULL, err) != 0) goto out;
    rc = 0;
out:
    run_free(&r);
    own_threads_end(saved_threads);
    return rc;
}

int cc_logits_cols(const cc_model *m, const float *x, int R, const int *cols, int n_cols, double *out, cc_error *err)
{
    CC_ARG_NOT_NULL(m, err, -1);
    CC_ARG_NOT_NULL(x, err, -1);
    CC_ARG_NOT_NULL(cols, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    const cc_config *c = &m->cfg;
    int d = c->d_model, V = c->d_vocab;
    float *xn = malloc((size_t)d * sizeof *xn);
    if (!xn) return cc_fail(err, "out of memory");
    for (int i = 0; i < R; i++) {
        layernorm_rows(&(ln_ctx){x + (size_t)i * d, m->w.lnf_w, m->w.lnf_b, d, c->ln_eps, xn}, 0, 1);
        for (int j = 0; j < n_cols; j++) {
            double acc = 0;
            for (int k = 0; k < d; k++) acc += (double)xn[k] * m->w.W_U[(size_t)k * V + cols[j]];
            float logit = (float)acc + (m->w.b_U ? m->w.b_U[cols[j]] : 0.0f);
            if (cc_logits_check(m, NULL, R, (size_t)i, 1, cols[j], 1, 1, &logit, err) != 0) {
                free(xn);
                return -1;
            }
            out[(size_t)i * n_cols + j] = logit;
        }
    }
    free(xn);
    return 0;
}
