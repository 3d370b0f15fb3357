/* test_runtime_prompts.c — heads, ablate and pattern on prompts as one library
 * call each (circuitc/runtime_report.h, the options' prompts): on the goldens'
 * repeated tokens (seed 0, seq_len 50, batch 10) given as a prompt batch, every
 * figure that needs no repeat length equals the repeated-token call's (and so
 * TransformerLens', golden head_scores.json); prompts of unequal length and
 * head lists (cc_head_list_parse). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/prompt_json.h"
#include "circuitc/runtime_report.h"
#include "golden.h"
#include "model/model_internal.h"
#include "testutil.h"

static const cc_repeat_input GOLDEN_INPUT = {.seed = 0, .seq_len = 50, .batch = 10};

/* The input's repeated tokens as a prompt batch of token ids (no tokenizer). */
static cc_prompt_batch repeated_as_prompts(const cc_model *m, const cc_repeat_input *in)
{
    int T = 1 + 2 * in->seq_len;
    cc_prompt_batch b = {.batch = in->batch, .pos = T, .bos = -1, .pad = 0};
    b.tokens = malloc((size_t)in->batch * T * sizeof *b.tokens);
    b.length = malloc((size_t)in->batch * sizeof *b.length);
    b.text = calloc((size_t)in->batch, sizeof *b.text);
    cc_error err;
    ck_assert_msg(cc_repeat_tokens(&m->cfg, in->seed, in->batch, in->seq_len, b.tokens, &err) == 0, "%s", err.msg);
    for (int i = 0; i < in->batch; i++) b.length[i] = T;
    return b;
}

/* The score labelled LABEL in R, NULL when R has none. */
static const double *score_of(const cc_heads_report *r, const char *label)
{
    for (int k = 0; k < r->n_scores; k++)
        if (strcmp(r->label[k], label) == 0) return r->score[k];
    return NULL;
}

START_TEST(heads_on_the_repeated_tokens_equal_the_repeated_call)
{
    cc_model *m = golden_fixture(true);
    cc_prompt_batch b = repeated_as_prompts(m, &GOLDEN_INPUT);
    cc_heads_options o = {.input = GOLDEN_INPUT, .top = 3, .exclude_bos = true};
    cc_heads_report want, got;
    cc_error err;
    ck_assert_msg(cc_heads_report_run(m, &o, &want, &err) == 0, "%s", err.msg);
    o.prompts = &b;
    ck_assert_msg(cc_heads_report_run(m, &o, &got, &err) == 0, "%s", err.msg);
    static const char *const labels[5] = {"previous_token", "current_token", "detect_induction_head",
                                          "detect_previous_token_head", "detect_duplicate_token_head"};
    ck_assert_int_eq(got.n_scores, 5);
    ck_assert_ptr_null(score_of(&got, "induction")); /* needs the repeat length */
    int LH = want.n_layers * want.n_heads;
    for (int k = 0; k < 5; k++) {
        ck_assert_str_eq(got.label[k], labels[k]);
        for (int i = 0; i < LH; i++)
            ck_assert_msg(got.score[k][i] == score_of(&want, labels[k])[i], "%s of head %d: %.17g on the prompts, "
                          "%.17g on the repeated tokens", labels[k], i, got.score[k][i], score_of(&want, labels[k])[i]);
    }
    /* ordered by detect_head's induction score: L1H0, the planted induction head, first */
    json_t *j = cc_heads_report_json(&got);
    ck_assert_int_eq(json_array_size(json_object_get(j, "prompts")), 10);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "positions")), 101);
    json_t *first = json_array_get(json_object_get(j, "heads"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(first, "head")), "L1H0");
    ck_assert_ptr_null(json_object_get(first, "induction"));
    ck_assert(json_is_real(json_object_get(json_object_get(first, "detect"), "induction_head")));
    ck_assert(json_is_array(json_object_get(json_object_get(j, "rankings"), "current_token")));
    json_decref(j);
    cc_heads_report_free(&want), cc_heads_report_free(&got);
    cc_prompt_batch_free(&b);
    cc_model_free(m);
}
END_TEST

/* ablate L0H0 (mean) on the same tokens: the same losses and per-position log-probs. */
START_TEST(ablate_on_the_repeated_tokens_equals_the_repeated_call)
{
    cc_model *m = golden_fixture(true);
    cc_prompt_batch b = repeated_as_prompts(m, &GOLDEN_INPUT);
    cc_head heads[1] = {{0, 0}};
    cc_ablate_options o = {.input = GOLDEN_INPUT, .n_heads = 1, .heads = heads, .mode = CC_ABLATE_MEAN};
    cc_ablate_report want, got;
    cc_error err;
    ck_assert_msg(cc_ablate_report_run(m, &o, &want, &err) == 0, "%s", err.msg);
    o.prompts = &b;
    ck_assert_msg(cc_ablate_report_run(m, &o, &got, &err) == 0, "%s", err.msg);
    const cc_token_ablation *a = &got.on_prompts;
    const cc_repeat_stats *st[2] = {&want.ablation.clean, &want.ablation.ablated};
    const cc_token_stats *gt[2] = {&a->clean, &a->ablated};
    for (int k = 0; k < 2; k++) {
        ck_assert_msg(fabs(gt[k]->loss - st[k]->loss) <= 1e-12 * st[k]->loss, "%s loss %.17g vs %.17g",
                      k ? "ablated" : "clean", gt[k]->loss, st[k]->loss);
        for (int i = 0; i < 10 * 100; i++) ck_assert(gt[k]->logprob[i] == st[k]->logprob[i]);
        double acc = (st[k]->first_acc + st[k]->second_acc) / 2; /* halves of equal size */
        ck_assert_msg(fabs(gt[k]->accuracy - acc) < 1e-12, "accuracy %.17g vs %.17g", gt[k]->accuracy, acc);
    }
    ck_assert(a->ablated.loss - a->clean.loss > 1); /* the previous-token head carries the induction circuit */
    ck_assert_int_eq(got.order[0], a->n_heads);     /* L1H0's detect_head induction score falls the most */
    json_t *j = cc_ablate_report_json(&got);
    ck_assert_str_eq(json_string_value(json_object_get(j, "induction_score")), "induction_head");
    json_t *change = json_object_get(j, "logprob_change");
    ck_assert_int_eq(json_array_size(change), 100);
    double d = 0;
    for (int i = 0; i < 10; i++) d += a->ablated.logprob[i * 100 + 60] - a->clean.logprob[i * 100 + 60];
    ck_assert_double_eq_tol(json_real_value(json_array_get(change, 60)), d / 10, 1e-12);
    json_decref(j);
    cc_ablate_report_free(&want), cc_ablate_report_free(&got);
    cc_prompt_batch_free(&b);
    cc_model_free(m);
}
END_TEST

/* Several heads from one pass, each equal to the one-head call on the same prompt. */
START_TEST(patterns_of_several_heads_equal_one_by_one)
{
    cc_model *m = golden_fixture(true);
    cc_repeat_input one = {.seed = 0, .seq_len = 20, .batch = 1};
    cc_prompt_batch b = repeated_as_prompts(m, &one);
    cc_head heads[3] = {{1, 0}, {0, 0}, {2, 3}};
    cc_prompt_patterns r;
    cc_error err;
    ck_assert_msg(cc_prompt_patterns_run(m, &b, heads, 3, 0, &r, &err) == 0, "%s", err.msg);
    int T = 41;
    ck_assert_int_eq(r.positions, T);
    for (int k = 0; k < 3; k++) {
        cc_pattern_report p;
        ck_assert(cc_pattern_report_run(m, &(cc_pattern_options){.input = one, .head = heads[k]}, &p, &err) == 0);
        ck_assert(memcmp(p.pattern, r.pattern + (size_t)k * T * T, (size_t)T * T * sizeof(float)) == 0);
        cc_pattern_report_free(&p);
    }
    json_t *j = cc_prompt_patterns_json(&r, &b), *second = json_array_get(json_object_get(j, "patterns"), 1);
    ck_assert_str_eq(json_string_value(json_object_get(second, "head")), "L0H0");
    ck_assert_int_eq(json_array_size(json_object_get(second, "pattern")), T);
    ck_assert_int_eq(json_array_size(json_object_get(j, "ids")), T);
    json_decref(j);
    cc_prompt_patterns_free(&r);
    heads[2] = (cc_head){3, 0};
    ck_assert_int_eq(cc_prompt_patterns_run(m, &b, heads, 3, 0, &r, &err), -1);
    tu_assert_contains(err.msg, "L3H0 is out of range");
    cc_prompt_batch_free(&b);
    cc_model_free(m);
}
END_TEST

START_TEST(prompts_of_unequal_length_are_refused)
{
    cc_model *m = golden_fixture(true);
    cc_prompt_batch b;
    cc_error err;
    char *dir = tu_tmpdir(), path[1100];
    snprintf(path, sizeof path, "%s/ids.txt", dir);
    tu_write_file(path, "511 1 2 3\n511 1 2\n", 18);
    char spec[1200];
    snprintf(spec, sizeof spec, "@%s", path);
    ck_assert_msg(cc_prompt_batch_load(&(cc_prompt_source){.tokens = spec}, m, &b, &err) == 0, "%s", err.msg);
    cc_heads_report r;
    ck_assert_int_eq(cc_heads_report_run(m, &(cc_heads_options){.top = 1, .prompts = &b}, &r, &err), -1);
    tu_assert_contains(err.msg, "different lengths (prompt 1: 4 tokens, prompt 2: 3)");
    cc_heads_report_free(&r);
    cc_prompt_batch_free(&b);
    ck_assert(cc_prompt_batch_load(&(cc_prompt_source){.tokens = "511"}, m, &b, &err) == 0);
    cc_ablate_report ar;
    cc_head h = {0, 0};
    ck_assert_int_eq(cc_ablate_report_run(m, &(cc_ablate_options){.n_heads = 1, .heads = &h, .prompts = &b}, &ar, &err),
                     -1);
    tu_assert_contains(err.msg, "the prompt has 1 token");
    cc_ablate_report_free(&ar);
    cc_prompt_batch_free(&b);
    tu_rmtree(dir);
    free(dir);
    cc_model_free(m);
}
END_TEST

START_TEST(head_lists_parse)
{
    cc_config cfg = {.n_layers = 3, .n_heads = 4};
    cc_head *h;
    int n;
    cc_error err;
    ck_assert_msg(cc_head_list_parse("L1H2,2.0,L0", &cfg, &h, &n, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(n, 6);
    const cc_head want[6] = {{1, 2}, {2, 0}, {0, 0}, {0, 1}, {0, 2}, {0, 3}};
    ck_assert(memcmp(h, want, sizeof want) == 0);
    free(h);
    ck_assert(cc_head_list_parse("1", &cfg, &h, &n, &err) == 0 && n == 4 && h[3].layer == 1 && h[3].head == 3);
    free(h);
    ck_assert(cc_head_list_parse("L7", NULL, &h, &n, &err) == 0 && n == 0); /* the syntax only */
    free(h);
    static const char *const bad[][2] = {{"L1H2,", "bad head list"},   {",L1", "bad head list"},
                                         {"L1X", "bad head \"L1X\""},  {"L3", "layer \"L3\" is out of range"},
                                         {"L1H4", "out of range"},      {"", "bad head list"}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ck_assert_msg(cc_head_list_parse(bad[i][0], &cfg, &h, &n, &err) == -1, "%s parsed", bad[i][0]);
        ck_assert_ptr_null(h);
        tu_assert_contains(err.msg, bad[i][1]);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("runtime_prompts");
    TCase *tc = tcase_create("runtime_prompts");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, heads_on_the_repeated_tokens_equal_the_repeated_call);
    tcase_add_test(tc, ablate_on_the_repeated_tokens_equals_the_repeated_call);
    tcase_add_test(tc, patterns_of_several_heads_equal_one_by_one);
    tcase_add_test(tc, prompts_of_unequal_length_are_refused);
    tcase_add_test(tc, head_lists_parse);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
