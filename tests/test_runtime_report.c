/* test_runtime_report.c — repeat and heads as one library call each
 * (circuitc/runtime_report.h) on the bundled fixture with the goldens' input
 * (seed 0, seq_len 50, batch 10: the tokens of tokens.json): the log-probs,
 * accuracies and losses and every head score against TransformerLens
 * (golden forward.json, head_scores.json), the rankings ordered, and the JSON
 * against the struct. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/runtime_report.h"
#include "golden.h"
#include "testutil.h"
#include "model/model_internal.h" /* the model's fields, for checking them */

static const cc_repeat_input GOLDEN_INPUT = {.seed = 0, .seq_len = 50, .batch = 10};

static void near(golden_tol t, double got, double want, const char *what, long i)
{
    ck_assert_msg(golden_near(t, got, want), "%s[%ld]: %.9g vs TransformerLens %.9g", what, i, got, want);
}

START_TEST(repeat_matches_the_goldens)
{
    cc_model *m = golden_fixture(true);
    json_t *g = golden_load("induction-3l4h", "forward.json");
    golden_tol lp = golden_tolerance("logprobs", "value"), acc = golden_tolerance("accuracy", "value");
    cc_repeat_report r;
    cc_error err;
    ck_assert_msg(cc_repeat_report_run(m, &GOLDEN_INPUT, 0, NULL, NULL, &r, &err) == 0, "%s", err.msg);
    golden_tensor c = golden_get_tensor(g, "correct_logprobs"), ls = golden_get_tensor(g, "loss_per_seq");
    ck_assert_int_eq(c.n, 10 * 100);
    for (size_t i = 0; i < c.n; i++) near(lp, r.stats.logprob[i], c.data[i], "correct_logprobs", (long)i);
    for (size_t i = 0; i < ls.n; i++) near(lp, r.stats.loss_per_seq[i], ls.data[i], "loss_per_seq", (long)i);
    near(lp, r.stats.first_mean, golden_number(g, "first_half_mean_logprob"), "first_half_mean_logprob", 0);
    near(lp, r.stats.second_mean, golden_number(g, "second_half_mean_logprob"), "second_half_mean_logprob", 0);
    near(acc, r.stats.second_acc, golden_number(g, "second_half_accuracy"), "second_half_accuracy", 0);
    near(lp, r.stats.loss, golden_number(g, "loss"), "loss", 0);
    json_t *j = cc_repeat_report_json(&r);
    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "positions")), 101);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "batch")), 10);
    json_t *per_pos = json_object_get(j, "mean_logprob_per_position");
    ck_assert_int_eq(json_array_size(per_pos), 100);
    for (int i = 0; i < 100; i += 33) { /* the batch mean of each position */
        double sum = 0;
        for (int b = 0; b < 10; b++) sum += c.data[(size_t)b * 100 + i];
        near(lp, json_real_value(json_array_get(per_pos, (size_t)i)), sum / 10, "mean_logprob_per_position", i);
    }
    ck_assert_double_eq(json_real_value(json_object_get(json_object_get(j, "second_half"), "accuracy")),
                        r.stats.second_acc);
    json_decref(j);
    golden_tensor_free(&c), golden_tensor_free(&ls);
    cc_repeat_report_free(&r);
    json_decref(g);
    cc_model_free(m);
}
END_TEST

START_TEST(heads_match_the_goldens_and_rank_in_order)
{
    cc_model *m = golden_fixture(true);
    json_t *g = golden_load("induction-3l4h", "head_scores.json");
    golden_tol att = golden_tolerance("attention", "value");
    cc_heads_options o = {.input = GOLDEN_INPUT, .top = 5, .exclude_bos = true};
    cc_heads_report r;
    cc_error err;
    ck_assert_msg(cc_heads_report_run(m, &o, &r, &err) == 0, "%s", err.msg);
    int LH = r.n_layers * r.n_heads;
    /* the diagonal scores, then detect_head's induction, previous-token, duplicate with exclude_bos */
    const char *keys[4] = {"induction", "previous_token", "duplicate_token", "current_token"};
    for (int k = 0; k < 4; k++) {
        golden_tensor t = golden_get_tensor(g, keys[k]);
        for (int i = 0; i < LH; i++) near(att, r.score[k][i], t.data[i], keys[k], i);
        ck_assert_str_eq(r.label[k], keys[k]);
        golden_tensor_free(&t);
    }
    const char *det[3] = {"induction_head", "previous_token_head", "duplicate_token_head"};
    for (int k = 0; k < 3; k++) {
        golden_tensor t = golden_get_tensor(json_object_get(json_object_get(g, "detect_head"), det[k]), "exclude_bos");
        for (int i = 0; i < LH; i++) near(att, r.score[4 + k][i], t.data[i], det[k], i);
        golden_tensor_free(&t);
    }
    ck_assert_int_eq(r.n_top, 5);
    for (int k = 0; k < CC_HEADS_N_SCORES; k++)
        for (int i = 0; i + 1 < LH; i++)
            ck_assert_msg(r.score[k][r.ranking[k][i]] >= r.score[k][r.ranking[k][i + 1]], "%s rank %d", r.label[k], i);
    ck_assert_int_eq(r.ranking[0][0], 1 * r.n_heads + 0); /* L1H0, the planted induction head */
    json_t *j = cc_heads_report_json(&r);
    ck_assert_ptr_nonnull(j);
    ck_assert(json_is_true(json_object_get(json_object_get(j, "detect_options"), "exclude_bos")));
    json_t *top = json_object_get(json_object_get(j, "rankings"), "detect_previous_token_head");
    ck_assert_int_eq(json_array_size(top), 5);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(top, 0), "head")), "L0H0");
    json_t *first = json_array_get(json_object_get(j, "heads"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(first, "head")), "L1H0");
    ck_assert_double_eq(json_real_value(json_object_get(json_object_get(first, "detect"), "induction_head")),
                        r.score[4][r.n_heads]);
    json_decref(j);
    cc_heads_report_free(&r);
    json_decref(g);
    cc_model_free(m);
}
END_TEST

/* ablate L0H0 (the planted previous-token head), mean mode: the clean run is
 * TransformerLens' (forward.json), the ablation cc_ablate_heads' on the same
 * tokens, the changes ordered by size with the induction head L1H0 first. */
START_TEST(ablate_matches_its_parts_and_the_goldens)
{
    cc_model *m = golden_fixture(true);
    json_t *g = golden_load("induction-3l4h", "forward.json");
    golden_tol lp = golden_tolerance("logprobs", "value");
    cc_head heads[1] = {{0, 0}};
    cc_ablate_options o = {.input = GOLDEN_INPUT, .n_heads = 1, .heads = heads, .mode = CC_ABLATE_MEAN};
    cc_ablate_report r;
    cc_error err;
    ck_assert_msg(cc_ablate_report_run(m, &o, &r, &err) == 0, "%s", err.msg);
    near(lp, r.ablation.clean.loss, golden_number(g, "loss"), "loss", 0);
    int *tok = malloc(10 * 101 * sizeof *tok);
    ck_assert(cc_repeat_tokens(&m->cfg, 0, 10, 50, tok, &err) == 0);
    cc_ablation want;
    ck_assert(cc_ablate_heads(m, tok, 10, 50, heads, 1, CC_ABLATE_MEAN, CC_KERNEL_FAST, 0, NULL, NULL, &want, &err) ==
              0);
    ck_assert(r.ablation.ablated.loss == want.ablated.loss);
    int LH = want.n_layers * want.n_heads;
    for (int i = 0; i < LH; i++) {
        ck_assert(r.ablation.ablated_induction[i] == want.ablated_induction[i]);
        ck_assert(r.change[i] == want.ablated_induction[i] - want.clean_induction[i]);
        if (i + 1 < LH) ck_assert(fabs(r.change[r.order[i]]) >= fabs(r.change[r.order[i + 1]]));
    }
    ck_assert_int_eq(r.order[0], want.n_heads); /* L1H0 loses the most */
    ck_assert(r.change[r.order[0]] < -0.3);
    json_t *j = cc_ablate_report_json(&r);
    ck_assert_str_eq(json_string_value(json_object_get(j, "mode")), "mean");
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(j, "heads"), 0)), "L0H0");
    ck_assert_double_eq(json_real_value(json_object_get(j, "loss_change")), want.ablated.loss - want.clean.loss);
    json_t *first = json_array_get(json_object_get(j, "induction_scores"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(first, "head")), "L1H0");
    json_decref(j);
    cc_ablation_free(&want);
    free(tok);
    cc_ablate_report_free(&r);
    json_decref(g);
    cc_model_free(m);
}
END_TEST

/* pattern of each golden head on sequence 0 of the goldens' input (a batch of
 * one draws the same first sequence): TransformerLens' patterns
 * (patterns.json), the diagonals as their definition computed here. */
START_TEST(pattern_matches_the_goldens)
{
    cc_model *m = golden_fixture(true);
    json_t *g = golden_load("induction-3l4h", "patterns.json"), *hv;
    golden_tol att = golden_tolerance("attention", "value");
    const char *key;
    json_object_foreach(json_object_get(g, "heads"), key, hv) {
        json_t *hd = json_object_get(hv, "head");
        cc_pattern_options o = {.input = GOLDEN_INPUT, .head = {(int)json_integer_value(json_array_get(hd, 0)),
                                                                (int)json_integer_value(json_array_get(hd, 1))}};
        cc_pattern_report r;
        cc_error err;
        ck_assert_msg(cc_pattern_report_run(m, &o, &r, &err) == 0, "%s", err.msg);
        int T = r.positions, n = GOLDEN_INPUT.seq_len;
        ck_assert_int_eq(T, 101);
        ck_assert_int_eq(r.input.batch, 1);
        golden_tensor p = golden_get_tensor(hv, "pattern");
        for (size_t i = 0; i < p.n; i++) near(att, r.pattern[i], p.data[i], key, (long)i);
        /* previous-token diagonal: mean of P[d, d-1] over d = 1..T-1, from the golden pattern */
        double s = 0;
        for (int d = 1; d < T; d++) s += p.data[(size_t)d * T + d - 1];
        near(att, r.diagonals[CC_SCORE_PREV_TOKEN], s / (T - 1), "previous-token diagonal", 0);
        s = 0; /* induction: offset 1 - n */
        for (int d = n - 1; d < T; d++) s += p.data[(size_t)d * T + d - (n - 1)];
        near(att, r.diagonals[CC_SCORE_INDUCTION], s / (T - (n - 1)), "induction diagonal", 0);
        json_t *j = cc_pattern_report_json(&r);
        ck_assert_int_eq(json_array_size(json_object_get(j, "pattern")), (size_t)T);
        ck_assert_int_eq(json_integer_value(json_array_get(json_object_get(j, "tokens"), 1)), r.tokens[1]);
        ck_assert_double_eq(json_real_value(json_object_get(json_object_get(j, "diagonals"), "induction")),
                            r.diagonals[CC_SCORE_INDUCTION]);
        json_decref(j);
        golden_tensor_free(&p);
        cc_pattern_report_free(&r);
    }
    json_decref(g);
    cc_model_free(m);
}
END_TEST

/* patch's mlp_out sweep on sequence 0 of the goldens' input: TransformerLens'
 * clean loss, deltas and patched losses (patching.json), the JSON's positions. */
START_TEST(patch_sweep_matches_the_goldens)
{
    cc_model *m = golden_fixture(true);
    json_t *g = golden_load("induction-3l4h", "patching.json");
    golden_tol lp = golden_tolerance("logprobs", "value");
    cc_patch_sweep_report r;
    cc_error err;
    ck_assert_msg(cc_patch_sweep_report_run(m, &(cc_patch_sweep_options){.input = GOLDEN_INPUT}, &r, &err) == 0, "%s",
                  err.msg);
    ck_assert_int_eq(r.input.batch, 1);
    near(lp, r.sweep.clean_loss, golden_number(g, "clean_loss"), "clean_loss", 0);
    golden_tensor d = golden_get_tensor(g, "delta"), pl = golden_get_tensor(g, "patched_loss");
    ck_assert_int_eq(d.n, (size_t)r.sweep.n_layers * 51);
    for (size_t i = 0; i < d.n; i++) {
        near(lp, r.sweep.delta[i], d.data[i], "delta", (long)i);
        near(lp, r.sweep.patched_loss[i], pl.data[i], "patched_loss", (long)i);
    }
    json_t *j = cc_patch_sweep_report_json(&r), *pos = json_object_get(j, "patch_positions");
    ck_assert_int_eq(json_array_size(pos), 51);
    ck_assert_int_eq(json_integer_value(json_array_get(pos, 0)), 50);
    ck_assert_str_eq(json_string_value(json_object_get(j, "method")), "causal");
    ck_assert_double_eq(json_real_value(json_array_get(json_array_get(json_object_get(j, "delta"), 2), 7)),
                        r.sweep.delta[2 * 51 + 7]);
    json_decref(j);
    golden_tensor_free(&d), golden_tensor_free(&pl);
    cc_patch_sweep_report_free(&r);
    json_decref(g);
    cc_model_free(m);
}
END_TEST

/* An input too long for n_ctx is refused by name. */
START_TEST(too_long_an_input)
{
    cc_model *m = golden_fixture(true);
    cc_repeat_input in = {.seed = 0, .seq_len = m->cfg.n_ctx, .batch = 1};
    cc_repeat_report r;
    cc_error err;
    ck_assert_int_eq(cc_repeat_report_run(m, &in, 0, NULL, NULL, &r, &err), -1);
    ck_assert_msg(strstr(err.msg, "n_ctx"), "%s", err.msg);
    cc_repeat_report_free(&r);
    cc_model_free(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("runtime_report");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, repeat_matches_the_goldens);
    tcase_add_test(tc, heads_match_the_goldens_and_rank_in_order);
    tcase_add_test(tc, ablate_matches_its_parts_and_the_goldens);
    tcase_add_test(tc, pattern_matches_the_goldens);
    tcase_add_test(tc, patch_sweep_matches_the_goldens);
    tcase_add_test(tc, too_long_an_input);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
