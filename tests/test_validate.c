/* test_validate.c — validate: on the fixture's real circuit every check
 * passes (with TransformerLens parity); on heads that are not a circuit the
 * checks fail and the exit status says so; bad requests are errors. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "golden.h"
#include "testutil.h"

START_TEST(fixture_circuit_validates_with_golden_parity)
{
    char *golden = golden_path("out/induction-3l4h");
    tu_run_result r = tu_run((const char *const[]){"validate", "L0H0", "L1H0", "--golden", golden, "--json", NULL});
    ck_assert_msg(r.status == 0, "exit %d: %s\n%s", r.status, r.err, r.out);
    json_t *j = tu_parse_json(r.out);
    ck_assert(json_is_true(json_object_get(j, "all_pass")));
    json_t *checks = json_object_get(j, "checks"), *c;
    size_t i;
    int kinds[3] = {0};
    json_array_foreach(checks, i, c) {
        const char *k = json_string_value(json_object_get(c, "kind"));
        kinds[strcmp(k, "prediction") == 0 ? 0 : strcmp(k, "evidence") == 0 ? 1 : 2]++;
        ck_assert_msg(json_is_true(json_object_get(c, "pass")), "%s failed",
                      json_string_value(json_object_get(c, "name")));
    }
    ck_assert_int_eq(kinds[0], 3);
    ck_assert_int_eq(kinds[1], 4);
    ck_assert_int_eq(kinds[2], 7);
    json_decref(j);
    tu_run_free(&r);
    free(golden);
}
END_TEST

START_TEST(non_circuit_fails_with_exit_1)
{
    tu_run_result r = tu_run((const char *const[]){"validate", "L0H1", "L2H3", NULL});
    ck_assert_int_eq(r.status, 1);
    tu_assert_contains(r.out, "FAIL  evidence   induction_score");
    tu_assert_contains(r.out, "NOT validated");
    tu_run_free(&r);
    r = tu_run((const char *const[]){"validate", "L0H1", "L2H3", "--json", NULL});
    ck_assert_int_eq(r.status, 1);
    json_t *j = tu_parse_json(r.out);
    ck_assert(json_is_false(json_object_get(j, "all_pass")));
    ck_assert_int_gt(json_integer_value(json_object_get(j, "failed")), 0);
    json_decref(j);
    tu_run_free(&r);
}
END_TEST

START_TEST(bad_requests_are_errors)
{
    struct {
        const char *args[7];
        int status;
        const char *needle;
    } cases[] = {
        {{"validate", "L1H0", "L0H0"}, 1, "earlier layer"},
        {{"validate", "L1H1", "L1H0"}, 1, "PREV (L1H1) must be in an earlier layer than IND (L1H0)"},
        {{"validate", "L0H0", "L5H0"}, 1, "layers 0..2"},
        {{"validate", "L0H0"}, 2, "expected 2 heads"},
        {{"validate", "L0H0", "L1H0", "--ablate", "half"}, 2, "--ablate takes mean or zero"},
        {{"validate", "L0H0", "L1H0", "--golden", "/nonexistent"}, 1, "/nonexistent/tokens.json"},
        {{"validate", "L0H0", "L1H0", "--seq-len", "64"}, 1, "n_ctx"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tu_run_result r = tu_run(cases[i].args);
        ck_assert_msg(r.status == cases[i].status, "case %zu: exit %d (%s)", i, r.status, r.err);
        tu_assert_contains(r.err, cases[i].needle);
        ck_assert_str_eq(r.out, "");
        tu_run_free(&r);
    }
    char *golden = golden_path("out/induction-3l4h");
    tu_run_result r = tu_run((const char *const[]){"validate", "L0H0", "L1H0", "--golden", golden, "--no-processing", NULL});
    ck_assert_int_eq(r.status, 1);
    tu_assert_contains(r.err, "drop --no-processing");
    tu_run_free(&r);
    free(golden);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("validate");
    TCase *tc = tcase_create("validate");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, fixture_circuit_validates_with_golden_parity);
    tcase_add_test(tc, non_circuit_fails_with_exit_1);
    tcase_add_test(tc, bad_requests_are_errors);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
