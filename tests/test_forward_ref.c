/* test_forward_ref.c — the fast forward pass (forward.c) against the plain
 * reference pass (forward_ref.c), hook by hook, on the bundled fixture model
 * and on a tiny synthetic model, processed and not: every cached hook within
 * 1e-5 of its scale, the logits and log-probs within 1e-4 (the parity
 * classes of golden/tolerances.json) and identical argmaxes; the same with an editing hook (a head's hook_z zeroed)
 * and for a resumed pass.
 *
 * "Of its scale": |fast - ref| <= 1e-5 max(1, max |ref|) over the hook. The fast
 * pass accumulates its GEMMs in float32, the reference in float64; on the
 * fixture the two differ by about 1e-6 of each hook's largest value (a few
 * float32 ulps of it), which for the residual stream (up to about 30) is above
 * 1e-5 absolute. Hooks of scale below 1 (patterns, MLP activations) keep the
 * absolute 1e-5. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/forward.h"
#include "circuitc/rng.h"
#include "golden.h"
#include "testutil.h"
#include "model/model_internal.h" /* the model's fields, for checking them */

#define HOOK_TOL 1e-5
#define LOGITS_TOL 1e-4 /* logits and log-probs */

static cc_model *load(const char *dir, bool process)
{
    cc_model *m = NULL;
    cc_error err;
    ck_assert_msg(cc_model_load(dir, NULL, process, &m, &err) == 0, "%s", err.msg);
    return m;
}

static int *random_tokens(const cc_model *m, int n, uint64_t seed)
{
    cc_rng r;
    cc_rng_seed(&r, seed);
    int *t = malloc((size_t)n * sizeof *t);
    for (int i = 0; i < n; i++) t[i] = (int)cc_rng_below(&r, (uint32_t)m->cfg.d_vocab);
    return t;
}

/* Largest |a - b| over N values divided by max(1, largest |b|): the error in
 * units of the tensor's scale. Equal infinities (the masked scores) count as 0,
 * NaN fails. */
static double scaled_diff(const float *a, const float *b, size_t n)
{
    double mx = 0, scale = 1;
    for (size_t i = 0; i < n; i++) {
        if (isinf(a[i]) && a[i] == b[i]) continue;
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= mx)) mx = d;
        scale = fabs(b[i]) > scale ? fabs(b[i]) : scale;
    }
    return mx / scale;
}

/* Largest |a - b| (finite values). */
static double max_abs_diff(const float *a, const float *b, size_t n)
{
    double mx = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= mx)) mx = d;
    }
    return mx;
}

/* Zeroes head 1 of layer 0's hook_z: an edit both passes must carry forward alike. */
static int zero_head(void *ctx, cc_hook_kind kind, int layer, float *act, const cc_act_shape *s, cc_error *err)
{
    (void)ctx, (void)err;
    if (kind != CC_HOOK_Z || layer != 0) return 0;
    for (size_t bt = 0; bt < (size_t)s->dim[0] * s->dim[1]; bt++)
        memset(act + (bt * s->dim[2] + 1) * s->dim[3], 0, (size_t)s->dim[3] * sizeof *act);
    return 0;
}

/* Runs both passes over B x T random tokens with every hook cached and compares them. */
static void compare_passes(const char *dir, bool process, bool edit, int B, int T, uint64_t seed)
{
    cc_model *m = load(dir, process);
    int *tok = random_tokens(m, B * T, seed);
    cc_fwd_opts fast = {.kernel = CC_KERNEL_FAST, .logprobs = true}, ref = fast;
    ref.kernel = CC_KERNEL_REF;
    for (int k = 0; k < CC_HOOK_COUNT; k++)
        if (cc_hook_available(&m->cfg, (cc_hook_kind)k))
            cc_fwd_want(&fast, (cc_hook_kind)k, -1), cc_fwd_want(&ref, (cc_hook_kind)k, -1);
    if (edit) fast.hook = ref.hook = zero_head;
    cc_fwd_result a, b;
    cc_error err;
    ck_assert_msg(cc_forward(m, tok, B, T, &fast, &a, &err) == 0, "%s", err.msg);
    ck_assert_msg(cc_forward(m, tok, B, T, &ref, &b, &err) == 0, "%s", err.msg);
    for (int k = 0; k < CC_HOOK_COUNT; k++)
        for (int l = 0; cc_hook_available(&m->cfg, (cc_hook_kind)k) &&
                        l < (cc_hook_per_layer((cc_hook_kind)k) ? m->cfg.n_layers : 1); l++) {
            char name[64];
            cc_hook_name((cc_hook_kind)k, l, name, sizeof name);
            const float *x = cc_fwd_act(&a, (cc_hook_kind)k, l), *y = cc_fwd_act(&b, (cc_hook_kind)k, l);
            ck_assert_msg(x && y, "%s not cached", name);
            size_t n = cc_hook_shape(&m->cfg, (cc_hook_kind)k, B, T).numel;
            double d = k == CC_HOOK_LOGITS ? max_abs_diff(x, y, n) : scaled_diff(x, y, n);
            double tol = k == CC_HOOK_LOGITS ? LOGITS_TOL : HOOK_TOL;
            ck_assert_msg(d <= tol, "%s (%s, processed %d, edit %d): fast and reference differ by %g > %g (scaled, except logits)", name, dir,
                          process, edit, d, tol);
        }
    if (edit) /* the edit reached the cache and the rest of the pass */
        ck_assert(cc_fwd_act(&b, CC_HOOK_Z, 0)[1 * m->cfg.d_head] == 0.0f);
    for (int i = 0; i < B * (T - 1); i++)
        ck_assert_msg(fabs(a.logprob[i] - b.logprob[i]) <= LOGITS_TOL, "log-prob %d: %.9g vs %.9g", i, a.logprob[i],
                      b.logprob[i]);
    for (int i = 0; i < B * T; i++) ck_assert_int_eq(a.argmax[i], b.argmax[i]);
    cc_fwd_result_free(&a), cc_fwd_result_free(&b);
    free(tok);
    cc_model_free(m);
}

/* Processed and not, each with and without the editing hook. */
static void compare_all(const char *dir, int B, int T, uint64_t seed)
{
    for (int variant = 0; variant < 4; variant++)
        compare_passes(dir, variant & 1, variant & 2, B, T, seed + (uint64_t)variant);
}

START_TEST(fast_matches_reference_on_the_fixture)
{
    char *fixture = golden_path("models/induction-3l4h");
    compare_all(fixture, 2, 33, 1);
    free(fixture);
}
END_TEST

START_TEST(fast_matches_reference_on_a_tiny_model)
{
    char *tiny = tu_tiny_model("11");
    compare_all(tiny, 3, 20, 5);
    tu_rmtree(tiny);
    free(tiny);
}
END_TEST

/* Resuming from a cached clean run: both passes give the same log-probs for
 * segments that start mid-sequence, at the start, and empty. */
START_TEST(resumed_passes_agree)
{
    char *fixture = golden_path("models/induction-3l4h");
    cc_model *m = load(fixture, true);
    free(fixture);
    int B = 2, T = 24, d = m->cfg.d_model;
    int *tok = random_tokens(m, B * T, 7);
    cc_fwd_opts o = {.kernel = CC_KERNEL_FAST};
    cc_fwd_want(&o, CC_HOOK_K, -1), cc_fwd_want(&o, CC_HOOK_V, -1), cc_fwd_want(&o, CC_HOOK_RESID_POST, 0);
    cc_fwd_result clean;
    cc_error err;
    ck_assert_msg(cc_forward(m, tok, B, T, &o, &clean, &err) == 0, "%s", err.msg);
    cc_segment seg[3] = {{1, 9, 24, NULL}, {0, 0, 6, NULL}, {0, 4, 4, NULL}};
    int R = 15 + 6;
    float *x[2];
    double *lp[2];
    for (int kern = 0; kern < 2; kern++) {
        const float *after0 = cc_fwd_act(&clean, CC_HOOK_RESID_POST, 0);
        x[kern] = malloc((size_t)R * d * sizeof *x[kern]);
        lp[kern] = malloc((size_t)R * sizeof *lp[kern]);
        memcpy(x[kern], after0 + ((size_t)1 * T + 9) * d, (size_t)15 * d * sizeof(float));
        memcpy(x[kern] + (size_t)15 * d, after0, (size_t)6 * d * sizeof(float));
        for (int i = 0; i < 15 * d; i++) x[kern][i] *= 1.5f; /* a patched residual, not the clean one */
        ck_assert_msg(cc_forward_resume(m, tok, B, T, &clean, CC_HOOK_RESID_POST, 0, seg, 3, x[kern], lp[kern],
                                        (cc_kernel)kern, &err) == 0,
                      "%s", err.msg);
    }
    ck_assert(isnan(lp[0][14]) && isnan(lp[1][14])); /* position T-1 has no next token */
    for (int i = 0; i < R; i++)
        if (i != 14) ck_assert_msg(fabs(lp[0][i] - lp[1][i]) <= LOGITS_TOL, "row %d: %.9g vs %.9g", i, lp[0][i], lp[1][i]);
    double dx = scaled_diff(x[0], x[1], (size_t)R * d);
    ck_assert_msg(dx <= HOOK_TOL, "final residuals differ by %g of their scale", dx);
    for (int kern = 0; kern < 2; kern++) free(x[kern]), free(lp[kern]);
    cc_fwd_result_free(&clean);
    free(tok);
    cc_model_free(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("forward_ref");
    TCase *tc = tcase_create("fast vs reference");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, fast_matches_reference_on_the_fixture);
    tcase_add_test(tc, fast_matches_reference_on_a_tiny_model);
    tcase_add_test(tc, resumed_passes_agree);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
