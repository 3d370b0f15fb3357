/* test_factored.c — every FactoredMatrix operation (include/circuitc/factored.h)
 * against dense float64 computations on seeded random matrices of assorted
 * shapes: l < m, m > l, m > r, square, vectors, and rank-deficient factors. */
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/factored.h"
#include "circuitc/rng.h"
#include "testutil.h"

/* ---- dense float64 reference helpers --------------------------------------- */

static size_t nz(size_t n) { return n ? n : 1; }

/* A random [rows, cols] float32 matrix of standard normals; when RANK < min(rows, cols)
 * it is built as X [rows, rank] Y [rank, cols] so its rank is at most RANK. */
static float *rand_mat(cc_rng *g, int rows, int cols, int rank)
{
    float *M = malloc(nz((size_t)rows * cols) * sizeof *M);
    int full = rows < cols ? rows : cols;
    if (rank >= full) {
        for (int i = 0; i < rows * cols; i++) M[i] = (float)cc_rng_normal(g);
        return M;
    }
    double *X = malloc((size_t)rows * (rank ? rank : 1) * sizeof *X), *Y = malloc((size_t)(rank ? rank : 1) * cols * sizeof *Y);
    for (int i = 0; i < rows * rank; i++) X[i] = cc_rng_normal(g);
    for (int i = 0; i < rank * cols; i++) Y[i] = cc_rng_normal(g);
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) {
            double s = 0;
            for (int k = 0; k < rank; k++) s += X[i * rank + k] * Y[k * cols + j];
            M[i * cols + j] = (float)s;
        }
    free(X), free(Y);
    return M;
}

/* C [M, N] = A [M, K] B [K, N] in float64 from float32 inputs. */
static double *dmul(const float *A, const float *B, int M, int K, int N)
{
    double *C = calloc(nz((size_t)M * N), sizeof *C);
    for (int i = 0; i < M; i++)
        for (int k = 0; k < K; k++) {
            double a = A[(size_t)i * K + k];
            for (int j = 0; j < N; j++) C[(size_t)i * N + j] += a * B[(size_t)k * N + j];
        }
    return C;
}

/* The same with float64 inputs. */
static double *ddmul(const double *A, const double *B, int M, int K, int N)
{
    double *C = calloc(nz((size_t)M * N), sizeof *C);
    for (int i = 0; i < M; i++)
        for (int k = 0; k < K; k++)
            for (int j = 0; j < N; j++) C[(size_t)i * N + j] += A[(size_t)i * K + k] * B[(size_t)k * N + j];
    return C;
}

static double dfrob(const double *X, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += X[i] * X[i];
    return sqrt(s);
}

/* ||got - want||_F / max(||want||_F, tiny): the relative error of a whole matrix. */
static double rel_err_f(const float *got, const double *want, size_t n)
{
    double d = 0, w = 0;
    for (size_t i = 0; i < n; i++) {
        d += (got[i] - want[i]) * (got[i] - want[i]);
        w += want[i] * want[i];
    }
    return sqrt(d) / (w > 1e-300 ? sqrt(w) : 1.0);
}

static double *fm_dense(const cc_fm *fm) { return dmul(fm->A, fm->B, fm->l, fm->m, fm->r); }

/* Checks that the product of FM equals WANT [l, r] to 1e-5 relative. */
static void assert_product(const cc_fm *fm, const double *want, const char *what)
{
    float *ab = malloc(nz((size_t)fm->l * fm->r) * sizeof *ab);
    cc_fm_AB(fm, ab);
    double e = rel_err_f(ab, want, (size_t)fm->l * fm->r);
    ck_assert_msg(e < 1e-5, "%s: product differs from the dense one by %g (relative)", what, e);
    free(ab);
}

/* ---- the shapes ----------------------------------------------------------- */

typedef struct {
    int l, m, r;
    int rank_a, rank_b; /* ranks of A and B (>= min(shape) means full) */
} shape;

static const shape SHAPES[] = {
    {7, 3, 5, 99, 99},  /* m < l, m < r: the usual low-rank case */
    {3, 7, 5, 99, 99},  /* m > l */
    {5, 7, 3, 99, 99},  /* m > r */
    {6, 6, 6, 99, 99},  /* square everything */
    {4, 9, 4, 99, 99},  /* m > l = r */
    {1, 4, 9, 99, 99},  /* a row vector */
    {9, 4, 1, 99, 99},  /* a column vector */
    {8, 5, 6, 2, 99},   /* rank-deficient A */
    {6, 5, 6, 99, 3},   /* rank-deficient B, square */
    {10, 6, 10, 3, 2},  /* both rank-deficient, square */
};
#define N_SHAPES ((int)(sizeof SHAPES / sizeof SHAPES[0]))

static void make(int i, cc_fm *fm)
{
    cc_rng g;
    cc_rng_seed(&g, 1000 + (uint64_t)i);
    const shape *s = &SHAPES[i];
    float *A = rand_mat(&g, s->l, s->m, s->rank_a), *B = rand_mat(&g, s->m, s->r, s->rank_b);
    cc_fm_wrap(A, B, s->l, s->m, s->r, fm);
}

/* ---- tests ------------------------------------------------------------------ */

START_TEST(ab_and_create_copy)
{
    cc_fm fm, copy;
    cc_error err;
    make(_i, &fm);
    double *want = fm_dense(&fm);
    assert_product(&fm, want, "AB");
    ck_assert_int_eq(cc_fm_create(fm.A, fm.B, fm.l, fm.m, fm.r, &copy, &err), 0);
    ck_assert(copy.A != fm.A && copy.B != fm.B);
    assert_product(&copy, want, "create");
    cc_fm_free(&copy);
    ck_assert(copy.A == NULL && copy.B == NULL);
    cc_fm_free(&fm);
    cc_fm_free(NULL);
    free(want);
}
END_TEST

START_TEST(ba_square_only)
{
    cc_fm fm;
    cc_error err;
    make(_i, &fm);
    float *ba = malloc((size_t)fm.m * fm.m * sizeof *ba);
    if (fm.l == fm.r) {
        ck_assert_int_eq(cc_fm_BA(&fm, ba, &err), 0);
        double *want = dmul(fm.B, fm.A, fm.m, fm.r, fm.m);
        double e = rel_err_f(ba, want, (size_t)fm.m * fm.m);
        ck_assert_msg(e < 1e-5, "BA off by %g", e);
        free(want);
    } else {
        ck_assert_int_eq(cc_fm_BA(&fm, ba, &err), -1);
        tu_assert_contains(err.msg, "square");
    }
    free(ba);
    cc_fm_free(&fm);
}
END_TEST

START_TEST(transpose)
{
    cc_fm fm, t;
    cc_error err;
    make(_i, &fm);
    ck_assert_int_eq(cc_fm_transpose(&fm, &t, &err), 0);
    ck_assert(t.l == fm.r && t.m == fm.m && t.r == fm.l);
    double *d = fm_dense(&fm), *dt = malloc((size_t)fm.l * fm.r * sizeof *dt);
    for (int i = 0; i < fm.l; i++)
        for (int j = 0; j < fm.r; j++) dt[(size_t)j * fm.l + i] = d[(size_t)i * fm.r + j];
    assert_product(&t, dt, "transpose");
    free(d), free(dt);
    cc_fm_free(&fm), cc_fm_free(&t);
}
END_TEST

/* M @ X keeps the factorisation on the side with the smaller inner dimension
 * (docs/factored.md, "Products"): (A, B X) when r > m (result m = m), else (A B, X)
 * (result m = r). X @ M likewise: (X A, B) when l > m, else (X, A B). */
START_TEST(matmul_dense_both_sides)
{
    cc_fm fm, out;
    cc_error err;
    make(_i, &fm);
    cc_rng g;
    cc_rng_seed(&g, 77 + (uint64_t)_i);
    double *d = fm_dense(&fm);
    for (int c = 1; c <= 8; c += 7) {
        float *X = rand_mat(&g, fm.r, c, 99);
        ck_assert_int_eq(cc_fm_matmul_dense(&fm, X, c, &out, &err), 0);
        ck_assert(out.l == fm.l && out.r == c);
        ck_assert_int_eq(out.m, fm.r > fm.m ? fm.m : fm.r);
        double *Xd = malloc((size_t)fm.r * c * sizeof *Xd);
        for (int i = 0; i < fm.r * c; i++) Xd[i] = X[i];
        double *want = ddmul(d, Xd, fm.l, fm.r, c);
        assert_product(&out, want, "M @ X");
        free(want), free(Xd), free(X);
        cc_fm_free(&out);

        float *Y = rand_mat(&g, c, fm.l, 99);
        ck_assert_int_eq(cc_fm_rmatmul_dense(Y, c, &fm, &out, &err), 0);
        ck_assert(out.l == c && out.r == fm.r);
        ck_assert_int_eq(out.m, fm.l > fm.m ? fm.m : fm.l);
        double *Yd = malloc((size_t)c * fm.l * sizeof *Yd);
        for (int i = 0; i < c * fm.l; i++) Yd[i] = Y[i];
        want = ddmul(Yd, d, c, fm.l, fm.r);
        assert_product(&out, want, "X @ M");
        free(want), free(Yd), free(Y);
        cc_fm_free(&out);
    }
    free(d);
    cc_fm_free(&fm);
}
END_TEST

/* M1 @ M2 = (M1 @ A2) @ B2, each step following the inner-dimension rule. */
START_TEST(matmul_factored)
{
    cc_fm m1, m2, out;
    cc_error err;
    make(_i, &m1);
    cc_rng g;
    cc_rng_seed(&g, 300 + (uint64_t)_i);
    int m2m = 1 + (int)cc_rng_below(&g, 8), m2r = 1 + (int)cc_rng_below(&g, 9);
    float *A2 = rand_mat(&g, m1.r, m2m, 99), *B2 = rand_mat(&g, m2m, m2r, 99);
    cc_fm_wrap(A2, B2, m1.r, m2m, m2r, &m2);
    ck_assert_int_eq(cc_fm_matmul(&m1, &m2, &out, &err), 0);
    ck_assert(out.l == m1.l && out.r == m2.r);
    int tm = m1.r > m1.m ? m1.m : m1.r; /* inner dim of M1 @ A2 */
    ck_assert_int_eq(out.m, m2.m > tm ? tm : m2.m);
    double *d1 = fm_dense(&m1), *d2 = fm_dense(&m2), *want = ddmul(d1, d2, m1.l, m1.r, m2.r);
    assert_product(&out, want, "M1 @ M2");
    free(d1), free(d2), free(want);
    cc_fm_free(&out);
    /* mismatched inner dimensions */
    cc_fm bad;
    float *A3 = rand_mat(&g, m1.r + 1, 2, 99), *B3 = rand_mat(&g, 2, 3, 99);
    cc_fm_wrap(A3, B3, m1.r + 1, 2, 3, &bad);
    ck_assert_int_eq(cc_fm_matmul(&m1, &bad, &out, &err), -1);
    tu_assert_contains(err.msg, "inner dimensions differ");
    cc_fm_free(&bad), cc_fm_free(&m1), cc_fm_free(&m2);
}
END_TEST

START_TEST(scale)
{
    cc_fm fm;
    make(_i, &fm);
    double *d = fm_dense(&fm);
    for (int i = 0; i < fm.l * fm.r; i++) d[i] *= -2.5;
    cc_fm_scale(&fm, -2.5f);
    assert_product(&fm, d, "scale");
    free(d);
    cc_fm_free(&fm);
}
END_TEST

START_TEST(rows_and_cols)
{
    cc_fm fm, out;
    cc_error err;
    make(_i, &fm);
    double *d = fm_dense(&fm);
    int rows[] = {fm.l - 1, 0, fm.l / 2, 0}; /* reordered, repeated */
    ck_assert_int_eq(cc_fm_rows(&fm, rows, 4, &out, &err), 0);
    ck_assert(out.l == 4 && out.m == fm.m && out.r == fm.r);
    double *want = malloc((size_t)4 * fm.r * sizeof *want);
    for (int i = 0; i < 4; i++) memcpy(want + (size_t)i * fm.r, d + (size_t)rows[i] * fm.r, fm.r * sizeof *want);
    assert_product(&out, want, "rows");
    free(want);
    cc_fm_free(&out);

    int cols[] = {fm.r - 1, fm.r / 2, 0};
    ck_assert_int_eq(cc_fm_cols(&fm, cols, 3, &out, &err), 0);
    ck_assert(out.l == fm.l && out.m == fm.m && out.r == 3);
    want = malloc((size_t)fm.l * 3 * sizeof *want);
    for (int i = 0; i < fm.l; i++)
        for (int j = 0; j < 3; j++) want[i * 3 + j] = d[(size_t)i * fm.r + cols[j]];
    assert_product(&out, want, "cols");
    free(want);
    cc_fm_free(&out);

    int bad_row[] = {fm.l};
    ck_assert_int_eq(cc_fm_rows(&fm, bad_row, 1, &out, &err), -1);
    tu_assert_contains(err.msg, "outside");
    int bad_col[] = {-1};
    ck_assert_int_eq(cc_fm_cols(&fm, bad_col, 1, &out, &err), -1);
    tu_assert_contains(err.msg, "outside");
    free(d);
    cc_fm_free(&fm);
}
END_TEST

/* max |X^T X - I| over the k columns of X [n, k]. */
static double orthonormality_error(const float *X, int n, int k)
{
    double worst = 0;
    for (int a = 0; a < k; a++)
        for (int b = 0; b < k; b++) {
            double s = 0;
            for (int i = 0; i < n; i++) s += (double)X[(size_t)i * k + a] * X[(size_t)i * k + b];
            double e = fabs(s - (a == b));
            if (e > worst) worst = e;
        }
    return worst;
}

START_TEST(svd)
{
    cc_fm fm;
    cc_fm_svd s;
    cc_error err;
    make(_i, &fm);
    ck_assert_int_eq(cc_fm_svd_compute(&fm, &s, &err), 0);
    int k = fm.l < fm.m ? fm.l : fm.m;
    if (fm.r < k) k = fm.r;
    ck_assert_int_eq(s.k, k);
    ck_assert(s.l == fm.l && s.r == fm.r);
    for (int i = 0; i < k; i++) {
        ck_assert_msg(s.S[i] >= 0, "S[%d] = %g is negative", i, s.S[i]);
        if (i) ck_assert_msg(s.S[i] <= s.S[i - 1], "S not descending at %d", i);
    }
    /* U and V have orthonormal columns, even where S is zero (rank-deficient cases). */
    ck_assert_msg(orthonormality_error(s.U, fm.l, k) < 1e-5, "U not orthonormal: %g", orthonormality_error(s.U, fm.l, k));
    ck_assert_msg(orthonormality_error(s.V, fm.r, k) < 1e-5, "V not orthonormal: %g", orthonormality_error(s.V, fm.r, k));
    /* U diag(S) V^T = AB */
    double *d = fm_dense(&fm);
    double *usv = calloc((size_t)fm.l * fm.r, sizeof *usv);
    for (int i = 0; i < fm.l; i++)
        for (int j = 0; j < fm.r; j++)
            for (int t = 0; t < k; t++)
                usv[(size_t)i * fm.r + j] += (double)s.U[(size_t)i * k + t] * s.S[t] * s.V[(size_t)j * k + t];
    double diff = 0;
    for (int i = 0; i < fm.l * fm.r; i++) diff += (usv[i] - d[i]) * (usv[i] - d[i]);
    double rel = sqrt(diff) / dfrob(d, (size_t)fm.l * fm.r);
    ck_assert_msg(rel < 1e-5, "U S V^T differs from AB by %g", rel);
    /* the singular values match a dense SVD of AB */
    double *dd = malloc((size_t)fm.l * fm.r * sizeof *dd), *S2 = malloc((size_t)(fm.l < fm.r ? fm.l : fm.r) * sizeof *S2);
    double *superb = malloc((size_t)(fm.l < fm.r ? fm.l : fm.r) * sizeof *superb);
    memcpy(dd, d, (size_t)fm.l * fm.r * sizeof *dd);
    ck_assert_int_eq(LAPACKE_dgesvd(LAPACK_ROW_MAJOR, 'N', 'N', fm.l, fm.r, dd, fm.r, S2, NULL, 1, NULL, 1, superb), 0);
    for (int i = 0; i < k; i++)
        ck_assert_msg(fabs(s.S[i] - S2[i]) <= 1e-5 * S2[0], "S[%d] = %.9g, dense %.9g", i, s.S[i], S2[i]);
    /* the singular values alone (QR of both factors) match too */
    double *S3 = malloc((size_t)(k > 0 ? k : 1) * sizeof *S3);
    ck_assert_int_eq(cc_fm_singular_values(&fm, S3, &err), 0);
    for (int i = 0; i < k; i++)
        ck_assert_msg(fabs(S3[i] - S2[i]) <= 1e-9 * S2[0], "S[%d] = %.12g, dense %.12g", i, S3[i], S2[i]);
    free(S3);
    /* rank-deficient: the trailing singular values vanish */
    int rank = SHAPES[_i].rank_a < SHAPES[_i].rank_b ? SHAPES[_i].rank_a : SHAPES[_i].rank_b;
    for (int i = rank; i < k; i++) ck_assert_msg(s.S[i] < 1e-5 * s.S[0], "S[%d] = %g should be ~0", i, s.S[i]);
    free(d), free(usv), free(dd), free(S2), free(superb);
    cc_fm_svd_free(&s);
    ck_assert(s.U == NULL);
    cc_fm_free(&fm);
}
END_TEST

/* Tall factors (a vocabulary's worth of rows) take the blocked QR path of
 * cc_fm_singular_values: its singular values match those of the core
 * La^T Lb from the Cholesky factors of A^T A and B B^T, formed here in float64
 * (accurate for these well-conditioned random factors). */
START_TEST(singular_values_tall)
{
    enum { L = 9001, M = 6, R = 7003 };
    cc_rng g;
    cc_rng_seed(&g, 77);
    float *A = rand_mat(&g, L, M, M), *B = rand_mat(&g, M, R, M);
    for (int i = 0; i < L * M; i += 7) A[i] *= 30; /* uneven columns */
    cc_fm fm;
    cc_fm_wrap(A, B, L, M, R, &fm);
    double Ga[M * M] = {0}, Gb[M * M] = {0}, core[M * M] = {0}, want[M], got[M];
    for (int a = 0; a < M; a++)
        for (int b = 0; b < M; b++) {
            for (int i = 0; i < L; i++) Ga[a * M + b] += (double)A[i * M + a] * A[i * M + b];
            for (int j = 0; j < R; j++) Gb[a * M + b] += (double)B[a * R + j] * B[b * R + j];
        }
    /* Ga = La La^T, Gb = Lb Lb^T (lower); AB has the singular values of La^T Lb */
    ck_assert_int_eq(LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'L', M, Ga, M), 0);
    ck_assert_int_eq(LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'L', M, Gb, M), 0);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < M; j++)
            for (int t = 0; t < M; t++)
                if (t >= i && t >= j) core[i * M + j] += Ga[t * M + i] * Gb[t * M + j];
    double superb[M];
    ck_assert_int_eq(LAPACKE_dgesvd(LAPACK_ROW_MAJOR, 'N', 'N', M, M, core, M, want, NULL, 1, NULL, 1, superb), 0);
    cc_error err;
    ck_assert_int_eq(cc_fm_singular_values(&fm, got, &err), 0);
    for (int i = 0; i < M; i++)
        ck_assert_msg(fabs(got[i] - want[i]) <= 1e-10 * want[0], "S[%d] = %.15g, want %.15g", i, got[i], want[i]);
    cc_fm_free(&fm);
}
END_TEST

/* Eigenvalues of BA against LAPACKE_dgeev on the dense BA formed here; each
 * eigenvalue matched to the nearest unused dense one (order among equal moduli
 * is not a numerical property), plus the documented sort order. */
START_TEST(eigenvalues)
{
    cc_fm fm;
    cc_error err;
    make(_i, &fm);
    int m = fm.m;
    double *re = malloc((size_t)m * sizeof *re), *im = malloc((size_t)m * sizeof *im);
    if (fm.l != fm.r) {
        ck_assert_int_eq(cc_fm_eigenvalues(&fm, re, im, &err), -1);
        tu_assert_contains(err.msg, "square");
        free(re), free(im), cc_fm_free(&fm);
        return;
    }
    ck_assert_int_eq(cc_fm_eigenvalues(&fm, re, im, &err), 0);
    double *BA = dmul(fm.B, fm.A, m, fm.r, m);
    double *wr = malloc((size_t)m * sizeof *wr), *wi = malloc((size_t)m * sizeof *wi);
    ck_assert_int_eq(LAPACKE_dgeev(LAPACK_ROW_MAJOR, 'N', 'N', m, BA, m, wr, wi, NULL, 1, NULL, 1), 0);
    double scale = 0;
    for (int i = 0; i < m; i++) scale = fmax(scale, hypot(wr[i], wi[i]));
    char *used = calloc((size_t)m, 1);
    for (int i = 0; i < m; i++) {
        int best = -1;
        double bd = INFINITY;
        for (int j = 0; j < m; j++)
            if (!used[j] && hypot(re[i] - wr[j], im[i] - wi[j]) < bd) bd = hypot(re[i] - wr[j], im[i] - wi[j]), best = j;
        ck_assert_msg(bd <= 1e-6 * scale, "eigenvalue %d (%g%+gi) has no dense match (nearest %g away)", i, re[i],
                      im[i], bd);
        used[best] = 1;
        if (i) {
            double mp = hypot(re[i - 1], im[i - 1]), mi = hypot(re[i], im[i]);
            ck_assert_msg(mi <= mp, "eigenvalues not sorted by descending modulus at %d", i);
            if (mi == mp) ck_assert(re[i] < re[i - 1] || (re[i] == re[i - 1] && im[i] <= im[i - 1]));
        }
    }
    /* the eigenvalues of BA sum to tr(AB) */
    double tr = 0, sum = 0;
    double *d = fm_dense(&fm);
    for (int i = 0; i < fm.l; i++) tr += d[(size_t)i * fm.r + i];
    for (int i = 0; i < m; i++) sum += re[i];
    ck_assert_msg(fabs(tr - sum) <= 1e-5 * (fabs(tr) + scale), "sum of eigenvalues %g != trace %g", sum, tr);
    free(d), free(used), free(BA), free(wr), free(wi), free(re), free(im);
    cc_fm_free(&fm);
}
END_TEST

START_TEST(norm)
{
    cc_fm fm;
    make(_i, &fm);
    double *d = fm_dense(&fm);
    double want = dfrob(d, (size_t)fm.l * fm.r), got = cc_fm_norm(&fm);
    ck_assert_msg(fabs(got - want) <= 1e-6 * want, "norm %.12g, dense %.12g", got, want);
    free(d);
    cc_fm_free(&fm);
}
END_TEST

/* max over entries of |got - want| / max|want|, got [n] float32 vs a float64 reference. */
static double max_rel(const double *got, const double *want, size_t n)
{
    double scale = 0, worst = 0;
    for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(want[i]));
    for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs(got[i] - want[i]));
    return worst / (scale > 0 ? scale : 1);
}

/* collapse_l C = diag(S) V^T satisfies C^T C = (AB)^T (AB); collapse_r R = U diag(S)
 * satisfies R R^T = AB (AB)^T: checks that need no particular SVD basis. make_even
 * reproduces AB with balanced factors (A^T A = B B^T = diag(S)). */
START_TEST(collapse_and_make_even)
{
    cc_fm fm, ev;
    cc_error err;
    make(_i, &fm);
    int l = fm.l, r = fm.r, k;
    double *d = fm_dense(&fm);
    double *dt = malloc((size_t)l * r * sizeof *dt);
    for (int i = 0; i < l; i++)
        for (int j = 0; j < r; j++) dt[(size_t)j * l + i] = d[(size_t)i * r + j];
    float *C;
    ck_assert_int_eq(cc_fm_collapse_l(&fm, &C, &k, &err), 0);
    float *Ct = malloc((size_t)k * r * sizeof *Ct);
    for (int i = 0; i < k; i++)
        for (int j = 0; j < r; j++) Ct[(size_t)j * k + i] = C[(size_t)i * r + j];
    double *CtC = dmul(Ct, C, r, k, r), *want = ddmul(dt, d, r, l, r);
    ck_assert_msg(max_rel(CtC, want, (size_t)r * r) < 1e-5, "collapse_l: C^T C != (AB)^T AB");
    free(CtC), free(want), free(Ct), free(C);

    float *R;
    ck_assert_int_eq(cc_fm_collapse_r(&fm, &R, &k, &err), 0);
    float *Rt = malloc((size_t)k * l * sizeof *Rt);
    for (int i = 0; i < l; i++)
        for (int j = 0; j < k; j++) Rt[(size_t)j * l + i] = R[(size_t)i * k + j];
    double *RRt = dmul(R, Rt, l, k, l);
    want = ddmul(d, dt, l, r, l);
    ck_assert_msg(max_rel(RRt, want, (size_t)l * l) < 1e-5, "collapse_r: R R^T != AB (AB)^T");
    free(RRt), free(want), free(Rt), free(R);

    ck_assert_int_eq(cc_fm_make_even(&fm, &ev, &err), 0);
    ck_assert(ev.l == l && ev.m == k && ev.r == r);
    assert_product(&ev, d, "make_even");
    for (int a = 0; a < k; a++)
        for (int b = 0; b < k; b++) {
            double ga = 0, gb = 0;
            for (int i = 0; i < l; i++) ga += (double)ev.A[(size_t)i * k + a] * ev.A[(size_t)i * k + b];
            for (int j = 0; j < r; j++) gb += (double)ev.B[(size_t)a * r + j] * ev.B[(size_t)b * r + j];
            ck_assert_msg(fabs(ga - gb) <= 1e-4 * (1 + fabs(ga)), "make_even not balanced at (%d,%d): %g vs %g", a,
                          b, ga, gb);
        }
    cc_fm_free(&ev);
    free(d), free(dt);
    cc_fm_free(&fm);
}
END_TEST

START_TEST(corner)
{
    cc_fm fm;
    make(_i, &fm);
    double *d = fm_dense(&fm);
    for (int n = 1; n <= 11; n += 5) {
        float *c = malloc((size_t)n * n * sizeof *c);
        memset(c, 0x7f, (size_t)n * n * sizeof *c); /* garbage that must be overwritten */
        cc_fm_corner(&fm, n, c);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                double want = i < fm.l && j < fm.r ? d[(size_t)i * fm.r + j] : 0.0;
                ck_assert_msg(fabs(c[i * n + j] - want) <= 1e-5 * (1 + fabs(want)), "corner[%d,%d] = %g, want %g", i,
                              j, c[i * n + j], want);
            }
        free(c);
    }
    free(d);
    cc_fm_free(&fm);
}
END_TEST

/* ||W_A W_B||_F / (||W_A||_F ||W_B||_F) with W_A = left's product, W_B = right's. */
START_TEST(composition_score)
{
    cc_fm left, right;
    cc_error err;
    make(_i, &left);
    cc_rng g;
    cc_rng_seed(&g, 500 + (uint64_t)_i);
    int m2 = 1 + (int)cc_rng_below(&g, 6), z = 1 + (int)cc_rng_below(&g, 8);
    float *A2 = rand_mat(&g, left.r, m2, 99), *B2 = rand_mat(&g, m2, z, 99);
    cc_fm_wrap(A2, B2, left.r, m2, z, &right);
    double *wa = fm_dense(&left), *wb = fm_dense(&right), *wab = ddmul(wa, wb, left.l, left.r, z);
    double want = dfrob(wab, (size_t)left.l * z) / (dfrob(wa, (size_t)left.l * left.r) * dfrob(wb, (size_t)left.r * z));
    double got;
    ck_assert_int_eq(cc_fm_composition_score(&left, &right, &got, &err), 0);
    ck_assert_msg(fabs(got - want) <= 1e-6 * want, "composition score %.12g, dense %.12g", got, want);
    ck_assert(got >= 0 && got <= 1 + 1e-12);
    /* a zero matrix composes with nothing: 0, not NaN */
    cc_fm zero;
    float *ZA = calloc((size_t)left.l * 2, sizeof *ZA), *ZB = calloc((size_t)2 * left.r, sizeof *ZB);
    cc_fm_wrap(ZA, ZB, left.l, 2, left.r, &zero);
    ck_assert_int_eq(cc_fm_composition_score(&zero, &right, &got, &err), 0);
    ck_assert(got == 0.0);
    cc_fm_free(&zero);
    /* shapes that do not chain */
    ck_assert_int_eq(cc_fm_composition_score(&right, &right, &got, &err), left.r == z ? 0 : -1);
    if (left.r != z) tu_assert_contains(err.msg, "composition score");
    free(wa), free(wb), free(wab);
    cc_fm_free(&left), cc_fm_free(&right);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("factored");
    TCase *tc = tcase_create("dense-equivalence");
    tcase_add_loop_test(tc, ab_and_create_copy, 0, N_SHAPES);
    tcase_add_loop_test(tc, ba_square_only, 0, N_SHAPES);
    tcase_add_loop_test(tc, transpose, 0, N_SHAPES);
    tcase_add_loop_test(tc, matmul_dense_both_sides, 0, N_SHAPES);
    tcase_add_loop_test(tc, matmul_factored, 0, N_SHAPES);
    tcase_add_loop_test(tc, scale, 0, N_SHAPES);
    tcase_add_loop_test(tc, rows_and_cols, 0, N_SHAPES);
    tcase_add_loop_test(tc, svd, 0, N_SHAPES);
    tcase_add_test(tc, singular_values_tall);
    tcase_add_loop_test(tc, eigenvalues, 0, N_SHAPES);
    tcase_add_loop_test(tc, norm, 0, N_SHAPES);
    tcase_add_loop_test(tc, collapse_and_make_even, 0, N_SHAPES);
    tcase_add_loop_test(tc, corner, 0, N_SHAPES);
    tcase_add_loop_test(tc, composition_score, 0, N_SHAPES);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
