/* test_cli_runtime.c — the runtime commands end to end (repeat, heads, pattern,
 * patch, ablate): JSON keys and the printed seed, agreement with the goldens
 * through the CLI on the bundled fixture, the rows of `heads --top K`, and
 * error cases (bad head, too long --seq-len, bad options) with the right exit
 * status and no stdout. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "golden.h"
#include "testutil.h"

#define RUN(...) tu_run((const char *const[]){__VA_ARGS__, NULL})

static char *tiny_model(void)
{
    char *dir = tu_tmpdir();
    tu_run_result r = RUN("synth", "--preset", "tiny", "--seed", "11", "--out", dir);
    ck_assert_msg(r.status == 0, "synth failed: %s", r.err);
    tu_run_free(&r);
    return dir;
}

START_TEST(every_command_prints_its_seed_and_json)
{
    char *dir = tiny_model();
    static const char *const cmd[5][6] = {{"repeat", "--batch", "3", NULL},
                                          {"heads", "--batch", "2", NULL},
                                          {"pattern", "L1H0", NULL},
                                          {"patch", "mlp_out", NULL},
                                          {"ablate", "L0H1", "1.0", "--ablate", "mean", NULL}};
    for (int c = 0; c < 5; c++) {
        const char *argv[16];
        int k = 0;
        for (int i = 0; cmd[c][i]; i++) argv[k++] = cmd[c][i];
        argv[k++] = "--model", argv[k++] = dir, argv[k++] = "--seq-len", argv[k++] = "10", argv[k++] = "--seed";
        argv[k++] = "7";
        argv[k] = NULL;
        tu_run_result r = tu_run(argv);
        ck_assert_msg(r.status == 0, "%s: %s", cmd[c][0], r.err);
        tu_assert_contains(r.out, "seed 7");
        tu_run_free(&r);
        argv[k++] = "--json", argv[k] = NULL;
        r = tu_run(argv);
        json_t *j = tu_parse_ok(&r);
        ck_assert_str_eq(json_string_value(json_object_get(j, "command")), cmd[c][0]);
        ck_assert_int_eq(json_integer_value(json_object_get(j, "seed")), 7);
        ck_assert_int_eq(json_integer_value(json_object_get(j, "seq_len")), 10);
        ck_assert_int_eq(json_integer_value(json_object_get(j, "positions")), 21);
        ck_assert_int_eq(json_array_size(json_object_get(j, "processing")), 4);
        static const char *const keys[5][4] = {{"first_half", "second_half", "loss", "mean_logprob_per_position"},
                                               {"heads", "rankings", "detect_options", "n_heads"},
                                               {"pattern", "tokens", "diagonals", "head"},
                                               {"delta", "patched_loss", "clean_loss", "patch_positions"},
                                               {"clean", "ablated", "loss_change", "induction_scores"}};
        for (int i = 0; i < 4; i++) ck_assert_msg(json_object_get(j, keys[c][i]), "%s: no key %s", cmd[c][0], keys[c][i]);
        if (c == 2) ck_assert_int_eq(json_array_size(json_object_get(j, "pattern")), 21);
        if (c == 3) {
            ck_assert_int_eq(json_array_size(json_object_get(j, "delta")), 2);
            ck_assert_int_eq(json_array_size(json_array_get(json_object_get(j, "delta"), 0)), 11);
        }
        if (c == 1) ck_assert_int_eq(json_array_size(json_object_get(j, "heads")), 4);
        json_decref(j);
        tu_run_free(&r);
    }
    tu_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(patch_causal_and_naive_agree_through_the_cli)
{
    char *dir = tiny_model();
    tu_run_result a = RUN("patch", "mlp_out", "--model", dir, "--seq-len", "15", "--json");
    tu_run_result b = RUN("patch", "mlp_out", "--model", dir, "--seq-len", "15", "--json", "--naive");
    json_t *ja = tu_parse_ok(&a), *jb = tu_parse_ok(&b);
    ck_assert_str_eq(json_string_value(json_object_get(ja, "method")), "causal");
    ck_assert_str_eq(json_string_value(json_object_get(jb, "method")), "naive");
    json_t *da = json_object_get(ja, "delta"), *db = json_object_get(jb, "delta");
    for (size_t l = 0; l < json_array_size(da); l++)
        for (size_t p = 0; p < 16; p++)
            ck_assert(fabs(json_real_value(json_array_get(json_array_get(da, l), p)) -
                           json_real_value(json_array_get(json_array_get(db, l), p))) < 1e-6);
    json_decref(ja), json_decref(jb);
    tu_run_free(&a), tu_run_free(&b);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(repeat_on_the_bundled_fixture_matches_the_golden)
{
    json_t *g = golden_load("induction-3l4h", "forward.json");
    char *fx = golden_path("models/induction-3l4h");
    tu_run_result r = RUN("repeat", "--model", fx, "--seq-len", "50", "--batch", "10", "--seed", "0", "--json");
    json_t *j = tu_parse_ok(&r);
    json_t *h1 = json_object_get(j, "first_half"), *h2 = json_object_get(j, "second_half");
    ck_assert(fabs(json_real_value(json_object_get(h1, "mean_logprob")) - golden_number(g, "first_half_mean_logprob")) < 1e-4);
    ck_assert(fabs(json_real_value(json_object_get(h2, "mean_logprob")) - golden_number(g, "second_half_mean_logprob")) < 1e-4);
    ck_assert(fabs(json_real_value(json_object_get(h2, "accuracy")) - golden_number(g, "second_half_accuracy")) < 1e-6);
    ck_assert(fabs(json_real_value(json_object_get(j, "loss")) - golden_number(g, "loss")) < 1e-4);
    json_decref(j), json_decref(g);
    tu_run_free(&r);
    /* unprocessed: same statistics (raw/forward.json) */
    g = golden_load("induction-3l4h", "raw/forward.json");
    r = RUN("repeat", "--model", fx, "--seq-len", "50", "--batch", "10", "--no-processing", "--json");
    j = tu_parse_ok(&r);
    ck_assert_int_eq(json_array_size(json_object_get(j, "processing")), 0);
    ck_assert(fabs(json_real_value(json_object_get(j, "loss")) - golden_number(g, "loss")) < 1e-4);
    json_decref(j), json_decref(g);
    tu_run_free(&r);
    free(fx);
}
END_TEST

/* `heads --top K` lists min(K, L*H) heads for each of the seven scores, in
 * text and JSON, and they are the K best of that score among all heads (the
 * "heads" array holds every head's scores): K = 1, 3, L*H and more than L*H. */
static double head_score(json_t *head, const char *label)
{
    json_t *v = json_object_get(head, label);
    if (!v && strncmp(label, "detect_", 7) == 0) v = json_object_get(json_object_get(head, "detect"), label + 7);
    ck_assert_msg(json_is_real(v), "no score %s", label);
    return json_real_value(v);
}

static int by_desc(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x > y ? -1 : x < y;
}

static void check_top_k(const char *dir, int K, int LH)
{
    char k_arg[16];
    snprintf(k_arg, sizeof k_arg, "%d", K);
    int want = K < LH ? K : LH;
    tu_run_result r = RUN("heads", "--model", dir, "--seq-len", "8", "--batch", "2", "--top", k_arg, "--json");
    json_t *j = tu_parse_ok(&r), *all = json_object_get(j, "heads"), *rankings = json_object_get(j, "rankings");
    ck_assert_int_eq(json_array_size(all), LH);
    ck_assert_int_eq(json_object_size(rankings), 7);
    const char *label;
    json_t *top;
    json_object_foreach(rankings, label, top) {
        ck_assert_msg((int)json_array_size(top) == want, "--top %d: %s lists %zu heads, not %d", K, label,
                      json_array_size(top), want);
        double sorted[64];
        for (int i = 0; i < LH; i++) sorted[i] = head_score(json_array_get(all, i), label);
        qsort(sorted, (size_t)LH, sizeof *sorted, by_desc);
        for (int i = 0; i < want; i++)
            ck_assert_double_eq(json_real_value(json_object_get(json_array_get(top, i), "score")), sorted[i]);
    }
    json_decref(j);
    tu_run_free(&r);

    /* text: after "top K heads per score", one line per score: its label, then K (head, score) pairs */
    r = RUN("heads", "--model", dir, "--seq-len", "8", "--batch", "2", "--top", k_arg);
    ck_assert_msg(r.status == 0, "%s", r.err);
    char *line = strstr(r.out, "heads per score");
    ck_assert_ptr_nonnull(line);
    line = strchr(line, '\n') + 1;
    for (int k = 0; k < 7; k++) {
        char *end = strchr(line, '\n');
        ck_assert_ptr_nonnull(end);
        *end = '\0';
        int words = 0;
        for (char *w = strtok(line, " "); w; w = strtok(NULL, " ")) words++;
        ck_assert_msg(words == 1 + 2 * want, "--top %d: score line %d has %d words, not %d", K, k, words, 1 + 2 * want);
        line = end + 1;
    }
    ck_assert_str_eq(line, "");
    tu_run_free(&r);
}

START_TEST(heads_top_k_lists_k_heads_per_score)
{
    char *dir = tiny_model(); /* 2 layers x 2 heads */
    static const int ks[] = {1, 3, 4, 9};
    for (size_t i = 0; i < sizeof ks / sizeof *ks; i++) check_top_k(dir, ks[i], 4);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(errors_exit_non_zero_without_stdout)
{
    char *dir = tiny_model();
    /* tiny: n_ctx 32, so 1+2*16 = 33 positions is one too many */
    tu_expect_fail(RUN("repeat", "--model", dir, "--seq-len", "16"), 1, "n_ctx = 32");
    tu_expect_fail(RUN("heads", "--model", dir, "--seq-len", "16"), 1, "--seq-len 15 or less");
    tu_expect_fail(RUN("patch", "mlp_out", "--model", dir, "--seq-len", "40"), 1, "n_ctx = 32");
    tu_expect_fail(RUN("validate", "L0H0", "L1H0", "--model", dir, "--seq-len", "16"), 1, "--seq-len 15 or less");
    tu_expect_fail(RUN("repeat", "--model", dir, "--seq-len", "0"), 2, "--seq-len must be between 1");
    tu_expect_fail(RUN("repeat", "--model", dir, "--seq-len", "x"), 2, "--seq-len takes an integer between 1 and 1000000");
    tu_expect_fail(RUN("repeat", "--model", dir, "--top", "3"), 2, "unknown option --top");
    tu_expect_fail(RUN("repeat", "--model", dir, "extra"), 2, "unexpected argument");
    tu_expect_fail(RUN("pattern", "--model", dir), 2, "HEAD is required");
    tu_expect_fail(RUN("pattern", "L1X0", "--model", dir), 2, "bad head \"L1X0\"");
    tu_expect_fail(RUN("pattern", "L5H0", "--model", dir, "--seq-len", "5"), 1, "out of range");
    tu_expect_fail(RUN("ablate", "--model", dir), 2, "at least one HEAD");
    tu_expect_fail(RUN("ablate", "1.0", "7.7", "--model", dir, "--seq-len", "5"), 1, "out of range");
    tu_expect_fail(RUN("ablate", "1.0", "--ablate", "half", "--model", dir), 2, "--ablate takes mean or zero");
    tu_expect_fail(RUN("patch", "--model", dir), 2, "HOOK is required");
    tu_expect_fail(RUN("patch", "attn_out", "--model", dir), 2, "needs a prompt pair");
    tu_expect_fail(RUN("heads", "--model", "/nonexistent/m"), 1, "/nonexistent/m");
    tu_run_result r = RUN("heads", "--help");
    ck_assert_int_eq(r.status, 0);
    tu_assert_contains(r.out, "--exclude-bos");
    tu_assert_contains(r.out, "--no-processing");
    tu_run_free(&r);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cli_runtime");
    TCase *tc = tcase_create("cli_runtime");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, every_command_prints_its_seed_and_json);
    tcase_add_test(tc, patch_causal_and_naive_agree_through_the_cli);
    tcase_add_test(tc, repeat_on_the_bundled_fixture_matches_the_golden);
    tcase_add_test(tc, heads_top_k_lists_k_heads_per_score);
    tcase_add_test(tc, errors_exit_non_zero_without_stdout);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
