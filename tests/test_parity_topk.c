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
#include "golden_checks.h"
#include "testutil.h"

static cc_model *load_processed(const char *dir)
{
    cc_model *m;
    cc_error err;
    ck_assert_msg(cc_model_load(dir, NULL, true, &m, &err) == 0, "%s", err.msg);
    return m;
}

START_TEST(fixture_kcomp_all_pairs)
{
    char *dir = golden_path("models/induction-3l4h");
    cc_model *m = load_processed(dir);
    json_t *f = golden_load("induction-3l4h", "factored.json");
    golden_check_kcomp(m, f, SIZE_MAX);
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
    golden_check_ov_qk(m, f);
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
    golden_check_kcomp(m, f, 1); /* L4H11 -> L5H5 by both paths at full GPT-2 scale */
    golden_check_ov_qk(m, f);
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
