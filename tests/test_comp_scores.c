/* test_comp_scores.c — comp-scores as one library call (circuitc/comp_scores.h)
 * on the bundled fixture, opened but not loaded: the scores against
 * TransformerLens' all_composition_scores (golden), the ranking against the
 * goldens sorted here, the baseline against cc_composition_baseline, the
 * progress steps, and the JSON against the struct. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/comp_scores.h"
#include "golden.h"
#include "testutil.h"
#include "model/model_internal.h" /* the model's fields, for checking them */

static cc_model *open_fixture(void)
{
    cc_model *m = NULL;
    cc_error err;
    ck_assert_msg(cc_model_open(tu_fixture_model(), NULL, &m, &err) == 0, "%s", err.msg);
    return m;
}

typedef struct {
    long calls, last_done, total;
    bool grew;
} steps_seen;

static int count_steps(void *ctx, long done, long total)
{
    steps_seen *s = ctx;
    s->grew = s->calls == 0 ? done == 0 : s->grew && done == s->last_done + 1;
    s->calls++, s->last_done = done, s->total = total;
    return 0;
}

static int desc(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x > y ? -1 : x < y;
}

START_TEST(every_mode_matches_the_goldens)
{
    json_t *f = golden_load("induction-3l4h", "factored.json");
    golden_tol tol = golden_tolerance("composition_scores", "value");
    cc_model *m = open_fixture();
    cc_comp_scores_options o;
    cc_comp_scores_defaults(&o);
    o.top = 5, o.baseline_samples = 30, o.seed = 4;
    steps_seen seen = {0};
    o.progress = count_steps, o.progress_ctx = &seen;
    cc_comp_scores r;
    cc_error err;
    ck_assert_msg(cc_comp_scores_run(m, &o, &r, &err) == 0, "%s", err.msg);
    ck_assert(seen.grew && seen.total == 5 && seen.last_done == 5); /* loading, q, k, v, the baseline */
    int L = m->cfg.n_layers, H = m->cfg.n_heads, n = L * H;
    double mean, std;
    ck_assert(cc_composition_baseline(m->cfg.d_model, m->cfg.d_head, 30, 4, NULL, &mean, &std, &err) == 0);
    ck_assert(r.baseline_mean == mean && r.baseline_std == std);
    const char *keys[3] = {"q", "k", "v"};
    json_t *j = cc_comp_scores_json(&r);
    ck_assert_ptr_nonnull(j);
    for (int mode = 0; mode < 3; mode++) {
        golden_tensor g = golden_get_tensor(json_object_get(f, "composition_scores"), keys[mode]);
        for (size_t i = 0; i < g.n; i++)
            ck_assert_msg(golden_near(tol, r.scores[mode * g.n + i], g.data[i]), "%s[%zu]: %.9g vs %.9g", keys[mode],
                          i, r.scores[mode * g.n + i], g.data[i]);
        /* the ranking: earlier -> later pairs of the golden scores, sorted here */
        double *sorted = malloc(g.n * sizeof *sorted);
        int np = 0;
        for (int a = 0; a < n; a++)
            for (int b = 0; b < n; b++)
                if (a / H < b / H) sorted[np++] = g.data[(size_t)a * n + b];
        qsort(sorted, (size_t)np, sizeof *sorted, desc);
        ck_assert_int_eq(r.n_top[mode], 5);
        json_t *top = json_object_get(json_object_get(j, "top"), keys[mode]);
        ck_assert_int_eq(json_array_size(top), 5);
        for (int i = 0; i < 5; i++) {
            const cc_comp_pair *p = &r.top[mode][i];
            ck_assert_msg(golden_near(tol, p->score, sorted[i]), "%s rank %d: %.9g vs %.9g", keys[mode], i + 1,
                          p->score, sorted[i]);
            ck_assert_int_lt(p->left.layer, p->right.layer);
            ck_assert_double_eq(p->ratio, p->score / mean);
            ck_assert_double_eq(p->z, (p->score - mean) / std);
            json_t *row = json_array_get(top, (size_t)i);
            ck_assert_double_eq(json_real_value(json_object_get(row, "score")), p->score);
            ck_assert_double_eq(json_real_value(json_object_get(row, "z")), p->z);
        }
        free(sorted);
        golden_tensor_free(&g);
    }
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "baseline"), "samples")), 30);
    json_decref(j);
    cc_comp_scores_free(&r);
    cc_model_free(m);
    json_decref(f);
}
END_TEST

/* One mode, no baseline: the others are not scored, ratio and z are NAN, null in the JSON. */
START_TEST(one_mode_without_a_baseline)
{
    cc_model *m = open_fixture();
    cc_comp_scores_options o;
    cc_comp_scores_defaults(&o);
    o.modes[CC_COMP_Q] = o.modes[CC_COMP_V] = false;
    o.baseline_samples = 0;
    o.top = 1000000;
    cc_comp_scores r;
    cc_error err;
    ck_assert_msg(cc_comp_scores_run(m, &o, &r, &err) == 0, "%s", err.msg);
    int L = m->cfg.n_layers, H = m->cfg.n_heads, n = L * H;
    ck_assert_int_eq(r.n_top[CC_COMP_Q], 0);
    ck_assert_int_eq(r.n_top[CC_COMP_K], n * n - H * H * L * (L + 1) / 2); /* every earlier -> later pair */
    for (int i = 0; i < n * n; i++) ck_assert(r.scores[i] == 0 && r.scores[2 * n * n + i] == 0);
    ck_assert(isnan(r.baseline_mean) && isnan(r.top[CC_COMP_K][0].ratio) && isnan(r.top[CC_COMP_K][0].z));
    json_t *j = cc_comp_scores_json(&r);
    ck_assert_int_eq(json_array_size(json_object_get(j, "modes")), 1);
    ck_assert_ptr_null(json_object_get(json_object_get(j, "scores"), "q"));
    ck_assert(json_is_null(json_object_get(j, "baseline")));
    json_t *row = json_array_get(json_object_get(json_object_get(j, "top"), "k"), 0);
    ck_assert(json_is_null(json_object_get(row, "ratio_to_baseline")) && json_is_null(json_object_get(row, "z")));
    json_decref(j);
    cc_comp_scores_free(&r);
    cc_model_free(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("comp_scores");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, every_mode_matches_the_goldens);
    tcase_add_test(tc, one_mode_without_a_baseline);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
