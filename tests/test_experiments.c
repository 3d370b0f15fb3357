/* test_experiments.c — repeated tokens, statistics, head scores on hand-made
 * patterns, detect_head, the patching sweep (causal path == naive reruns, both
 * kernels, processed and not) and head ablation, on the tiny synthetic model. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/experiments.h"
#include "circuitc/forward.h"
#include "testutil.h"
#include "circuitc/synth.h"
#include "model/model_internal.h" /* the model's fields, for checking them */

static const char *g_dir;

static cc_model *tiny_model(bool process)
{
    cc_model *m = NULL;
    cc_error err;
    ck_assert_msg(cc_model_load(g_dir, NULL, process, &m, &err) == 0, "%s", err.msg);
    return m;
}

START_TEST(repeat_tokens_shape_and_limits)
{
    cc_model *m = tiny_model(true);
    int B = 3, n = 15, T = 31;
    ck_assert_int_eq(cc_repeat_max_n(&m->cfg), 15);
    int *tok = malloc((size_t)B * T * sizeof *tok), *again = malloc((size_t)B * T * sizeof *tok);
    cc_error err;
    ck_assert(cc_repeat_tokens(&m->cfg, 9, B, n, tok, &err) == 0);
    ck_assert(cc_repeat_tokens(&m->cfg, 9, B, n, again, &err) == 0);
    ck_assert(memcmp(tok, again, (size_t)B * T * sizeof *tok) == 0);
    for (int b = 0; b < B; b++) {
        ck_assert_int_eq(tok[b * T], m->cfg.bos_token_id);
        for (int i = 0; i < n; i++) {
            ck_assert(tok[b * T + 1 + i] >= 0 && tok[b * T + 1 + i] < m->cfg.d_vocab);
            ck_assert_int_eq(tok[b * T + 1 + i], tok[b * T + 1 + n + i]);
        }
    }
    ck_assert(cc_repeat_tokens(&m->cfg, 10, B, n, again, &err) == 0);
    ck_assert(memcmp(tok, again, (size_t)B * T * sizeof *tok) != 0);
    ck_assert_int_eq(cc_repeat_tokens(&m->cfg, 9, B, 16, tok, &err), -1);
    tu_assert_contains(err.msg, "n_ctx = 32");
    tu_assert_contains(err.msg, "n <= 15");
    ck_assert_int_eq(cc_repeat_tokens(&m->cfg, 9, 0, 4, tok, &err), -1);
    free(tok), free(again);
    cc_model_free(m);
}
END_TEST

START_TEST(repeat_stats_are_consistent)
{
    cc_model *m = tiny_model(true);
    int B = 4, n = 10, T = 21;
    int tok[4 * 21];
    cc_error err;
    ck_assert(cc_repeat_tokens(&m->cfg, 1, B, n, tok, &err) == 0);
    cc_repeat_stats s;
    ck_assert(cc_repeat_run(m, tok, B, n, CC_KERNEL_FAST, 0, NULL, NULL, &s, &err) == 0);
    double sum = 0, per = 0;
    for (int i = 0; i < B * 2 * n; i++) {
        ck_assert(s.logprob[i] < 0);
        sum += s.logprob[i];
    }
    for (int b = 0; b < B; b++) per += s.loss_per_seq[b];
    ck_assert(fabs(-sum / (B * 2 * n) - s.loss) < 1e-12);
    ck_assert(fabs(per / B - s.loss) < 1e-12);
    ck_assert(fabs((s.first_mean + s.second_mean) / 2 + s.loss) < 1e-12);
    ck_assert(s.first_acc >= 0 && s.first_acc <= 1 && s.second_acc >= 0 && s.second_acc <= 1);
    /* random weights: close to chance, ln(64) = 4.16 */
    ck_assert_msg(fabs(s.loss - log(64.0)) < 0.5, "loss %g", s.loss);
    cc_repeat_stats_free(&s);
    (void)T;
    cc_model_free(m);
}
END_TEST

/* A fake result holding hand-made patterns [B=1, H=1, T, T], L = 1. */
static cc_fwd_result fake_patterns(int T, float (*fill)(int i, int j))
{
    cc_fwd_result r;
    memset(&r, 0, sizeof r);
    r.batch = 1, r.pos = T, r.n_layers = 1;
    float *P = calloc((size_t)T * T, sizeof *P);
    for (int i = 0; i < T; i++)
        for (int j = 0; j <= i; j++) P[i * T + j] = fill(i, j);
    r.act[CC_HOOK_PATTERN][0] = P;
    return r;
}
static float uniform_causal(int i, int j)
{
    (void)j;
    return 1.0f / (float)(i + 1);
}
static float on_prev(int i, int j)
{
    return (i == 0 && j == 0) || j == i - 1 ? 1.0f : 0.0f;
}

START_TEST(diagonal_scores_follow_torch_diagonal)
{
    int n = 3, T = 7;
    cc_fwd_result r = fake_patterns(T, uniform_causal);
    double s;
    cc_error err;
    /* induction, offset 1-n = -2: dest in [2, 7), value 1/(dest+1) */
    ck_assert(cc_diag_scores(&r, 1, cc_score_offset(CC_SCORE_INDUCTION, n), &s, &err) == 0);
    ck_assert(fabs(s - (1. / 3 + 1. / 4 + 1. / 5 + 1. / 6 + 1. / 7) / 5) < 1e-7);
    ck_assert(cc_diag_scores(&r, 1, cc_score_offset(CC_SCORE_CURRENT, n), &s, &err) == 0);
    ck_assert(fabs(s - (1 + 1. / 2 + 1. / 3 + 1. / 4 + 1. / 5 + 1. / 6 + 1. / 7) / 7) < 1e-7);
    ck_assert(cc_diag_scores(&r, 1, cc_score_offset(CC_SCORE_DUPLICATE, n), &s, &err) == 0);
    ck_assert(fabs(s - (1. / 4 + 1. / 5 + 1. / 6 + 1. / 7) / 4) < 1e-7);
    ck_assert_int_eq(cc_diag_scores(&r, 1, 1, &s, &err), -1);
    cc_fwd_result_free(&r);
    r = fake_patterns(T, on_prev);
    ck_assert(cc_diag_scores(&r, 1, -1, &s, &err) == 0);
    ck_assert(fabs(s - 1.0) < 1e-12);
    cc_fwd_result_free(&r);
    cc_fwd_result empty = {.batch = 1, .pos = 5, .n_layers = 1};
    ck_assert_int_eq(cc_diag_scores(&empty, 1, 0, &s, &err), -1);
    tu_assert_contains(err.msg, "hook_pattern");
}
END_TEST

START_TEST(detect_head_mul_score)
{
    /* tokens BOS a b a b: duplicates at (3,1), (4,2); induction at (3,2), (4,3) */
    int tok[5] = {9, 1, 2, 1, 2}, T = 5;
    cc_fwd_result r = fake_patterns(T, uniform_causal);
    double s;
    cc_error err;
    ck_assert(cc_detect_scores(&r, tok, 1, CC_DETECT_PREV_TOKEN, false, false, &s, &err) == 0);
    ck_assert(fabs(s - (1. / 2 + 1. / 3 + 1. / 4 + 1. / 5) / 5) < 1e-7); /* sum(A) = T */
    ck_assert(cc_detect_scores(&r, tok, 1, CC_DETECT_DUPLICATE, false, false, &s, &err) == 0);
    ck_assert(fabs(s - (1. / 4 + 1. / 5) / 5) < 1e-7);
    ck_assert(cc_detect_scores(&r, tok, 1, CC_DETECT_INDUCTION, false, false, &s, &err) == 0);
    ck_assert(fabs(s - (1. / 4 + 1. / 5) / 5) < 1e-7);
    /* exclude BOS: column 0 is dropped from the denominator */
    double den = 5 - (1 + 1. / 2 + 1. / 3 + 1. / 4 + 1. / 5);
    ck_assert(cc_detect_scores(&r, tok, 1, CC_DETECT_INDUCTION, true, false, &s, &err) == 0);
    ck_assert(fabs(s - (1. / 4 + 1. / 5) / den) < 1e-7);
    /* exclude current token: the diagonal is dropped too */
    den -= 1. / 2 + 1. / 3 + 1. / 4 + 1. / 5; /* diagonal minus (0,0), already gone */
    ck_assert(cc_detect_scores(&r, tok, 1, CC_DETECT_INDUCTION, true, true, &s, &err) == 0);
    ck_assert(fabs(s - (1. / 4 + 1. / 5) / den) < 1e-7);
    cc_fwd_result_free(&r);
}
END_TEST

static void check_sweep_paths(bool process, cc_kernel kern)
{
    cc_model *m = tiny_model(process);
    int n = 12, T = 25;
    int tok[25];
    cc_error err;
    ck_assert(cc_repeat_tokens(&m->cfg, 3, 1, n, tok, &err) == 0);
    cc_patch_sweep a, b;
    ck_assert_msg(cc_patch_mlp_sweep(m, tok, n, false, kern, 0, NULL, NULL, &a, &err) == 0, "%s", err.msg);
    ck_assert_msg(cc_patch_mlp_sweep(m, tok, n, true, kern, 0, NULL, NULL, &b, &err) == 0, "%s", err.msg);
    ck_assert(a.clean_loss == b.clean_loss);
    double mx = 0, big = 0;
    for (int i = 0; i < m->cfg.n_layers * (n + 1); i++) {
        mx = fmax(mx, fabs(a.delta[i] - b.delta[i]));
        big = fmax(big, fabs(b.delta[i]));
    }
    ck_assert_msg(mx < 1e-6, "causal vs naive sweep differ by %g (process %d, kernel %d)", mx, process, kern);
    ck_assert_msg(big > 1e-5, "patching changed nothing (max |delta| %g)", big);
    for (int l = 0; l < m->cfg.n_layers; l++) ck_assert(a.delta[l * (n + 1) + n] == 0.0);
    cc_patch_sweep_free(&a), cc_patch_sweep_free(&b);
    (void)T;
    cc_model_free(m);
}

START_TEST(patching_causal_path_equals_naive_reruns)
{
    check_sweep_paths(true, CC_KERNEL_FAST);
    check_sweep_paths(true, CC_KERNEL_REF);
    check_sweep_paths(false, CC_KERNEL_FAST);
}
END_TEST

static int progress_cb(void *ctx, long done, long total)
{
    int *calls = ctx;
    ck_assert_int_eq(done, ++*calls);
    ck_assert_int_eq(total, 2);
    return 0;
}

START_TEST(patching_reports_progress_and_rejects_long_sequences)
{
    cc_model *m = tiny_model(true);
    int tok[40] = {0}, calls = 0;
    cc_patch_sweep s;
    cc_error err;
    ck_assert(cc_repeat_tokens(&m->cfg, 3, 1, 5, tok, &err) == 0);
    ck_assert(cc_patch_mlp_sweep(m, tok, 5, false, CC_KERNEL_FAST, 0, progress_cb, &calls, &s, &err) == 0);
    ck_assert_int_eq(calls, 2);
    cc_patch_sweep_free(&s);
    ck_assert_int_eq(cc_patch_mlp_sweep(m, tok, 16, false, CC_KERNEL_FAST, 0, NULL, NULL, &s, &err), -1);
    tu_assert_contains(err.msg, "n_ctx = 32");
    cc_model_free(m);
}
END_TEST

START_TEST(ablation_zero_and_mean)
{
    cc_model *m = tiny_model(true);
    const cc_config *c = &m->cfg;
    int B = 3, n = 10;
    int tok[3 * 21];
    cc_error err;
    ck_assert(cc_repeat_tokens(c, 4, B, n, tok, &err) == 0);
    cc_head heads[2] = {{0, 1}, {1, 0}};
    cc_repeat_stats ref;
    ck_assert(cc_repeat_run(m, tok, B, n, CC_KERNEL_FAST, 0, NULL, NULL, &ref, &err) == 0);
    for (int mode = 0; mode < 2; mode++) {
        cc_ablation a;
        ck_assert_msg(cc_ablate_heads(m, tok, B, n, heads, 2, (cc_ablate_mode)mode, CC_KERNEL_FAST, 0, NULL, NULL, &a, &err) == 0,
                      "%s", err.msg);
        ck_assert(a.clean.loss == ref.loss);
        ck_assert_msg(a.ablated.loss != a.clean.loss, "ablation changed nothing");
        /* layer-0 heads' patterns do not depend on layer-0 z: their induction score is unchanged */
        for (int h = 0; h < c->n_heads; h++) ck_assert(a.ablated_induction[h] == a.clean_induction[h]);
        cc_ablation_free(&a);
    }
    /* no heads: identical runs */
    cc_ablation a;
    ck_assert(cc_ablate_heads(m, tok, B, n, heads, 0, CC_ABLATE_ZERO, CC_KERNEL_FAST, 0, NULL, NULL, &a, &err) == 0);
    ck_assert(a.ablated.loss == a.clean.loss);
    cc_ablation_free(&a);
    cc_head bad = {2, 0};
    ck_assert_int_eq(cc_ablate_heads(m, tok, B, n, &bad, 1, CC_ABLATE_ZERO, CC_KERNEL_FAST, 0, NULL, NULL, &a, &err),
                     -1);
    cc_repeat_stats_free(&ref);
    cc_model_free(m);
}
END_TEST

int main(void)
{
    cc_config c;
    cc_error err;
    const char *base = getenv("TMPDIR");
    static char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/circuitc-test-XXXXXX", base && *base ? base : "/tmp");
    g_dir = mkdtemp(tmpl);
    if (!g_dir || cc_synth_preset("tiny", &c, &err) != 0 || cc_synth_write(&c, 21, NULL, g_dir, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    Suite *s = suite_create("experiments");
    TCase *tc = tcase_create("experiments");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, repeat_tokens_shape_and_limits);
    tcase_add_test(tc, repeat_stats_are_consistent);
    tcase_add_test(tc, diagonal_scores_follow_torch_diagonal);
    tcase_add_test(tc, detect_head_mul_score);
    tcase_add_test(tc, patching_causal_path_equals_naive_reruns);
    tcase_add_test(tc, patching_reports_progress_and_rejects_long_sequences);
    tcase_add_test(tc, ablation_zero_and_mean);
    suite_add_tcase(s, tc);
    int rc = tu_run_suite(s);
    tu_rmtree(g_dir);
    return rc;
}
