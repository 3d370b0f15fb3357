/* test_patching.c — activation patching at every hook: the causal path (resumed
 * from the corrupted run's cache, skipping patches that cannot matter) equals
 * the naive path (one full rerun per patch with a hook) for every hook, position
 * mode, head mode and metric, on both kernels; known end points (patching the
 * whole residual at layer 0 reproduces the clean run); path patching's
 * properties; bad requests refused. On the bundled fixture model (its trained
 * heads attend sharply, so every hook's patches move the metric). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/patching.h"
#include "golden.h"
#include "testutil.h"
#include "model/model_internal.h" /* the model's fields, for checking them */

#define T 12

/* A prompt pair differing from position 5 on (positions 0..4 identical): the
 * clean prompt repeats its first block, so the induction head predicts 20
 * (ANSWER) at the last position. */
#define ANSWER 20
#define WRONG 99
static void prompt_pair(const cc_model *m, int *clean, int *corrupt)
{
    static const int block[5] = {10, 20, 30, 40, 50};
    for (int t = 0; t < T; t++) {
        clean[t] = t == 0 ? m->cfg.bos_token_id : block[(t - 1) % 5];
        corrupt[t] = t < 5 ? clean[t] : 100 + 7 * t;
    }
}

static const cc_hook_kind ALL_HOOKS[] = {CC_HOOK_RESID_PRE, CC_HOOK_RESID_MID, CC_HOOK_ATTN_OUT,
                                         CC_HOOK_MLP_OUT,   CC_HOOK_Z,         CC_HOOK_PATTERN,
                                         CC_HOOK_Q,         CC_HOOK_K,         CC_HOOK_V};

/* Runs O on both paths and compares every value. The reference kernel
 * computes each row the same way whatever the rows around it, so both paths
 * agree exactly; the fast kernel's GEMMs round a resumed pass's rows (other
 * matrix shapes) differently in the last float32 bits: within 1e-6 of the
 * metric's scale (a few ulps of a logit of 15 is 3e-6). */
static void check_paths(cc_model *m, cc_patch_opts o, const char *what)
{
    int clean[T], corrupt[T];
    prompt_pair(m, clean, corrupt);
    cc_patch_result fast, naive;
    cc_error err;
    o.naive = false;
    ck_assert_msg(cc_act_patch(m, clean, corrupt, T, &o, &fast, &err) == 0, "%s: %s", what, err.msg);
    o.naive = true;
    ck_assert_msg(cc_act_patch(m, clean, corrupt, T, &o, &naive, &err) == 0, "%s: %s", what, err.msg);
    size_t N = (size_t)fast.n_layers * fast.n_pos * fast.n_heads;
    ck_assert_int_eq(fast.n_pos, o.all_positions ? 1 : T);
    ck_assert_int_eq(fast.n_heads, o.per_head ? m->cfg.n_heads : 1);
    ck_assert(fast.clean == naive.clean && fast.corrupt == naive.corrupt);
    ck_assert_msg(fabs(fast.clean - fast.corrupt) > 1e-3, "%s: the prompts do not differ in the metric", what);
    double worst = 0, moved = 0;
    for (size_t i = 0; i < N; i++) {
        worst = fmax(worst, fabs(fast.value[i] - naive.value[i]));
        moved = fmax(moved, fabs(naive.value[i] - naive.corrupt));
        ck_assert(fabs(fast.normalized[i] - (fast.value[i] - fast.corrupt) / (fast.clean - fast.corrupt)) < 1e-12);
    }
    double tol = o.kernel == CC_KERNEL_REF ? 0 : 1e-6 * (1 + fabs(fast.clean) + fabs(fast.corrupt));
    ck_assert_msg(worst <= tol, "%s: causal and naive paths differ by %g (clean %g, corrupt %g)", what, worst,
                  fast.clean, fast.corrupt);
    ck_assert_msg(moved > 1e-4, "%s: no patch changed the metric (%g)", what, moved);
    if (!o.all_positions) /* positions 0..4 hold the same activations in both runs */
        for (int l = 0; l < fast.n_layers; l++)
            for (int p = 0; p < 5; p++)
                for (int h = 0; h < fast.n_heads; h++) {
                    size_t i = ((size_t)l * T + p) * fast.n_heads + h;
                    ck_assert_msg(fast.value[i] == fast.corrupt, "%s: layer %d position %d was not skipped", what, l,
                                  p);
                    ck_assert_msg(fabs(naive.value[i] - naive.corrupt) < 2e-6, "%s: identical patch moved", what);
                }
    if (!o.all_positions) ck_assert_msg(fast.skipped > 0, "%s: nothing skipped", what);
    cc_patch_result_free(&fast), cc_patch_result_free(&naive);
}

static void check_all_hooks(bool process, cc_kernel kern, cc_metric metric)
{
    cc_model *m = golden_fixture(process);
    for (size_t i = 0; i < sizeof ALL_HOOKS / sizeof ALL_HOOKS[0]; i++) {
        cc_hook_kind k = ALL_HOOKS[i];
        for (int all = 0; all < 2; all++)
            for (int per_head = 0; per_head < 1 + cc_patch_hook_has_heads(k); per_head++) {
                cc_patch_opts o = {.hook = k, .per_head = per_head, .all_positions = all, .metric = metric,
                                   .kernel = kern};
                char what[128];
                snprintf(what, sizeof what, "%s %s%s, kernel %d, process %d, metric %d", cc_patch_hook_name(k),
                         all ? "all positions" : "each position", per_head ? " per head" : "", kern, process,
                         metric.kind);
                check_paths(m, o, what);
            }
    }
    cc_model_free(m);
}

START_TEST(causal_equals_naive_logit_diff)
{
    cc_metric ld = {.kind = CC_METRIC_LOGIT_DIFF, .answer = ANSWER, .wrong = WRONG};
    check_all_hooks(true, CC_KERNEL_FAST, ld);
    check_all_hooks(false, CC_KERNEL_FAST, ld);
    check_all_hooks(true, CC_KERNEL_REF, ld);
}
END_TEST

START_TEST(causal_equals_naive_loss)
{
    cc_metric loss = {.kind = CC_METRIC_LOSS};
    check_all_hooks(true, CC_KERNEL_FAST, loss);
    cc_metric part = {.kind = CC_METRIC_LOSS, .loss_lo = 6, .loss_hi = 9};
    check_all_hooks(true, CC_KERNEL_FAST, part);
}
END_TEST

/* Patching the whole residual stream entering layer 0 turns the corrupted run
 * into the clean one; the clean run patched into itself changes nothing. */
START_TEST(end_points)
{
    cc_model *m = golden_fixture(true);
    int clean[T], corrupt[T];
    prompt_pair(m, clean, corrupt);
    cc_error err;
    cc_patch_result r;
    for (int naive = 0; naive < 2; naive++) {
        cc_patch_opts o = {.hook = CC_HOOK_RESID_PRE, .all_positions = true, .naive = naive,
                           .metric = {.kind = CC_METRIC_LOGIT_DIFF, .answer = ANSWER, .wrong = WRONG}};
        ck_assert(cc_act_patch(m, clean, corrupt, T, &o, &r, &err) == 0);
        ck_assert_msg(fabs(r.value[0] - r.clean) < 2e-6, "layer 0: %g vs clean %g", r.value[0], r.clean);
        ck_assert(fabs(r.normalized[0] - 1) < 1e-5);
        cc_patch_result_free(&r);
        ck_assert(cc_act_patch(m, clean, clean, T, &o, &r, &err) == 0);
        ck_assert(r.clean == r.corrupt);
        for (int l = 0; l < r.n_layers; l++) ck_assert(fabs(r.value[l] - r.clean) < 2e-6);
        cc_patch_result_free(&r);
    }
    cc_model_free(m);
}
END_TEST

START_TEST(path_patching_properties)
{
    cc_model *m = golden_fixture(true);
    int clean[T], corrupt[T];
    prompt_pair(m, clean, corrupt);
    cc_metric ld = {.kind = CC_METRIC_LOGIT_DIFF, .answer = ANSWER, .wrong = WRONG};
    cc_error err;
    cc_path_result r;
    cc_head senders[3] = {{0, 0}, {0, 1}, {1, 0}}, receiver = {1, 1};
    double moved = 0;
    for (int to = 0; to < 3; to++) {
        cc_hook_kind k = to == 0 ? CC_HOOK_Q : to == 1 ? CC_HOOK_K : CC_HOOK_V;
        ck_assert_msg(cc_path_patch(m, clean, corrupt, T, senders, 3, &receiver, 1, k, &ld, CC_KERNEL_FAST, 0, NULL, NULL, &r,
                                    &err) == 0, "%s", err.msg);
        ck_assert_int_eq(r.n_senders, 3);
        ck_assert(r.value[2] == r.clean); /* a sender in the receiver's layer cannot reach its input */
        for (int s = 0; s < 2; s++) moved = fmax(moved, fabs(r.value[s] - r.clean));
        ck_assert(fabs(r.normalized[0] - (r.value[0] - r.clean) / (r.clean - r.corrupt)) < 1e-12);
        cc_path_result_free(&r);
        /* the same prompt twice: nothing to carry */
        ck_assert(cc_path_patch(m, clean, clean, T, senders, 3, &receiver, 1, k, &ld, CC_KERNEL_FAST, 0, NULL, NULL, &r, &err) == 0);
        for (int s = 0; s < 3; s++) ck_assert(r.value[s] == r.clean);
        cc_path_result_free(&r);
    }
    ck_assert_msg(moved > 1e-4, "no path changed the metric (%g)", moved);
    cc_head bad = {9, 0};
    ck_assert_int_eq(cc_path_patch(m, clean, corrupt, T, &bad, 1, &receiver, 1, CC_HOOK_Q, &ld, CC_KERNEL_FAST, 0, NULL, NULL, &r,
                                   &err), -1);
    tu_assert_contains(err.msg, "sender head L9H0");
    ck_assert_int_eq(cc_path_patch(m, clean, corrupt, T, senders, 1, &receiver, 1, CC_HOOK_Z, &ld, CC_KERNEL_FAST, 0, NULL, NULL, &r,
                                   &err), -1);
    tu_assert_contains(err.msg, "q, k or v");
    cc_model_free(m);
}
END_TEST

START_TEST(bad_requests_are_refused)
{
    cc_model *m = golden_fixture(true);
    int clean[T], corrupt[T];
    prompt_pair(m, clean, corrupt);
    cc_error err;
    cc_patch_result r;
    cc_patch_opts o = {.hook = CC_HOOK_RESID_PRE, .per_head = true, .metric = {.kind = CC_METRIC_LOSS}};
    ck_assert_int_eq(cc_act_patch(m, clean, corrupt, T, &o, &r, &err), -1);
    tu_assert_contains(err.msg, "only z, pattern, q, k and v have heads");
    o = (cc_patch_opts){.hook = CC_HOOK_MLP_PRE, .metric = {.kind = CC_METRIC_LOSS}};
    ck_assert_int_eq(cc_act_patch(m, clean, corrupt, T, &o, &r, &err), -1);
    tu_assert_contains(err.msg, "blocks.0.mlp.hook_pre");
    o = (cc_patch_opts){.hook = CC_HOOK_Z, .pos_lo = 3, .pos_hi = T + 1, .metric = {.kind = CC_METRIC_LOSS}};
    ck_assert_int_eq(cc_act_patch(m, clean, corrupt, T, &o, &r, &err), -1);
    tu_assert_contains(err.msg, "patched positions [3, 13)");
    o = (cc_patch_opts){.hook = CC_HOOK_Z, .metric = {.kind = CC_METRIC_LOGIT_DIFF, .answer = m->cfg.d_vocab}};
    ck_assert_int_eq(cc_act_patch(m, clean, corrupt, T, &o, &r, &err), -1);
    tu_assert_contains(err.msg, "must be token ids");
    o = (cc_patch_opts){.hook = CC_HOOK_Z, .metric = {.kind = CC_METRIC_LOSS, .loss_lo = 4, .loss_hi = T}};
    ck_assert_int_eq(cc_act_patch(m, clean, corrupt, T, &o, &r, &err), -1);
    tu_assert_contains(err.msg, "non-empty range inside [0, 11)");
    cc_hook_kind k;
    ck_assert(cc_patch_hook_parse("attn_out", &k, &err) == 0 && k == CC_HOOK_ATTN_OUT);
    ck_assert_int_eq(cc_patch_hook_parse("mlp_pre", &k, &err), -1);
    tu_assert_contains(err.msg, "choose resid_pre");
    /* TransformerLens' names of the same hooks, without a layer */
    ck_assert(cc_patch_hook_parse("hook_resid_pre", &k, &err) == 0 && k == CC_HOOK_RESID_PRE);
    ck_assert(cc_patch_hook_parse("attn.hook_z", &k, &err) == 0 && k == CC_HOOK_Z);
    ck_assert_int_eq(cc_patch_hook_parse("blocks.1.hook_resid_pre", &k, &err), -1);
    tu_assert_contains(err.msg, "sweeps every layer");
    ck_assert_int_eq(cc_patch_hook_parse("mlp.hook_post", &k, &err), -1);
    tu_assert_contains(err.msg, "choose resid_pre");
    cc_model_free(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("patching");
    TCase *tc = tcase_create("patching");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, causal_equals_naive_logit_diff);
    tcase_add_test(tc, causal_equals_naive_loss);
    tcase_add_test(tc, end_points);
    tcase_add_test(tc, path_patching_properties);
    tcase_add_test(tc, bad_requests_are_refused);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
