/* test_cli_analyzer.c — kcomp / ov / qk end to end on the bundled fixture:
 * the JSON figures against the TransformerLens goldens, both accuracy paths,
 * and the error paths (wrong head order, bad heads, wrong arity). */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "golden.h"
#include "testutil.h"

#define RUN(...) tu_run((const char *const[]){__VA_ARGS__, NULL})

static json_t *run_json(const char *const *argv)
{
    tu_run_result r = tu_run(argv);
    ck_assert_msg(r.status == 0, "exit %d: %s", r.status, r.err);
    json_t *j = tu_parse_json(r.out);
    tu_run_free(&r);
    return j;
}

static long dir_top(json_t *report, const char *dir, int k)
{
    return (long)json_integer_value(json_array_get(json_object_get(json_object_get(report, dir), "topk"), (size_t)k - 1));
}

/* The golden kcomp entry for PREV -> IND. */
static json_t *golden_pair(json_t *factored, int lp, int hp, int li, int hi)
{
    json_t *e;
    size_t i;
    json_array_foreach(json_object_get(factored, "kcomp"), i, e) {
        json_t *p = json_object_get(e, "prev"), *q = json_object_get(e, "ind");
        if (json_integer_value(json_array_get(p, 0)) == lp && json_integer_value(json_array_get(p, 1)) == hp &&
            json_integer_value(json_array_get(q, 0)) == li && json_integer_value(json_array_get(q, 1)) == hi)
            return e;
    }
    ck_abort_msg("no golden pair");
    return NULL;
}

START_TEST(kcomp_json_matches_goldens)
{
    json_t *f = golden_load("induction-3l4h", "factored.json");
    const char *pairs[][2] = {{"L0H0", "L1H0"}, {"0.1", "2.3"}};
    int idx[][4] = {{0, 0, 1, 0}, {0, 1, 2, 3}};
    golden_tensor k = golden_get_tensor(json_object_get(f, "composition_scores"), "k");
    for (int p = 0; p < 2; p++) {
        json_t *r = run_json((const char *const[]){"kcomp", pairs[p][0], pairs[p][1], "--json", NULL});
        json_t *g = golden_pair(f, idx[p][0], idx[p][1], idx[p][2], idx[p][3]);
        ck_assert_int_eq(dir_top(r, "rows", 1), json_integer_value(json_object_get(g, "top1_rows")));
        ck_assert_int_eq(dir_top(r, "rows", 5), json_integer_value(json_object_get(g, "top5_rows")));
        ck_assert_int_eq(dir_top(r, "cols", 1), json_integer_value(json_object_get(g, "top1_cols")));
        ck_assert_int_eq(dir_top(r, "cols", 5), json_integer_value(json_object_get(g, "top5_cols")));
        ck_assert_int_eq(json_integer_value(json_array_get(json_object_get(r, "shape"), 0)), 512);
        ck_assert(json_is_number(json_object_get(json_object_get(r, "rows"), "rank_median")));
        /* composition score: golden [l1,h1,l2,h2] of the [3,4,3,4] tensor */
        size_t gi = (((size_t)idx[p][0] * 4 + idx[p][1]) * 3 + idx[p][2]) * 4 + idx[p][3];
        double score = json_real_value(json_object_get(json_object_get(r, "composition"), "score"));
        ck_assert_msg(fabs(score - k.data[gi]) <= 1e-5 * fabs(k.data[gi]), "score %.9g vs golden %.9g", score,
                      k.data[gi]);
        json_decref(r);
    }
    /* the fixture's circuit: the first singular values equal TransformerLens' */
    json_t *r = run_json((const char *const[]){"kcomp", "L0H0", "L1H0", "--json", "--singular", "4", NULL});
    json_t *S = json_object_get(json_object_get(json_object_get(f, "spectra"), "kcomp"), "S");
    json_t *sv = json_object_get(r, "singular_values");
    ck_assert_int_eq(json_array_size(sv), 4);
    double s0 = json_number_value(json_array_get(S, 0));
    for (size_t i = 0; i < 4; i++)
        ck_assert_msg(fabs(json_real_value(json_array_get(sv, i)) - json_number_value(json_array_get(S, i))) <= 1e-5 * s0,
                      "S[%zu]", i);
    json_decref(r);
    golden_tensor_free(&k);
    json_decref(f);
}
END_TEST

START_TEST(paths_agree_and_ov_qk_match)
{
    json_t *fast = run_json((const char *const[]){"kcomp", "L0H2", "L1H3", "--json", "--no-ranks", NULL});
    json_t *brute = run_json((const char *const[]){"kcomp", "L0H2", "L1H3", "--json", "--brute-force", NULL});
    json_t *both = run_json((const char *const[]){"kcomp", "L0H2", "L1H3", "--json", "--compare", "--k", "10", NULL});
    for (int k = 1; k <= 5; k++) {
        ck_assert_int_eq(dir_top(fast, "rows", k), dir_top(brute, "rows", k));
        ck_assert_int_eq(dir_top(fast, "cols", k), dir_top(both, "cols", k));
    }
    ck_assert_int_eq(json_array_size(json_object_get(json_object_get(both, "rows"), "topk")), 10);
    ck_assert(json_is_null(json_object_get(json_object_get(fast, "rows"), "rank_mean")));
    json_decref(fast), json_decref(brute), json_decref(both);

    json_t *f = golden_load("induction-3l4h", "factored.json");
    golden_tensor ov1 = golden_get_tensor(json_object_get(f, "ov"), "top1");
    golden_tensor qk1 = golden_get_tensor(json_object_get(f, "qk"), "top1");
    json_t *ov = run_json((const char *const[]){"ov", "L1H0", "--json", NULL});
    json_t *qk = run_json((const char *const[]){"qk", "2.2", "--json", NULL});
    ck_assert_int_eq(dir_top(ov, "rows", 1), (long)ov1.data[1 * 4 + 0]);
    ck_assert_int_eq(dir_top(qk, "rows", 1), (long)qk1.data[2 * 4 + 2]);
    ck_assert_ptr_null(json_object_get(ov, "composition"));
    json_decref(ov), json_decref(qk);
    golden_tensor_free(&ov1), golden_tensor_free(&qk1);
    json_decref(f);
}
END_TEST

START_TEST(errors_exit_nonzero_without_output)
{
    struct {
        const char *args[6];
        int status;
        const char *needle;
    } cases[] = {
        {{"kcomp", "L1H0", "L0H0"}, 1, "layer(prev) < layer(ind)"},
        {{"kcomp", "L0H0", "L9H0"}, 1, "layers 0..2"},
        {{"kcomp", "L0H0", "L1H7"}, 1, "heads 0..3"},
        {{"kcomp", "L0H0"}, 2, "expected 2 heads"},
        {{"kcomp", "L0H0", "L1Hx"}, 2, "L<layer>H<head>"},
        {{"ov", "L0H0", "L1H0"}, 2, "expected 1 head"},
        {{"kcomp", "L0H0", "L1H0", "--k", "0"}, 2, "--k must be between 1 and 64"},
        {{"kcomp", "L0H0", "L1H0", "--model", "/nonexistent"}, 1, "/nonexistent"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tu_run_result r = tu_run(cases[i].args);
        ck_assert_msg(r.status == cases[i].status, "case %zu: exit %d (%s)", i, r.status, r.err);
        tu_assert_contains(r.err, cases[i].needle);
        ck_assert_str_eq(r.out, "");
        tu_run_free(&r);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cli_analyzer");
    TCase *tc = tcase_create("kcomp ov qk");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, kcomp_json_matches_goldens);
    tcase_add_test(tc, paths_agree_and_ov_qk_match);
    tcase_add_test(tc, errors_exit_nonzero_without_output);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
