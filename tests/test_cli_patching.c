/* test_cli_patching.c — `patch HOOK` on a prompt pair and `path-patch` end to
 * end on the bundled fixture (token ids): JSON keys and values against the
 * TransformerLens goldens, the chart, and refused requests (exit status,
 * message, nothing on stdout). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden.h"
#include "testutil.h"

#define RUN(...) tu_run((const char *const[]){__VA_ARGS__, NULL})

/* The fixture prompt pair of golden/out/induction-3l4h/act_patching.json. */
#define CLEAN "511,10,20,30,40,50,10,20,30,40,50,10"
#define CORRUPT "511,10,20,30,40,135,142,149,156,163,170,177"

START_TEST(patch_json_matches_the_golden)
{
    char *fx = golden_path("models/induction-3l4h");
    json_t *g = golden_load("induction-3l4h", "act_patching.json");
    char *golden_corrupt = json_dumps(json_object_get(g, "corrupt_tokens"), JSON_COMPACT);
    ck_assert_str_eq(golden_corrupt, "[511,10,20,30,40,135,142,149,156,163,170,177]");
    free(golden_corrupt);
    json_t *gm = json_object_get(json_object_get(g, "metrics"), "logit_diff");
    json_t *gr = json_object_get(json_object_get(gm, "results"), "resid_pre");
    tu_run_result r = RUN("patch", "resid_pre", "--model", fx, "--clean-tokens", CLEAN, "--corrupt-tokens", CORRUPT,
                          "--answer", "#20", "--wrong", "#99", "--json");
    json_t *j = tu_parse_ok(&r);
    ck_assert_str_eq(json_string_value(json_object_get(j, "command")), "patch");
    ck_assert_str_eq(json_string_value(json_object_get(j, "hook")), "resid_pre");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "metric"), "kind")), "logit_diff");
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(j, "clean_text"), 1)), "+"); /* id 10 */
    ck_assert(fabs(json_real_value(json_object_get(j, "clean")) - golden_number(gm, "clean")) < 1e-4);
    json_t *v = json_object_get(j, "value"), *nv = json_object_get(j, "normalized");
    double clean = json_real_value(json_object_get(j, "clean")), corrupt = json_real_value(json_object_get(j, "corrupt"));
    json_t *index = json_object_get(gr, "index"), *want = json_object_get(gr, "value");
    ck_assert_int_eq(json_array_size(want), 3 * 12);
    for (size_t i = 0; i < json_array_size(want); i++) {
        json_t *row = json_array_get(index, i);
        size_t l = (size_t)json_integer_value(json_array_get(row, 0)), p = (size_t)json_integer_value(json_array_get(row, 1));
        double got = json_real_value(json_array_get(json_array_get(json_array_get(v, l), p), 0));
        ck_assert_msg(fabs(got - json_real_value(json_array_get(want, i))) < 1e-4, "resid_pre[%zu][%zu]", l, p);
        double n = json_real_value(json_array_get(json_array_get(json_array_get(nv, l), p), 0));
        ck_assert(fabs(n - (got - corrupt) / (clean - corrupt)) < 1e-6); /* JSON keeps 9 digits */
    }
    ck_assert_int_eq(json_integer_value(json_object_get(j, "skipped")) >= 15, 1); /* positions 0..4, 3 layers */
    json_decref(j);
    tu_run_free(&r);
    /* per head, all positions: [3][1][4] */
    r = RUN("patch", "k", "--per-head", "--positions", "all", "--model", fx, "--clean-tokens", CLEAN,
            "--corrupt-tokens", CORRUPT, "--metric", "loss", "--json");
    j = tu_parse_ok(&r);
    json_t *shape = json_object_get(j, "shape");
    ck_assert_int_eq(json_integer_value(json_array_get(shape, 1)), 1);
    ck_assert_int_eq(json_integer_value(json_array_get(shape, 2)), 4);
    json_t *gk = json_object_get(json_object_get(json_object_get(json_object_get(g, "metrics"), "loss"), "results"),
                                 "k_all_pos");
    for (size_t i = 0; i < 12; i++)
        ck_assert(fabs(json_real_value(json_array_get(json_array_get(json_array_get(json_object_get(j, "value"), i / 4),
                                                                     0), i % 4)) -
                       json_real_value(json_array_get(json_object_get(gk, "value"), i))) < 1e-4);
    json_decref(j), json_decref(g);
    tu_run_free(&r);
    free(fx);
}
END_TEST

START_TEST(path_patch_json_matches_the_golden)
{
    char *fx = golden_path("models/induction-3l4h");
    json_t *g = golden_load("induction-3l4h", "path_patching.json");
    json_t *c0 = json_array_get(json_object_get(g, "cases"), 0); /* L0H0..L0H3 -> L1H0 q */
    tu_run_result r = RUN("path-patch", "all", "L1H0", "--to", "q", "--model", fx, "--clean-tokens", CLEAN,
                          "--corrupt-tokens", CORRUPT, "--answer", "#20", "--wrong", "#99", "--json");
    json_t *j = tu_parse_ok(&r);
    ck_assert_str_eq(json_string_value(json_object_get(j, "command")), "path-patch");
    ck_assert_int_eq(json_array_size(json_object_get(j, "senders")), 4);
    for (size_t s = 0; s < 4; s++)
        ck_assert(fabs(json_real_value(json_array_get(json_object_get(j, "value"), s)) -
                       json_real_value(json_array_get(json_object_get(c0, "value"), s))) < 1e-4);
    json_decref(j), json_decref(g);
    tu_run_free(&r);
    free(fx);
}
END_TEST

START_TEST(patch_chart_is_drawn)
{
    char *fx = golden_path("models/induction-3l4h"), *dir = tu_tmpdir(), png[4096];
    snprintf(png, sizeof png, "%s/z.png", dir);
    tu_run_result r = RUN("patch", "z", "--per-head", "--model", fx, "--clean-tokens", CLEAN, "--corrupt-tokens",
                          CORRUPT, "--answer", "#20", "--wrong", "#99", "--plot", png);
    ck_assert_msg(r.status == 0, "%s", r.err);
    tu_assert_contains(r.out, "layer head position");
    tu_run_free(&r);
    FILE *f = fopen(png, "rb");
    unsigned char sig[8] = {0};
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fread(sig, 1, 8, f), 8);
    fclose(f);
    ck_assert(memcmp(sig, "\x89PNG\r\n\x1a\n", 8) == 0);
    tu_rmtree(dir);
    free(dir), free(fx);
}
END_TEST

/* Equal clean and corrupted metrics leave (x - corrupt) / (clean - corrupt)
 * undefined: said once, the tables show the patched metric or "-", never
 * "nan"; JSON gives null. */
START_TEST(equal_metrics_say_the_normalised_score_is_undefined)
{
    char *fx = golden_path("models/induction-3l4h");
    const char *say = "clean and corrupted runs give the same metric; the normalised score is undefined";
    tu_run_result runs[3] = {
        RUN("patch", "resid_pre", "--model", fx, "--clean-tokens", CLEAN, "--corrupt-tokens", CLEAN, "--answer",
            "#20", "--wrong", "#99"),
        RUN("patch", "z", "--per-head", "--model", fx, "--clean-tokens", CLEAN, "--corrupt-tokens", CLEAN,
            "--answer", "#20", "--wrong", "#99"),
        RUN("path-patch", "L0H0", "L1H0", "--model", fx, "--clean-tokens", CLEAN, "--corrupt-tokens", CLEAN,
            "--answer", "#20", "--wrong", "#99"),
    };
    for (int i = 0; i < 3; i++) {
        ck_assert_msg(runs[i].status == 0, "%s", runs[i].err);
        tu_assert_contains(runs[i].out, say);
        ck_assert_msg(!strstr(runs[i].out, "nan") && !strstr(runs[i].out, "NaN"), "NaN printed: %s", runs[i].out);
        tu_run_free(&runs[i]);
    }
    tu_run_result r = RUN("patch", "resid_pre", "--model", fx, "--clean-tokens", CLEAN, "--corrupt-tokens", CLEAN,
                          "--answer", "#20", "--wrong", "#99");
    tu_assert_contains(r.out, "each cell the patched metric");
    tu_run_free(&r);
    r = RUN("patch", "resid_pre", "--model", fx, "--clean-tokens", CLEAN, "--corrupt-tokens", CLEAN, "--answer",
            "#20", "--wrong", "#99", "--json");
    json_t *j = tu_parse_ok(&r);
    ck_assert(json_is_null(json_array_get(json_array_get(json_array_get(json_object_get(j, "normalized"), 0), 0), 0)));
    json_decref(j);
    tu_run_free(&r);
    free(fx);
}
END_TEST

/* The logit difference is logit_diff on the command line and in every JSON
 * (dla's metric, patch's metric.kind); logit-diff is accepted as another spelling. */
START_TEST(logit_diff_is_one_spelling_with_an_alias)
{
    char *fx = golden_path("models/induction-3l4h");
    const char *spellings[2] = {"logit_diff", "logit-diff"};
    json_t *got[2];
    for (int i = 0; i < 2; i++) {
        tu_run_result r = RUN("patch", "attn_out", "--model", fx, "--clean-tokens", CLEAN, "--corrupt-tokens", CORRUPT,
                              "--metric", spellings[i], "--answer", "#20", "--wrong", "#99", "--json");
        got[i] = tu_parse_ok(&r);
        tu_run_free(&r);
        ck_assert_str_eq(json_string_value(json_object_get(json_object_get(got[i], "metric"), "kind")), "logit_diff");
    }
    ck_assert(json_equal(json_object_get(got[0], "value"), json_object_get(got[1], "value")));
    json_decref(got[0]), json_decref(got[1]);
    tu_run_result r = RUN("path-patch", "L0H0", "L1H0", "--to", "k", "--model", fx, "--clean-tokens", CLEAN,
                          "--corrupt-tokens", CORRUPT, "--metric", "logit-diff", "--answer", "#20", "--wrong", "#99",
                          "--json");
    json_t *j = tu_parse_ok(&r);
    tu_run_free(&r);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "metric"), "kind")), "logit_diff");
    json_decref(j);
    r = RUN("dla", "--model", fx, "--tokens", CLEAN, "--answer", "#20", "--wrong", "#99", "--json");
    j = tu_parse_ok(&r);
    tu_run_free(&r);
    ck_assert_str_eq(json_string_value(json_object_get(j, "metric")), "logit_diff");
    json_decref(j);
    tu_expect_fail(RUN("patch", "attn_out", "--model", fx, "--clean-tokens", CLEAN, "--corrupt-tokens", CORRUPT,
                    "--metric", "logit_dif"),
                2, "--metric takes logit_diff or loss, got \"logit_dif\"");
    r = RUN("patch", "--help");
    tu_assert_contains(r.out, "logit_diff (also spelled logit-diff)");
    tu_run_free(&r);
    free(fx);
}
END_TEST

START_TEST(bad_requests_are_refused)
{
    char *fx = golden_path("models/induction-3l4h");
    tu_expect_fail(RUN("patch", "resid_pre", "--model", fx, "--clean-tokens", CLEAN, "--answer", "#20", "--wrong", "#99"),
                2, "give exactly one of --corrupt TEXT and --corrupt-tokens IDS");
    tu_expect_fail(RUN("patch", "resid_pre", "--model", fx, "--clean-tokens", CLEAN, "--corrupt-tokens", "511,10",
                    "--answer", "#20", "--wrong", "#99"),
                2, "the clean prompt has 12 tokens and the corrupted one 2");
    tu_expect_fail(RUN("patch", "resid_pre", "--model", fx, "--clean-tokens", CLEAN, "--corrupt-tokens", CORRUPT), 2,
                "--metric logit_diff needs --answer TOKEN and --wrong TOKEN");
    tu_expect_fail(RUN("patch", "resid_pre", "--per-head", "--model", fx, "--clean-tokens", CLEAN, "--corrupt-tokens",
                    CORRUPT, "--metric", "loss"),
                2, "resid_pre has no heads");
    tu_expect_fail(RUN("patch", "mlp_pre", "--model", fx, "--clean-tokens", CLEAN, "--corrupt-tokens", CORRUPT,
                    "--metric", "loss"),
                2, "choose resid_pre");
    tu_expect_fail(RUN("patch", "resid_pre", "--model", fx, "--clean-tokens", CLEAN, "--corrupt-tokens", CORRUPT,
                    "--answer", "#512", "--wrong", "#99"),
                1, "#ID must be a token id 0..511");
    tu_expect_fail(RUN("patch", "attn_out", "--model", fx), 2, "needs a prompt pair");
    tu_expect_fail(RUN("patch", "mlp_out", "--model", fx, "--per-head"), 2, "--per-head needs a prompt pair");
    tu_expect_fail(RUN("path-patch", "L0H0", "L1H0", "--model", fx), 2, "give the prompt pair");
    tu_expect_fail(RUN("path-patch", "all", "L0H0", "--model", fx, "--clean-tokens", CLEAN, "--corrupt-tokens", CORRUPT,
                    "--metric", "loss"),
                2, "no head sends to them");
    tu_expect_fail(RUN("path-patch", "L9H0", "L1H0", "--model", fx, "--clean-tokens", CLEAN, "--corrupt-tokens", CORRUPT,
                    "--metric", "loss"),
                2, "SENDER");
    free(fx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cli_patching");
    TCase *tc = tcase_create("cli_patching");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, patch_json_matches_the_golden);
    tcase_add_test(tc, path_patch_json_matches_the_golden);
    tcase_add_test(tc, patch_chart_is_drawn);
    tcase_add_test(tc, logit_diff_is_one_spelling_with_an_alias);
    tcase_add_test(tc, bad_requests_are_refused);
    tcase_add_test(tc, equal_metrics_say_the_normalised_score_is_undefined);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
