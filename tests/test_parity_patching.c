/* test_parity_patching.c — activation patching at every hook and path patching
 * against TransformerLens (golden/out/MODEL/act_patching.json and
 * path_patching.json, golden/FORMAT.md): the bundled fixture on token ids, and
 * the GPT-2-small-shaped random model on a 20-token IOI-style prompt pair
 * tokenized by GPT-2's tokenizer. Tolerance class "patching" of
 * golden/tolerances.json. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/patching.h"
#include "golden.h"
#include "golden_checks.h"
#include "testutil.h"

static int *int_list(json_t *obj, const char *key, int *n)
{
    json_t *a = json_object_get(obj, key);
    ck_assert_msg(json_is_array(a), "golden key %s is not a list", key);
    *n = (int)json_array_size(a);
    int *v = malloc((size_t)*n * sizeof *v);
    for (int i = 0; i < *n; i++) v[i] = (int)json_integer_value(json_array_get(a, (size_t)i));
    return v;
}

static void check_path_patching(cc_model *m, const char *model)
{
    json_t *g = golden_load(model, "path_patching.json");
    int T, T2;
    int *clean = int_list(g, "clean_tokens", &T), *corrupt = int_list(g, "corrupt_tokens", &T2);
    golden_tol tol = golden_tolerance("patching", "value");
    cc_metric metric = {.kind = CC_METRIC_LOGIT_DIFF, .answer = (int)golden_number(g, "answer"),
                        .wrong = (int)golden_number(g, "wrong")};
    size_t ci;
    json_t *cv;
    json_array_foreach(json_object_get(g, "cases"), ci, cv)
    {
        json_t *rj = json_object_get(cv, "receivers"), *sj = json_object_get(cv, "senders");
        int nr = (int)json_array_size(rj), ns = (int)json_array_size(sj);
        cc_head *recv = malloc((size_t)nr * sizeof *recv), *send = malloc((size_t)ns * sizeof *send);
        for (int i = 0; i < nr; i++)
            recv[i] = (cc_head){(int)json_integer_value(json_array_get(json_array_get(rj, (size_t)i), 0)),
                                (int)json_integer_value(json_array_get(json_array_get(rj, (size_t)i), 1))};
        for (int i = 0; i < ns; i++)
            send[i] = (cc_head){(int)json_integer_value(json_array_get(json_array_get(sj, (size_t)i), 0)),
                                (int)json_integer_value(json_array_get(json_array_get(sj, (size_t)i), 1))};
        cc_hook_kind to;
        cc_error err;
        ck_assert(cc_patch_hook_parse(json_string_value(json_object_get(cv, "to")), &to, &err) == 0);
        cc_path_result r;
        ck_assert_msg(cc_path_patch(m, clean, corrupt, T, send, ns, recv, nr, to, &metric, CC_KERNEL_FAST, 0, NULL, NULL, &r, &err) ==
                          0, "%s", err.msg);
        char what[128];
        snprintf(what, sizeof what, "%s path patching case %zu", model, ci);
        golden_check_near(r.clean, golden_number(g, "clean"), tol, what, -1);
        golden_check_near(r.corrupt, golden_number(g, "corrupt"), tol, what, -2);
        json_t *want = json_object_get(cv, "value");
        ck_assert_int_eq(json_array_size(want), ns);
        for (int s = 0; s < ns; s++) golden_check_near(r.value[s], json_number_value(json_array_get(want, (size_t)s)), tol, what, s);
        cc_path_result_free(&r);
        free(recv), free(send);
    }
    free(clean), free(corrupt);
    json_decref(g);
}

START_TEST(fixture_act_patching_matches_transformerlens)
{
    cc_model *m = golden_fixture(true);
    golden_check_act_patching(m, "induction-3l4h", true);
    cc_model_free(m);
}
END_TEST

START_TEST(fixture_path_patching_matches_transformerlens)
{
    cc_model *m = golden_fixture(true);
    check_path_patching(m, "induction-3l4h");
    cc_model_free(m);
}
END_TEST

START_TEST(gpt2_shaped_patching_matches_transformerlens)
{
    char *dir;
    cc_model *m = golden_gpt2_small_random(&dir);
    golden_check_act_patching(m, "gpt2-small-random", false);
    check_path_patching(m, "gpt2-small-random");
    cc_model_free(m);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("parity_patching");
    TCase *tc = tcase_create("patching");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, fixture_act_patching_matches_transformerlens);
    tcase_add_test(tc, fixture_path_patching_matches_transformerlens);
    tcase_add_test(tc, gpt2_shaped_patching_matches_transformerlens);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
