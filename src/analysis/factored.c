/* factored.c — FactoredMatrix operations through the small inner core. */
#include "circuitc/factored.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/args.h"
#include "core/parallel.h"

/* ---- helpers ------------------------------------------------------------- */

/* C [M, N] = A [M, K] B [K, N], float32 row-major. */
static void sgemm_nn(int M, int N, int K, const float *A, const float *B, float *C)
{
    if (M == 0 || N == 0) return;
    if (K == 0) {
        memset(C, 0, (size_t)M * N * sizeof *C);
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, A, K, B, N, 0.0f, C, N);
}

static float *falloc(size_t n) { return malloc((n ? n : 1) * sizeof(float)); }
static double *dalloc(size_t n) { return malloc((n ? n : 1) * sizeof(double)); }

static double *to_double(const float *x, size_t n)
{
    double *d = dalloc(n);
    if (d)
        for (size_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}

/* The float64 Gram matrix of X [rows, cols]: X^T X [cols, cols] when OF_COLS,
 * else X X^T [rows, rows]. */
static double *gram(const float *X, int rows, int cols, bool of_cols)
{
    int m = of_cols ? cols : rows, inner = of_cols ? rows : cols;
    double *Xd = to_double(X, (size_t)rows * cols), *G = dalloc((size_t)m * m);
    if (!Xd || !G) {
        free(Xd);
        free(G);
        return NULL;
    }
    if (inner > 0 && m > 0)
        cblas_dgemm(CblasRowMajor, of_cols ? CblasTrans : CblasNoTrans, of_cols ? CblasNoTrans : CblasTrans, m, m,
                    inner, 1.0, Xd, cols, Xd, cols, 0.0, G, m);
    else
        memset(G, 0, (size_t)m * m * sizeof *G);
    free(Xd);
    return G;
}

/* G [m, m] = X^T X for X [rows, m]. */
static double *gram_cols(const float *X, int rows, int m) { return gram(X, rows, m, true); }

/* G [m, m] = X X^T for X [m, cols]. */
static double *gram_rows(const float *X, int m, int cols) { return gram(X, m, cols, false); }

static int oom(cc_error *err) { return cc_fail_code(err, CC_E_NOMEM, "out of memory in a FactoredMatrix operation"); }

/* ---- construction -------------------------------------------------------- */

int cc_fm_create(const float *A, const float *B, int l, int m, int r, cc_fm *out, cc_error *err)
{
    CC_ARG_NOT_NULL(A, err, -1);
    CC_ARG_NOT_NULL(B, err, -1);
    CC_ARG_AT_LEAST(l, 1, err, -1);
    CC_ARG_AT_LEAST(m, 1, err, -1);
    CC_ARG_AT_LEAST(r, 1, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    float *a = falloc((size_t)l * m), *b = falloc((size_t)m * r);
    if (!a || !b) {
        free(a);
        free(b);
        return oom(err);
    }
    memcpy(a, A, (size_t)l * m * sizeof *a);
    memcpy(b, B, (size_t)m * r * sizeof *b);
    cc_fm_wrap(a, b, l, m, r, out);
    return 0;
}

void cc_fm_wrap(float *A, float *B, int l, int m, int r, cc_fm *out)
{
    if (!out) return;
    *out = (cc_fm){.l = l, .m = m, .r = r, .A = A, .B = B};
}

void cc_fm_free(cc_fm *fm)
{
    if (!fm) return;
    free(fm->A), free(fm->B), free(fm->A64), free(fm->B64), free(fm->errA), free(fm->errB);
    fm->A = fm->B = NULL;
    fm->A64 = fm->B64 = NULL;
    fm->errA = fm->errB = NULL;
}

/* ---- products ------------------------------------------------------------ */

void cc_fm_AB(const cc_fm *fm, float *out)
{
    if (!fm || !out) return;
    sgemm_nn(fm->l, fm->r, fm->m, fm->A, fm->B, out);
}

int cc_fm_BA(const cc_fm *fm, float *out, cc_error *err)
{
    CC_ARG_NOT_NULL(fm, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    if (fm->l != fm->r)
        return cc_fail(err, "FactoredMatrix BA needs a square matrix; this one is %d x %d", fm->l, fm->r);
    sgemm_nn(fm->m, fm->m, fm->r, fm->B, fm->A, out);
    return 0;
}

/* OUT [cols, rows] = X^T for X [rows, cols]. */
static void transpose(const float *X, int rows, int cols, float *out)
{
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) out[(size_t)j * rows + i] = X[(size_t)i * cols + j];
}

static void transpose64(const double *X, int rows, int cols, double *out)
{
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) out[(size_t)j * rows + i] = X[(size_t)i * cols + j];
}

static double *copy64(const double *x, size_t n)
{
    double *c = dalloc(n);
    if (c) memcpy(c, x, n * sizeof *c);
    return c;
}

int cc_fm_transpose(const cc_fm *fm, cc_fm *out, cc_error *err)
{
    CC_ARG_NOT_NULL(fm, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    float *a = falloc((size_t)fm->r * fm->m), *b = falloc((size_t)fm->m * fm->l);
    if (!a || !b) {
        free(a);
        free(b);
        return oom(err);
    }
    transpose(fm->B, fm->m, fm->r, a); /* B^T [r, m] */
    transpose(fm->A, fm->l, fm->m, b); /* A^T [m, l] */
    cc_fm_wrap(a, b, fm->r, fm->m, fm->l, out);
    if (fm->A64 && fm->B64) {
        out->A64 = dalloc((size_t)fm->r * fm->m);
        out->B64 = dalloc((size_t)fm->m * fm->l);
        if (!out->A64 || !out->B64) {
            cc_fm_free(out);
            return oom(err);
        }
        transpose64(fm->B64, fm->m, fm->r, out->A64);
        transpose64(fm->A64, fm->l, fm->m, out->B64);
    }
    if (fm->errA && fm->errB) {
        out->errA = copy64(fm->errB, (size_t)fm->r);
        out->errB = copy64(fm->errA, (size_t)fm->l);
        if (!out->errA || !out->errB) {
            cc_fm_free(out);
            return oom(err);
        }
    }
    return 0;
}

int cc_fm_matmul_dense(const cc_fm *fm, const float *X, int c, cc_fm *out, cc_error *err)
{
    CC_ARG_NOT_NULL(fm, err, -1);
    CC_ARG_NOT_NULL(X, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    if (fm->r > fm->m) { /* (A, B X) */
        float *bx = falloc((size_t)fm->m * c);
        if (!bx) return oom(err);
        sgemm_nn(fm->m, c, fm->r, fm->B, X, bx);
        float *a = falloc((size_t)fm->l * fm->m);
        if (!a) {
            free(bx);
            return oom(err);
        }
        memcpy(a, fm->A, (size_t)fm->l * fm->m * sizeof *a);
        cc_fm_wrap(a, bx, fm->l, fm->m, c, out);
        return 0;
    }
    float *ab = falloc((size_t)fm->l * fm->r), *x = falloc((size_t)fm->r * c); /* (A B, X) */
    if (!ab || !x) {
        free(ab);
        free(x);
        return oom(err);
    }
    cc_fm_AB(fm, ab);
    memcpy(x, X, (size_t)fm->r * c * sizeof *x);
    cc_fm_wrap(ab, x, fm->l, fm->r, c, out);
    return 0;
}

int cc_fm_rmatmul_dense(const float *X, int c, const cc_fm *fm, cc_fm *out, cc_error *err)
{
    CC_ARG_NOT_NULL(X, err, -1);
    CC_ARG_NOT_NULL(fm, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    if (fm->l > fm->m) { /* (X A, B) */
        float *xa = falloc((size_t)c * fm->m), *b = falloc((size_t)fm->m * fm->r);
        if (!xa || !b) {
            free(xa);
            free(b);
            return oom(err);
        }
        sgemm_nn(c, fm->m, fm->l, X, fm->A, xa);
        memcpy(b, fm->B, (size_t)fm->m * fm->r * sizeof *b);
        cc_fm_wrap(xa, b, c, fm->m, fm->r, out);
        return 0;
    }
    float *x = falloc((size_t)c * fm->l), *ab = falloc((size_t)fm->l * fm->r); /* (X, A B) */
    if (!x || !ab) {
        free(x);
        free(ab);
        return oom(err);
    }
    memcpy(x, X, (size_t)c * fm->l * sizeof *x);
    cc_fm_AB(fm, ab);
    cc_fm_wrap(x, ab, c, fm->l, fm->r, out);
    return 0;
}

int cc_fm_matmul(const cc_fm *m1, const cc_fm *m2, cc_fm *out, cc_error *err)
{
    CC_ARG_NOT_NULL(m1, err, -1);
    CC_ARG_NOT_NULL(m2, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    if (m1->r != m2->l)
        return cc_fail(err, "FactoredMatrix product: inner dimensions differ (%d x %d times %d x %d)", m1->l, m1->r,
                       m2->l, m2->r);
    cc_fm tmp;
    if (cc_fm_matmul_dense(m1, m2->A, m2->m, &tmp, err) != 0) return -1;
    int rc = cc_fm_matmul_dense(&tmp, m2->B, m2->r, out, err);
    cc_fm_free(&tmp);
    return rc;
}

void cc_fm_scale(cc_fm *fm, float s)
{
    if (!fm) return;
    for (size_t i = 0; i < (size_t)fm->l * fm->m; i++) fm->A[i] *= s;
    if (fm->A64)
        for (size_t i = 0; i < (size_t)fm->l * fm->m; i++) fm->A64[i] *= s;
    if (fm->errA)
        for (int i = 0; i < fm->l; i++) fm->errA[i] *= fabs((double)s);
}

int cc_fm_rows(const cc_fm *fm, const int *rows, int n, cc_fm *out, cc_error *err)
{
    CC_ARG_NOT_NULL(fm, err, -1);
    CC_ARG_NOT_NULL(rows, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    for (int i = 0; i < n; i++)
        if (rows[i] < 0 || rows[i] >= fm->l) return cc_fail(err, "row %d is outside [0, %d)", rows[i], fm->l);
    float *a = falloc((size_t)n * fm->m), *b = falloc((size_t)fm->m * fm->r);
    if (!a || !b) {
        free(a);
        free(b);
        return oom(err);
    }
    for (int i = 0; i < n; i++) memcpy(a + (size_t)i * fm->m, fm->A + (size_t)rows[i] * fm->m, fm->m * sizeof *a);
    memcpy(b, fm->B, (size_t)fm->m * fm->r * sizeof *b);
    cc_fm_wrap(a, b, n, fm->m, fm->r, out);
    return 0;
}

int cc_fm_cols(const cc_fm *fm, const int *cols, int n, cc_fm *out, cc_error *err)
{
    CC_ARG_NOT_NULL(fm, err, -1);
    CC_ARG_NOT_NULL(cols, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    for (int j = 0; j < n; j++)
        if (cols[j] < 0 || cols[j] >= fm->r) return cc_fail(err, "column %d is outside [0, %d)", cols[j], fm->r);
    float *a = falloc((size_t)fm->l * fm->m), *b = falloc((size_t)fm->m * n);
    if (!a || !b) {
        free(a);
        free(b);
        return oom(err);
    }
    memcpy(a, fm->A, (size_t)fm->l * fm->m * sizeof *a);
    for (int c = 0; c < fm->m; c++)
        for (int j = 0; j < n; j++) b[(size_t)c * n + j] = fm->B[(size_t)c * fm->r + cols[j]];
    cc_fm_wrap(a, b, fm->l, fm->m, n, out);
    return 0;
}

/* ---- SVD ------------------------------------------------------------------ */

/* Reduced SVD of X [rows, cols] (float64, overwritten): U [rows, k], S [k], Vt [k, cols]. */
static int dsvd(double *X, int rows, int cols, double *U, double *S, double *Vt)
{
    int k = rows < cols ? rows : cols;
    if (k == 0) return 0;
    return LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'S', rows, cols, X, cols, S, U, k, Vt, cols) == 0 ? 0 : -1;
}

int cc_fm_svd_compute(const cc_fm *fm, cc_fm_svd *out, cc_error *err)
{
    CC_ARG_NOT_NULL(fm, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    int l = fm->l, m = fm->m, r = fm->r;
    int ka = l < m ? l : m, kb = m < r ? m : r, k = ka < kb ? ka : kb;
    double *Ad = to_double(fm->A, (size_t)l * m), *Bd = to_double(fm->B, (size_t)m * r);
    double *Ua = dalloc((size_t)l * ka), *Sa = dalloc(ka), *Vta = dalloc((size_t)ka * m);
    double *Ub = dalloc((size_t)m * kb), *Sb = dalloc(kb), *Vtb = dalloc((size_t)kb * r);
    double *mid = dalloc((size_t)ka * kb), *tmp = dalloc((size_t)ka * m);
    double *Um = dalloc((size_t)ka * k), *Sm = dalloc(k), *Vtm = dalloc((size_t)k * kb);
    double *U = dalloc((size_t)l * k), *V = dalloc((size_t)r * k);
    int rc = -1;
    *out = (cc_fm_svd){0};
    if (!Ad || !Bd || !Ua || !Sa || !Vta || !Ub || !Sb || !Vtb || !mid || !tmp || !Um || !Sm || !Vtm || !U || !V) {
        oom(err);
        goto out;
    }
    if (dsvd(Ad, l, m, Ua, Sa, Vta) != 0 || dsvd(Bd, m, r, Ub, Sb, Vtb) != 0) {
        cc_fail(err, "SVD of a FactoredMatrix factor did not converge");
        goto out;
    }
    if (k > 0) {
        /* middle = diag(Sa) Vta Ub diag(Sb)   [ka, kb] */
        for (int i = 0; i < ka; i++)
            for (int j = 0; j < m; j++) tmp[(size_t)i * m + j] = Sa[i] * Vta[(size_t)i * m + j];
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, ka, kb, m, 1.0, tmp, m, Ub, kb, 0.0, mid, kb);
        for (int i = 0; i < ka; i++)
            for (int j = 0; j < kb; j++) mid[(size_t)i * kb + j] *= Sb[j];
        if (dsvd(mid, ka, kb, Um, Sm, Vtm) != 0) {
            cc_fail(err, "SVD of a FactoredMatrix core did not converge");
            goto out;
        }
        /* U = Ua Um [l, k];  V = Vtb^T Vtm^T [r, k] */
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, l, k, ka, 1.0, Ua, ka, Um, k, 0.0, U, k);
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasTrans, r, k, kb, 1.0, Vtb, r, Vtm, kb, 0.0, V, k);
    }
    out->k = k, out->l = l, out->r = r;
    out->U = falloc((size_t)l * k);
    out->S = falloc(k);
    out->V = falloc((size_t)r * k);
    if (!out->U || !out->S || !out->V) {
        cc_fm_svd_free(out);
        oom(err);
        goto out;
    }
    for (size_t i = 0; i < (size_t)l * k; i++) out->U[i] = (float)U[i];
    for (int i = 0; i < k; i++) out->S[i] = (float)Sm[i];
    for (size_t i = 0; i < (size_t)r * k; i++) out->V[i] = (float)V[i];
    rc = 0;
out:
    free(Ad), free(Bd), free(Ua), free(Sa), free(Vta), free(Ub), free(Sb), free(Vtb);
    free(mid), free(tmp), free(Um), free(Sm), free(Vtm), free(U), free(V);
    return rc;
}

/* Factors W (column-major [rows, m], leading dimension rows) in place and
 * writes its R, padded with zero rows to [m, m], column-major with leading
 * dimension LDD into DST. Returns 0, or -1 when LAPACK fails. */
static int qr_block(double *W, int rows, int m, double *tau, double *dst, int ldd)
{
    int k = rows < m ? rows : m;
    if (k > 0 && LAPACKE_dgeqrf(LAPACK_COL_MAJOR, rows, m, W, rows, tau) != 0) return -1;
    for (int j = 0; j < m; j++)
        for (int i = 0; i < m; i++) dst[(size_t)j * ldd + i] = i <= j && i < k ? W[(size_t)j * rows + i] : 0;
    return 0;
}

/* Tall factors are factored in blocks of QR_ROWS rows, whose R factors are
 * stacked and factored again (TSQR): the same R up to the signs of its rows,
 * with every block in cache, and the blocks spread across cores. */
enum { QR_ROWS = 1024 };

typedef struct {
    const float *X;
    bool trans;
    int rows, m;
    double *stack; /* column-major [blocks * m, m] */
    int ld;
    atomic_bool failed;
} qr_job;

/* W (column-major [nr, m]) = rows [i0, i0 + nr) of the factor, widened: X[i, c],
 * or X[c, i] when TRANS (each read in storage order). */
static void qr_fill(const qr_job *J, int i0, int nr, double *W)
{
    int m = J->m;
    if (J->trans)
        for (int c = 0; c < m; c++)
            for (int i = 0; i < nr; i++) W[(size_t)c * nr + i] = J->X[(size_t)c * J->rows + i0 + i];
    else
        for (int i = 0; i < nr; i++)
            for (int c = 0; c < m; c++) W[(size_t)c * nr + i] = J->X[(size_t)(i0 + i) * m + c];
}

static void qr_blocks(void *ctx, size_t lo, size_t hi)
{
    qr_job *J = ctx;
    int m = J->m;
    double *W = dalloc((size_t)QR_ROWS * m), *tau = dalloc((size_t)m);
    if (!W || !tau) J->failed = true;
    for (size_t b = lo; b < hi && W && tau; b++) {
        int i0 = (int)b * QR_ROWS, nr = J->rows - i0 < QR_ROWS ? J->rows - i0 : QR_ROWS;
        qr_fill(J, i0, nr, W);
        if (qr_block(W, nr, m, tau, J->stack + (size_t)b * m, J->ld) != 0) J->failed = true;
    }
    free(W), free(tau);
}

/* The upper-triangular R [k, m] (k = min(rows, m)) of a QR factorisation of X
 * [rows, m] (X(i, c) = X[i*m + c], or X[c*rows + i] when TRANS), up to the
 * signs of its rows: enough for singular values. */
static double *qr_r(const float *X, bool trans, int rows, int m)
{
    int k = rows < m ? rows : m;
    size_t blocks = rows > 4 * QR_ROWS && 4 * m <= QR_ROWS ? ((size_t)rows + QR_ROWS - 1) / QR_ROWS : 0;
    qr_job J = {X, trans, rows, m, NULL, (int)(blocks * m), false};
    int height = blocks ? J.ld : rows; /* the matrix of the final factorisation */
    double *W = dalloc((size_t)height * m), *tau = dalloc((size_t)m), *Rc = dalloc((size_t)m * m);
    double *R = dalloc((size_t)k * m);
    bool ok = W && tau && Rc && R;
    if (ok && blocks) {
        J.stack = W;
        int blas_threads = cc_blas_threads_hold();
        cc_par_for(blocks, 4, qr_blocks, &J);
        cc_blas_threads_restore(blas_threads);
        ok = !J.failed;
    } else if (ok)
        qr_fill(&J, 0, rows, W);
    ok = ok && qr_block(W, height, m, tau, Rc, m) == 0;
    if (ok)
        for (int i = 0; i < k; i++)
            for (int j = 0; j < m; j++) R[(size_t)i * m + j] = Rc[(size_t)j * m + i];
    free(W), free(tau), free(Rc);
    if (!ok) free(R);
    return ok ? R : NULL;
}

int cc_fm_singular_values(const cc_fm *fm, double *S, cc_error *err)
{
    CC_ARG_NOT_NULL(fm, err, -1);
    CC_ARG_NOT_NULL(S, err, -1);
    int l = fm->l, m = fm->m, r = fm->r, ka = l < m ? l : m, kb = r < m ? r : m;
    double *Ra = NULL, *Rb = NULL, *core = dalloc((size_t)ka * kb), *Sc = dalloc((size_t)(ka < kb ? ka : kb));
    int rc = -1;
    if (!core || !Sc) {
        oom(err);
        goto out;
    }
    /* M = Qa Ra Rb^T Qb^T: the singular values of the core Ra Rb^T [ka, kb] (B^T is B read transposed) */
    if (!(Ra = qr_r(fm->A, false, l, m)) || !(Rb = qr_r(fm->B, true, r, m))) {
        cc_fail_code(err, CC_E_NOMEM, "QR factorisation of a FactoredMatrix factor failed (or out of memory)");
        goto out;
    }
    if (ka > 0 && kb > 0 && m > 0)
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, ka, kb, m, 1.0, Ra, m, Rb, m, 0.0, core, kb);
    else
        memset(core, 0, (size_t)ka * kb * sizeof *core);
    int k = ka < kb ? ka : kb;
    if (k > 0 && LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'N', ka, kb, core, kb, Sc, NULL, ka, NULL, kb) != 0) {
        cc_fail(err, "SVD of a FactoredMatrix core did not converge");
        goto out;
    }
    memcpy(S, Sc, (size_t)k * sizeof *S);
    rc = 0;
out:
    free(Ra), free(Rb), free(core), free(Sc);
    return rc;
}

void cc_fm_svd_free(cc_fm_svd *s)
{
    if (!s) return;
    free(s->U);
    free(s->S);
    free(s->V);
    *s = (cc_fm_svd){0};
}

/* ---- spectra and norms ----------------------------------------------------- */

typedef struct {
    double re, im;
} complex_pair;

static int by_modulus_desc(const void *a, const void *b)
{
    const complex_pair *x = a, *y = b;
    double mx = hypot(x->re, x->im), my = hypot(y->re, y->im);
    if (mx != my) return mx > my ? -1 : 1;
    if (x->re != y->re) return x->re > y->re ? -1 : 1;
    return x->im > y->im ? -1 : x->im < y->im;
}

int cc_fm_eigenvalues(const cc_fm *fm, double *re, double *im, cc_error *err)
{
    CC_ARG_NOT_NULL(fm, err, -1);
    CC_ARG_NOT_NULL(re, err, -1);
    CC_ARG_NOT_NULL(im, err, -1);
    if (fm->l != fm->r)
        return cc_fail(err, "eigenvalues need a square FactoredMatrix; this one is %d x %d", fm->l, fm->r);
    int m = fm->m;
    double *Ad = to_double(fm->A, (size_t)fm->l * m), *Bd = to_double(fm->B, (size_t)m * fm->r);
    double *BA = dalloc((size_t)m * m);
    complex_pair *pairs = malloc((m ? m : 1) * sizeof *pairs);
    int rc = -1;
    if (!Ad || !Bd || !BA || !pairs) {
        oom(err);
        goto out;
    }
    if (m > 0) {
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, m, fm->r, 1.0, Bd, fm->r, Ad, m, 0.0, BA, m);
        if (LAPACKE_dgeev(LAPACK_ROW_MAJOR, 'N', 'N', m, BA, m, re, im, NULL, 1, NULL, 1) != 0) {
            cc_fail(err, "eigenvalue computation did not converge");
            goto out;
        }
    }
    for (int i = 0; i < m; i++) pairs[i] = (complex_pair){re[i], im[i]};
    qsort(pairs, (size_t)m, sizeof *pairs, by_modulus_desc);
    for (int i = 0; i < m; i++) re[i] = pairs[i].re, im[i] = pairs[i].im;
    rc = 0;
out:
    free(Ad), free(Bd), free(BA), free(pairs);
    return rc;
}

/* sum(X .* Y) over n entries. */
static double dot_all(const double *X, const double *Y, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += X[i] * Y[i];
    return s;
}

double cc_fm_norm(const cc_fm *fm)
{
    CC_ARG_NOT_NULL(fm, NULL, NAN);
    double *Ga = gram_cols(fm->A, fm->l, fm->m), *Gb = gram_rows(fm->B, fm->m, fm->r);
    double n2 = Ga && Gb ? dot_all(Ga, Gb, (size_t)fm->m * fm->m) : NAN;
    free(Ga);
    free(Gb);
    return sqrt(n2 > 0 ? n2 : 0);
}

int cc_fm_collapse_l(const cc_fm *fm, float **out, int *k, cc_error *err)
{
    CC_ARG_NOT_NULL(fm, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    CC_ARG_NOT_NULL(k, err, -1);
    cc_fm_svd s;
    if (cc_fm_svd_compute(fm, &s, err) != 0) return -1;
    float *c = falloc((size_t)s.k * fm->r);
    if (!c) {
        cc_fm_svd_free(&s);
        return oom(err);
    }
    for (int i = 0; i < s.k; i++)
        for (int j = 0; j < fm->r; j++) c[(size_t)i * fm->r + j] = s.S[i] * s.V[(size_t)j * s.k + i];
    *out = c;
    *k = s.k;
    cc_fm_svd_free(&s);
    return 0;
}

int cc_fm_collapse_r(const cc_fm *fm, float **out, int *k, cc_error *err)
{
    CC_ARG_NOT_NULL(fm, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    CC_ARG_NOT_NULL(k, err, -1);
    cc_fm_svd s;
    if (cc_fm_svd_compute(fm, &s, err) != 0) return -1;
    float *c = falloc((size_t)fm->l * s.k);
    if (!c) {
        cc_fm_svd_free(&s);
        return oom(err);
    }
    for (int i = 0; i < fm->l; i++)
        for (int j = 0; j < s.k; j++) c[(size_t)i * s.k + j] = s.U[(size_t)i * s.k + j] * s.S[j];
    *out = c;
    *k = s.k;
    cc_fm_svd_free(&s);
    return 0;
}

int cc_fm_make_even(const cc_fm *fm, cc_fm *out, cc_error *err)
{
    CC_ARG_NOT_NULL(fm, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    cc_fm_svd s;
    if (cc_fm_svd_compute(fm, &s, err) != 0) return -1;
    float *a = falloc((size_t)fm->l * s.k), *b = falloc((size_t)s.k * fm->r);
    if (!a || !b) {
        free(a);
        free(b);
        cc_fm_svd_free(&s);
        return oom(err);
    }
    for (int i = 0; i < fm->l; i++)
        for (int j = 0; j < s.k; j++) a[(size_t)i * s.k + j] = s.U[(size_t)i * s.k + j] * sqrtf(s.S[j]);
    for (int i = 0; i < s.k; i++)
        for (int j = 0; j < fm->r; j++) b[(size_t)i * fm->r + j] = sqrtf(s.S[i]) * s.V[(size_t)j * s.k + i];
    cc_fm_wrap(a, b, fm->l, s.k, fm->r, out);
    cc_fm_svd_free(&s);
    return 0;
}

void cc_fm_corner(const cc_fm *fm, int n, float *out)
{
    if (!fm || !out) return;
    int rows = n < fm->l ? n : fm->l, cols = n < fm->r ? n : fm->r;
    memset(out, 0, (size_t)n * n * sizeof *out);
    if (rows > 0 && cols > 0 && fm->m > 0)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, cols, fm->m, 1.0f, fm->A, fm->m, fm->B, fm->r,
                    0.0f, out, n);
}

int cc_fm_composition_score(const cc_fm *left, const cc_fm *right, double *score, cc_error *err)
{
    CC_ARG_NOT_NULL(left, err, -1);
    CC_ARG_NOT_NULL(right, err, -1);
    CC_ARG_NOT_NULL(score, err, -1);
    if (left->r != right->l)
        return cc_fail(err, "composition score: left is %d x %d but right is %d x %d", left->l, left->r, right->l,
                       right->r);
    int m1 = left->m, m2 = right->m, y = left->r;
    double *Ga1 = gram_cols(left->A, left->l, m1), *Gb1 = gram_rows(left->B, m1, y);
    double *Ga2 = gram_cols(right->A, y, m2), *Gb2 = gram_rows(right->B, m2, right->r);
    double *B1 = to_double(left->B, (size_t)m1 * y), *A2 = to_double(right->A, (size_t)y * m2);
    double *C = dalloc((size_t)m1 * m2), *GC = dalloc((size_t)m1 * m2), *CG = dalloc((size_t)m1 * m2);
    int rc = -1;
    if (!Ga1 || !Gb1 || !Ga2 || !Gb2 || !B1 || !A2 || !C || !GC || !CG) {
        oom(err);
        goto out;
    }
    /* C = B1 A2 [m1, m2];  ||A1 C B2||^2 = sum((Ga1 C) .* (C Gb2)) */
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m1, m2, y, 1.0, B1, y, A2, m2, 0.0, C, m2);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m1, m2, m1, 1.0, Ga1, m1, C, m2, 0.0, GC, m2);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m1, m2, m2, 1.0, C, m2, Gb2, m2, 0.0, CG, m2);
    double num = dot_all(GC, CG, (size_t)m1 * m2);
    double nl = dot_all(Ga1, Gb1, (size_t)m1 * m1), nr = dot_all(Ga2, Gb2, (size_t)m2 * m2);
    *score = nl > 0 && nr > 0 ? sqrt(num > 0 ? num : 0) / sqrt(nl) / sqrt(nr) : 0.0;
    rc = 0;
out:
    free(Ga1), free(Gb1), free(Ga2), free(Gb2), free(B1), free(A2), free(C), free(GC), free(CG);
    return rc;
}
