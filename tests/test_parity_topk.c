/* test_parity_topk.c — circuit accuracy against TransformerLens goldens
 * (golden/out/<model>/factored.json): K-composition top-1/top-5 counts in both
 * directions for every golden head pair (cc_circuit_measure, by both the fast
 * and the brute-force paths), full OV circuit top-1/top-5 and full QK top-1 per
 * head. Counts must be identical. The GPT-2-small-shaped model is regenerated
 * from its seed and must hash to the golden's recorded SHA-256 first. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/circuit.h"
#include "circuitc/measure.h"
#include "golden.h"
#include "testutil.h"

static cc_model *load_processed(const char *dir)
{
    cc_model *m;
    cc_error err;
    ck_assert_msg(cc_model_load(dir, NULL, true, &m, &err) == 0, "%s", err.msg);
    return m;
}

static cc_fm compile(const cc_model *m, const char *circuit, const char *const *names, const cc_head *heads, int n)
{
    cc_circuit *c;
    cc_error err;
    ck_assert_msg(cc_circuit_open(circuit, &c, &err) == 0, "%s", err.msg);
    cc_fm fm;
    ck_assert_msg(cc_circuit_compile(c, m, names, heads, n, &fm, NULL, &err) == 0, "%s", err.msg);
    cc_circuit_free(c);
    return fm;
}

/* Top-1 and top-5 counts of FM's rows (one direction: the OV and QK goldens). */
static void row_counts(const cc_fm *fm, long *top1, long *top5)
{
    cc_error err;
    cc_topk_options o = {.k_max = 5, .method = CC_TOPK_FAST};
    cc_topk_result r;
    ck_assert_msg(cc_topk_diagonal(fm, &o, &r, &err) == 0, "%s", err.msg);
    *top1 = r.correct[0];
    *top5 = r.correct[4];
}

static cc_head head_of(json_t *pair)
{
    return (cc_head){(int)json_integer_value(json_array_get(pair, 0)), (int)json_integer_value(json_array_get(pair, 1))};
}

/* Checks every golden K-comp pair with the fast path, and the first BRUTE_PAIRS
 * pairs with the brute-force reference too. */
static void check_kcomp(const cc_model *m, json_t *factored, size_t brute_pairs)
{
    json_t *list = json_object_get(factored, "kcomp"), *e;
    size_t i;
    ck_assert_int_gt(json_array_size(list), 0);
    json_array_foreach(list, i, e) {
        cc_head heads[2] = {head_of(json_object_get(e, "prev")), head_of(json_object_get(e, "ind"))};
        const char *names[2] = {"prev", "ind"};
        cc_fm fm = compile(m, "kcomp", names, heads, 2);
        for (int method = 0; method < (i < brute_pairs ? 2 : 1); method++) {
            cc_measure_options o = {.k_max = 5, .ranks = CC_RANKS_NEVER,
                                    .method = method == 0 ? CC_TOPK_FAST : CC_TOPK_BRUTE};
            cc_circuit_measurement r;
            cc_error err;
            ck_assert_msg(cc_circuit_measure(NULL, &fm, &o, &r, &err) == 0, "%s", err.msg);
            long r1 = r.rows.correct[0], r5 = r.rows.correct[4], c1 = r.cols.correct[0], c5 = r.cols.correct[4];
            cc_circuit_measurement_free(&r);
            ck_assert_msg(r1 == json_integer_value(json_object_get(e, "top1_rows")) &&
                              r5 == json_integer_value(json_object_get(e, "top5_rows")) &&
                              c1 == json_integer_value(json_object_get(e, "top1_cols")) &&
                              c5 == json_integer_value(json_object_get(e, "top5_cols")),
                          "kcomp L%dH%d->L%dH%d (%s): rows %ld/%ld cols %ld/%ld vs golden %lld/%lld %lld/%lld",
                          heads[0].layer, heads[0].head, heads[1].layer, heads[1].head, method ? "brute" : "fast", r1,
                          r5, c1, c5, json_integer_value(json_object_get(e, "top1_rows")),
                          json_integer_value(json_object_get(e, "top5_rows")),
                          json_integer_value(json_object_get(e, "top1_cols")),
                          json_integer_value(json_object_get(e, "top5_cols")));
        }
        cc_fm_free(&fm);
    }
}

START_TEST(fixture_kcomp_all_pairs)
{
    char *dir = golden_path("models/induction-3l4h");
    cc_model *m = load_processed(dir);
    json_t *f = golden_load("induction-3l4h", "factored.json");
    check_kcomp(m, f, SIZE_MAX);
    json_decref(f);
    cc_model_free(m);
    free(dir);
}
END_TEST

START_TEST(fixture_ov_and_qk_every_head)
{
    char *dir = golden_path("models/induction-3l4h");
    cc_model *m = load_processed(dir);
    json_t *f = golden_load("induction-3l4h", "factored.json");
    json_t *ov = json_object_get(f, "ov"), *qk = json_object_get(f, "qk");
    golden_tensor ov1 = golden_get_tensor(ov, "top1"), ov5 = golden_get_tensor(ov, "top5"),
                  qk1 = golden_get_tensor(qk, "top1");
    const char *name = "head";
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int h = 0; h < m->cfg.n_heads; h++) {
            cc_head hd = {l, h};
            size_t idx = (size_t)l * m->cfg.n_heads + h;
            long t1, t5;
            cc_fm fm = compile(m, "ov", &name, &hd, 1);
            row_counts(&fm, &t1, &t5);
            ck_assert_msg(t1 == (long)ov1.data[idx] && t5 == (long)ov5.data[idx], "OV L%dH%d: %ld/%ld vs %g/%g", l,
                          h, t1, t5, ov1.data[idx], ov5.data[idx]);
            cc_fm_free(&fm);
            fm = compile(m, "qk", &name, &hd, 1);
            row_counts(&fm, &t1, &t5);
            ck_assert_msg(t1 == (long)qk1.data[idx], "QK L%dH%d: %ld vs %g", l, h, t1, qk1.data[idx]);
            cc_fm_free(&fm);
        }
    golden_tensor_free(&ov1), golden_tensor_free(&ov5), golden_tensor_free(&qk1);
    json_decref(f);
    cc_model_free(m);
    free(dir);
}
END_TEST

START_TEST(gpt2_small_random_kcomp_and_ov)
{
    char *dir;
    cc_model *m = golden_gpt2_small_random(&dir);
    json_t *f = golden_load("gpt2-small-random", "factored.json");
    check_kcomp(m, f, 1); /* L4H11 -> L5H5 by both paths at full GPT-2 scale */
    json_t *ov = json_object_get(f, "ov"), *hs = json_object_get(ov, "heads"), *e;
    size_t i;
    const char *name = "head";
    json_array_foreach(hs, i, e) {
        cc_head hd = head_of(e);
        cc_fm fm = compile(m, "ov", &name, &hd, 1);
        long t1, t5;
        row_counts(&fm, &t1, &t5);
        ck_assert_int_eq(t1, json_integer_value(json_array_get(json_object_get(ov, "top1"), i)));
        ck_assert_int_eq(t5, json_integer_value(json_array_get(json_object_get(ov, "top5"), i)));
        cc_fm_free(&fm);
    }
    json_decref(f);
    cc_model_free(m);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("parity_topk");
    TCase *tc = tcase_create("accuracy vs TransformerLens");
    tcase_set_timeout(tc, 1200);
    tcase_add_test(tc, fixture_kcomp_all_pairs);
    tcase_add_test(tc, fixture_ov_and_qk_every_head);
    tcase_add_test(tc, gpt2_small_random_kcomp_and_ov);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
