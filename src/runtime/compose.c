/* compose.c — the forward pass (include/circuitc/forward.h) composed once for
 * every block shape: the layout of a pass, its hook points, the embeddings,
 * the block's steps in TransformerLens' order, the final norm, and the public
 * entry points that pick a kernel (pass.h says what a kernel supplies).
 *
 * A block, as TransformerLens 2.18 runs it (components/transformer_block.py,
 * abstract_attention.py), for every shape cc_config describes:
 *   resid_pre -> norm1 -> q, k, v (shortformer: W_pos added to the queries'
 *   and keys' input) -> [rotary: rot_q, rot_k] -> scores (scale, causal and
 *   local mask) -> pattern -> z -> attn_out, then
 *   sequential: resid_mid = resid_pre + attn_out; MLP on norm2(resid_mid);
 *               resid_post = resid_mid + mlp_out
 *   parallel:   MLP on norm2(resid_pre); resid_post = resid_pre + attn_out + mlp_out
 *   attn_only:  resid_post = resid_pre + attn_out
 *   MLP: pre = x W_in + b_in, post = act(pre); gated: pre = x W_gate,
 *        pre_linear = x W_in, post = act(pre) * pre_linear + b_in; out = post W_out + b_out. */
#include "runtime/pass.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/args.h"
#include "model/rotary.h"
#include "runtime/act_check.h"
#include "core/parallel.h"
#include "model/model_internal.h"

/* ------------------------------------------------------------------ results */

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

/* ------------------------------------------------------------------ shared rules */

double cc_pass_attn_scale(const cc_config *c)
{
    return c->attn_unscaled ? 1.0 : sqrt((double)c->d_head);
}

cc_hook_kind cc_pass_key_hook(const cc_config *c)
{
    return c->pos == CC_POS_ROTARY ? CC_HOOK_ROT_K : CC_HOOK_K;
}

const float *cc_pass_kv(const cc_pass *p, cc_hook_kind which, int l, int s, int j, int g)
{
    const cc_segment *sg = &p->seg[s];
    size_t KD = (size_t)p->K * p->dh, off = (size_t)g * p->dh;
    if (j >= sg->start)
        return (which == CC_HOOK_V ? p->v : p->k) + (p->row_off[s] + (size_t)(j - sg->start)) * KD + off;
    return p->clean->act[which][l] + ((size_t)sg->seq * p->pos + (size_t)j) * KD + off;
}

/* Heads of a head-shaped hook (q, k, v and their rotations, z): K for keys and values. */
static int hook_heads(const cc_pass *p, cc_hook_kind kind)
{
    return kind == CC_HOOK_K || kind == CC_HOOK_V || kind == CC_HOOK_ROT_K ? p->K : p->H;
}

void cc_segment_patches_apply(const cc_pass *p, cc_hook_kind kind, float *act)
{
    int H = p->H, dh = p->dh, nh = hook_heads(p, kind), T = p->pos;
    for (int s = 0; s < p->n_seg; s++) {
        const cc_segment *g = &p->seg[s];
        const cc_row_patch *pt = g->patch;
        if (!pt || pt->kind != kind) continue;
        int n = g->end - g->start;
        int h0 = pt->head >= 0 ? pt->head : 0, h1 = pt->head >= 0 ? pt->head + 1 : (kind == CC_HOOK_PATTERN ? H : nh);
        for (int t = pt->pos_lo; t < pt->pos_hi; t++) {
            int src_t = t + pt->src_shift;
            if (kind == CC_HOOK_PATTERN)
                for (int h = h0; h < h1; h++)
                    memcpy(act + p->sc_off[s] + ((size_t)h * n + (size_t)(t - g->start)) * g->end,
                           pt->src + (((size_t)g->seq * H + h) * T + src_t) * T, (size_t)g->end * sizeof *act);
            else
                memcpy(act + (p->row_off[s] + (size_t)(t - g->start)) * nh * dh + (size_t)h0 * dh,
                       pt->src + (((size_t)g->seq * T + src_t) * nh + h0) * dh, (size_t)(h1 - h0) * dh * sizeof *act);
        }
    }
}

/* A hook point up to the cache: the segment patches, the caller's edit, the
 * range check. 1 when (KIND, LAYER) is cached (*SLOT its slot), 0 when not,
 * -1 on failure. */
static int hook_visit(cc_pass *p, cc_hook_kind kind, int layer, float *act, int *slot, cc_error *err)
{
    if (p->clean && layer == p->patch_layer) cc_segment_patches_apply(p, kind, act);
    bool per_layer = cc_hook_per_layer(kind);
    cc_act_shape shape = cc_hook_shape(p->c, kind, p->batch, p->pos);
    if (p->opts && p->opts->hook &&
        p->opts->hook(p->opts->hook_ctx, kind, per_layer ? layer : -1, act, &shape, err) != 0)
        return -1;
    if (cc_act_check(p->m, p->seg, p->n_seg, kind, layer, act, err) != 0) return -1;
    if (!p->opts) return 0;
    *slot = per_layer ? layer : 0;
    return (p->opts->cache[kind] >> *slot) & 1;
}

/* ACT (heap) as the cache entry of (KIND, SLOT), replacing any earlier one. */
static void cache_store(cc_pass *p, cc_hook_kind kind, int slot, float *act)
{
    free(p->res->act[kind][slot]);
    p->res->act[kind][slot] = act;
}

int cc_pass_hook(cc_pass *p, cc_hook_kind kind, int layer, float *act, cc_error *err)
{
    int slot, rc = hook_visit(p, kind, layer, act, &slot, err);
    if (rc <= 0) return rc;
    cc_act_shape shape = cc_hook_shape(p->c, kind, p->batch, p->pos);
    float *copy = malloc(shape.numel * sizeof *copy);
    if (!copy) {
        char name[96];
        return cc_fail_code(err, CC_E_NOMEM, "out of memory caching %s (%zu floats)", cc_hook_name(kind, layer, name, sizeof name),
                       shape.numel);
    }
    p->ops->copy(copy, act, shape.numel);
    cache_store(p, kind, slot, copy);
    return 0;
}

int cc_pass_hook_give(cc_pass *p, cc_hook_kind kind, int layer, float *act, cc_error *err)
{
    int slot, rc = hook_visit(p, kind, layer, act, &slot, err);
    if (rc <= 0) free(act);
    else cache_store(p, kind, slot, act);
    return rc < 0 ? -1 : 0;
}

/* ------------------------------------------------------------------ layout */

/* Rotates the first rotary_dim dimensions of every head of X [R, nh, dh] in
 * place (apply_rotary: x * cos + rotate_every_two(x) * sin, in float32). */
static void rotate(const cc_pass *p, float *x, int nh)
{
    const cc_config *c = p->c;
    int rd = c->rotary_dim, dh = p->dh;
    float *xr = p->rot_tmp;
    for (int s = 0; s < p->n_seg; s++) {
        const cc_segment *g = &p->seg[s];
        for (int t = g->start; t < g->end; t++) {
            const float *sn = p->rot_sin + (size_t)t * rd, *cs = p->rot_cos + (size_t)t * rd;
            for (int h = 0; h < nh; h++) {
                cc_rotary_apply(c, sn, cs, x + ((p->row_off[s] + (size_t)(t - g->start)) * nh + h) * dh, xr);
            }
        }
    }
}

/* Releases the blocks' workspace (the unembedding needs only xn): lowers the
 * pass's peak memory. */
static void pass_free_blocks(cc_pass *p)
{
    float **bufs[] = {&p->xqk, &p->pe, &p->q, &p->k, &p->v, &p->z, &p->scores, &p->attn_out, &p->mlp_out, &p->mlp,
                      &p->mlp_lin, &p->rot_sin, &p->rot_cos, &p->rot_tmp};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(*bufs[i]), *bufs[i] = NULL;
}

static void pass_free(cc_pass *p)
{
    pass_free_blocks(p);
    if (p->kernel_ws) p->ops->kernel_free(p);
    free(p->row_off), free(p->sc_off), free(p->xn);
}

/* Lays out the segments, allocates the workspace, and fills what every block
 * reads: the rotary table, the shortformer positional rows of a resumed pass. */
static int pass_init(cc_pass *p, cc_error *err)
{
    const cc_config *c = p->c;
    p->H = c->n_heads, p->K = cc_config_kv_heads(c), p->dh = c->d_head, p->group = p->H / p->K;
    p->row_off = calloc((size_t)p->n_seg + 1, sizeof *p->row_off);
    p->sc_off = calloc((size_t)p->n_seg + 1, sizeof *p->sc_off);
    if (!p->row_off || !p->sc_off) return cc_fail_code(err, CC_E_NOMEM, "out of memory");
    for (int s = 0; s < p->n_seg; s++) {
        size_t n = (size_t)(p->seg[s].end - p->seg[s].start);
        p->row_off[s] = p->R, p->sc_off[s] = p->n_scores;
        p->R += n;
        p->n_scores += (size_t)p->H * n * (size_t)p->seg[s].end;
    }
    size_t R = p->R ? p->R : 1, d = (size_t)c->d_model, HD = (size_t)p->H * p->dh, KD = (size_t)p->K * p->dh;
    size_t M = c->attn_only || c->d_mlp < 1 ? 1 : (size_t)c->d_mlp;
    bool ok = (p->xn = malloc(R * d * sizeof(float))) && (p->q = malloc(R * HD * sizeof(float))) &&
              (p->z = malloc(R * HD * sizeof(float))) && (p->k = malloc(R * KD * sizeof(float))) &&
              (p->v = malloc(R * KD * sizeof(float))) &&
              (p->scores = malloc((p->n_scores ? p->n_scores : 1) * sizeof(float))) &&
              (p->attn_out = malloc(R * d * sizeof(float))) && (p->mlp_out = malloc(R * d * sizeof(float))) &&
              (p->mlp = malloc(R * M * sizeof(float)));
    if (ok && c->gated) ok = (p->mlp_lin = malloc(R * M * sizeof(float))) != NULL;
    if (ok && c->pos == CC_POS_SHORTFORMER)
        ok = (p->pe = malloc(R * d * sizeof(float))) && (p->xqk = malloc(R * d * sizeof(float)));
    if (ok && c->pos == CC_POS_ROTARY) {
        size_t n = (size_t)p->pos * c->rotary_dim;
        ok = (p->rot_sin = malloc((n ? n : 1) * sizeof(float))) && (p->rot_cos = malloc((n ? n : 1) * sizeof(float))) &&
             (p->rot_tmp = malloc((size_t)(c->rotary_dim > 0 ? c->rotary_dim : 1) * sizeof(float)));
        if (ok) cc_rotary_table(c, p->pos, p->rot_sin, p->rot_cos);
    }
    if (!ok) return cc_fail_code(err, CC_E_NOMEM, "out of memory for the forward pass (%zu rows)", p->R);
    if (p->pe && p->clean) /* a resumed pass: each row's W_pos (a full pass takes hook_pos_embed's) */
        for (int s = 0; s < p->n_seg; s++)
            for (int t = p->seg[s].start; t < p->seg[s].end; t++)
                memcpy(p->pe + (p->row_off[s] + (size_t)(t - p->seg[s].start)) * d, p->m->w.W_pos + (size_t)t * d,
                       d * sizeof(float));
    return p->ops->kernel_init(p, err);
}

/* ------------------------------------------------------------------ the block */

/* Layer L's slice of a per-layer array of N floats per layer (NULL stays NULL). */
static const float *at_layer(const float *a, int l, size_t n)
{
    return a ? a + (size_t)l * n : NULL;
}

/* The attention half of block L: x [R, d] (resid_pre) to p->attn_out, with its hooks. */
static int attention(cc_pass *p, int l, const float *x, cc_error *err)
{
    const cc_config *c = p->c;
    const cc_weights *w = &p->m->w;
    const cc_kernel_ops *o = p->ops;
    int d = c->d_model, H = p->H, K = p->K, dh = p->dh, g = p->group;
    size_t Wl = (size_t)H * d * dh, bl = (size_t)H * dh, Rd = p->R * d;
    o->norm(c, x, p->R, at_layer(w->ln1_w, l, d), at_layer(w->ln1_b, l, d), p->xn);
    const float *qk_in = p->xn;
    if (c->pos == CC_POS_SHORTFORMER) { /* the positions enter the queries and keys only */
        o->copy(p->xqk, p->xn, Rd);
        o->add(p->xqk, p->pe, Rd);
        qk_in = p->xqk;
    }
    /* GQA: key/value head i is query head i * group's weights (cc_weights keeps copies per query head) */
    o->heads(p, qk_in, w->W_Q + l * Wl, at_layer(w->b_Q, l, bl), H, 1, p->q);
    o->heads(p, qk_in, w->W_K + l * Wl, at_layer(w->b_K, l, bl), K, g, p->k);
    o->heads(p, p->xn, w->W_V + l * Wl, at_layer(w->b_V, l, bl), K, g, p->v);
    if (cc_pass_hook(p, CC_HOOK_Q, l, p->q, err) || cc_pass_hook(p, CC_HOOK_K, l, p->k, err) ||
        cc_pass_hook(p, CC_HOOK_V, l, p->v, err))
        return -1;
    if (c->pos == CC_POS_ROTARY) {
        rotate(p, p->q, H);
        if (cc_pass_hook(p, CC_HOOK_ROT_Q, l, p->q, err)) return -1;
        rotate(p, p->k, K);
        if (cc_pass_hook(p, CC_HOOK_ROT_K, l, p->k, err)) return -1;
    }
    o->scores(p, l);
    if (cc_pass_hook(p, CC_HOOK_ATTN_SCORES, l, p->scores, err)) return -1;
    o->softmax(p);
    if (cc_pass_hook(p, CC_HOOK_PATTERN, l, p->scores, err)) return -1;
    o->mix(p, l);
    if (cc_pass_hook(p, CC_HOOK_Z, l, p->z, err)) return -1;
    o->linear(p->z, p->R, H * dh, w->W_O + (size_t)l * H * dh * d, at_layer(w->b_O, l, d), d, p->attn_out);
    return cc_pass_hook(p, CC_HOOK_ATTN_OUT, l, p->attn_out, err);
}

/* The MLP of block L on its input x [R, d] (resid_mid, or resid_pre in a
 * parallel block) to p->mlp_out, with its hooks. */
static int mlp(cc_pass *p, int l, const float *x, cc_error *err)
{
    const cc_config *c = p->c;
    const cc_weights *w = &p->m->w;
    const cc_kernel_ops *o = p->ops;
    int d = c->d_model, M = c->d_mlp;
    size_t dM = (size_t)d * M;
    o->norm(c, x, p->R, at_layer(w->ln2_w, l, d), at_layer(w->ln2_b, l, d), p->xn);
    if (c->gated) {
        o->linear(p->xn, p->R, d, w->W_gate + l * dM, NULL, M, p->mlp);
        if (cc_pass_hook(p, CC_HOOK_MLP_PRE, l, p->mlp, err)) return -1;
        o->linear(p->xn, p->R, d, w->W_in + l * dM, NULL, M, p->mlp_lin);
        if (cc_pass_hook(p, CC_HOOK_MLP_PRE_LINEAR, l, p->mlp_lin, err)) return -1;
        o->act(c, p->mlp, p->R * M);
        o->gate(p->mlp, p->mlp_lin, at_layer(w->b_in, l, M), p->R, M);
    } else {
        o->linear(p->xn, p->R, d, w->W_in + l * dM, at_layer(w->b_in, l, M), M, p->mlp);
        if (cc_pass_hook(p, CC_HOOK_MLP_PRE, l, p->mlp, err)) return -1;
        o->act(c, p->mlp, p->R * M);
    }
    if (cc_pass_hook(p, CC_HOOK_MLP_POST, l, p->mlp, err)) return -1;
    o->linear(p->mlp, p->R, M, w->W_out + l * dM, at_layer(w->b_out, l, d), d, p->mlp_out);
    return cc_pass_hook(p, CC_HOOK_MLP_OUT, l, p->mlp_out, err);
}

/* Block L on the stacked residual x [R, d], in place, from hook FROM
 * (CC_HOOK_RESID_PRE: the whole block; CC_HOOK_RESID_MID: its MLP, in a
 * sequential block with an MLP). */
static int block(cc_pass *p, int l, cc_hook_kind from, float *x, cc_error *err)
{
    const cc_config *c = p->c;
    const cc_kernel_ops *o = p->ops;
    size_t Rd = p->R * c->d_model;
    if (from == CC_HOOK_RESID_PRE) {
        if (cc_pass_hook(p, CC_HOOK_RESID_PRE, l, x, err) || attention(p, l, x, err)) return -1;
        if (c->parallel && !c->attn_only) { /* the MLP reads resid_pre too */
            if (mlp(p, l, x, err)) return -1;
            o->add(x, p->attn_out, Rd);
            o->add(x, p->mlp_out, Rd);
            return cc_pass_hook(p, CC_HOOK_RESID_POST, l, x, err);
        }
        o->add(x, p->attn_out, Rd);
        if (c->attn_only) return cc_pass_hook(p, CC_HOOK_RESID_POST, l, x, err);
        if (cc_pass_hook(p, CC_HOOK_RESID_MID, l, x, err)) return -1;
    }
    if (mlp(p, l, x, err)) return -1;
    o->add(x, p->mlp_out, Rd);
    return cc_pass_hook(p, CC_HOOK_RESID_POST, l, x, err);
}

/* ------------------------------------------------------------------ embeddings and unembedding */

/* X [B, T, d] = the residual stream entering block 0 of a full pass. */
static int embed(cc_pass *p, float *x, cc_error *err)
{
    const cc_config *c = p->c;
    const cc_weights *w = &p->m->w;
    size_t d = (size_t)c->d_model, R = p->R;
    for (size_t i = 0; i < R; i++) memcpy(x + i * d, w->W_E + (size_t)p->tokens[i] * d, d * sizeof *x);
    if (cc_pass_hook(p, CC_HOOK_EMBED, 0, x, err)) return -1;
    if (c->pos == CC_POS_ROTARY) return 0; /* positions enter at the rotation */
    float *pe = p->pe ? p->pe : malloc(R * d * sizeof *pe); /* [B, T, d]; shortformer: kept for the blocks */
    if (!pe) return cc_fail_code(err, CC_E_NOMEM, "out of memory for the positional embedding");
    for (size_t i = 0; i < R; i++) memcpy(pe + i * d, w->W_pos + (i % (size_t)p->pos) * d, d * sizeof *pe);
    int rc = cc_pass_hook(p, CC_HOOK_POS_EMBED, 0, pe, err);
    if (rc == 0 && c->pos == CC_POS_LEARNED) p->ops->add(x, pe, R * d);
    if (pe != p->pe) free(pe);
    return rc;
}

/* Final norm and unembedding of x [R, d]: hooks, optional full logits,
 * next-token log-probs LP [R] and argmax AMAX [R] (either may be NULL). */
static int unembed(cc_pass *p, const float *x, double *lp, int *amax, cc_error *err)
{
    const cc_config *c = p->c;
    const float *lnf_w = p->m->w.lnf_w;
    if (c->norm == CC_NORM_RMS && lnf_w) {
        /* TransformerLens' RMSNorm records hook_normalized before its weight, LayerNorm after */
        size_t d = (size_t)c->d_model;
        p->ops->norm(c, x, p->R, NULL, NULL, p->xn);
        if (cc_pass_hook(p, CC_HOOK_LN_FINAL, 0, p->xn, err)) return -1;
        for (size_t r = 0; r < p->R; r++)
            for (size_t i = 0; i < d; i++) p->xn[r * d + i] *= lnf_w[i];
    } else {
        p->ops->norm(c, x, p->R, lnf_w, p->m->w.lnf_b, p->xn);
        if (cc_pass_hook(p, CC_HOOK_LN_FINAL, 0, p->xn, err)) return -1;
    }
    if (!cc_pass_logits_cached(p) && !lp && !amax) return 0;
    int *target = malloc((p->R ? p->R : 1) * sizeof *target); /* [R] next token, -1: none */
    if (!target) return cc_fail_code(err, CC_E_NOMEM, "out of memory");
    for (int s = 0; s < p->n_seg; s++) { /* rows are stacked segment after segment */
        const cc_segment *g = &p->seg[s];
        for (int t = g->start; t < g->end; t++)
            target[p->row_off[s] + (size_t)(t - g->start)] =
                t + 1 < p->pos ? p->tokens[(size_t)g->seq * p->pos + t + 1] : -1;
    }
    int rc = p->ops->unembed(p, target, lp, amax, err);
    free(target);
    return rc;
}

/* ------------------------------------------------------------------ entry points */

static const cc_kernel_ops *kernel_ops(cc_kernel k)
{
    return k == CC_KERNEL_REF ? &cc_ref_kernel : &cc_fast_kernel;
}

static int check_tokens(const cc_model *m, const int *tokens, int batch, int pos, cc_error *err)
{
    const cc_config *c = &m->cfg;
    if (!m->loaded) return cc_fail_code(err, CC_E_ARG, "forward pass: the model's weights are not loaded");
    if (c->n_layers > CC_FWD_MAX_LAYERS)
        return cc_fail_code(err, CC_E_UNSUPPORTED, "forward pass: %d layers is more than the %d supported", c->n_layers, CC_FWD_MAX_LAYERS);
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

/* Refuses a cache request for a hook the model's blocks do not have. */
static int check_cache(const cc_config *c, const cc_fwd_opts *opts, cc_error *err)
{
    for (int k = 0; k < CC_HOOK_COUNT; k++)
        if (opts->cache[k] && cc_hook_check(c, (cc_hook_kind)k, -1, err) != 0) return -1;
    return 0;
}

int cc_forward(const cc_model *m, const int *tokens, int batch, int pos, const cc_fwd_opts *opts,
               cc_fwd_result *res, cc_error *err)
{
    CC_PAR_CALL(opts ? opts->threads : 0);
    CC_ARG_NOT_NULL(m, err, -1);
    CC_ARG_NOT_NULL(tokens, err, -1);
    CC_ARG_NOT_NULL(opts, err, -1);
    CC_ARG_ENUM(opts->kernel, CC_KERNEL_REF + 1, err, -1);
    CC_ARG_NOT_NULL(res, err, -1);
    memset(res, 0, sizeof *res);
    if (check_tokens(m, tokens, batch, pos, err) != 0 || check_cache(&m->cfg, opts, err) != 0) return -1;
    const cc_config *c = &m->cfg;
    res->batch = batch, res->pos = pos, res->n_layers = c->n_layers;
    cc_segment *seg = malloc((size_t)batch * sizeof *seg);
    if (!seg) return cc_fail_code(err, CC_E_NOMEM, "out of memory");
    for (int b = 0; b < batch; b++) seg[b] = (cc_segment){b, 0, pos, NULL};
    cc_pass p = {.m = m, .c = c, .ops = kernel_ops(opts->kernel), .tokens = tokens, .batch = batch, .pos = pos,
                 .seg = seg, .n_seg = batch, .patch_layer = -1, .opts = opts, .res = res};
    int rc = -1, saved_threads = p.ops->begin();
    float *x = NULL;
    if (pass_init(&p, err) != 0) goto out;
    size_t R = p.R;
    if (!(x = malloc(R * c->d_model * sizeof *x))) { /* [B, T, d] residual stream */
        cc_fail_code(err, CC_E_NOMEM, "out of memory for the residual stream");
        goto out;
    }
    if (embed(&p, x, err) != 0) goto out;
    for (int l = 0; l < c->n_layers; l++)
        if (block(&p, l, CC_HOOK_RESID_PRE, x, err) != 0) goto out;
    pass_free_blocks(&p);
    if (!opts->skip_unembed) {
        if (opts->logprobs) {
            res->logprob = malloc(R * sizeof *res->logprob); /* [B, T] here; compacted to [B, T-1] below */
            res->argmax = malloc(R * sizeof *res->argmax);   /* [B, T] */
            if (!res->logprob || !res->argmax) {
                cc_fail_code(err, CC_E_NOMEM, "out of memory");
                goto out;
            }
        }
        if (unembed(&p, x, res->logprob, res->argmax, err) != 0) goto out;
        if (res->logprob) /* drop the last position of each row (no next token) */
            for (int b = 0; b < batch; b++)
                for (int t = 0; t + 1 < pos; t++)
                    res->logprob[(size_t)b * (pos - 1) + t] = res->logprob[(size_t)b * pos + t];
    }
    rc = 0;
out:
    free(x), free(seg);
    pass_free(&p);
    p.ops->end(saved_threads);
    return rc;
}

/* Checks a segment's patch: inside the segment, a head hook of the first block. */
static int check_patch(const cc_config *c, const cc_segment *g, int s, cc_hook_kind from, int pos, cc_error *err)
{
    const cc_row_patch *p = g->patch;
    if (!p) return 0;
    bool head_hook = p->kind == CC_HOOK_Q || p->kind == CC_HOOK_K || p->kind == CC_HOOK_V ||
                     p->kind == CC_HOOK_PATTERN || p->kind == CC_HOOK_Z;
    int heads = p->kind == CC_HOOK_K || p->kind == CC_HOOK_V ? cc_config_kv_heads(c) : c->n_heads;
    if (from != CC_HOOK_RESID_PRE || !head_hook || p->pos_lo < g->start || p->pos_hi > g->end ||
        p->pos_lo + p->src_shift < 0 || p->pos_hi + p->src_shift > pos || p->head >= heads)
        return cc_fail(err, "resume: the patch of segment %d is not inside it or not a head hook of the first block",
                       s);
    return 0;
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
    if (from == CC_HOOK_RESID_MID && cc_hook_check(c, from, layer, err) != 0) {
        char why[sizeof err->msg];
        snprintf(why, sizeof why, "%s", err->msg);
        return cc_fail(err, "resume: cannot start at %s", why);
    }
    if (base->batch != batch || base->pos != pos)
        return cc_fail(err, "resume: the base run is [%d, %d], the tokens [%d, %d]", base->batch, base->pos, batch,
                       pos);
    int first_attn = from == CC_HOOK_RESID_PRE ? layer : layer + 1; /* first block whose attention runs */
    cc_hook_kind keys = cc_pass_key_hook(c);
    for (int l = first_attn; l < c->n_layers; l++)
        if (!base->act[keys][l] || !base->act[CC_HOOK_V][l]) {
            char name[96];
            return cc_fail(err, "resume: the base run did not cache %s and hook_v of layer %d",
                           cc_hook_name(keys, l, name, sizeof name), l);
        }
    for (int s = 0; s < n_seg; s++) {
        if (seg[s].seq < 0 || seg[s].seq >= batch || seg[s].start < 0 || seg[s].start > seg[s].end ||
            seg[s].end > pos)
            return cc_fail(err, "resume: segment %d (seq %d, rows [%d, %d)) is out of range", s, seg[s].seq,
                           seg[s].start, seg[s].end);
        if (check_patch(c, &seg[s], s, from, pos, err) != 0) return -1;
    }
    cc_pass p = {.m = m, .c = c, .ops = kernel_ops(kernel), .tokens = tokens, .batch = batch, .pos = pos,
                 .seg = seg, .n_seg = n_seg, .clean = base, .patch_layer = layer};
    int rc = -1, saved_threads = p.ops->begin();
    if (pass_init(&p, err) != 0) goto out;
    if (from == CC_HOOK_RESID_MID && block(&p, layer, CC_HOOK_RESID_MID, x, err) != 0) goto out;
    for (int l = first_attn; l < c->n_layers; l++)
        if (block(&p, l, CC_HOOK_RESID_PRE, x, err) != 0) goto out;
    pass_free_blocks(&p);
    if (logprob && unembed(&p, x, logprob, NULL, err) != 0) goto out;
    rc = 0;
out:
    pass_free(&p);
    p.ops->end(saved_threads);
    return rc;
}

int cc_fwd_unembed(const cc_model *m, const float *x, int rows, cc_kernel kernel, float *logits, cc_error *err)
{
    CC_ARG_NOT_NULL(m, err, -1);
    CC_ARG_NOT_NULL(x, err, -1);
    CC_ARG_ENUM(kernel, CC_KERNEL_REF + 1, err, -1);
    CC_ARG_NOT_NULL(logits, err, -1);
    const cc_config *c = &m->cfg;
    const cc_weights *w = &m->w;
    const cc_kernel_ops *o = kernel_ops(kernel);
    float *xn = malloc((size_t)(rows > 0 ? rows : 1) * c->d_model * sizeof *xn);
    if (!xn) return cc_fail_code(err, CC_E_NOMEM, "out of memory for %d rows of the residual stream", rows);
    o->norm(c, x, (size_t)(rows > 0 ? rows : 0), w->lnf_w, w->lnf_b, xn);
    int saved_threads = o->begin();
    o->linear(xn, (size_t)(rows > 0 ? rows : 0), c->d_model, w->W_U, w->b_U, c->d_vocab, logits);
    o->end(saved_threads);
    free(xn);
    return cc_act_check(m, NULL, rows, CC_HOOK_LOGITS, 0, logits, err);
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
    if (!xn) return cc_fail_code(err, CC_E_NOMEM, "out of memory");
    for (int i = 0; i < R; i++) {
        cc_fast_kernel.norm(c, x + (size_t)i * d, 1, m->w.lnf_w, m->w.lnf_b, xn); /* as the fast pass's final norm */
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
