/* test_topk.c — exact diagonal top-k: brute force against a naive float64
 * reference, and the fast path against brute force, on random, planted,
 * tied and rank-deficient circuits; near-tie rows planted on purpose in a
 * compiled circuit against a float64 reference and a float32 evaluation. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/circuit.h"
#include "circuitc/rng.h"
#include "analysis/topk_internal.h"
#include "circuitc/topk.h"
#include "testutil.h"
#include "model/model_internal.h" /* the model's fields, for checking them */

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

/* The rows and columns of FM in one call (their set-up shared) give what two
 * calls give, near-ties and the work done included. */
static void assert_both_as_two_calls(const cc_fm *fm, cc_topk_options o)
{
    cc_topk_result rows, cols, want[2];
    cc_error err;
    ck_assert_msg(cci_topk_diagonal_both(fm, &o, &rows, &cols, &err) == 0, "%s", err.msg);
    for (int d = 0; d < 2; d++) {
        o.columns = d == 1;
        ck_assert_msg(cc_topk_diagonal(fm, &o, &want[d], &err) == 0, "%s", err.msg);
        const cc_topk_result *got = d ? &cols : &rows;
        for (int k = 0; k < o.k_max; k++) {
            ck_assert_msg(got->correct[k] == want[d].correct[k], "%s top-%d: %ld, two calls %ld", d ? "columns" : "rows",
                          k + 1, got->correct[k], want[d].correct[k]);
            ck_assert_int_eq(got->near_ties_at[k], want[d].near_ties_at[k]);
        }
        ck_assert_int_eq(got->tied_rows, want[d].tied_rows);
        ck_assert_int_eq(got->near_ties, want[d].near_ties);
        ck_assert_int_eq(got->exact_evaluations, want[d].exact_evaluations);
        ck_assert_int_eq(got->rows_scanned_fully, want[d].rows_scanned_fully);
        ck_assert_int_eq(got->components, want[d].components);
        ck_assert_int_eq(got->method, want[d].method);
    }
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
    long full_rows = 0;
    for (int p = 0; p < 5; p++) {
        cc_fm fm = make_circuit(ns[p], 32, plants[p], 7 + p);
        cc_topk_result b = run(&fm, CC_TOPK_BRUTE, false, 2), f = run(&fm, CC_TOPK_FAST, false, 2);
        ck_assert_int_eq(f.method, CC_TOPK_FAST);
        assert_same(&b, &f);
        /* columns: through the option (fast) and a transposed copy (brute force) */
        cc_fm t;
        cc_error terr;
        ck_assert_int_eq(cc_fm_transpose(&fm, &t, &terr), 0);
        cc_topk_options co = {.k_max = 5, .method = CC_TOPK_FAST, .columns = true};
        cc_topk_result fc, bc = run(&t, CC_TOPK_BRUTE, false, 2);
        ck_assert_int_eq(cc_topk_diagonal(&fm, &co, &fc, &terr), 0);
        assert_same(&bc, &fc);
        cc_fm_free(&t);
        /* one thread, a forced component count and either screen give the same answer */
        for (int screen = 0; screen < 2; screen++) {
            cc_topk_options o = {.k_max = 5, .method = CC_TOPK_FAST, .components = 4, .threads = 1,
                                 .screen = screen ? CC_TOPK_SCREEN_F32 : CC_TOPK_SCREEN_AUTO};
            cc_topk_result f4;
            cc_error err;
            ck_assert_int_eq(cc_topk_diagonal(&fm, &o, &f4, &err), 0);
            ck_assert_int_eq(f4.components, 4);
            assert_same(&b, &f4);
            full_rows += f4.rows_scanned_fully;
            assert_both_as_two_calls(&fm, o);
        }
        assert_both_as_two_calls(&fm, (cc_topk_options){.k_max = 5, .method = CC_TOPK_FAST, .threads = 2});
        cc_fm_free(&fm);
    }
    ck_assert_int_gt(full_rows, 1000); /* the full-row scans (bfloat16 screen where the CPU has one) ran */
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

/* Ranks of every row's diagonal (argmax tie rule) for scores S [n, n]. */
static void ranks_of(const double *S, int n, long *rank)
{
    for (int i = 0; i < n; i++) {
        const double *row = S + (size_t)i * n;
        rank[i] = 0;
        for (int j = 0; j < n; j++)
            if (j != i && (row[j] > row[i] || (row[j] == row[i] && j < i))) rank[i]++;
    }
}

/* The QK circuit W_E W_Q W_K^T W_E^T of a one-head model whose tokens come in
 * pairs with almost the same embedding: for a pair (i, i+1), s_{i,i+1} - s_ii
 * is about 1e-7 s_ii, below a float32 evaluation's rounding error, so such an
 * evaluation gets some of these rows wrong; the count must still be the float64
 * one, and every row the float32 evaluation gets wrong must be a near-tie. */
START_TEST(planted_near_ties_are_exact_and_reported)
{
    enum { V = 800, D = 48, DH = 16, PAIRS = 250, K = 5 };
    cc_rng r;
    cc_rng_seed(&r, 11);
    float *E = malloc(sizeof(float) * V * D), *W = malloc(sizeof(float) * D * DH);
    for (int i = 0; i < V * D; i++) E[i] = (float)cc_rng_normal(&r);
    for (int i = 0; i < D * DH; i++) W[i] = (float)(cc_rng_normal(&r) / sqrt(D));
    for (int p = 0; p < PAIRS; p++) {
        /* e_{i+1} = e_i + delta, delta along g = W W^T e_i with delta . g = mu e_i . g */
        int i = 2 * p;
        double g[D], u[DH] = {0}, gg = 0, eg = 0;
        for (int c = 0; c < DH; c++)
            for (int t = 0; t < D; t++) u[c] += (double)E[i * D + t] * W[t * DH + c];
        for (int t = 0; t < D; t++) {
            g[t] = 0;
            for (int c = 0; c < DH; c++) g[t] += W[t * DH + c] * u[c];
            gg += g[t] * g[t], eg += E[i * D + t] * g[t];
        }
        double mu = 1e-7 * (2 * cc_rng_uniform(&r) - 1);
        for (int t = 0; t < D; t++) E[(i + 1) * D + t] = (float)(E[i * D + t] + mu * eg * g[t] / gg);
        if (memcmp(E + i * D, E + (i + 1) * D, sizeof(float) * D) == 0) /* keep the pair distinct */
            E[(i + 1) * D] = nextafterf(E[(i + 1) * D], INFINITY);
    }
    cc_model m = {.loaded = true,
                  .cfg = {.n_layers = 1, .n_heads = 1, .d_model = D, .d_head = DH, .d_mlp = 4 * D, .d_vocab = V,
                          .n_ctx = 8, .ln_eps = 1e-5, .bos_token_id = V - 1},
                  .w = {.W_E = E, .W_Q = W, .W_K = W}};
    cc_circuit *c;
    cc_error err;
    ck_assert_msg(cc_circuit_open("qk", &c, &err) == 0, "%s", err.msg);
    const char *name = "head";
    cc_head h = {0, 0};
    cc_fm fm;
    /* TransformerLens' order, so that fm.A, fm.B are a float32 left-to-right evaluation */
    ck_assert_msg(cc_circuit_compile_ex(c, &m, &name, &h, 1, CC_ORDER_LEFT, CC_ORDER_RIGHT, &fm, NULL, NULL, &err) == 0,
                  "%s", err.msg);
    cc_circuit_free(c);
    ck_assert_ptr_nonnull(fm.A64);
    ck_assert_ptr_nonnull(fm.errA);

    /* float64 reference from the float32 weights, and the float32 evaluation */
    double *U = calloc((size_t)V * DH, sizeof *U), *S64 = malloc(sizeof(double) * V * V),
           *S32 = malloc(sizeof(double) * V * V);
    for (int i = 0; i < V; i++)
        for (int cc = 0; cc < DH; cc++)
            for (int t = 0; t < D; t++) U[i * DH + cc] += (double)E[i * D + t] * W[t * DH + cc];
    for (int i = 0; i < V; i++)
        for (int j = 0; j < V; j++) {
            double s = 0;
            float f = 0;
            for (int cc = 0; cc < DH; cc++) {
                s += U[i * DH + cc] * U[j * DH + cc];
                f += fm.A[i * DH + cc] * fm.B[cc * V + j];
            }
            S64[(size_t)i * V + j] = s, S32[(size_t)i * V + j] = f;
        }
    for (int i = 0; i < V * DH; i++) { /* the compiler's float64 factors are the float64 chain */
        ck_assert_double_eq_tol(fm.A64[i], U[i], 1e-12 * (1 + fabs(U[i])));
        ck_assert_double_eq_tol(fm.B64[(i % DH) * V + i / DH], U[i], 1e-12 * (1 + fabs(U[i])));
    }
    long *rank64 = malloc(sizeof(long) * V), *rank32 = malloc(sizeof(long) * V);
    ranks_of(S64, V, rank64);
    ranks_of(S32, V, rank32);
    long want[K] = {0}, flipped = 0, planted_tight = 0;
    for (int i = 0; i < V; i++)
        for (int k = 1; k <= K; k++) want[k - 1] += rank64[i] < k;
    for (int p = 0; p < PAIRS; p++) {
        double d = S64[(size_t)2 * p * V + 2 * p], off = S64[(size_t)2 * p * V + 2 * p + 1];
        planted_tight += fabs(off - d) <= 1e-6 * fabs(d);
    }
    ck_assert_int_ge(planted_tight, PAIRS * 9 / 10);

    unsigned char *mask = malloc(V);
    for (int method = 0; method < 3; method++) { /* fast (bfloat16 screen where there is one), fast float32, brute */
        cc_topk_options o = {.k_max = K, .method = method == 2 ? CC_TOPK_BRUTE : CC_TOPK_FAST, .near_tie_mask = mask,
                             .screen = method == 1 ? CC_TOPK_SCREEN_F32 : CC_TOPK_SCREEN_AUTO};
        cc_topk_result res;
        ck_assert_msg(cc_topk_diagonal(&fm, &o, &res, &err) == 0, "%s", err.msg);
        for (int k = 0; k < K; k++)
            ck_assert_msg(res.correct[k] == want[k], "top-%d: %ld, float64 reference %ld", k + 1, res.correct[k],
                          want[k]);
        ck_assert(res.has_near_ties);
        flipped = 0;
        long marked = 0;
        for (int i = 0; i < V; i++) {
            marked += mask[i];
            bool differs = false;
            for (int k = 1; k <= K; k++) differs |= (rank64[i] < k) != (rank32[i] < k);
            flipped += differs;
            ck_assert_msg(!differs || mask[i], "row %d: float32 rank %ld, float64 rank %ld, not a near-tie", i,
                          rank32[i], rank64[i]);
        }
        ck_assert_int_eq(marked, res.near_ties);
        ck_assert_int_eq(res.near_tie_rows[0], 0); /* row 0 is planted */
        /* the bound is not vacuous: near-ties stay with the planted pairs */
        ck_assert_int_le(res.near_ties, 2 * PAIRS + V / 20);
    }
    ck_assert_int_gt(flipped, 0); /* the float32 evaluation does get planted rows wrong */
    /* columns: the option and a transposed copy agree, near-ties included */
    cc_fm t;
    ck_assert_int_eq(cc_fm_transpose(&fm, &t, &err), 0);
    cc_topk_options co = {.k_max = K, .method = CC_TOPK_FAST, .columns = true}, bo = {.k_max = K, .method = CC_TOPK_BRUTE};
    cc_topk_result rc, rb;
    ck_assert_int_eq(cc_topk_diagonal(&fm, &co, &rc, &err), 0);
    ck_assert_int_eq(cc_topk_diagonal(&t, &bo, &rb, &err), 0);
    ck_assert_int_gt(rb.near_ties, 0);
    for (int k = 0; k < K; k++) {
        ck_assert_int_eq(rc.correct[k], rb.correct[k]);
        ck_assert_int_eq(rc.near_ties_at[k], rb.near_ties_at[k]);
    }
    cc_fm_free(&t);
    assert_both_as_two_calls(&fm, co);
    free(mask), free(rank64), free(rank32), free(U), free(S64), free(S32), free(E), free(W);
    cc_fm_free(&fm);
}
END_TEST

/* The float64 factors and error bounds follow a transpose. */
START_TEST(transpose_keeps_exact_factors)
{
    cc_fm fm = make_circuit(40, 3, 1.0, 9), t;
    cc_error err;
    fm.A64 = malloc(sizeof(double) * 40 * 3), fm.B64 = malloc(sizeof(double) * 3 * 40);
    fm.errA = malloc(sizeof(double) * 40), fm.errB = malloc(sizeof(double) * 40);
    for (int i = 0; i < 120; i++) fm.A64[i] = fm.A[i] + 1e-9 * i, fm.B64[i] = fm.B[i] - 1e-9 * i;
    for (int i = 0; i < 40; i++) fm.errA[i] = i, fm.errB[i] = 100 + i;
    ck_assert_int_eq(cc_fm_transpose(&fm, &t, &err), 0);
    for (int i = 0; i < 40; i++)
        for (int c = 0; c < 3; c++) {
            ck_assert(t.A64[i * 3 + c] == fm.B64[c * 40 + i]);
            ck_assert(t.B64[c * 40 + i] == fm.A64[i * 3 + c]);
        }
    ck_assert(t.errA[7] == 107 && t.errB[7] == 7);
    cc_fm_free(&t);
    cc_fm_free(&fm);
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
    tcase_add_test(tc, planted_near_ties_are_exact_and_reported);
    tcase_add_test(tc, transpose_keeps_exact_factors);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
