/* test_measure.c — the analyzer's one-call measurements (measure.h) against
 * the parts they are made of: cc_circuit_measure's counts against
 * cc_topk_diagonal on the circuit and its transpose, its ranks against a
 * brute-force pass, its spectrum against cc_fm_singular_values; and
 * cc_head_composition_score against the batched scores and the baseline. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/measure.h"
#include "circuitc/rng.h"
#include "testutil.h"
#include "model/model_internal.h" /* the model's fields, for checking them */

/* A [n, m], B [m, n] with B^T = A + noise: a circuit whose diagonal often wins. */
static cc_fm planted_circuit(int n, int m, uint64_t seed)
{
    cc_rng r;
    cc_rng_seed(&r, seed);
    float *A = malloc((size_t)n * m * sizeof *A), *B = malloc((size_t)m * n * sizeof *B);
    for (size_t i = 0; i < (size_t)n * m; i++) A[i] = (float)cc_rng_normal(&r);
    for (int j = 0; j < n; j++)
        for (int c = 0; c < m; c++) B[(size_t)c * n + j] = (float)(A[(size_t)j * m + c] + cc_rng_normal(&r));
    cc_fm fm;
    cc_fm_wrap(A, B, n, m, n, &fm);
    return fm;
}

static cc_topk_result topk(const cc_fm *fm, int k_max, bool ranks)
{
    cc_topk_options o = {.k_max = k_max, .ranks = ranks, .method = ranks ? CC_TOPK_BRUTE : CC_TOPK_FAST};
    cc_topk_result r;
    cc_error err;
    ck_assert_msg(cc_topk_diagonal(fm, &o, &r, &err) == 0, "%s", err.msg);
    return r;
}

static void assert_same_counts(const cc_topk_result *got, const cc_topk_result *want, const char *what)
{
    ck_assert_int_eq(got->n, want->n);
    for (int k = 0; k < want->k_max; k++)
        ck_assert_msg(got->correct[k] == want->correct[k], "%s top-%d: %ld vs %ld", what, k + 1, got->correct[k],
                      want->correct[k]);
    ck_assert_int_eq(got->tied_rows, want->tied_rows);
}

START_TEST(circuit_measure_matches_its_parts)
{
    enum { N = 300, M = 12 };
    cc_fm fm = planted_circuit(N, M, 5), t;
    cc_error err;
    ck_assert_int_eq(cc_fm_transpose(&fm, &t, &err), 0);
    cc_measure_options o;
    cc_measure_defaults(&o);
    o.k_max = 4;
    o.n_singular = 5;
    o.compare = true;
    cc_circuit_measurement r;
    ck_assert_msg(cc_circuit_measure(NULL, &fm, &o, &r, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(r.n, N);
    ck_assert_int_eq(r.inner_dim, M);
    /* auto ranks on a small vocabulary: from the brute-force pass */
    cc_topk_result rows = topk(&fm, 4, true), cols = topk(&t, 4, true);
    assert_same_counts(&r.rows, &rows, "rows");
    assert_same_counts(&r.cols, &cols, "columns");
    ck_assert(r.rows.has_ranks && r.cols.has_ranks);
    ck_assert_double_eq(r.rows.rank_mean, rows.rank_mean);
    ck_assert_double_eq(r.cols.rank_median, cols.rank_median);
    ck_assert_msg(r.rows.correct[0] > N / 10 && r.rows.correct[0] < N, "planted diagonal: %ld of %d", r.rows.correct[0],
                  N);
    double S[M];
    ck_assert_int_eq(cc_fm_singular_values(&fm, S, &err), 0);
    ck_assert_int_eq(r.n_singular, 5);
    for (int i = 0; i < 5; i++) ck_assert_double_eq(r.singular_values[i], (double)(float)S[i]);
    ck_assert_int_eq(r.rank, M); /* random factors: full rank */
    ck_assert_double_eq_tol(r.frobenius_norm, cc_fm_norm(&fm), 1e-12 * cc_fm_norm(&fm));
    cc_circuit_measurement_free(&r);

    o.ranks = CC_RANKS_NEVER;
    o.n_singular = 100; /* more than the spectrum holds */
    ck_assert_int_eq(cc_circuit_measure(NULL, &fm, &o, &r, &err), 0);
    ck_assert(!r.rows.has_ranks && !r.cols.has_ranks);
    ck_assert_int_eq(r.n_singular, M);
    rows = topk(&fm, 4, false);
    assert_same_counts(&r.rows, &rows, "rows, fast");
    cc_circuit_measurement_free(&r);
    cc_fm_free(&fm), cc_fm_free(&t);
}
END_TEST

START_TEST(circuit_measure_refuses_a_rectangle)
{
    cc_rng g;
    cc_rng_seed(&g, 3);
    float *A = malloc(6 * 2 * sizeof *A), *B = malloc(2 * 5 * sizeof *B);
    for (int i = 0; i < 12; i++) A[i] = (float)cc_rng_normal(&g);
    for (int i = 0; i < 10; i++) B[i] = (float)cc_rng_normal(&g);
    cc_fm fm;
    cc_fm_wrap(A, B, 6, 2, 5, &fm);
    cc_circuit *c;
    cc_error err;
    ck_assert_msg(cc_circuit_open("kcomp", &c, &err) == 0, "%s", err.msg);
    cc_measure_options o;
    cc_measure_defaults(&o);
    cc_circuit_measurement r;
    ck_assert_int_eq(cc_circuit_measure(c, &fm, &o, &r, &err), -1);
    tu_assert_contains(err.msg, "circuit kcomp is 6 x 5");
    tu_assert_contains(err.msg, "square");
    cc_circuit_measurement_free(&r);
    cc_circuit_free(c);
    cc_fm_free(&fm);
}
END_TEST

START_TEST(head_composition_matches_batch_and_baseline)
{
    char *dir = tu_tiny_model("4");
    cc_model *m = NULL;
    cc_error err;
    ck_assert_msg(cc_model_load(dir, NULL, true, &m, &err) == 0, "%s", err.msg);
    tu_rmtree(dir);
    free(dir);
    int H = m->cfg.n_heads, n = m->cfg.n_layers * H;
    double *all = malloc((size_t)n * n * sizeof *all), mean, std;
    ck_assert_int_eq(cc_composition_baseline(m->cfg.d_model, m->cfg.d_head, 30, 11, NULL, &mean, &std, &err), 0);
    cc_head early = {0, 1}, late = {1, 0};
    for (int mode = 0; mode < 3; mode++) {
        ck_assert_int_eq(cc_composition_scores(m, (cc_comp_mode)mode, all, &err), 0);
        double want = all[(size_t)(early.layer * H + early.head) * n + late.layer * H + late.head];
        cc_head_composition hc;
        ck_assert_msg(cc_head_composition_score(m, (cc_comp_mode)mode, early, late, 30, 11, &hc, &err) == 0, "%s",
                      err.msg);
        ck_assert_int_eq(hc.mode, mode);
        ck_assert_msg(fabs(hc.score - want) <= 1e-9 * want, "mode %d: %.12g vs %.12g", mode, hc.score, want);
        ck_assert_double_eq(hc.baseline_mean, mean);
        ck_assert_double_eq(hc.baseline_std, std);
        ck_assert_double_eq(hc.ratio_to_baseline, hc.score / mean);
        ck_assert_int_eq(hc.baseline_samples, 30);
        ck_assert_msg(cc_head_composition_score(m, (cc_comp_mode)mode, early, late, 0, 11, &hc, &err) == 0, "%s",
                      err.msg);
        ck_assert(hc.baseline_mean == 0 && hc.baseline_std == 0 && hc.ratio_to_baseline == 0);
        ck_assert_msg(fabs(hc.score - want) <= 1e-9 * want, "mode %d without baseline", mode);
    }
    free(all);
    cc_model_free(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("measure");
    TCase *tc = tcase_create("measure");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, circuit_measure_matches_its_parts);
    tcase_add_test(tc, circuit_measure_refuses_a_rectangle);
    tcase_add_test(tc, head_composition_matches_batch_and_baseline);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
