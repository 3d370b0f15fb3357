/* test_parity_runtime.c — the runtime against TransformerLens goldens
 * (golden/out/induction-3l4h, golden/FORMAT.md): the token generator exactly;
 * logits and log-probs (processed and --no-processing), head scores,
 * detect_head scores, patterns and the mlp_out patching sweep (fast causal
 * path and naive path) within the classes "logits", "logprobs", "accuracy"
 * and "attention" of golden/tolerances.json. Stored tokens are used. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/experiments.h"
#include "circuitc/forward.h"
#include "golden.h"
#include "golden_checks.h"
#include "testutil.h"
#include "model/model_internal.h" /* the model's fields, for checking them */

#define FIXTURE "induction-3l4h"

START_TEST(token_generator_reproduces_tokens_json)
{
    cc_model *m = golden_fixture(true);
    int B, n;
    int *want = golden_tokens(FIXTURE, &B, &n);
    json_t *j = golden_load(FIXTURE, "tokens.json");
    int *got = malloc((size_t)B * (1 + 2 * n) * sizeof *got);
    cc_error err;
    ck_assert(cc_repeat_tokens(&m->cfg, (uint64_t)golden_number(j, "seed"), B, n, got, &err) == 0);
    for (int i = 0; i < B * (1 + 2 * n); i++) ck_assert_int_eq(got[i], want[i]);
    json_decref(j);
    free(got), free(want);
    cc_model_free(m);
}
END_TEST

static void check_forward(bool process, const char *file)
{
    cc_model *m = golden_fixture(process);
    golden_check_forward(m, FIXTURE, file);
    cc_model_free(m);
}

START_TEST(forward_matches_transformerlens)
{
    check_forward(true, "forward.json");
}
END_TEST

START_TEST(forward_without_processing_matches_transformerlens)
{
    check_forward(false, "raw/forward.json");
}
END_TEST

START_TEST(head_scores_match_transformerlens)
{
    cc_model *m = golden_fixture(true);
    golden_check_head_scores(m, FIXTURE);
    cc_model_free(m);
}
END_TEST

START_TEST(patching_sweep_matches_transformerlens)
{
    cc_model *m = golden_fixture(true);
    int B, n, L = m->cfg.n_layers;
    int *tok = golden_tokens(FIXTURE, &B, &n);
    json_t *g = golden_load(FIXTURE, "patching.json");
    int seq = (int)golden_number(g, "seq");
    const int *t0 = tok + (size_t)seq * (1 + 2 * n);
    golden_tensor d = golden_get_tensor(g, "delta"), pl = golden_get_tensor(g, "patched_loss");
    ck_assert(d.n == (size_t)L * (n + 1));
    golden_tol logprobs = golden_tolerance("logprobs", "value");
    for (int naive = 0; naive < 2; naive++) {
        cc_patch_sweep s;
        cc_error err;
        ck_assert_msg(cc_patch_mlp_sweep(m, t0, n, naive, CC_KERNEL_FAST, 0, NULL, NULL, &s, &err) == 0, "%s", err.msg);
        golden_check_near(s.clean_loss, golden_number(g, "clean_loss"), logprobs, "clean_loss", 0);
        for (size_t i = 0; i < d.n; i++) {
            golden_check_near(s.delta[i], d.data[i], logprobs, naive ? "delta (naive)" : "delta (causal)", (long)i);
            golden_check_near(s.patched_loss[i], pl.data[i], logprobs, "patched_loss", (long)i);
        }
        for (int l = 0; l < L; l++) ck_assert(s.delta[l * (n + 1) + n] == 0.0); /* p = 2n */
        cc_patch_sweep_free(&s);
    }
    golden_tensor_free(&d), golden_tensor_free(&pl);
    json_decref(g);
    free(tok);
    cc_model_free(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("parity_runtime");
    TCase *tc = tcase_create("induction-3l4h");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, token_generator_reproduces_tokens_json);
    tcase_add_test(tc, forward_matches_transformerlens);
    tcase_add_test(tc, forward_without_processing_matches_transformerlens);
    tcase_add_test(tc, head_scores_match_transformerlens);
    tcase_add_test(tc, patching_sweep_matches_transformerlens);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
