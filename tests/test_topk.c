/* test_topk.c — exact diagonal top-k: brute force against a naive float64
 * reference, and the fast path against brute force, on random, planted,
 * tied and rank-deficient circuits. */
#include <stdlib.h>
#include <string.h>

#include "circuitc/rng.h"
#include "circuitc/topk.h"
#include "testutil.h"

/* A [n, m], B [m, n] with B^T = PLANT * A + noise (PLANT = 0: independent). */
static cc_fm make_circuit(int n, int m, double plant, uint64_t seed)
{
    cc_rng r;
    cc_rng_seed(&r, seed);
    float *A = malloc((size_t)n * m * sizeof *A), *B = malloc((size_t)m * n * sizeof *B);
    for (size_t i = 0; i < (size_t)n * m; i++) A[i] = (float)cc_rng_normal(&r);
    for (int j = 0; j < n; j++)
        for (int c = 0; c < m; c++) B[(size_t)c * n + j] = (float)(plant * A[(size_t)j * m + c] + cc_rng_normal(&r));
    cc_fm fm;
    cc_fm_wrap(A, B, n, m, n, &fm);
    return fm;
}

/* The definition in topk.h, computed naively. */
static void naive(const cc_fm *fm, int k_max, long *correct, long *tied, double *rank_mean)
{
    int n = fm->l, m = fm->m;
    double sum = 0;
    memset(correct, 0, (size_t)k_max * sizeof *correct);
    *tied = 0;
    for (int i = 0; i < n; i++) {
        double s[4096];
        for (int j = 0; j < n; j++) {
            double v = 0;
            for (int c = 0; c < m; c++) v += (double)fm->A[(size_t)i * m + c] * (double)fm->B[(size_t)c * n + j];
            s[j] = v;
        }
        long gt = 0, before = 0;
        int t = 0;
        for (int j = 0; j < n; j++) {
            if (j == i) continue;
            if (s[j] > s[i]) gt++;
            else if (s[j] == s[i]) t = 1, before += j < i;
        }
        long rank = gt + before;
        for (int k = 1; k <= k_max; k++) correct[k - 1] += rank < k;
        *tied += t && gt < k_max;
        sum += (double)rank;
    }
    *rank_mean = sum / n;
}

static cc_topk_result run(const cc_fm *fm, cc_topk_method method, bool ranks, int threads)
{
    cc_topk_options o = {.k_max = 5, .ranks = ranks, .method = method, .threads = threads};
    cc_topk_result r;
    cc_error err;
    ck_assert_msg(cc_topk_diagonal(fm, &o, &r, &err) == 0, "%s", err.msg);
    return r;
}

static void assert_same(const cc_topk_result *a, const cc_topk_result *b)
{
    for (int k = 0; k < 5; k++)
        ck_assert_msg(a->correct[k] == b->correct[k], "top-%d: %ld vs %ld", k + 1, a->correct[k], b->correct[k]);
    ck_assert_int_eq(a->tied_rows, b->tied_rows);
}

START_TEST(brute_force_matches_naive_definition)
{
    double plants[] = {0.0, 0.6, 3.0};
    for (int p = 0; p < 3; p++) {
        cc_fm fm = make_circuit(700, 12, plants[p], 100 + p);
        long correct[5], tied;
        double mean;
        naive(&fm, 5, correct, &tied, &mean);
        cc_topk_result r = run(&fm, CC_TOPK_BRUTE, true, 2);
        for (int k = 0; k < 5; k++) ck_assert_int_eq(r.correct[k], correct[k]);
        ck_assert_int_eq(r.tied_rows, tied);
        ck_assert(r.has_ranks);
        ck_assert_double_eq_tol(r.rank_mean, mean, 1e-9);
        cc_fm_free(&fm);
    }
}
END_TEST

START_TEST(fast_path_matches_brute_force)
{
    /* planted strengths give top-1 from ~0 to ~1; shapes include n not a multiple of the tiles */
    double plants[] = {0.0, 0.3, 0.6, 1.0, 3.0};
    int ns[] = {3001, 4099, 2500, 5000, 3333};
    for (int p = 0; p < 5; p++) {
        cc_fm fm = make_circuit(ns[p], 32, plants[p], 7 + p);
        cc_topk_result b = run(&fm, CC_TOPK_BRUTE, false, 2), f = run(&fm, CC_TOPK_FAST, false, 2);
        ck_assert_int_eq(f.method, CC_TOPK_FAST);
        assert_same(&b, &f);
        /* one thread and a forced component count give the same answer */
        cc_topk_options o = {.k_max = 5, .method = CC_TOPK_FAST, .components = 4, .threads = 1};
        cc_topk_result f4;
        cc_error err;
        ck_assert_int_eq(cc_topk_diagonal(&fm, &o, &f4, &err), 0);
        ck_assert_int_eq(f4.components, 4);
        assert_same(&b, &f4);
        cc_fm_free(&fm);
    }
}
END_TEST

START_TEST(exact_ties_follow_argmax_rule)
{
    /* identical columns 2i and 2i+1 of B: each even row ties exactly with the next column */
    int n = 600, m = 8;
    cc_fm fm = make_circuit(n, m, 4.0, 3);
    for (int j = 0; j + 1 < n; j += 2)
        for (int c = 0; c < m; c++) fm.B[(size_t)c * n + j + 1] = fm.B[(size_t)c * n + j];
    long correct[5], tied;
    double mean;
    naive(&fm, 5, correct, &tied, &mean);
    ck_assert_int_gt(tied, 100);
    cc_topk_result b = run(&fm, CC_TOPK_BRUTE, false, 2), f = run(&fm, CC_TOPK_FAST, false, 2);
    for (int k = 0; k < 5; k++) ck_assert_int_eq(b.correct[k], correct[k]);
    ck_assert_int_eq(b.tied_rows, tied);
    assert_same(&b, &f);
    /* odd rows tie with the earlier even column, so they are never top-1 */
    ck_assert_int_le(b.correct[0], n / 2);
    cc_fm_free(&fm);
}
END_TEST

START_TEST(rank_deficient_falls_back_exactly)
{
    int n = 900, m = 10;
    cc_fm fm = make_circuit(n, m, 2.0, 5);
    for (int i = 0; i < n; i++) fm.A[(size_t)i * m + 9] = fm.A[(size_t)i * m + 8]; /* rank m-1 A */
    cc_topk_result b = run(&fm, CC_TOPK_BRUTE, false, 2), f = run(&fm, CC_TOPK_FAST, false, 2);
    assert_same(&b, &f);
    cc_fm_free(&fm);
}
END_TEST

START_TEST(rejects_bad_requests)
{
    cc_fm fm = make_circuit(10, 3, 0, 1);
    cc_topk_options o = {.k_max = 0};
    cc_topk_result r;
    cc_error err;
    ck_assert_int_eq(cc_topk_diagonal(&fm, &o, &r, &err), -1);
    tu_assert_contains(err.msg, "k must be between 1 and 64");
    cc_fm_free(&fm);
    float A[6] = {0}, B[4] = {0};
    cc_fm rect;
    ck_assert_int_eq(cc_fm_create(A, B, 3, 2, 2, &rect, &err), 0);
    o.k_max = 1;
    ck_assert_int_eq(cc_topk_diagonal(&rect, &o, &r, &err), -1);
    tu_assert_contains(err.msg, "square");
    cc_fm_free(&rect);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("topk");
    TCase *tc = tcase_create("exact top-k");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, brute_force_matches_naive_definition);
    tcase_add_test(tc, fast_path_matches_brute_force);
    tcase_add_test(tc, exact_ties_follow_argmax_rule);
    tcase_add_test(tc, rank_deficient_falls_back_exactly);
    tcase_add_test(tc, rejects_bad_requests);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
