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

static void near(double got, double want, golden_tol tol, const char *what, long i)
{
    ck_assert_msg(golden_near(tol, got, want), "%s[%ld]: circuitc %.9g, TransformerLens %.9g (allowed %.3g)", what, i,
                  got, want, golden_allowed(tol, want));
}

/* The options that give the TransformerLens result KEY ("resid_pre",
 * "z_by_pos", "pattern_all_pos", ...). */
static cc_patch_opts opts_for(const char *key)
{
    char hook[32];
    snprintf(hook, sizeof hook, "%s", key);
    char *suffix = strstr(hook, "_by_pos");
    if (!suffix) suffix = strstr(hook, "_all_pos");
    cc_patch_opts o = {.kernel = CC_KERNEL_FAST};
    if (suffix) {
        o.per_head = true, o.all_positions = strcmp(suffix, "_all_pos") == 0;
        *suffix = '\0';
    }
    cc_error err;
    ck_assert_msg(cc_patch_hook_parse(hook, &o.hook, &err) == 0, "%s", err.msg);
    return o;
}

/* The index of golden entry ROW (values along AXES: "layer", "pos" or
 * "dest_pos", "head" or "head_index") in circuitc's [layer][position][head]. */
static size_t result_index(const cc_patch_result *r, json_t *axes, json_t *row)
{
    int at[3] = {0, 0, 0}; /* layer, position, head */
    for (size_t a = 0; a < json_array_size(axes); a++) {
        const char *name = json_string_value(json_array_get(axes, a));
        int v = (int)json_integer_value(json_array_get(row, a));
        at[strcmp(name, "layer") == 0 ? 0 : strstr(name, "pos") ? 1 : 2] = v;
    }
    ck_assert(at[0] < r->n_layers && at[1] - r->pos_lo < r->n_pos && at[2] < r->n_heads);
    return ((size_t)at[0] * r->n_pos + (at[1] - r->pos_lo)) * r->n_heads + at[2];
}

static void check_act_patching(cc_model *m, const char *model, bool naive_too)
{
    json_t *g = golden_load(model, "act_patching.json");
    int T, T2;
    int *clean = int_list(g, "clean_tokens", &T), *corrupt = int_list(g, "corrupt_tokens", &T2);
    ck_assert_int_eq(T, T2);
    golden_tol tol = golden_tolerance("patching", "value");
    int checked = 0;
    const char *metric_name;
    json_t *mv;
    json_object_foreach(json_object_get(g, "metrics"), metric_name, mv)
    {
        cc_metric metric = {.kind = strcmp(metric_name, "loss") == 0 ? CC_METRIC_LOSS : CC_METRIC_LOGIT_DIFF,
                            .answer = (int)golden_number(g, "answer"), .wrong = (int)golden_number(g, "wrong")};
        const char *key;
        json_t *res;
        json_object_foreach(json_object_get(mv, "results"), key, res)
        {
            json_t *axes = json_object_get(res, "axes"), *index = json_object_get(res, "index"),
                   *want = json_object_get(res, "value");
            ck_assert_msg(json_array_size(index) == json_array_size(want) && json_array_size(want) > 0,
                          "%s %s: index and value lists differ", model, key);
            for (int naive = 0; naive < 1 + naive_too; naive++) {
                cc_patch_opts o = opts_for(key);
                o.metric = metric, o.naive = naive;
                cc_patch_result r;
                cc_error err;
                ck_assert_msg(cc_act_patch(m, clean, corrupt, T, &o, &r, &err) == 0, "%s: %s", key, err.msg);
                char what[128];
                snprintf(what, sizeof what, "%s %s %s %s", model, metric_name, key, naive ? "(naive)" : "(causal)");
                near(r.clean, golden_number(mv, "clean"), tol, what, -1);
                near(r.corrupt, golden_number(mv, "corrupt"), tol, what, -2);
                for (size_t i = 0; i < json_array_size(want); i++)
                    near(r.value[result_index(&r, axes, json_array_get(index, i))],
                         json_number_value(json_array_get(want, i)), tol, what, (long)i);
                checked++;
                cc_patch_result_free(&r);
            }
        }
    }
    ck_assert_int_ge(checked, 4);
    free(clean), free(corrupt);
    json_decref(g);
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
        ck_assert_msg(cc_path_patch(m, clean, corrupt, T, send, ns, recv, nr, to, &metric, CC_KERNEL_FAST, &r, &err) ==
                          0, "%s", err.msg);
        char what[128];
        snprintf(what, sizeof what, "%s path patching case %zu", model, ci);
        near(r.clean, golden_number(g, "clean"), tol, what, -1);
        near(r.corrupt, golden_number(g, "corrupt"), tol, what, -2);
        json_t *want = json_object_get(cv, "value");
        ck_assert_int_eq(json_array_size(want), ns);
        for (int s = 0; s < ns; s++) near(r.value[s], json_number_value(json_array_get(want, (size_t)s)), tol, what, s);
        cc_path_result_free(&r);
        free(recv), free(send);
    }
    free(clean), free(corrupt);
    json_decref(g);
}

START_TEST(fixture_act_patching_matches_transformerlens)
{
    cc_model *m = golden_fixture(true);
    check_act_patching(m, "induction-3l4h", true);
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
    check_act_patching(m, "gpt2-small-random", false);
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
