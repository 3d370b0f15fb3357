/* test_cli_atlas.c — `circuitc atlas` end to end on the bundled fixture: the
 * file's format, exact entries equal to `circuitc kcomp`'s counts, --resume
 * after an interruption giving the identical file, and the errors (bad
 * options, a damaged or foreign partial file) that leave no output behind. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

static char *g_dir;

static char *path_in(const char *name)
{
    size_t n = strlen(g_dir) + strlen(name) + 2;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", g_dir, name);
    return p;
}

static char *run_atlas(const char *out, bool resume)
{
    const char *argv[] = {"atlas", "--out", out, "--quiet", resume ? "--resume" : NULL, NULL};
    tu_run_result r = tu_run(argv);
    ck_assert_msg(r.status == 0, "atlas failed: %s", r.err);
    tu_run_free(&r);
    size_t len;
    return (char *)tu_read_file(out, &len);
}

/* -o is --out's short name for atlas as for every command taking a file
 * (it once set another command's --out and atlas wrote nothing). */
START_TEST(short_o_names_the_file)
{
    char *out = path_in("short.jsonl");
    const char *argv[] = {"atlas", "-o", out, "--quiet", NULL};
    tu_run_result r = tu_run(argv);
    ck_assert_msg(r.status == 0, "atlas failed: %s", r.err);
    ck_assert_msg(access(out, F_OK) == 0, "atlas -o wrote no %s", out);
    tu_run_free(&r);
    free(out);
}
END_TEST

START_TEST(file_format_and_kcomp_parity)
{
    char *out = path_in("a.jsonl");
    char *text = run_atlas(out, false);
    char *partial = path_in("a.jsonl.partial");
    ck_assert_msg(access(partial, F_OK) != 0, "the partial file is left behind");
    /* header, then 48 pairs of the 3-layer x 4-head fixture in canonical order */
    char *save, *line = strtok_r(text, "\n", &save);
    json_t *h = tu_parse_json(line);
    ck_assert_int_eq(json_integer_value(json_object_get(h, "pairs")), 48);
    ck_assert_int_eq(json_integer_value(json_object_get(h, "vocab")), 512);
    json_decref(h);
    int n = 0, checked = 0;
    while ((line = strtok_r(NULL, "\n", &save))) {
        json_t *e = tu_parse_json(line);
        n++;
        const char *p = json_string_value(json_object_get(e, "earlier")), *i = json_string_value(json_object_get(e, "later"));
        if (n == 1) ck_assert(strcmp(p, "L0H0") == 0 && strcmp(i, "L1H0") == 0);
        /* spot-check exact entries against the kcomp command (the library test covers every pair) */
        if (strcmp(json_string_value(json_object_get(e, "status")), "exact") == 0 && checked < 6) {
            const char *argv[] = {"kcomp", p, i, "--json", "--no-ranks", NULL};
            tu_run_result r = tu_run(argv);
            ck_assert_int_eq(r.status, 0);
            json_t *k = tu_parse_json(r.out);
            static const char *const dirs[2] = {"rows", "cols"};
            for (int d = 0; d < 2; d++) {
                json_t *topk = json_object_get(json_object_get(k, dirs[d]), "topk");
                json_t *mine = json_object_get(e, dirs[d]);
                ck_assert_int_eq(json_integer_value(json_array_get(mine, 0)), json_integer_value(json_array_get(topk, 0)));
                ck_assert_int_eq(json_integer_value(json_array_get(mine, 1)), json_integer_value(json_array_get(topk, 4)));
            }
            json_decref(k);
            tu_run_free(&r);
            checked++;
        }
        json_decref(e);
    }
    ck_assert_int_eq(n, 48);
    ck_assert_int_eq(checked, 6);
    free(text), free(out), free(partial);
}
END_TEST

/* An interrupted run leaves FILE.partial: the header, some finished units and
 * possibly a line cut in the middle. --resume keeps them and the final file is
 * byte for byte the uninterrupted one's; resuming a finished file changes nothing. */
START_TEST(resume_gives_the_identical_file)
{
    char *full_path = path_in("full.jsonl"), *out = path_in("r.jsonl"), *partial = path_in("r.jsonl.partial");
    char *full = run_atlas(full_path, false);
    /* header + the first 20 entries + half of the 21st */
    const char *cut = full;
    for (int k = 0; k < 21; k++) cut = strchr(cut, '\n') + 1;
    size_t keep = (size_t)(cut - full) + (strchr(cut, '\n') - cut) / 2;
    tu_write_file(partial, full, keep);
    const char *argv[] = {"atlas", "--out", out, "--quiet", "--resume", "--json", NULL};
    tu_run_result r = tu_run(argv);
    ck_assert_msg(r.status == 0, "%s", r.err);
    json_t *j = tu_parse_json(r.out);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "resumed_pairs")), 20);
    json_decref(j);
    tu_run_free(&r);
    size_t len;
    char *resumed = (char *)tu_read_file(out, &len);
    ck_assert_str_eq(resumed, full);
    free(resumed);
    resumed = run_atlas(out, true); /* from the finished file */
    ck_assert_str_eq(resumed, full);
    ck_assert_msg(access(partial, F_OK) != 0, "the partial file is left behind");
    free(resumed), free(full), free(full_path), free(out), free(partial);
}
END_TEST

START_TEST(errors_leave_nothing_behind)
{
    char *out = path_in("e.jsonl"), *partial = path_in("e.jsonl.partial");
    static const char *const bad_min[] = {"-1", "1.5", "x", "0.01x", ""};
    for (int k = 0; k < 5; k++) {
        const char *argv[] = {"atlas", "--min-acc", bad_min[k], "--out", out, NULL};
        tu_run_result r = tu_run(argv);
        ck_assert_int_eq(r.status, 2);
        tu_assert_contains(r.err, "--min-acc");
        ck_assert_str_eq(r.out, "");
        tu_run_free(&r);
    }
    const char *no_out[] = {"atlas", "--resume", NULL};
    tu_run_result r = tu_run(no_out);
    ck_assert_int_eq(r.status, 2);
    tu_assert_contains(r.err, "--out");
    tu_run_free(&r);
    /* a partial file of other settings, then a damaged one */
    static const char *const partials[2] = {
        "{\"atlas\":1,\"circuit\":\"qcomp\"}\n",
        NULL,
    };
    char *full = run_atlas(out, false);
    unlink(out);
    char damaged[4096];
    snprintf(damaged, sizeof damaged, "%.*s{\"earlier\":\"L0H0\",\"later\":\"L1H0\",\"status\":\"exact\"}\n",
             (int)(strchr(full, '\n') - full + 1), full);
    for (int k = 0; k < 2; k++) {
        const char *text = partials[k] ? partials[k] : damaged;
        tu_write_file(partial, text, strlen(text));
        const char *argv[] = {"atlas", "--out", out, "--resume", NULL};
        r = tu_run(argv);
        ck_assert_int_eq(r.status, 1);
        tu_assert_contains(r.err, partial);
        tu_assert_contains(r.err, k ? "line 2" : "other settings");
        ck_assert_str_eq(r.out, "");
        ck_assert_msg(access(out, F_OK) != 0, "an output file was written");
        tu_run_free(&r);
        size_t len;
        char *kept = (char *)tu_read_file(partial, &len);
        ck_assert_str_eq(kept, text); /* the user's partial file is not touched */
        free(kept);
    }
    free(full), free(out), free(partial);
}
END_TEST

static void setup(void) { g_dir = tu_tmpdir(); }

static void teardown(void)
{
    tu_rmtree(g_dir);
    free(g_dir);
}

static Suite *suite(void)
{
    Suite *s = suite_create("cli_atlas");
    TCase *t = tcase_create("cli_atlas");
    tcase_set_timeout(t, 300);
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, file_format_and_kcomp_parity);
    tcase_add_test(t, resume_gives_the_identical_file);
    tcase_add_test(t, errors_leave_nothing_behind);
    tcase_add_test(t, short_o_names_the_file);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return tu_run_suite(suite()); }
