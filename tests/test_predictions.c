/* test_predictions.c — next-token predictions, the logit lens and direct logit
 * attribution on the bundled model: the DLA parts sum to the logit (difference),
 * the lens' last row is the model's own output, both kernels agree, padding is
 * invisible, and the top-K / rank conventions hold on ties. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/dla.h"
#include "circuitc/predictions.h"
#include "testutil.h"
#include "model/model_internal.h" /* the model's fields, for checking them */

static cc_model *load_fixture(bool process)
{
    cc_model *m = NULL;
    cc_error err;
    ck_assert_msg(cc_model_load(tu_fixture_model(), NULL, process, &m, &err) == 0, "%s", err.msg);
    return m;
}

static const int PROMPT[] = {511, 17, 301, 99, 4, 17, 301, 99, 4, 250};
enum { PROMPT_LEN = sizeof PROMPT / sizeof PROMPT[0] };

START_TEST(row_read_ranks_and_ties)
{
    const float lg[6] = {1.0f, 3.0f, 2.0f, 3.0f, -1.0f, 2.0f};
    int32_t id[4];
    double p[4];
    cc_row_target t = cc_logits_row_read(lg, 6, 5, 4, id, p);
    ck_assert_int_eq(id[0], 1); /* equal logits: the lower id first */
    ck_assert_int_eq(id[1], 3);
    ck_assert_int_eq(id[2], 2);
    ck_assert_int_eq(id[3], 5);
    ck_assert_int_eq(t.target_rank, 3);
    double z = 0;
    for (int v = 0; v < 6; v++) z += exp(lg[v]);
    ck_assert_double_eq_tol(p[0], exp(3.0) / z, 1e-15);
    ck_assert_double_eq_tol(t.target_logprob, 2.0 - log(z), 1e-12);
    ck_assert_int_eq(cc_logits_row_read(lg, 6, 1, 1, id, p).target_rank, 0);
    ck_assert_int_eq(cc_logits_row_read(lg, 6, -1, 1, id, p).target_rank, -1);
}
END_TEST

static void check_dla_sums(bool process, int32_t wrong)
{
    cc_model *m = load_fixture(process);
    cc_dla d;
    cc_error err;
    ck_assert_msg(cc_dla_run(m, PROMPT, PROMPT_LEN, 17, wrong, CC_KERNEL_FAST, 0, &d, &err) == 0, "%s", err.msg);
    ck_assert_msg(fabs(d.sum - d.logit) < 1e-4, "parts sum to %.7f, the logit (difference) is %.7f", d.sum, d.logit);
    double by_heads = d.embed + d.pos_embed + d.unembed_bias;
    for (int l = 0; l < d.n_layers; l++) {
        double layer = d.attn_bias[l];
        for (int h = 0; h < d.n_heads; h++) layer += d.head[l * d.n_heads + h];
        ck_assert_double_eq_tol(layer, d.attn_out[l], 1e-12);
        by_heads += layer + d.mlp_out[l];
    }
    ck_assert_double_eq_tol(by_heads, d.sum, 1e-9);
    ck_assert(fabs(d.logit) > 1e-3); /* a real logit, not a degenerate zero */
    cc_dla_free(&d);
    cc_model_free(m);
}

START_TEST(dla_parts_sum_to_the_logit)
{
    check_dla_sums(true, -1);
    check_dla_sums(true, 301);
    check_dla_sums(false, 301); /* ln_final's weight and bias are kept */
}
END_TEST

START_TEST(dla_kernels_agree)
{
    cc_model *m = load_fixture(true);
    cc_dla a, b;
    cc_error err;
    ck_assert(cc_dla_run(m, PROMPT, PROMPT_LEN, 17, 301, CC_KERNEL_FAST, 0, &a, &err) == 0);
    ck_assert(cc_dla_run(m, PROMPT, PROMPT_LEN, 17, 301, CC_KERNEL_REF, 0, &b, &err) == 0);
    for (int i = 0; i < a.n_layers * a.n_heads; i++) ck_assert_double_eq_tol(a.head[i], b.head[i], 1e-5);
    cc_dla_free(&b);
    ck_assert_int_eq(cc_dla_run(m, PROMPT, PROMPT_LEN, 512, -1, CC_KERNEL_FAST, 0, &b, &err), -1);
    tu_assert_contains(err.msg, "0..511");
    cc_dla_free(&a);
    cc_model_free(m);
}
END_TEST

START_TEST(lens_last_row_is_the_model_output)
{
    cc_model *m = load_fixture(true);
    cc_logit_lens lens, ref;
    cc_next_tokens run;
    cc_error err;
    int len = PROMPT_LEN;
    ck_assert_msg(cc_logit_lens_run(m, PROMPT, PROMPT_LEN, 3, CC_KERNEL_FAST, 0, &lens, &err) == 0, "%s", err.msg);
    ck_assert_msg(cc_next_tokens_run(m, PROMPT, &len, 1, PROMPT_LEN, 3, CC_KERNEL_FAST, 0, &run, &err) == 0, "%s",
                  err.msg);
    ck_assert_int_eq(lens.n_rows, m->cfg.n_layers + 1);
    const int last = lens.n_rows - 1;
    for (int t = 0; t + 1 < PROMPT_LEN; t++) {
        ck_assert_double_eq_tol(lens.prob[last * PROMPT_LEN + t], exp(run.logprob[t + 1]), 1e-6);
        ck_assert_int_eq(lens.rank[last * PROMPT_LEN + t], run.rank[t + 1]);
        for (int i = 0; i < 3; i++) ck_assert_int_eq(lens.top_id[(last * PROMPT_LEN + t) * 3 + i], run.top_id[t * 3 + i]);
    }
    ck_assert(isnan(lens.prob[PROMPT_LEN - 1]));
    ck_assert(lens.prob[0] != lens.prob[last * PROMPT_LEN]); /* earlier layers do differ */
    ck_assert_msg(cc_logit_lens_run(m, PROMPT, PROMPT_LEN, 3, CC_KERNEL_REF, 0, &ref, &err) == 0, "%s", err.msg);
    for (int i = 0; i < lens.n_rows * PROMPT_LEN; i++)
        if (!isnan(ref.prob[i])) ck_assert_double_eq_tol(lens.prob[i], ref.prob[i], 1e-5);
    cc_logit_lens_free(&lens);
    cc_logit_lens_free(&ref);
    cc_next_tokens_free(&run);
    cc_model_free(m);
}
END_TEST

START_TEST(run_ignores_right_padding)
{
    cc_model *m = load_fixture(true);
    enum { T = PROMPT_LEN };
    int tokens[2 * T], length[2] = {4, T};
    for (int t = 0; t < T; t++) tokens[t] = t < 4 ? PROMPT[t] : 511, tokens[T + t] = PROMPT[t];
    cc_next_tokens both, alone;
    cc_error err;
    ck_assert(cc_next_tokens_run(m, tokens, length, 2, T, 2, CC_KERNEL_FAST, 0, &both, &err) == 0);
    ck_assert(cc_next_tokens_run(m, PROMPT, length, 1, 4, 2, CC_KERNEL_FAST, 0, &alone, &err) == 0);
    ck_assert(isnan(both.logprob[0]) && isnan(both.logprob[4]) && both.top_id[4 * 2] == -1);
    double loss = 0;
    for (int t = 1; t < 4; t++) {
        ck_assert_double_eq(both.logprob[t], alone.logprob[t]);
        loss -= alone.logprob[t];
    }
    ck_assert_double_eq_tol(both.loss[0], loss / 3, 1e-12);
    ck_assert(both.loss[1] != both.loss[0]);
    cc_next_tokens_free(&both);
    cc_next_tokens_free(&alone);
    ck_assert_int_eq(cc_next_tokens_run(m, PROMPT, length, 1, 4, 513, CC_KERNEL_FAST, 0, &alone, &err), -1);
    tu_assert_contains(err.msg, "outside 1..512");
    cc_model_free(m);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("predictions");
    TCase *tc = tcase_create("predictions");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, row_read_ranks_and_ties);
    tcase_add_test(tc, dla_parts_sum_to_the_logit);
    tcase_add_test(tc, dla_kernels_agree);
    tcase_add_test(tc, lens_last_row_is_the_model_output);
    tcase_add_test(tc, run_ignores_right_padding);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(suite());
}
