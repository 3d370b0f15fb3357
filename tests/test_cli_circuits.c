/* test_cli_circuits.c — `circuitc compile` and `circuitc comp-scores` end to
 * end on the tiny synthetic model: human and JSON output, the plan, the JSON
 * score arrays against the library, and errors (exit 1/2, nothing on stdout). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/composition.h"
#include "circuitc/synth.h"
#include "testutil.h"
#include "model/model_internal.h" /* the model's fields, for checking them */

#define RUN(...) tu_run((const char *const[]){__VA_ARGS__, NULL})

static const char *g_dir;

START_TEST(compile_human_and_json)
{
    tu_run_result r = RUN("compile", "kcomp", "--model", g_dir, "--bind", "prev=L0H1", "--bind", "ind=1.0", "--explain");
    ck_assert_msg(r.status == 0, "%s", r.err);
    tu_assert_contains(r.out, "shape     [64, 64] = A [64, 8] B [8, 64]");
    tu_assert_contains(r.out, "bind      prev=L0H1 ind=L1H0");
    tu_assert_contains(r.out, "split    after term 2 of 6 (W_Q[ind])");
    tu_assert_contains(r.out, "((W_K[ind]^T W_O[prev]^T) W_V[prev]^T) W_E^T");
    tu_run_free(&r);

    r = RUN("compile", "ov", "--model", g_dir, "--bind", "head=L1H1", "--json", "--order", "tl");
    ck_assert_msg(r.status == 0, "%s", r.err);
    json_t *j = tu_parse_json(r.out);
    ck_assert_str_eq(json_string_value(json_object_get(j, "circuit")), "ov");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "bindings"), "head")), "L1H1");
    json_t *f = json_object_get(j, "factors"), *plan = json_object_get(j, "plan");
    ck_assert_int_eq(json_integer_value(json_array_get(json_object_get(f, "A"), 1)), 8);
    ck_assert_int_eq(json_integer_value(json_object_get(plan, "split")), 2);
    ck_assert_str_eq(json_string_value(json_object_get(plan, "order")), "tl");
    ck_assert_int_eq(json_array_size(json_object_get(plan, "dims")), 5);
    ck_assert(json_real_value(json_object_get(j, "norm")) > 0);
    ck_assert_ptr_null(json_object_get(j, "explain"));
    json_decref(j);
    tu_run_free(&r);

    /* a circuit file given by path */
    char *dir = tu_tmpdir(), path[4096];
    snprintf(path, sizeof path, "%s/mlp.circuit", dir);
    const char *text = "params: a\nchain: W_pos W_in[a] W_out[a] W_U\n";
    tu_write_file(path, text, strlen(text));
    r = RUN("compile", path, "--model", g_dir, "--bind", "a=L1H0");
    ck_assert_msg(r.status == 0, "%s", r.err);
    tu_assert_contains(r.out, "circuit   mlp");
    tu_assert_contains(r.out, "[32, 64] = A [32, 16] B [16, 64]");
    tu_run_free(&r);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(compile_errors)
{
    struct {
        int status;
        const char *err;
        const char *argv[10];
    } cases[] = {
        {2, "give a circuit", {"compile", NULL}},
        {2, "--bind takes NAME=HEAD", {"compile", "kcomp", "--bind", "prev", NULL}},
        {2, "--order takes optimal or tl", {"compile", "kcomp", "--order", "fast", NULL}},
        {1, "no built-in circuit \"nope\"", {"compile", "nope", NULL}},
        {1, "parameter \"ind\" of circuit kcomp is not bound", {"compile", "kcomp", "--bind", "prev=L0H0", NULL}},
        {1, "no parameter \"x\"", {"compile", "kcomp", "--bind", "prev=L0H0", "--bind", "ind=L1H0", "--bind", "x=L0H0", NULL}},
        {1, "does not hold", {"compile", "kcomp", "--bind", "prev=L1H0", "--bind", "ind=L0H0", NULL}},
        {1, "--bind prev=L9H0: head \"L9H0\" is out of range", {"compile", "kcomp", "--bind", "prev=L9H0", "--bind", "ind=L1H0", NULL}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *argv[16];
        int n = 0;
        for (; cases[i].argv[n]; n++) argv[n] = cases[i].argv[n];
        argv[n++] = "--model", argv[n++] = g_dir, argv[n] = NULL;
        tu_run_result r = tu_run(argv);
        ck_assert_msg(r.status == cases[i].status, "case %zu: status %d (%s)", i, r.status, r.err);
        tu_assert_contains(r.err, cases[i].err);
        ck_assert_str_eq(r.out, "");
        tu_run_free(&r);
    }
}
END_TEST

START_TEST(comp_scores_json_matches_library)
{
    tu_run_result r = RUN("comp-scores", "--model", g_dir, "--json", "--baseline-samples", "20", "--seed", "3",
                          "--top", "4");
    ck_assert_msg(r.status == 0, "%s", r.err);
    json_t *j = tu_parse_json(r.out);
    cc_model *m = NULL;
    cc_error err;
    ck_assert(cc_model_load(g_dir, NULL, true, &m, &err) == 0);
    int L = m->cfg.n_layers, H = m->cfg.n_heads, n = L * H;
    double *s = malloc((size_t)n * n * sizeof *s);
    for (int mode = 0; mode < 3; mode++) {
        const char *name = cc_comp_mode_name((cc_comp_mode)mode);
        ck_assert_int_eq(cc_composition_scores(m, (cc_comp_mode)mode, s, &err), 0);
        json_t *a = json_object_get(json_object_get(j, "scores"), name);
        ck_assert_int_eq(json_array_size(a), L);
        for (int x = 0; x < n; x++)
            for (int y = 0; y < n; y++) {
                json_t *v = json_array_get(json_array_get(json_array_get(json_array_get(a, x / H), x % H), y / H), y % H);
                ck_assert_msg(json_is_number(v), "scores.%s[%d][%d][%d][%d] missing", name, x / H, x % H, y / H, y % H);
                ck_assert(fabs(json_number_value(v) - s[(size_t)x * n + y]) <= 1e-8 * s[(size_t)x * n + y]);
            }
        json_t *top = json_object_get(json_object_get(j, "top"), name);
        ck_assert_int_eq(json_array_size(top), 4);
        double prev = INFINITY;
        for (size_t i = 0; i < 4; i++) {
            double sc = json_real_value(json_object_get(json_array_get(top, i), "score"));
            ck_assert(sc <= prev);
            prev = sc;
        }
    }
    double mean, std;
    ck_assert_int_eq(cc_composition_baseline(m->cfg.d_model, m->cfg.d_head, 20, 3, NULL, &mean, &std, &err), 0);
    json_t *b = json_object_get(j, "baseline");
    ck_assert(fabs(json_real_value(json_object_get(b, "mean")) - mean) <= 1e-8 * mean);
    ck_assert(fabs(json_real_value(json_object_get(b, "std")) - std) <= 1e-6 * std);
    ck_assert_int_eq(json_integer_value(json_object_get(b, "samples")), 20);
    free(s);
    cc_model_free(m);
    json_decref(j);
    tu_run_free(&r);

    r = RUN("comp-scores", "--model", g_dir, "--mode", "k", "--baseline-samples", "0", "--json");
    ck_assert_msg(r.status == 0, "%s", r.err);
    j = tu_parse_json(r.out);
    ck_assert(json_is_null(json_object_get(j, "baseline")));
    ck_assert_int_eq(json_array_size(json_object_get(j, "modes")), 1);
    ck_assert_ptr_null(json_object_get(json_object_get(j, "scores"), "q"));
    ck_assert(json_is_null(json_object_get(json_array_get(json_object_get(json_object_get(j, "top"), "k"), 0), "ratio_to_baseline")));
    json_decref(j);
    tu_run_free(&r);

    r = RUN("comp-scores", "--model", g_dir, "--mode", "v", "--baseline-samples", "10");
    ck_assert_msg(r.status == 0, "%s", r.err);
    tu_assert_contains(r.out, "V-composition: top 4 of 4 earlier -> later pairs");
    tu_assert_contains(r.out, "baseline  mean");
    tu_run_free(&r);

    r = RUN("comp-scores", "--model", g_dir, "--mode", "x");
    ck_assert_int_eq(r.status, 2);
    tu_assert_contains(r.err, "--mode takes q, k, v or all");
    ck_assert_str_eq(r.out, "");
    tu_run_free(&r);
    r = RUN("comp-scores", "--model", "/nonexistent");
    ck_assert_int_eq(r.status, 1);
    ck_assert_str_eq(r.out, "");
    tu_run_free(&r);
}
END_TEST

int main(void)
{
    cc_config cfg;
    cc_error err;
    const char *base = getenv("TMPDIR");
    static char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/circuitc-test-XXXXXX", base && *base ? base : "/tmp");
    g_dir = mkdtemp(tmpl);
    if (!g_dir || cc_synth_preset("tiny", &cfg, &err) != 0 || cc_synth_write(&cfg, 8, NULL, g_dir, &err) != 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    unsetenv("CIRCUITC_CIRCUITS");
    Suite *s = suite_create("cli_circuits");
    TCase *tc = tcase_create("cli");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, compile_human_and_json);
    tcase_add_test(tc, compile_errors);
    tcase_add_test(tc, comp_scores_json_matches_library);
    suite_add_tcase(s, tc);
    int rc = tu_run_suite(s);
    tu_rmtree(g_dir);
    return rc;
}
