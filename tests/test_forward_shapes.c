/* test_forward_shapes.c — the forward pass on every block shape cc_config
 * describes, on small random models built in memory (no loader): the fast
 * kernel against the reference hook by hook (every hook the shape has, within
 * 1e-5 of its scale; logits and log-probs within 1e-4), with and without an
 * editing hook, with the norms' weights (unprocessed) and without (LNPre /
 * RMSPre); resuming equals the full pass; activation patching's causal path
 * equals its naive one (exactly on the reference kernel); hooks a shape does
 * not have are refused with the reason.
 *
 * One model per feature (RMSNorm, rotary full / partial / adjacent pairs,
 * shortformer, GQA, unscaled scores, local windows, parallel, attention-only,
 * gated MLP, each activation) and the families' combinations: Llama (RMS,
 * rotary, GQA, gated silu), Pythia (LN, partial rotary, parallel, gelu),
 * GPT-Neo (unscaled, local windows), TransformerLens' attention-only
 * shortformer toy. d_head * n_heads != d_model on purpose. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/dla.h"
#include "circuitc/experiments.h"
#include "circuitc/forward.h"
#include "circuitc/patching.h"
#include "shape_models.h"
#include "testutil.h"
#include "model/model_internal.h" /* the model's fields, for checking them */

#define HOOK_TOL 1e-5
#define LOGITS_TOL 1e-4

/* ------------------------------------------------------------ fast vs reference */

/* Largest |a - b| over N values divided by max(1, largest |b|); equal
 * infinities (masked scores) count as 0, NaN fails. */
static double scaled_diff(const float *a, const float *b, size_t n, bool absolute)
{
    double mx = 0, scale = 1;
    for (size_t i = 0; i < n; i++) {
        if (isinf(a[i]) && a[i] == b[i]) continue;
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= mx)) mx = d;
        scale = fabs(b[i]) > scale ? fabs(b[i]) : scale;
    }
    return absolute ? mx : mx / scale;
}

/* Zeroes head 1 of layer 0's hook_z. */
static int zero_head(void *ctx, cc_hook_kind kind, int layer, float *act, const cc_act_shape *s, cc_error *err)
{
    (void)ctx, (void)err;
    if (kind != CC_HOOK_Z || layer != 0) return 0;
    for (size_t bt = 0; bt < (size_t)s->dim[0] * s->dim[1]; bt++)
        memset(act + (bt * s->dim[2] + 1) * s->dim[3], 0, (size_t)s->dim[3] * sizeof *act);
    return 0;
}

/* Every hook the shape has, both kernels, B x T tokens; returns the largest
 * |pattern - 1/(visible keys)| seen, so callers can check the patterns are
 * not uniform. */
static double compare_kernels(const char *what, cc_model *m, bool edit)
{
    const cc_config *c = &m->cfg;
    int B = 2, T = 11;
    int *tok = tu_shape_tokens(c, B * T, 5);
    cc_fwd_opts fast = {.kernel = CC_KERNEL_FAST, .logprobs = true}, ref = fast;
    ref.kernel = CC_KERNEL_REF;
    int n_hooks = 0;
    for (int k = 0; k < CC_HOOK_COUNT; k++)
        if (cc_hook_available(c, (cc_hook_kind)k))
            cc_fwd_want(&fast, (cc_hook_kind)k, -1), cc_fwd_want(&ref, (cc_hook_kind)k, -1), n_hooks++;
    if (edit) fast.hook = ref.hook = zero_head;
    cc_fwd_result a, b;
    cc_error err;
    ck_assert_msg(cc_forward(m, tok, B, T, &fast, &a, &err) == 0, "%s: %s", what, err.msg);
    ck_assert_msg(cc_forward(m, tok, B, T, &ref, &b, &err) == 0, "%s: %s", what, err.msg);
    int seen = 0;
    for (int k = 0; k < CC_HOOK_COUNT; k++)
        for (int l = 0; l < (cc_hook_per_layer((cc_hook_kind)k) ? c->n_layers : 1); l++) {
            char name[64];
            cc_hook_name((cc_hook_kind)k, l, name, sizeof name);
            const float *x = cc_fwd_act(&a, (cc_hook_kind)k, l), *y = cc_fwd_act(&b, (cc_hook_kind)k, l);
            if (!cc_hook_available(c, (cc_hook_kind)k)) {
                ck_assert_msg(!x && !y, "%s: %s cached but the shape has no such hook", what, name);
                continue;
            }
            ck_assert_msg(x && y, "%s: %s not cached", what, name);
            seen += l == 0;
            size_t n = cc_hook_shape(c, (cc_hook_kind)k, B, T).numel;
            bool logits = k == CC_HOOK_LOGITS;
            double d = scaled_diff(x, y, n, logits), tol = logits ? LOGITS_TOL : HOOK_TOL;
            ck_assert_msg(d <= tol, "%s (edit %d): %s: fast and reference differ by %g > %g", what, edit, name, d, tol);
        }
    ck_assert_int_eq(seen, n_hooks);
    for (int i = 0; i < B * (T - 1); i++)
        ck_assert_msg(fabs(a.logprob[i] - b.logprob[i]) <= LOGITS_TOL, "%s: log-prob %d", what, i);
    for (int i = 0; i < B * T; i++) ck_assert_int_eq(a.argmax[i], b.argmax[i]);
    double away = 0;
    for (int l = 0; l < c->n_layers; l++) {
        const float *P = cc_fwd_act(&b, CC_HOOK_PATTERN, l);
        for (int bh = 0; bh < B * c->n_heads; bh++)
            for (int i = 0; i < T; i++) {
                int visible = 0;
                for (int j = 0; j < T; j++) visible += P[((size_t)bh * T + i) * T + j] > 0;
                for (int j = 0; j < T; j++)
                    if (P[((size_t)bh * T + i) * T + j] > 0)
                        away = fmax(away, fabs(P[((size_t)bh * T + i) * T + j] - 1.0 / visible));
            }
    }
    cc_fwd_result_free(&a), cc_fwd_result_free(&b);
    free(tok);
    return away;
}

/* ------------------------------------------------------------ resume and patching */

/* Resuming from resid_pre, resid_mid (where the shape has it) and resid_post of
 * every layer gives the full pass's log-probs; resid_mid is refused with the
 * reason where the shape has none. */
static void check_resume(const char *what, cc_model *m)
{
    const cc_config *c = &m->cfg;
    int B = 2, T = 12, d = c->d_model;
    int *tok = tu_shape_tokens(c, B * T, 8);
    bool has_mid = cc_hook_available(c, CC_HOOK_RESID_MID);
    for (int kern = 0; kern < 2; kern++) {
        cc_fwd_opts o = {.kernel = (cc_kernel)kern, .logprobs = true};
        cc_fwd_want(&o, c->pos == CC_POS_ROTARY ? CC_HOOK_ROT_K : CC_HOOK_K, -1), cc_fwd_want(&o, CC_HOOK_V, -1);
        cc_fwd_want(&o, CC_HOOK_RESID_PRE, -1), cc_fwd_want(&o, CC_HOOK_RESID_POST, -1);
        if (has_mid) cc_fwd_want(&o, CC_HOOK_RESID_MID, -1);
        cc_fwd_result r;
        cc_error err;
        ck_assert_msg(cc_forward(m, tok, B, T, &o, &r, &err) == 0, "%s: %s", what, err.msg);
        for (int l = 0; l < c->n_layers; l++)
            for (int f = 0; f < 3; f++) {
                cc_hook_kind from = f == 0 ? CC_HOOK_RESID_PRE : f == 1 ? CC_HOOK_RESID_MID : CC_HOOK_RESID_POST;
                cc_segment seg[2] = {{1, 4, T, NULL}, {0, 0, 6, NULL}};
                int R = (T - 4) + 6;
                float *x = calloc((size_t)R * d, sizeof *x);
                double *lp = malloc((size_t)R * sizeof *lp);
                const float *src = r.act[from][l];
                if (src) {
                    memcpy(x, src + ((size_t)1 * T + 4) * d, (size_t)(T - 4) * d * sizeof *x);
                    memcpy(x + (size_t)(T - 4) * d, src, (size_t)6 * d * sizeof *x);
                }
                int rc = cc_forward_resume(m, tok, B, T, &r, from, l, seg, 2, x, lp, (cc_kernel)kern, &err);
                if (from == CC_HOOK_RESID_MID && !has_mid) {
                    ck_assert_int_eq(rc, -1);
                    tu_assert_contains(err.msg, "has no resid_mid");
                } else {
                    ck_assert_msg(rc == 0, "%s: %s", what, err.msg);
                    /* the reference resumes bit for bit; the fast kernel's GEMMs round by row count */
                    for (int i = 0; i < R; i++) {
                        int t = i < T - 4 ? 4 + i : i - (T - 4), b = i < T - 4;
                        if (t == T - 1) {
                            ck_assert(isnan(lp[i]));
                            continue;
                        }
                        double want = r.logprob[(size_t)b * (T - 1) + t];
                        double tol = kern == CC_KERNEL_REF ? 0 : 1e-6 * (1 + fabs(want));
                        ck_assert_msg(fabs(lp[i] - want) <= tol, "%s: layer %d from %d batch %d row %d kernel %d: "
                                      "%.9g vs %.9g", what, l, from, b, t, kern, lp[i], want);
                    }
                }
                free(x), free(lp);
            }
        cc_fwd_result_free(&r);
    }
    free(tok);
}

/* Activation patching at every patchable hook the shape has: the causal path
 * (resuming) equals the naive one (full reruns), exactly on the reference
 * kernel; a hook the shape lacks is refused naming it. */
static void check_patching(const char *what, cc_model *m)
{
    const cc_config *c = &m->cfg;
    int T = 9;
    int *clean = tu_shape_tokens(c, T, 21), *corrupt = malloc((size_t)T * sizeof *corrupt);
    memcpy(corrupt, clean, (size_t)T * sizeof *clean);
    corrupt[3] = (clean[3] + 1) % c->d_vocab, corrupt[6] = (clean[6] + 5) % c->d_vocab;
    const cc_hook_kind hooks[] = {CC_HOOK_RESID_PRE, CC_HOOK_RESID_MID, CC_HOOK_ATTN_OUT, CC_HOOK_MLP_OUT,
                                  CC_HOOK_Z, CC_HOOK_PATTERN, CC_HOOK_Q, CC_HOOK_K, CC_HOOK_V};
    for (size_t i = 0; i < sizeof hooks / sizeof hooks[0]; i++)
        for (int kern = 0; kern < 2; kern++) {
            cc_patch_opts o = {.hook = hooks[i], .per_head = cc_patch_hook_has_heads(hooks[i]), .kernel = (cc_kernel)kern,
                               .metric = {.kind = kern ? CC_METRIC_LOSS : CC_METRIC_LOGIT_DIFF, .answer = 1, .wrong = 2}};
            cc_patch_result fast, naive;
            cc_error err;
            int rc = cc_act_patch(m, clean, corrupt, T, &o, &fast, &err);
            if (!cc_hook_available(c, hooks[i])) {
                ck_assert_int_eq(rc, -1);
                tu_assert_contains(err.msg, "this model (");
                continue;
            }
            ck_assert_msg(rc == 0, "%s: %s: %s", what, cc_patch_hook_name(hooks[i]), err.msg);
            o.naive = true;
            ck_assert_msg(cc_act_patch(m, clean, corrupt, T, &o, &naive, &err) == 0, "%s: %s", what, err.msg);
            ck_assert_int_eq(fast.n_heads, o.per_head ? (hooks[i] == CC_HOOK_K || hooks[i] == CC_HOOK_V
                                                             ? cc_config_kv_heads(c) : c->n_heads) : 1);
            double worst = 0, moved = 0;
            size_t n = (size_t)fast.n_layers * fast.n_pos * fast.n_heads;
            for (size_t j = 0; j < n; j++) {
                worst = fmax(worst, fabs(fast.value[j] - naive.value[j]));
                moved = fmax(moved, fabs(naive.value[j] - naive.corrupt));
            }
            /* the reference kernel resumes bit for bit; the fast one rounds its GEMMs by row count, which on
             * these random models (logits up to about 10) moves a metric by a few float32 ulps of the logits */
            double tol = kern == CC_KERNEL_REF ? 0 : 1e-5 * (1 + fabs(fast.clean) + fabs(fast.corrupt));
            ck_assert_msg(worst <= tol, "%s: patching %s (kernel %d): causal and naive differ by %g", what,
                          cc_patch_hook_name(hooks[i]), kern, worst);
            ck_assert_msg(moved > 1e-4, "%s: patching %s moved nothing", what, cc_patch_hook_name(hooks[i]));
            cc_patch_result_free(&fast), cc_patch_result_free(&naive);
        }
    free(clean), free(corrupt);
}

/* Direct logit attribution's parts sum to the logit difference: the
 * residual stream is decomposed as the shape builds it (no positional part
 * with rotary or shortformer positions, no MLP part without an MLP, no
 * centring with RMSNorm). */
static void check_dla(const char *what, cc_model *m)
{
    int *tok = tu_shape_tokens(&m->cfg, 7, 3);
    for (int kern = 0; kern < 2; kern++) {
        cc_dla d;
        cc_error err;
        ck_assert_msg(cc_dla_run(m, tok, 7, 4, 9, (cc_kernel)kern, 0, &d, &err) == 0, "%s: %s", what, err.msg);
        ck_assert_msg(fabs(d.sum - d.logit) <= 1e-4 * (1 + fabs(d.logit)), "%s: dla parts sum to %.9g, logit %.9g",
                      what, d.sum, d.logit);
        ck_assert(fabs(d.logit) > 1e-3);
        cc_dla_free(&d);
    }
    free(tok);
}

/* Everything above on the shape, with and without the norms' weights. */
static void check_shape(const char *what, const cc_config *c)
{
    for (int weights = 0; weights < 2; weights++) {
        cc_model *m = tu_shape_model(c, weights, 100 + (uint64_t)weights);
        for (int edit = 0; edit < 2; edit++) {
            double away = compare_kernels(what, m, edit);
            ck_assert_msg(away > 0.2, "%s: the attention patterns are nearly uniform (%g)", what, away);
        }
        check_resume(what, m);
        check_dla(what, m);
        if (weights) check_patching(what, m);
        tu_shape_model_free(m);
    }
}

/* ------------------------------------------------------------ the shapes */

/* Every block shape of shape_models.c, one loop iteration (a forked test) each. */
START_TEST(every_block_shape)
{
    const char *name;
    cc_config c = tu_shape_case(_i, &name);
    check_shape(name, &c);
}
END_TEST

/* ------------------------------------------------------------ unavailable hooks */

START_TEST(missing_hooks_are_refused_with_the_reason)
{
    cc_config c = tu_shape_config();
    c.family = CC_FAMILY_GPT_NEOX, c.parallel = true, c.pos = CC_POS_ROTARY, c.rotary_dim = 4;
    cc_hook_kind k;
    int l;
    cc_error err;
    ck_assert_int_eq(cc_hook_parse("blocks.0.hook_resid_mid", &c, &k, &l, &err), -1);
    tu_assert_contains(err.msg, "blocks.0.hook_resid_mid: this model (gpt_neox, parallel attention and MLP) has no "
                                "resid_mid; ");
    ck_assert_int_eq(cc_hook_parse("hook_pos_embed", &c, &k, &l, &err), -1);
    tu_assert_contains(err.msg, "rotary positions");
    ck_assert_int_eq(cc_hook_parse("blocks.1.attn.hook_rot_k", &c, &k, &l, &err), 0);
    ck_assert_int_eq(k, CC_HOOK_ROT_K);
    ck_assert_int_eq(cc_hook_parse("blocks.1.mlp.hook_pre_linear", &c, &k, &l, &err), -1);
    tu_assert_contains(err.msg, "MLP not gated");
    cc_config a = tu_shape_config();
    a.attn_only = true, a.d_mlp = 0, a.family = CC_FAMILY_TL;
    ck_assert(!cc_hook_available(&a, CC_HOOK_MLP_OUT) && !cc_hook_available(&a, CC_HOOK_RESID_MID));
    ck_assert(cc_hook_available(&a, CC_HOOK_POS_EMBED) && !cc_hook_available(&a, CC_HOOK_ROT_Q));
    cc_model *toy = tu_shape_model(&a, true, 2);
    int rep[5] = {28, 1, 2, 1, 2};
    cc_patch_sweep sweep;
    ck_assert_int_eq(cc_patch_mlp_sweep(toy, rep, 2, false, CC_KERNEL_FAST, 0, NULL, NULL, &sweep, &err), -1);
    tu_assert_contains(err.msg, "hook_mlp_out: this model (transformer_lens, attention only) has no mlp_out");
    tu_shape_model_free(toy);
    cc_model *m = tu_shape_model(&c, true, 1);
    int tok[3] = {1, 2, 3};
    cc_fwd_opts o = {0};
    cc_fwd_want(&o, CC_HOOK_RESID_MID, -1);
    cc_fwd_result r;
    ck_assert_int_eq(cc_forward(m, tok, 1, 3, &o, &r, &err), -1);
    tu_assert_contains(err.msg, "has no resid_mid");
    cc_fwd_result_free(&r);
    /* GQA: k and v have n_kv_heads heads; path patching into them is refused */
    cc_config g = tu_shape_config();
    g.n_kv_heads = 2;
    ck_assert_int_eq(cc_hook_shape(&g, CC_HOOK_K, 2, 5).dim[2], 2);
    ck_assert_int_eq(cc_hook_shape(&g, CC_HOOK_Q, 2, 5).dim[2], 4);
    tu_shape_model_free(m);
}
END_TEST

/* Writes NaN into hook_k (then mlp.hook_pre_linear) of block 0 at batch 1,
 * position 3, column 11 (key/value head 1, 5). */
static int poison(void *ctx, cc_hook_kind kind, int layer, float *act, const cc_act_shape *s, cc_error *err)
{
    (void)err;
    if (kind != *(const cc_hook_kind *)ctx || layer != 0) return 0;
    size_t width = s->numel / ((size_t)s->dim[0] * s->dim[1]);
    act[((size_t)1 * s->dim[1] + 3) * width + 11] = NAN;
    return 0;
}

/* The range check reads each hook with its own shape: k of a GQA model has
 * n_kv_heads heads, the gated MLP's linear branch d_mlp columns. */
START_TEST(range_check_uses_each_hooks_shape)
{
    cc_config c = tu_shape_config();
    c.n_kv_heads = 2, c.pos = CC_POS_ROTARY, c.rotary_dim = 6, c.gated = true, c.act = CC_ACT_SILU;
    cc_model *m = tu_shape_model(&c, true, 4);
    int *tok = tu_shape_tokens(&c, 2 * 8, 1);
    const cc_hook_kind kinds[] = {CC_HOOK_K, CC_HOOK_MLP_PRE_LINEAR};
    const char *want[] = {"blocks.0.attn.hook_k: NaN at [batch 1, position 3, head 1, 5]",
                          "blocks.0.mlp.hook_pre_linear: NaN at [batch 1, position 3, 11]"};
    for (int i = 0; i < 2; i++)
        for (int kern = 0; kern < 2; kern++) {
            cc_fwd_opts o = {.kernel = (cc_kernel)kern, .hook = poison, .hook_ctx = (void *)&kinds[i]};
            cc_fwd_result r;
            cc_error err;
            ck_assert_int_eq(cc_forward(m, tok, 2, 8, &o, &r, &err), -1);
            tu_assert_contains(err.msg, want[i]);
            cc_fwd_result_free(&r);
        }
    free(tok);
    tu_shape_model_free(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("forward shapes");
    TCase *tc = tcase_create("shapes");
    tcase_set_timeout(tc, 600);
    tcase_add_loop_test(tc, every_block_shape, 0, tu_n_shape_cases());
    tcase_add_test(tc, missing_hooks_are_refused_with_the_reason);
    tcase_add_test(tc, range_check_uses_each_hooks_shape);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
