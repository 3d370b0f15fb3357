/* forward_ref.c — the reference GPT-2 forward pass (forward_ref.h): the
 * computation of include/circuitc/forward.h spelled out as plain loops on one
 * thread, with no SIMD and no BLAS, every dot product, LayerNorm statistic and
 * softmax sum in float64, and the same hook points. The fast kernels in
 * forward.c are checked against it (tests/test_forward_ref.c), the way llm.c
 * keeps its reference beside its kernels.
 *
 * Rows are stacked segment after segment (forward.h's cc_segment): a full pass
 * is B segments [0, T), so every buffer is TransformerLens' [B, T, ...] layout;
 * a resumed pass recomputes only its segments' rows and reads the keys and
 * values of the rows before each segment from the clean run. */
#include "runtime/forward_ref.h"

#include "runtime/act_check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The pass: its inputs, then its workspace. Segment s's rows follow those of
 * segments 0..s-1, and its scores ([H, n, end] for n = end - start) follow
 * theirs; the loops below walk the segments in order and count both along. */
typedef struct {
    const cc_model *m;
    const cc_config *c;
    const int *tokens;           /* [batch, pos] */
    int batch, pos;
    const cc_segment *seg;       /* rows [start, end) of sequence seq, in order */
    int n_seg;
    const cc_fwd_result *clean;  /* resuming: keys and values before each segment; else NULL */
    int patch_layer;             /* resuming: the block whose hooks apply the segments' patches */
    const cc_fwd_opts *opts;     /* full pass: hooks and cache; NULL when resuming */
    cc_fwd_result *res;
    size_t rows, n_scores;
    float *xn;                   /* [rows, d] normalised residual */
    float *q, *k, *v, *z;        /* [rows, H, dh] */
    float *scores;               /* scores, then the pattern in place */
    float *attn_out, *mlp_out;   /* [rows, d] */
    float *mlp;                  /* [rows, m] pre-activation, then gelu in place */
} ref_pass;

void cc_segment_patches_apply(const cc_config *c, int pos, const cc_segment *seg, int n_seg, cc_hook_kind kind,
                              float *act)
{
    int H = c->n_heads, dh = c->d_head;
    size_t row0 = 0, sc0 = 0; /* the segment's first stacked row and score */
    for (const cc_segment *g = seg; g < seg + n_seg; g++) {
        int n = g->end - g->start;
        const cc_row_patch *pt = g->patch;
        int h0 = pt && pt->head >= 0 ? pt->head : 0, h1 = pt && pt->head >= 0 ? pt->head + 1 : H;
        for (int t = pt ? pt->pos_lo : 0; pt && pt->kind == kind && t < pt->pos_hi; t++) {
            int src_t = t + pt->src_shift;
            if (kind == CC_HOOK_PATTERN)
                for (int h = h0; h < h1; h++)
                    memcpy(act + sc0 + ((size_t)h * n + (size_t)(t - g->start)) * g->end,
                           pt->src + (((size_t)g->seq * H + h) * pos + src_t) * pos, (size_t)g->end * sizeof *act);
            else
                memcpy(act + (row0 + (size_t)(t - g->start)) * H * dh + (size_t)h0 * dh,
                       pt->src + (((size_t)g->seq * pos + src_t) * H + h0) * dh, (size_t)(h1 - h0) * dh * sizeof *act);
        }
        row0 += (size_t)n;
        sc0 += (size_t)H * n * g->end;
    }
}

/* A hook point: a resumed pass's segment patches, the caller's edit, the range
 * check (act_check.h), then a copy when (KIND, LAYER) is cached. */
static int hook_point(ref_pass *p, cc_hook_kind kind, int layer, float *act, cc_error *err)
{
    if (p->clean && layer == p->patch_layer) cc_segment_patches_apply(p->c, p->pos, p->seg, p->n_seg, kind, act);
    bool per_layer = cc_hook_per_layer(kind);
    cc_act_shape shape = cc_hook_shape(p->c, kind, p->batch, p->pos);
    if (p->opts && p->opts->hook &&
        p->opts->hook(p->opts->hook_ctx, kind, per_layer ? layer : -1, act, &shape, err) != 0)
        return -1;
    if (cc_act_check(p->m, p->seg, p->n_seg, kind, layer, act, err) != 0) return -1;
    if (!p->opts) return 0;
    int slot = per_layer ? layer : 0;
    if (!((p->opts->cache[kind] >> slot) & 1)) return 0;
    float *copy = malloc(shape.numel * sizeof *copy);
    if (!copy) {
        char name[96];
        return cc_fail(err, "out of memory caching %s (%zu floats)", cc_hook_name(kind, layer, name, sizeof name),
                       shape.numel);
    }
    memcpy(copy, act, shape.numel * sizeof *copy);
    free(p->res->act[kind][slot]);
    p->res->act[kind][slot] = copy;
    return 0;
}

/* out[r, j] = b[j] + sum_i x[r, i] W[i, j] for R rows: x [R, k]; W [k, n] with
 * row stride LDW; B [n] or NULL; out with row stride LDO. */
static void linear(const float *x, size_t R, int k, const float *W, int ldw, const float *b, int n, float *out,
                   int ldo)
{
    for (size_t r = 0; r < R; r++)
        for (int j = 0; j < n; j++) {
            double acc = b ? b[j] : 0.0;
            for (int i = 0; i < k; i++) acc += (double)x[r * k + i] * W[(size_t)i * ldw + j];
            out[r * ldo + j] = (float)acc;
        }
}

/* (x - mean) / sqrt(var + eps), then * w + b when W is not NULL (unprocessed model). */
static void layernorm(const float *x, size_t R, int d, const float *w, const float *b, double eps, float *out)
{
    for (size_t r = 0; r < R; r++) {
        const float *xr = x + r * d;
        double mean = 0, var = 0;
        for (int i = 0; i < d; i++) mean += xr[i];
        mean /= d;
        for (int i = 0; i < d; i++) var += (xr[i] - mean) * (xr[i] - mean);
        double inv = 1.0 / sqrt(var / d + eps);
        for (int i = 0; i < d; i++) {
            double y = (xr[i] - mean) * inv;
            out[r * d + i] = (float)(w ? y * w[i] + b[i] : y);
        }
    }
}

/* gelu_new: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
static void gelu_new(float *x, size_t n)
{
    const double c = sqrt(2.0 / M_PI);
    for (size_t i = 0; i < n; i++) {
        double v = x[i];
        x[i] = (float)(0.5 * v * (1.0 + tanh(c * (v + 0.044715 * v * v * v))));
    }
}

/* Head H's key or value (CACHE = p->k or p->v, WHICH the matching hook) of
 * layer L at position J of segment G, whose rows start at stacked row ROW0:
 * recomputed rows from CACHE, rows before the segment's start from the clean run. */
static const float *key_or_value(const ref_pass *p, const float *cache, cc_hook_kind which, int l,
                                 const cc_segment *g, size_t row0, int j, int h)
{
    size_t HD = (size_t)p->c->n_heads * p->c->d_head, off = (size_t)h * p->c->d_head;
    if (j >= g->start) return cache + (row0 + (size_t)(j - g->start)) * HD + off;
    return p->clean->act[which][l] + ((size_t)g->seq * p->pos + (size_t)j) * HD + off;
}

/* Scores q.k / sqrt(dh) of every segment and head, -inf where the key comes
 * after the query. */
static void attention_scores(ref_pass *p, int l)
{
    int H = p->c->n_heads, dh = p->c->d_head;
    double scale = sqrt((double)dh);
    size_t row0 = 0;
    float *S = p->scores;
    for (const cc_segment *g = p->seg; g < p->seg + p->n_seg; row0 += (size_t)(g->end - g->start), g++) {
        int n = g->end - g->start, e = g->end;
        for (int h = 0; h < H; h++)
            for (int i = 0; i < n; i++, S += e) {
                const float *q = p->q + (row0 + (size_t)i) * H * dh + (size_t)h * dh;
                float *row = S;
                for (int j = 0; j < e; j++) {
                    if (j > g->start + i) {
                        row[j] = -INFINITY;
                        continue;
                    }
                    const float *k = key_or_value(p, p->k, CC_HOOK_K, l, g, row0, j, h);
                    double dot = 0;
                    for (int t = 0; t < dh; t++) dot += (double)q[t] * k[t];
                    row[j] = (float)(dot / scale);
                }
            }
    }
}

/* Softmax of every scores row in place; a row that is all -inf becomes 0. */
static void attention_softmax(ref_pass *p)
{
    float *row = p->scores;
    for (const cc_segment *g = p->seg; g < p->seg + p->n_seg; g++) {
        int e = g->end;
        size_t n_rows = (size_t)p->c->n_heads * (size_t)(g->end - g->start);
        for (size_t r = 0; r < n_rows; r++, row += e) {
            double mx = -INFINITY, sum = 0;
            for (int j = 0; j < e; j++) mx = row[j] > mx ? row[j] : mx;
            for (int j = 0; j < e; j++) sum += mx == -INFINITY ? 0.0 : exp(row[j] - mx);
            for (int j = 0; j < e; j++) row[j] = mx == -INFINITY ? 0.0f : (float)(exp(row[j] - mx) / sum);
        }
    }
}

/* z[i, h] = sum_j pattern[h, i, j] v[j, h]. */
static void attention_z(ref_pass *p, int l)
{
    int H = p->c->n_heads, dh = p->c->d_head;
    size_t row0 = 0;
    const float *pattern = p->scores;
    for (const cc_segment *g = p->seg; g < p->seg + p->n_seg; row0 += (size_t)(g->end - g->start), g++) {
        int n = g->end - g->start, e = g->end;
        for (int h = 0; h < H; h++)
            for (int i = 0; i < n; i++, pattern += e) {
                float *z = p->z + (row0 + (size_t)i) * H * dh + (size_t)h * dh;
                for (int t = 0; t < dh; t++) {
                    double acc = 0;
                    for (int j = 0; j < e; j++)
                        acc += (double)pattern[j] * key_or_value(p, p->v, CC_HOOK_V, l, g, row0, j, h)[t];
                    z[t] = (float)acc;
                }
            }
    }
}

static int block_mlp(ref_pass *p, int l, float *x, cc_error *err);

/* Transformer block L on the stacked residual x [rows, d], in place. */
static int block(ref_pass *p, int l, float *x, cc_error *err)
{
    const cc_config *c = p->c;
    const cc_weights *w = &p->m->w;
    int d = c->d_model, H = c->n_heads, dh = c->d_head, HD = H * dh;
    size_t R = p->rows, Ld = (size_t)l * d;
    if (hook_point(p, CC_HOOK_RESID_PRE, l, x, err)) return -1;
    layernorm(x, R, d, w->ln1_w ? w->ln1_w + Ld : NULL, w->ln1_b ? w->ln1_b + Ld : NULL, c->ln_eps, p->xn);
    const float *W[3] = {w->W_Q, w->W_K, w->W_V}, *b[3] = {w->b_Q, w->b_K, w->b_V};
    float *out[3] = {p->q, p->k, p->v};
    for (int t = 0; t < 3; t++)
        for (int h = 0; h < H; h++) /* W_Q[l, h] is [d, dh], b_Q[l, h] is [dh] */
            linear(p->xn, R, d, W[t] + ((size_t)l * H + h) * d * dh, dh, b[t] + ((size_t)l * H + h) * dh, dh,
                   out[t] + (size_t)h * dh, HD);
    if (hook_point(p, CC_HOOK_Q, l, p->q, err) || hook_point(p, CC_HOOK_K, l, p->k, err) ||
        hook_point(p, CC_HOOK_V, l, p->v, err))
        return -1;
    attention_scores(p, l);
    if (hook_point(p, CC_HOOK_ATTN_SCORES, l, p->scores, err)) return -1;
    attention_softmax(p);
    if (hook_point(p, CC_HOOK_PATTERN, l, p->scores, err)) return -1;
    attention_z(p, l);
    if (hook_point(p, CC_HOOK_Z, l, p->z, err)) return -1;
    linear(p->z, R, HD, w->W_O + (size_t)l * HD * d, d, w->b_O + Ld, d, p->attn_out, d);
    if (hook_point(p, CC_HOOK_ATTN_OUT, l, p->attn_out, err)) return -1;
    for (size_t i = 0; i < R * d; i++) x[i] += p->attn_out[i];
    if (hook_point(p, CC_HOOK_RESID_MID, l, x, err)) return -1;
    return block_mlp(p, l, x, err);
}

/* The MLP half of block L on the stacked residual x [rows, d] (resid_mid), in place. */
static int block_mlp(ref_pass *p, int l, float *x, cc_error *err)
{
    const cc_config *c = p->c;
    const cc_weights *w = &p->m->w;
    int d = c->d_model, M = c->d_mlp;
    size_t R = p->rows, Ld = (size_t)l * d;
    layernorm(x, R, d, w->ln2_w ? w->ln2_w + Ld : NULL, w->ln2_b ? w->ln2_b + Ld : NULL, c->ln_eps, p->xn);
    linear(p->xn, R, d, w->W_in + (size_t)l * d * M, M, w->b_in + (size_t)l * M, M, p->mlp, M);
    if (hook_point(p, CC_HOOK_MLP_PRE, l, p->mlp, err)) return -1;
    gelu_new(p->mlp, R * M);
    if (hook_point(p, CC_HOOK_MLP_POST, l, p->mlp, err)) return -1;
    linear(p->mlp, R, M, w->W_out + (size_t)l * M * d, d, w->b_out + Ld, d, p->mlp_out, d);
    if (hook_point(p, CC_HOOK_MLP_OUT, l, p->mlp_out, err)) return -1;
    for (size_t i = 0; i < R * d; i++) x[i] += p->mlp_out[i];
    return hook_point(p, CC_HOOK_RESID_POST, l, x, err);
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

/* Final LayerNorm and unembedding of x [rows, d]: LP [rows] (the next token's
 * log-prob, NaN at a sequence's last position) and AMAX [rows], either may be
 * NULL; the logits are kept whole only when they are cached. */
static int unembed(ref_pass *p, float *x, double *lp, int *amax, cc_error *err)
{
    const cc_config *c = p->c;
    const cc_weights *w = &p->m->w;
    int d = c->d_model, V = c->d_vocab;
    layernorm(x, p->rows, d, w->lnf_w, w->lnf_b, c->ln_eps, p->xn);
    if (hook_point(p, CC_HOOK_LN_FINAL, 0, p->xn, err)) return -1;
    bool keep = p->opts && (p->opts->cache[CC_HOOK_LOGITS] & 1);
    if (!keep && !lp && !amax) return 0;
    float *logits = malloc((keep ? p->rows : 1) * V * sizeof *logits);
    if (!logits) return cc_fail(err, "out of memory for the logits (%zu x %d floats)", keep ? p->rows : 1, V);
    size_t r = 0; /* stacked row */
    for (const cc_segment *g = p->seg; g < p->seg + p->n_seg; g++)
        for (int t = g->start; t < g->end; t++, r++) {
            float *row = keep ? logits + r * V : logits;
            linear(p->xn + r * d, 1, d, w->W_U, V, w->b_U, V, row, V);
            if (cc_logits_check(p->m, p->seg, p->n_seg, r, 1, 0, V, V, row, err) != 0) {
                free(logits);
                return -1;
            }
            int target = t + 1 < p->pos ? p->tokens[(size_t)g->seq * p->pos + t + 1] : -1;
            logprob_and_argmax(row, V, target, lp ? lp + r : NULL, amax ? amax + r : NULL);
        }
    int rc = keep ? hook_point(p, CC_HOOK_LOGITS, 0, logits, err) : 0;
    free(logits);
    return rc;
}

int cc_forward_ref_unembed(const cc_model *m, const float *x, int rows, float *logits, cc_error *err)
{
    const cc_config *c = &m->cfg;
    float *xn = malloc((size_t)(rows > 0 ? rows : 1) * c->d_model * sizeof *xn);
    if (!xn) return cc_fail(err, "out of memory for %d rows of the residual stream", rows);
    layernorm(x, (size_t)rows, c->d_model, m->w.lnf_w, m->w.lnf_b, c->ln_eps, xn);
    linear(xn, (size_t)rows, c->d_model, m->w.W_U, c->d_vocab, m->w.b_U, c->d_vocab, logits, c->d_vocab);
    free(xn);
    return cc_act_check(m, NULL, rows, CC_HOOK_LOGITS, 0, logits, err);
}

static void pass_free(ref_pass *p)
{
    free(p->xn), free(p->q), free(p->k), free(p->v), free(p->z);
    free(p->scores), free(p->attn_out), free(p->mlp), free(p->mlp_out);
}

/* Counts the segments' rows and scores and allocates the workspace. */
static int pass_init(ref_pass *p, cc_error *err)
{
    const cc_config *c = p->c;
    for (const cc_segment *g = p->seg; g < p->seg + p->n_seg; g++) {
        p->rows += (size_t)(g->end - g->start);
        p->n_scores += (size_t)c->n_heads * (size_t)(g->end - g->start) * (size_t)g->end;
    }
    size_t R = p->rows ? p->rows : 1, d = (size_t)c->d_model;
    float **bufs[] = {&p->xn, &p->q, &p->k, &p->v, &p->z, &p->attn_out, &p->mlp_out};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (!(*bufs[i] = malloc(R * d * sizeof(float)))) return cc_fail(err, "out of memory for the reference pass");
    p->scores = malloc((p->n_scores ? p->n_scores : 1) * sizeof *p->scores);
    p->mlp = malloc(R * (size_t)c->d_mlp * sizeof *p->mlp);
    if (!p->scores || !p->mlp) return cc_fail(err, "out of memory for the reference pass (%zu rows)", p->rows);
    return 0;
}

int cc_forward_ref_run(const cc_model *m, const int *tokens, int batch, int pos, const cc_fwd_opts *opts,
                       cc_fwd_result *res, cc_error *err)
{
    const cc_config *c = &m->cfg;
    size_t d = (size_t)c->d_model, R = (size_t)batch * pos;
    cc_segment *seg = malloc((size_t)batch * sizeof *seg);
    float *x = malloc(R * d * sizeof *x), *pos_embed = malloc(R * d * sizeof *pos_embed); /* [B, T, d] */
    double *lp = malloc(R * sizeof *lp);                                                   /* [B, T] */
    ref_pass p = {.m = m, .c = c, .tokens = tokens, .batch = batch, .pos = pos, .seg = seg, .n_seg = batch,
                  .opts = opts, .res = res};
    int rc = -1;
    if (!seg || !x || !pos_embed || !lp) {
        cc_fail(err, "out of memory for the reference pass");
        goto out;
    }
    for (int b = 0; b < batch; b++) seg[b] = (cc_segment){b, 0, pos, NULL};
    if (pass_init(&p, err) != 0) goto out;
    for (size_t i = 0; i < R; i++) {
        memcpy(x + i * d, m->w.W_E + (size_t)tokens[i] * d, d * sizeof *x);
        memcpy(pos_embed + i * d, m->w.W_pos + (i % (size_t)pos) * d, d * sizeof *x);
    }
    if (hook_point(&p, CC_HOOK_EMBED, 0, x, err) || hook_point(&p, CC_HOOK_POS_EMBED, 0, pos_embed, err)) goto out;
    for (size_t i = 0; i < R * d; i++) x[i] += pos_embed[i];
    for (int l = 0; l < c->n_layers; l++)
        if (block(&p, l, x, err) != 0) goto out;
    if (!opts->skip_unembed) {
        if (opts->logprobs && (!(res->logprob = malloc(R * sizeof *res->logprob)) ||
                               !(res->argmax = malloc(R * sizeof *res->argmax)))) {
            cc_fail(err, "out of memory");
            goto out;
        }
        if (unembed(&p, x, opts->logprobs ? lp : NULL, res->argmax, err) != 0) goto out;
        for (int b = 0; opts->logprobs && b < batch; b++) /* [B, T-1]: the last position has no next token */
            memcpy(res->logprob + (size_t)b * (pos - 1), lp + (size_t)b * pos, (size_t)(pos - 1) * sizeof *lp);
    }
    rc = 0;
out:
    pass_free(&p);
    free(seg), free(x), free(pos_embed), free(lp);
    return rc;
}

int cc_forward_ref_resume(const cc_model *m, const int *tokens, int batch, int pos, const cc_fwd_result *base,
                          cc_hook_kind from, int layer, const cc_segment *seg, int n_seg, float *x, double *logprob,
                          cc_error *err)
{
    ref_pass p = {.m = m, .c = &m->cfg, .tokens = tokens, .batch = batch, .pos = pos, .seg = seg, .n_seg = n_seg,
                  .clean = base, .patch_layer = layer};
    int rc = pass_init(&p, err);
    if (rc == 0 && from == CC_HOOK_RESID_MID) rc = block_mlp(&p, layer, x, err);
    for (int l = from == CC_HOOK_RESID_PRE ? layer : layer + 1; rc == 0 && l < m->cfg.n_layers; l++)
        rc = block(&p, l, x, err);
    if (rc == 0 && logprob) rc = unembed(&p, x, logprob, NULL, err);
    pass_free(&p);
    return rc;
}
