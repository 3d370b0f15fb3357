/* forward.c — the fast kernel of the forward pass (pass.h's cc_kernel_ops):
 * OpenBLAS sgemm, our threads, vectorised exp (vecmath.h). The block's steps
 * and hooks are composed in compose.c; this file only computes them.
 *
 * Dimension letters: B batch, T pos, H n_heads, K key/value heads, dh d_head,
 * d d_model, m d_mlp, V d_vocab, R stacked rows (pass.h). */
#include "runtime/pass.h"

#include "core/parallel.h"
#include "runtime/act_check.h"
#include "runtime/vecmath.h"
#include "model/model_internal.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The element-wise and row-wise kernels (norms, softmax, activations, the
 * per-row log-sum-exp over the vocabulary) run through cc_par_for: every
 * element or row is computed exactly as on one thread. */

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

/* The model's norm over the last axis of x [R, d] into out [R, d]: LayerNorm
 * (centre, divide by sqrt(mean(x^2) + eps), then *w + b when W is not NULL)
 * or RMSNorm (divide by sqrt(mean(x^2) + eps), then *w). Sums in float64;
 * rows are split across threads. */
typedef struct {
    const float *x, *w, *b;
    int d;
    double eps;
    bool rms;
    float *out;
} norm_ctx;

static void norm_rows(void *p, size_t lo, size_t hi)
{
    const norm_ctx *a = p;
    for (size_t r = lo; r < hi; r++) {
        if (a->rms) cc_vec_rmsnorm(a->x + r * a->d, a->d, a->w, a->eps, a->out + r * a->d);
        else cc_vec_layernorm(a->x + r * a->d, a->d, a->w, a->b, a->eps, a->out + r * a->d);
    }
}

static void norm(const cc_config *c, const float *x, size_t R, const float *w, const float *b, float *out)
{
    norm_ctx a = {x, w, b, c->d_model, c->ln_eps, c->norm == CC_NORM_RMS, out};
    cc_par_for(R, 64, norm_rows, &a);
}

/* The activation in place on x [n], split across threads: gelu_new
 * vectorised (vecmath.h), the others element by element in float32 as torch
 * computes them. */
typedef struct {
    float *x;
    cc_act_kind act;
} act_ctx;

static void act_range(void *p, size_t lo, size_t hi)
{
    const act_ctx *a = p;
    float *x = a->x;
    switch (a->act) {
    case CC_ACT_GELU_NEW: cc_vec_gelu_new(x, lo, hi); break;
    case CC_ACT_GELU:
        for (size_t i = lo; i < hi; i++) x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * (float)M_SQRT1_2));
        break;
    case CC_ACT_SILU:
        for (size_t i = lo; i < hi; i++) x[i] = x[i] / (1.0f + expf(-x[i]));
        break;
    case CC_ACT_RELU:
        for (size_t i = lo; i < hi; i++) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
        break;
    }
}

static void act(const cc_config *c, float *x, size_t n)
{
    cc_par_for(n, 1 << 16, act_range, &(act_ctx){x, c->act});
}

/* x [R, m] = x * lin + b (b [m] or NULL), rows split across threads. */
typedef struct {
    float *x;
    const float *lin, *b;
    int m;
} gate_ctx;

static void gate_rows(void *p, size_t lo, size_t hi)
{
    const gate_ctx *a = p;
    for (size_t r = lo; r < hi; r++)
        for (int j = 0; j < a->m; j++) {
            size_t i = r * a->m + j;
            float y = a->x[i] * a->lin[i];
            a->x[i] = a->b ? y + a->b[j] : y;
        }
}

static void gate(float *x, const float *lin, const float *b, size_t R, int m)
{
    cc_par_for(R, 64, gate_rows, &(gate_ctx){x, lin, b, m});
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


static void linear(const float *x, size_t R, int k, const float *W, const float *b, int n, float *out)
{
    linear_fast(x, (int)R, k, W, n, b, n, out, n);
}

/* ------------------------------------------------------------------ attention */

/* The kernel's workspace: one projection's weights of every head side by
 * side, and their biases. */
typedef struct {
    float *w; /* [d, H*dh] */
    float *b; /* [H*dh] */
} fast_ws;

static int kernel_init(cc_pass *p, cc_error *err)
{
    fast_ws *ws = calloc(1, sizeof *ws);
    p->kernel_ws = ws;
    size_t HD = (size_t)p->H * p->dh;
    if (!ws || !(ws->w = malloc((size_t)p->c->d_model * HD * sizeof *ws->w)) || !(ws->b = malloc(HD * sizeof *ws->b)))
        return cc_fail_code(err, CC_E_NOMEM, "out of memory for the forward pass's weights");
    return 0;
}

static void kernel_free(cc_pass *p)
{
    fast_ws *ws = p->kernel_ws;
    free(ws->w), free(ws->b), free(ws);
    p->kernel_ws = NULL;
}

/* Rows [lo, hi) of OUT [d, nh*dh] from heads W + i * step * d * dh ([d, dh]):
 * each head's d_head columns side by side, so a projection of all heads is one GEMM. */
typedef struct {
    const float *W;
    float *out;
    int nh, step, d, dh;
} side_ctx;

static void heads_side_by_side(void *p, size_t lo, size_t hi)
{
    const side_ctx *a = p;
    for (size_t k = lo; k < hi; k++)
        for (int h = 0; h < a->nh; h++)
            memcpy(a->out + (k * a->nh + h) * a->dh, a->W + ((size_t)h * a->step * a->d + k) * a->dh,
                   (size_t)a->dh * sizeof *a->out);
}

/* Heads [lo, hi) of a projection, one GEMM each, straight from W. */
typedef struct {
    const float *x, *W, *b;
    int R, d, dh, nh, step;
    float *out;
} head_ctx;

static void heads_each(void *p, size_t lo, size_t hi)
{
    const head_ctx *a = p;
    for (size_t h = lo; h < hi; h++) {
        size_t at = h * (size_t)a->step;
        lin_ctx one = {a->x, a->W + at * a->d * a->dh, a->b ? a->b + at * a->dh : NULL, a->R, a->d, a->dh, a->dh,
                       a->nh * a->dh, a->out + h * a->dh, false};
        linear_range(&one, 0, (size_t)a->R);
    }
}

static void heads(cc_pass *p, const float *x, const float *W, const float *b, int nh, int step, float *out)
{
    fast_ws *ws = p->kernel_ws;
    int d = p->c->d_model, dh = p->dh, n = nh * dh;
    /* Few rows (a short prompt): one GEMM per head (heads split across threads). Each packs x again,
       which costs less than copying the [d, nh*dh] weights side by side (and faulting in that
       buffer) while R (nh - 1) < 2 nh dh. */
    if (p->R * (size_t)(nh - 1) < 2 * (size_t)nh * dh) {
        head_ctx a = {x, W, b, (int)p->R, d, dh, nh, step, out};
        if (t_own_threads) cc_par_for((size_t)nh, 1, heads_each, &a);
        else heads_each(&a, 0, (size_t)nh);
        return;
    }
    cc_par_for((size_t)d, 64, heads_side_by_side, &(side_ctx){W, ws->w, nh, step, d, dh});
    for (int h = 0; b && h < nh; h++) memcpy(ws->b + (size_t)h * dh, b + (size_t)h * step * dh, (size_t)dh * sizeof *b);
    linear_fast(x, (int)p->R, d, ws->w, n, b ? ws->b : NULL, n, out, n);
}

/* A block's attention step over segments [lo, hi), for cc_par_for. */
typedef struct {
    cc_pass *r;
    int l;
} seg_ctx;

/* Attention scores q.k / scale of block L for every segment and head, -inf
 * where the key is not visible (causal, local window). Query head h reads
 * key/value head h / group; keys of rows before a segment's start come from
 * the base run. */
static void attn_scores_segs(void *p, size_t lo, size_t hi)
{
    cc_pass *r = ((seg_ctx *)p)->r;
    int l = ((seg_ctx *)p)->l;
    const cc_config *c = r->c;
    int H = r->H, dh = r->dh, HD = H * dh, KD = r->K * dh;
    float scale = (float)cc_pass_attn_scale(c);
    for (size_t s = lo; s < hi; s++) {
        const cc_segment *g = &r->seg[s];
        int n = g->end - g->start, e = g->end, p = g->start;
        if (n == 0) continue;
        const float *ck = /* [T, K, dh] */
            p > 0 ? r->clean->act[cc_pass_key_hook(c)][l] + (size_t)g->seq * r->pos * KD : NULL;
        for (int h = 0; h < H; h++) {
            int kh = h / r->group;
            float *S = r->scores + r->sc_off[s] + (size_t)h * n * e; /* [n, e] */
            const float *q = r->q + r->row_off[s] * HD + h * dh;     /* [n, dh], row stride HD */
            const float *k = r->k + r->row_off[s] * KD + kh * dh;    /* [n, dh], row stride KD */
            if (p > 0)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, p, dh, 1.0f, q, HD, ck + kh * dh, KD, 0.0f, S,
                            e);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, dh, 1.0f, q, HD, k, KD, 0.0f, S + p, e);
            for (int i = 0; i < n; i++)
                for (int j = 0; j < e; j++) {
                    float *sij = &S[(size_t)i * e + j];
                    *sij = cc_pass_key_visible(c, l, p + i, j) ? *sij / scale : -INFINITY;
                }
        }
    }
}

/* Softmax over the last axis of every scores row, in place (masked -> 0;
 * a row that is all -inf becomes 0, like TransformerLens' nan -> 0).
 * Segments are split across threads. */
static void softmax_segs(void *p, size_t lo, size_t hi)
{
    cc_pass *r = p;
    for (size_t s = lo; s < hi; s++) {
        int n = r->seg[s].end - r->seg[s].start, e = r->seg[s].end;
        for (size_t row = 0; row < (size_t)r->H * n; row++) cc_vec_softmax(r->scores + r->sc_off[s] + row * e, e);
    }
}

/* Segments per thread for the attention steps: split only when each thread
 * gets about 64k scores or more. */
static size_t seg_grain(const cc_pass *r)
{
    size_t per = r->n_seg ? r->n_scores / (size_t)r->n_seg + 1 : 1;
    return (size_t)(1 << 16) / per + 1;
}

static void softmax(cc_pass *r)
{
    cc_par_for((size_t)r->n_seg, seg_grain(r), softmax_segs, r);
}

/* The attention GEMMs are small ([n, dh] x [dh, e] per segment and head):
 * segments go to our threads, each running single-threaded sgemm calls, instead
 * of waking OpenBLAS' threads for every small product. */
static void attn_par(cc_pass *r, int l, cc_par_fn fn)
{
    seg_ctx a = {r, l};
    size_t grain = seg_grain(r);
#ifdef CC_HAVE_OPENBLAS_THREADS
    bool split = !t_own_threads && cc_par_threads() > 1 && (size_t)r->n_seg >= 2 * grain;
    int held = split ? cc_blas_threads_hold() : 0;
    cc_par_for((size_t)r->n_seg, grain, fn, &a);
    cc_blas_threads_restore(held);
#else
    fn(&a, 0, (size_t)r->n_seg); /* without thread control, one thread drives BLAS */
#endif
}

static void scores(cc_pass *r, int l)
{
    attn_par(r, l, attn_scores_segs);
}

/* z[row, h] = sum_j pattern[h, i, j] v[j, h / group] (values of rows before a
 * segment's start from the base run). */
static void attn_z_segs(void *p, size_t lo, size_t hi)
{
    cc_pass *r = ((seg_ctx *)p)->r;
    int l = ((seg_ctx *)p)->l;
    int H = r->H, dh = r->dh, HD = H * dh, KD = r->K * dh;
    for (size_t s = lo; s < hi; s++) {
        const cc_segment *g = &r->seg[s];
        int n = g->end - g->start, e = g->end, p = g->start;
        if (n == 0) continue;
        const float *cv = p > 0 ? r->clean->act[CC_HOOK_V][l] + (size_t)g->seq * r->pos * KD : NULL; /* [T, K, dh] */
        for (int h = 0; h < H; h++) {
            int kh = h / r->group;
            const float *P = r->scores + r->sc_off[s] + (size_t)h * n * e; /* [n, e] */
            const float *v = r->v + r->row_off[s] * KD + kh * dh;          /* [n, dh], stride KD */
            float *z = r->z + r->row_off[s] * HD + h * dh;                 /* [n, dh], stride HD */
            if (p > 0)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, dh, p, 1.0f, P, e, cv + kh * dh, KD, 0.0f, z,
                            HD);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, dh, n, 1.0f, P + p, e, v, KD, p > 0 ? 1.0f : 0.0f,
                        z, HD);
        }
    }
}

static void mix(cc_pass *r, int l)
{
    attn_par(r, l, attn_z_segs);
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
    const cc_pass *r;
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

static int unembed_fused(cc_pass *r, const int *target, double *lp, int *amax, cc_error *err)
{
    const cc_config *c = r->c;
    int R = (int)r->R, parts = t_own_threads ? cc_par_threads() : 1;
    lse_row *state = malloc((size_t)parts * r->R * sizeof *state);
    float *tiles = malloc((size_t)parts * FUSED_TILE_FLOATS * sizeof *tiles);
    cc_error *part_err = malloc((size_t)parts * sizeof *part_err);
    int *part_rc = calloc((size_t)parts, sizeof *part_rc);
    int rc = -1;
    if (!state || !tiles || !part_err || !part_rc) {
        cc_fail_code(err, CC_E_NOMEM, "out of memory for the unembedding tiles");
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
static int unembed_rows(cc_pass *r, const int *target, double *lp, int *amax, bool full, cc_error *err)
{
    const cc_weights *w = &r->m->w;
    int d = r->c->d_model, V = r->c->d_vocab;
    size_t chunk = full ? r->R : (size_t)(16 << 20) / (size_t)V; /* at most about 64 MB of logits */
    if (chunk < 32) chunk = 32;
    if (chunk > r->R) chunk = r->R;
    float *lg = malloc((chunk ? chunk : 1) * V * sizeof *lg); /* [chunk, V] */
    if (!lg) return cc_fail_code(err, CC_E_NOMEM, "out of memory for logits (%zu x %d floats)", chunk, V);
    for (size_t r0 = 0; r0 < r->R; r0 += chunk) {
        size_t n = r->R - r0 < chunk ? r->R - r0 : chunk;
        float *out = full ? lg + r0 * V : lg; /* [n, V] */
        linear_fast(r->xn + r0 * d, (int)n, d, w->W_U, V, w->b_U, V, out, V);
        rs_ctx a = {out, V, target + r0, lp ? lp + r0 : NULL, amax ? amax + r0 : NULL};
        if (lp || amax) cc_par_for(n, 4, row_stats_range, &a);
    }
    if (full) return cc_pass_hook_give(r, CC_HOOK_LOGITS, 0, lg, err); /* cached: lg becomes the cache entry */
    free(lg);
    return 0;
}


/* Unembedding of p->xn: the logits whole when they are cached, else fused
 * with the log-softmax (unembed_fused): the [R, V] logits are never stored. */
static int unembed(cc_pass *p, const int *target, double *lp, int *amax, cc_error *err)
{
    bool full = cc_pass_logits_cached(p);
    return full ? unembed_rows(p, target, lp, amax, full, err) : unembed_fused(p, target, lp, amax, err);
}

const cc_kernel_ops cc_fast_kernel = {
    .norm = norm, .linear = linear, .heads = heads, .scores = scores, .softmax = softmax, .mix = mix,
    .act = act, .gate = gate, .add = par_add, .copy = par_copy, .unembed = unembed,
    .begin = own_threads_begin, .end = own_threads_end, .kernel_init = kernel_init, .kernel_free = kernel_free,
};
