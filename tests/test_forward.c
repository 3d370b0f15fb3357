/* test_forward.c — the forward pass on the tiny synthetic model (both
 * kernels where it matters; fast vs reference hook by hook is
 * test_forward_ref.c): softmax rows sum to 1 and the causal mask holds,
 * processing does not change the function, hooks edit and cache, resuming from
 * a cached run equals a full pass, argmax ties go to the lowest index, bad
 * input errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/forward.h"
#include "circuitc/process.h"
#include "circuitc/rng.h"
#include "circuitc/synth.h"
#include "testutil.h"
#include "model/model_internal.h" /* the model's fields, for checking them */

static const char *g_dir;

static cc_model *tiny_model(bool process)
{
    cc_model *m = NULL;
    cc_error err;
    ck_assert_msg(cc_model_load(g_dir, NULL, process, &m, &err) == 0, "%s", err.msg);
    return m;
}

static int *random_tokens(const cc_model *m, int batch, int pos, uint64_t seed)
{
    cc_rng r;
    cc_rng_seed(&r, seed);
    int *t = malloc((size_t)batch * pos * sizeof *t);
    for (int i = 0; i < batch * pos; i++) t[i] = (int)cc_rng_below(&r, (uint32_t)m->cfg.d_vocab);
    return t;
}

static double max_abs_diff(const float *a, const float *b, size_t n)
{
    double mx = 0;
    for (size_t i = 0; i < n; i++) {
        if (isinf(a[i]) && isinf(b[i]) && (a[i] > 0) == (b[i] > 0)) continue;
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= mx)) mx = d; /* NaN propagates */
    }
    return mx;
}

START_TEST(softmax_rows_sum_to_one_and_mask_is_causal)
{
    cc_model *m = tiny_model(true);
    int B = 2, T = 17, H = m->cfg.n_heads;
    int *tok = random_tokens(m, B, T, 2);
    for (int kern = 0; kern < 2; kern++) {
        cc_fwd_opts o = {.kernel = (cc_kernel)kern};
        cc_fwd_want(&o, CC_HOOK_PATTERN, -1), cc_fwd_want(&o, CC_HOOK_ATTN_SCORES, -1);
        cc_fwd_result r;
        cc_error err;
        ck_assert_msg(cc_forward(m, tok, B, T, &o, &r, &err) == 0, "%s", err.msg);
        for (int l = 0; l < m->cfg.n_layers; l++) {
            const float *P = cc_fwd_act(&r, CC_HOOK_PATTERN, l), *S = cc_fwd_act(&r, CC_HOOK_ATTN_SCORES, l);
            for (int bh = 0; bh < B * H; bh++)
                for (int i = 0; i < T; i++) {
                    double sum = 0;
                    for (int j = 0; j < T; j++) {
                        size_t idx = ((size_t)bh * T + i) * T + j;
                        if (j > i) {
                            ck_assert(P[idx] == 0.0f);
                            ck_assert(isinf(S[idx]) && S[idx] < 0);
                        } else {
                            ck_assert(P[idx] >= 0.0f && isfinite(S[idx]));
                        }
                        sum += P[idx];
                    }
                    ck_assert_msg(fabs(sum - 1.0) < 1e-6, "row sum %g", sum);
                }
        }
        cc_fwd_result_free(&r);
    }
    free(tok);
    cc_model_free(m);
}
END_TEST

START_TEST(future_tokens_do_not_change_earlier_logits)
{
    cc_model *m = tiny_model(true);
    int T = 24, V = m->cfg.d_vocab, cut = 11;
    int *t1 = random_tokens(m, 1, T, 3), *t2 = random_tokens(m, 1, T, 4);
    memcpy(t2, t1, (size_t)cut * sizeof *t1); /* same prefix [0, cut), different future */
    t2[cut] = (t1[cut] + 1) % V;
    for (int kern = 0; kern < 2; kern++) {
        cc_fwd_opts o = {.kernel = (cc_kernel)kern};
        cc_fwd_want(&o, CC_HOOK_LOGITS, 0);
        cc_fwd_result a, b;
        cc_error err;
        ck_assert(cc_forward(m, t1, 1, T, &o, &a, &err) == 0);
        ck_assert(cc_forward(m, t2, 1, T, &o, &b, &err) == 0);
        const float *la = cc_fwd_act(&a, CC_HOOK_LOGITS, 0), *lb = cc_fwd_act(&b, CC_HOOK_LOGITS, 0);
        ck_assert_msg(max_abs_diff(la, lb, (size_t)cut * V) < 1e-6, "earlier logits changed");
        ck_assert_msg(max_abs_diff(la + (size_t)cut * V, lb + (size_t)cut * V, (size_t)V) > 1e-6,
                      "the changed token changed nothing");
        cc_fwd_result_free(&a), cc_fwd_result_free(&b);
    }
    free(t1), free(t2);
    cc_model_free(m);
}
END_TEST

START_TEST(processing_does_not_change_log_probs)
{
    cc_model *p = tiny_model(true), *u = tiny_model(false);
    ck_assert(p->processed && !u->processed && u->w.ln1_w != NULL && p->w.ln1_w == NULL);
    int B = 4, T = 32;
    int *tok = random_tokens(p, B, T, 6);
    cc_fwd_opts o = {.kernel = CC_KERNEL_FAST, .logprobs = true};
    cc_fwd_want(&o, CC_HOOK_PATTERN, -1);
    cc_fwd_result a, b;
    cc_error err;
    ck_assert(cc_forward(p, tok, B, T, &o, &a, &err) == 0);
    ck_assert(cc_forward(u, tok, B, T, &o, &b, &err) == 0);
    double mx = 0;
    for (int i = 0; i < B * (T - 1); i++) mx = fmax(mx, fabs(a.logprob[i] - b.logprob[i]));
    ck_assert_msg(mx < 1e-4, "processed vs unprocessed log-probs differ by %g", mx);
    for (int l = 0; l < p->cfg.n_layers; l++) {
        size_t n = cc_hook_shape(&p->cfg, CC_HOOK_PATTERN, B, T).numel;
        ck_assert(max_abs_diff(cc_fwd_act(&a, CC_HOOK_PATTERN, l), cc_fwd_act(&b, CC_HOOK_PATTERN, l), n) < 1e-5);
    }
    cc_fwd_result_free(&a), cc_fwd_result_free(&b);
    free(tok);
    cc_model_free(p), cc_model_free(u);
}
END_TEST

/* Zeroes head HEAD of hook_z at layer LAYER. */
typedef struct {
    int layer, head, calls;
} zctx;
static int zero_head(void *ctx, cc_hook_kind k, int layer, float *act, const cc_act_shape *s, cc_error *err)
{
    (void)err;
    zctx *z = ctx;
    z->calls++;
    if (k != CC_HOOK_Z || layer != z->layer) return 0;
    for (int bt = 0; bt < s->dim[0] * s->dim[1]; bt++)
        memset(act + ((size_t)bt * s->dim[2] + z->head) * s->dim[3], 0, (size_t)s->dim[3] * sizeof *act);
    return 0;
}
static int fail_hook(void *ctx, cc_hook_kind k, int layer, float *act, const cc_act_shape *s, cc_error *err)
{
    (void)ctx, (void)act, (void)s;
    if (k == CC_HOOK_MLP_OUT && layer == 1) return cc_fail(err, "stop here");
    return 0;
}

START_TEST(hooks_edit_and_cache_only_what_is_asked)
{
    cc_model *m = tiny_model(true);
    const cc_config *c = &m->cfg;
    int B = 2, T = 12, L = c->n_layers;
    int *tok = random_tokens(m, B, T, 7);
    cc_fwd_opts o = {.logprobs = true};
    cc_fwd_want(&o, CC_HOOK_Z, 0);
    cc_fwd_want(&o, CC_HOOK_RESID_POST, L - 1);
    cc_fwd_result a, b;
    cc_error err;
    ck_assert(cc_forward(m, tok, B, T, &o, &a, &err) == 0);
    for (int k = 0; k < CC_HOOK_COUNT; k++)
        for (int l = 0; l < L; l++) {
            bool asked = (k == CC_HOOK_Z && l == 0) || (k == CC_HOOK_RESID_POST && l == L - 1);
            ck_assert_msg((a.act[k][l] != NULL) == asked, "hook %d layer %d cached=%d", k, l, a.act[k][l] != NULL);
        }
    zctx z = {0, 1, 0};
    o.hook = zero_head, o.hook_ctx = &z;
    ck_assert(cc_forward(m, tok, B, T, &o, &b, &err) == 0);
    /* every hook point is visited: 2 embeddings + 13 per layer + ln_final (logits not cached) */
    ck_assert_int_eq(z.calls, 2 + 13 * L + 1);
    const float *za = cc_fwd_act(&a, CC_HOOK_Z, 0), *zb = cc_fwd_act(&b, CC_HOOK_Z, 0);
    for (int bt = 0; bt < B * T; bt++)
        for (int i = 0; i < c->d_head; i++) {
            ck_assert(zb[((size_t)bt * c->n_heads + 1) * c->d_head + i] == 0.0f);
            ck_assert(zb[((size_t)bt * c->n_heads + 0) * c->d_head + i] ==
                      za[((size_t)bt * c->n_heads + 0) * c->d_head + i]);
        }
    double mx = 0;
    for (int i = 0; i < B * (T - 1); i++) mx = fmax(mx, fabs(a.logprob[i] - b.logprob[i]));
    ck_assert_msg(mx > 0, "ablating a head changed nothing");
    cc_fwd_result_free(&a), cc_fwd_result_free(&b);
    o.hook = fail_hook;
    ck_assert_int_eq(cc_forward(m, tok, B, T, &o, &a, &err), -1);
    tu_assert_contains(err.msg, "stop here");
    cc_fwd_result_free(&a);
    free(tok);
    cc_model_free(m);
}
END_TEST

START_TEST(hook_names_round_trip)
{
    cc_model *m = tiny_model(true);
    char buf[64];
    for (int k = 0; k < CC_HOOK_COUNT; k++) {
        cc_hook_kind kk;
        int l;
        cc_error err;
        cc_hook_name((cc_hook_kind)k, 1, buf, sizeof buf);
        bool gpt2_has = cc_hook_available(&m->cfg, (cc_hook_kind)k);
        ck_assert_int_eq(cc_hook_parse(buf, &m->cfg, &kk, &l, &err), gpt2_has ? 0 : -1);
        if (!gpt2_has) tu_assert_contains(err.msg, "this model (gpt2, ");
        ck_assert_msg(cc_hook_parse(buf, gpt2_has ? &m->cfg : NULL, &kk, &l, &err) == 0, "%s: %s", buf, err.msg);
        ck_assert_int_eq(kk, k);
        ck_assert_int_eq(l, cc_hook_per_layer((cc_hook_kind)k) ? 1 : -1);
    }
    ck_assert_str_eq(cc_hook_name(CC_HOOK_PATTERN, 3, buf, sizeof buf), "blocks.3.attn.hook_pattern");
    ck_assert_str_eq(cc_hook_name(CC_HOOK_LN_FINAL, 0, buf, sizeof buf), "ln_final.hook_normalized");
    cc_hook_kind k;
    int l;
    cc_error err;
    ck_assert_int_eq(cc_hook_parse("blocks.9.hook_mlp_out", &m->cfg, &k, &l, &err), -1);
    tu_assert_contains(err.msg, "layers 0..1");
    ck_assert_int_eq(cc_hook_parse("blocks.0.hook_nothing", &m->cfg, &k, &l, &err), -1);
    tu_assert_contains(err.msg, "unknown hook");
    cc_model_free(m);
}
END_TEST

START_TEST(resume_equals_full_pass)
{
    cc_model *m = tiny_model(true);
    const cc_config *c = &m->cfg;
    int B = 2, T = 20, d = c->d_model;
    int *tok = random_tokens(m, B, T, 8);
    for (int kern = 0; kern < 2; kern++) {
        cc_fwd_opts o = {.kernel = (cc_kernel)kern, .logprobs = true};
        cc_fwd_want(&o, CC_HOOK_K, -1), cc_fwd_want(&o, CC_HOOK_V, -1), cc_fwd_want(&o, CC_HOOK_RESID_POST, -1);
        cc_fwd_want(&o, CC_HOOK_RESID_PRE, 0);
        cc_fwd_result r;
        cc_error err;
        ck_assert(cc_forward(m, tok, B, T, &o, &r, &err) == 0);
        for (int layer = -1; layer < c->n_layers; layer++) {
            cc_segment seg[3] = {{1, 5, 20, NULL}, {0, 0, 7, NULL}, {0, 13, 13, NULL}};
            int R = 15 + 7;
            float *x = malloc((size_t)R * d * sizeof *x);
            const float *src = layer < 0 ? cc_fwd_act(&r, CC_HOOK_RESID_PRE, 0) : cc_fwd_act(&r, CC_HOOK_RESID_POST, layer);
            memcpy(x, src + ((size_t)1 * T + 5) * d, (size_t)15 * d * sizeof *x);
            memcpy(x + (size_t)15 * d, src, (size_t)7 * d * sizeof *x);
            double *lp = malloc((size_t)R * sizeof *lp);
            ck_assert_msg(cc_forward_resume(m, tok, B, T, &r, layer < 0 ? CC_HOOK_RESID_PRE : CC_HOOK_RESID_POST,
                                            layer < 0 ? 0 : layer, seg, 3, x, lp, (cc_kernel)kern, &err) == 0, "%s",
                          err.msg);
            for (int i = 0; i < 15; i++) {
                int t = 5 + i;
                if (t == T - 1) ck_assert(isnan(lp[i]));
                else ck_assert_msg(fabs(lp[i] - r.logprob[(size_t)1 * (T - 1) + t]) < 1e-6, "layer %d row %d", layer, t);
            }
            for (int i = 0; i < 7; i++) ck_assert(fabs(lp[15 + i] - r.logprob[i]) < 1e-6);
            free(x), free(lp);
        }
        cc_fwd_result_free(&r);
    }
    free(tok);
    cc_model_free(m);
}
END_TEST

/* A hook that writes VALUE into one element of activation KIND of block LAYER:
 * batch BATCH, position 3 and column 5 of row-shaped hooks (head 1's
 * column 5 of q/k/v/z); head 1, query position 3, key position 2 of the scores
 * and pattern. */
typedef struct {
    cc_hook_kind kind;
    int layer;
    float value;
    int batch;
} poison_ctx;

static int poison(void *ctx, cc_hook_kind kind, int layer, float *act, const cc_act_shape *s, cc_error *err)
{
    (void)err;
    const poison_ctx *p = ctx;
    if (kind != p->kind || (cc_hook_per_layer(kind) && layer != p->layer)) return 0;
    size_t at, b = (size_t)p->batch;
    if (kind == CC_HOOK_ATTN_SCORES || kind == CC_HOOK_PATTERN)
        at = ((b * s->dim[1] + 1) * s->dim[2] + 3) * s->dim[3] + 2;
    else if (s->ndim == 4)
        at = ((b * s->dim[1] + 3) * s->dim[2] + 1) * s->dim[3] + 5;
    else
        at = (b * s->dim[1] + 3) * s->dim[2] + 5;
    act[at] = p->value;
    return 0;
}

/* A NaN or infinity at any hook is refused there, naming the hook, the layer
 * and the element, by both kernels; with allow_nonfinite the pass runs. */
START_TEST(nonfinite_activation_is_refused_where_it_arises)
{
    cc_model *m = tiny_model(true);
    int B = 2, T = 9, L = m->cfg.n_layers;
    int *tok = random_tokens(m, B, T, 11);
    const struct {
        poison_ctx p;
        const char *want;
    } cases[] = {
        {{CC_HOOK_EMBED, -1, NAN, 1}, "hook_embed: NaN at [batch 1, position 3, 5]"},
        {{CC_HOOK_Q, 1, INFINITY, 1}, "blocks.1.attn.hook_q: +Inf at [batch 1, position 3, head 1, 5]"},
        {{CC_HOOK_ATTN_SCORES, 0, NAN, 1}, "blocks.0.attn.hook_attn_scores: NaN at [batch 1, head 1, query position 3, "
                                        "key position 2]"},
        {{CC_HOOK_PATTERN, L - 1, INFINITY, 1}, "attn.hook_pattern: +Inf at [batch 1, head 1, query position 3"},
        {{CC_HOOK_MLP_POST, 0, -INFINITY, 1}, "blocks.0.mlp.hook_post: -Inf at [batch 1, position 3, 5]"},
        {{CC_HOOK_RESID_POST, L - 1, NAN, 1}, "hook_resid_post: NaN at [batch 1, position 3, 5]"},
        {{CC_HOOK_LN_FINAL, -1, NAN, 1}, "ln_final.hook_normalized: NaN at [batch 1, position 3, 5]"},
    };
    for (int kern = 0; kern < 2; kern++)
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            poison_ctx p = cases[i].p;
            cc_fwd_opts o = {.kernel = (cc_kernel)kern, .logprobs = true, .hook = poison, .hook_ctx = &p};
            cc_fwd_result r;
            cc_error err;
            m->allow_nonfinite = false;
            ck_assert_msg(cc_forward(m, tok, B, T, &o, &r, &err) == -1, "kernel %d case %zu ran", kern, i);
            tu_assert_contains(err.msg, cases[i].want);
            tu_assert_contains(err.msg, "--allow-nonfinite");
            cc_fwd_result_free(&r);
            m->allow_nonfinite = true;
            ck_assert_msg(cc_forward(m, tok, B, T, &o, &r, &err) == 0, "%s", err.msg);
            cc_fwd_result_free(&r);
        }
    free(tok);
    /* an activation big enough to be scanned in parts, one per thread: found in the last part */
    m->allow_nonfinite = false;
    int big_B = 80, big_T = 32; /* hook_post: 80 x 32 x 64 floats */
    tok = random_tokens(m, big_B, big_T, 13);
    poison_ctx p = {CC_HOOK_MLP_POST, 1, NAN, big_B - 1};
    cc_fwd_opts o = {.hook = poison, .hook_ctx = &p};
    cc_fwd_result r;
    cc_error err;
    ck_assert_int_eq(cc_forward(m, tok, big_B, big_T, &o, &r, &err), -1);
    tu_assert_contains(err.msg, "blocks.1.mlp.hook_post: NaN at [batch 79, position 3, 5]");
    cc_fwd_result_free(&r);
    free(tok);
    cc_model_free(m);
}
END_TEST

/* Finite weights that drive the logits to 2^24 and beyond are refused, naming
 * the logit: in the fused unembedding, the unfused one (logits cached), the
 * reference kernel, a resumed pass and cc_fwd_unembed. */
START_TEST(absurd_logits_are_refused)
{
    cc_model *m = tiny_model(true);
    const cc_config *c = &m->cfg;
    int B = 2, T = 9, d = c->d_model, V = c->d_vocab;
    int *tok = random_tokens(m, B, T, 12);
    cc_fwd_opts o = {.logprobs = true};
    cc_fwd_want(&o, CC_HOOK_K, -1), cc_fwd_want(&o, CC_HOOK_V, -1), cc_fwd_want(&o, CC_HOOK_RESID_PRE, 0);
    cc_fwd_result base, r;
    cc_error err;
    ck_assert_msg(cc_forward(m, tok, B, T, &o, &base, &err) == 0, "%s", err.msg);
    m->w.W_U[7] = 1e20f; /* W_U[0, 7]: token 7's logit becomes about 1e20 * xn[0] */
    for (int variant = 0; variant < 3; variant++) {
        cc_fwd_opts v = {.kernel = variant == 2 ? CC_KERNEL_REF : CC_KERNEL_FAST, .logprobs = true};
        if (variant == 1) cc_fwd_want(&v, CC_HOOK_LOGITS, -1);
        ck_assert_int_eq(cc_forward(m, tok, B, T, &v, &r, &err), -1);
        tu_assert_contains(err.msg, "logits: ");
        tu_assert_contains(err.msg, "at [batch 0, position 0, token 7], beyond +-2^24");
        cc_fwd_result_free(&r);
    }
    cc_segment seg = {1, 2, T, NULL};
    float *x = malloc((size_t)(T - 2) * d * sizeof *x);
    memcpy(x, cc_fwd_act(&base, CC_HOOK_RESID_PRE, 0) + ((size_t)1 * T + 2) * d, (size_t)(T - 2) * d * sizeof *x);
    double *lp = malloc((size_t)(T - 2) * sizeof *lp);
    ck_assert_int_eq(cc_forward_resume(m, tok, B, T, &base, CC_HOOK_RESID_PRE, 0, &seg, 1, x, lp, CC_KERNEL_FAST,
                                       &err), -1);
    tu_assert_contains(err.msg, "at [batch 1, position 2, token 7]");
    float *logits = malloc((size_t)V * sizeof *logits);
    ck_assert_int_eq(cc_fwd_unembed(m, cc_fwd_act(&base, CC_HOOK_RESID_PRE, 0), 1, CC_KERNEL_FAST, logits, &err), -1);
    tu_assert_contains(err.msg, "at [row 0, token 7]");
    m->allow_nonfinite = true; /* computed as they are */
    ck_assert_int_eq(cc_fwd_unembed(m, cc_fwd_act(&base, CC_HOOK_RESID_PRE, 0), 1, CC_KERNEL_FAST, logits, &err), 0);
    ck_assert(fabsf(logits[7]) > 1e7f);
    free(x), free(lp), free(logits);
    cc_fwd_result_free(&base);
    free(tok);
    cc_model_free(m);
}
END_TEST

/* The fused unembedding (log-softmax folded over W_U tiles, logits never
 * stored) against the unfused one (logits cached, each whole row reduced) on a
 * vocabulary and row count large enough for several row blocks, several column
 * tiles per thread and the merge of the threads' column ranges. */
START_TEST(fused_unembedding_matches_unfused)
{
    char tmpl[] = "/tmp/circuitc-test-fused-XXXXXX";
    const char *dir = mkdtemp(tmpl);
    cc_config c;
    cc_error err;
    ck_assert(dir && cc_synth_preset("tiny", &c, &err) == 0);
    c.d_vocab = 20000, c.bos_token_id = c.d_vocab - 1, c.n_ctx = 64;
    ck_assert_msg(cc_synth_write(&c, 6, NULL, dir, &err) == 0, "%s", err.msg);
    cc_model *m = NULL;
    ck_assert_msg(cc_model_load(dir, NULL, true, &m, &err) == 0, "%s", err.msg);
    int B = 20, T = 60; /* 1200 rows: two row blocks */
    int *tok = random_tokens(m, B, T, 9);
    cc_fwd_opts fused = {.kernel = CC_KERNEL_FAST, .logprobs = true}, unfused = fused;
    cc_fwd_want(&unfused, CC_HOOK_LOGITS, 0);
    cc_fwd_result a, b;
    ck_assert_msg(cc_forward(m, tok, B, T, &fused, &a, &err) == 0, "%s", err.msg);
    ck_assert_msg(cc_forward(m, tok, B, T, &unfused, &b, &err) == 0, "%s", err.msg);
    ck_assert(cc_fwd_act(&a, CC_HOOK_LOGITS, 0) == NULL && cc_fwd_act(&b, CC_HOOK_LOGITS, 0) != NULL);
    /* the same float32 logits; the sums differ only in the reference maximum
     * of their exp terms (a tile's running maximum vs the row's) */
    for (int i = 0; i < B * (T - 1); i++)
        ck_assert_msg(fabs(a.logprob[i] - b.logprob[i]) < 1e-6, "row %d: fused %.9g, unfused %.9g", i, a.logprob[i],
                      b.logprob[i]);
    for (int i = 0; i < B * T; i++) ck_assert_int_eq(a.argmax[i], b.argmax[i]);
    cc_fwd_result_free(&a), cc_fwd_result_free(&b);
    free(tok);
    cc_model_free(m);
    tu_rmtree(dir);
}
END_TEST

/* torch.argmax's rule, lowest index wins, for an exact tie between the first
 * and the last column of the vocabulary: the fused unembedding gives each
 * thread its own column range (on a machine with two or more cores these two
 * columns fall in different ranges, and the tie is met where the ranges are
 * merged), the unfused one reduces whole rows. The final LayerNorm is set to
 * output all ones (weight 0, bias 1) and both columns of W_U to all ones, so
 * both logits are exactly d_model in every row and every other is far below. */
START_TEST(argmax_ties_across_the_vocabulary_split_go_to_the_lowest_index)
{
    cc_model *m = tiny_model(false);
    int d = m->cfg.d_model, V = m->cfg.d_vocab, B = 2, T = 9;
    for (int i = 0; i < d; i++) {
        m->w.lnf_w[i] = 0.0f, m->w.lnf_b[i] = 1.0f;
        m->w.W_U[(size_t)i * V] = m->w.W_U[(size_t)i * V + V - 1] = 1.0f;
    }
    m->w.b_U[0] = m->w.b_U[V - 1] = 0.0f;
    int *tok = random_tokens(m, B, T, 3);
    cc_fwd_opts fused = {.kernel = CC_KERNEL_FAST, .logprobs = true}, unfused = fused;
    cc_fwd_want(&unfused, CC_HOOK_LOGITS, 0);
    cc_error err;
    cc_fwd_result a, b;
    ck_assert_msg(cc_forward(m, tok, B, T, &fused, &a, &err) == 0, "%s", err.msg);
    ck_assert_msg(cc_forward(m, tok, B, T, &unfused, &b, &err) == 0, "%s", err.msg);
    const float *lg = cc_fwd_act(&b, CC_HOOK_LOGITS, 0); /* [B, T, V] */
    for (int i = 0; i < B * T; i++) {
        ck_assert(lg[(size_t)i * V] == (float)d && lg[(size_t)i * V + V - 1] == (float)d);
        ck_assert_msg(a.argmax[i] == 0, "row %d: fused argmax %d, not 0", i, a.argmax[i]);
        ck_assert_msg(b.argmax[i] == 0, "row %d: unfused argmax %d, not 0", i, b.argmax[i]);
    }
    cc_fwd_result_free(&a), cc_fwd_result_free(&b);
    free(tok);
    cc_model_free(m);
}
END_TEST

START_TEST(bad_input_is_rejected)
{
    cc_model *m = tiny_model(true);
    cc_fwd_opts o = {0};
    cc_fwd_result r;
    cc_error err;
    int tok[40] = {0};
    ck_assert_int_eq(cc_forward(m, tok, 1, 33, &o, &r, &err), -1);
    tu_assert_contains(err.msg, "n_ctx = 32");
    tok[3] = 64;
    ck_assert_int_eq(cc_forward(m, tok, 1, 5, &o, &r, &err), -1);
    tu_assert_contains(err.msg, "outside the vocabulary");
    ck_assert_int_eq(cc_forward(m, tok, 0, 5, &o, &r, &err), -1);
    cc_model_free(m);
}
END_TEST

int main(void)
{
    /* one tiny model for every test, written before Check forks */
    cc_config c;
    cc_error err;
    const char *base = getenv("TMPDIR");
    static char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/circuitc-test-XXXXXX", base && *base ? base : "/tmp");
    g_dir = mkdtemp(tmpl);
    if (!g_dir || cc_synth_preset("tiny", &c, &err) != 0 || cc_synth_write(&c, 5, NULL, g_dir, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    Suite *s = suite_create("forward");
    TCase *tc = tcase_create("forward");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, softmax_rows_sum_to_one_and_mask_is_causal);
    tcase_add_test(tc, future_tokens_do_not_change_earlier_logits);
    tcase_add_test(tc, processing_does_not_change_log_probs);
    tcase_add_test(tc, hooks_edit_and_cache_only_what_is_asked);
    tcase_add_test(tc, hook_names_round_trip);
    tcase_add_test(tc, resume_equals_full_pass);
    tcase_add_test(tc, fused_unembedding_matches_unfused);
    tcase_add_test(tc, argmax_ties_across_the_vocabulary_split_go_to_the_lowest_index);
    tcase_add_test(tc, bad_input_is_rejected);
    tcase_add_test(tc, nonfinite_activation_is_refused_where_it_arises);
    tcase_add_test(tc, absurd_logits_are_refused);
    suite_add_tcase(s, tc);
    int rc = tu_run_suite(s);
    tu_rmtree(g_dir);
    return rc;
}
