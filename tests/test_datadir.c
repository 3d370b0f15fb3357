/* test_datadir.c — finding the data directory (include/circuitc/datadir.h):
 * the build tree's share/circuitc found from the test program itself,
 * $CIRCUITC_DATA and the per-item variables overriding it, and errors that
 * name what was looked for. (The installed layout: tests/install.) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "circuitc/datadir.h"
#include "circuitc/model.h"
#include "testutil.h"
#include "model/model_internal.h" /* the model's fields, for checking them */

static void unset_overrides(void)
{
    unsetenv("CIRCUITC_DATA");
    unsetenv("CIRCUITC_MODEL");
}

START_TEST(found_beside_the_executable)
{
    unset_overrides();
    char *dir = NULL, *expected = NULL, exe[4096];
    cc_error err;
    ck_assert_msg(cc_data_dir(&dir, &err) == 0, "%s", err.msg);
    /* this program is build/tests/test_datadir: the data is build/share/circuitc */
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    ck_assert_int_gt(n, 0);
    exe[n] = '\0';
    *strrchr(exe, '/') = '\0';
    *strrchr(exe, '/') = '\0';
    ck_assert_int_ge(asprintf(&expected, "%s/share/circuitc", exe), 0);
    ck_assert_str_eq(dir, expected);
    char *model = NULL;
    ck_assert_msg(cc_default_model_path(&model, &err) == 0, "%s", err.msg);
    tu_assert_contains(model, "/share/circuitc/models/induction-3l4h");
    cc_model *m = NULL;
    ck_assert_msg(cc_model_open(model, NULL, &m, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(m->cfg.n_layers, 3);
    cc_model_free(m);
    free(model), free(expected), free(dir);
}
END_TEST

START_TEST(circuitc_data_overrides)
{
    unset_overrides();
    char *tmp = tu_tmpdir(), *found = NULL;
    cc_error err;
    setenv("CIRCUITC_DATA", tmp, 1);
    ck_assert_msg(cc_data_dir(&found, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(found, tmp);
    free(found);
    /* an item the folder lacks: named, with the folder and the variable to check */
    ck_assert_int_eq(cc_data_find("CIRCUITC_MODEL", "models/induction-3l4h", &found, &err), -1);
    ck_assert_ptr_null(found);
    tu_assert_contains(err.msg, "models/induction-3l4h");
    tu_assert_contains(err.msg, tmp);
    tu_assert_contains(err.msg, "check CIRCUITC_DATA");
    tu_assert_contains(err.msg, "or set CIRCUITC_MODEL");
    /* the item's own variable wins over both, returned as given */
    setenv("CIRCUITC_MODEL", "/some/model", 1);
    ck_assert_int_eq(cc_data_find("CIRCUITC_MODEL", "models/induction-3l4h", &found, &err), 0);
    ck_assert_str_eq(found, "/some/model");
    free(found);
    /* CIRCUITC_DATA naming no directory */
    char *missing = NULL;
    ck_assert_int_ge(asprintf(&missing, "%s/nowhere", tmp), 0);
    setenv("CIRCUITC_DATA", missing, 1);
    ck_assert_int_eq(cc_data_dir(&found, &err), -1);
    tu_assert_contains(err.msg, "CIRCUITC_DATA=");
    tu_assert_contains(err.msg, missing);
    tu_assert_contains(err.msg, "not a directory");
    unset_overrides();
    free(missing);
    tu_rmtree(tmp);
    free(tmp);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("datadir");
    TCase *tc = tcase_create("lookup");
    tcase_add_test(tc, found_beside_the_executable);
    tcase_add_test(tc, circuitc_data_overrides);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
