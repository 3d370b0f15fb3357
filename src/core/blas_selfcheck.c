/* blas_selfcheck.c — checks the loaded BLAS kernel's sgemm/dgemm against a
 * float64 reference at the shapes circuitc uses (docs/blas.md, "Self-check").
 *
 * Bound: any summation order of K products (FMA or not) computes
 * sum_p a_ip b_pj within gamma_K * sum_p |a_ip b_pj|, gamma_K = K u / (1 - K u),
 * u the unit roundoff of the GEMM's type. The float64 reference obeys the same
 * bound with u = 2^-53, so the two may differ by at most the sum of both; the
 * beta * C term counts as one more product. A wrong kernel misses by far more. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/blas_kernel.h"
#include "circuitc/rng.h"
#include "core/args.h"

typedef struct {
    const char *what;
    bool dgemm;
    bool trans_a, trans_b;
    int m, n, k;
    int lda, ldb, ldc; /* 0: tight */
    double beta;
} gemm_case;

/* Shapes of src/runtime/forward.c (QKV/MLP projections of [B*T, d], attention scores
 * and pattern x values on strided heads), src/analysis/topk.c (128 x 1024 tiles over a
 * wider B, odd inner dimensions) and src/analysis/factored.c (float64 Gram matrices),
 * large enough to take OpenBLAS' threaded path and small enough for its
 * small-matrix kernels, plus odd sizes and every transposition. */
static const gemm_case CASES[] = {
    {"projection [19,768]x[768,2304]", false, false, false, 19, 2304, 768, 0, 0, 0, 0.0},
    {"top-k tile [128,64]x[64,1024] of a 1500-wide B", false, false, false, 128, 1024, 64, 0, 1500, 0, 0.0},
    {"top-k tile [77,129]x[129,1000]", false, false, false, 77, 1000, 129, 0, 0, 0, 0.0},
    {"attention scores [101,64]x[101,64]^T, stride 768", false, false, true, 101, 101, 64, 768, 768, 0, 0.0},
    {"pattern x values [101,101]x[101,64], stride 768, beta 1", false, false, false, 101, 64, 101, 0, 768, 768, 1.0},
    {"transposed A [200,45]^T x [200,61]", false, true, false, 45, 61, 200, 0, 0, 0, 0.0},
    {"both transposed [300,17]^T x [29,300]^T", false, true, true, 17, 29, 300, 0, 0, 0, 0.0},
    {"tiny [3,7]x[7,5]", false, false, false, 3, 5, 7, 0, 0, 0, 0.0},
    {"dgemm Gram [1000,64]^T x [1000,64]", true, true, false, 64, 64, 1000, 0, 0, 0, 0.0},
    {"dgemm [64,300]x[64,300]^T", true, false, true, 64, 64, 300, 0, 0, 0, 0.0},
    {"dgemm [37,61]x[61,53], beta 1", true, false, false, 37, 53, 61, 0, 0, 0, 1.0},
};

static double gamma_k(int k, double u) { return k * u / (1.0 - k * u); }

/* Random values exactly representable in float, so float and double copies agree. */
static void fill(cc_rng *rng, double *x, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] = (float)(2.0 * cc_rng_uniform(rng) - 1.0);
}

static bool run_case(const gemm_case *c, cc_rng *rng, char *summary, size_t size)
{
    int a_rows = c->trans_a ? c->k : c->m, a_cols = c->trans_a ? c->m : c->k;
    int b_rows = c->trans_b ? c->n : c->k, b_cols = c->trans_b ? c->k : c->n;
    int lda = c->lda ? c->lda : a_cols, ldb = c->ldb ? c->ldb : b_cols, ldc = c->ldc ? c->ldc : c->n;
    size_t na = (size_t)a_rows * lda, nb = (size_t)b_rows * ldb, nc = (size_t)c->m * ldc;
    size_t elem = c->dgemm ? sizeof(double) : sizeof(float);
    double *a = malloc(na * sizeof *a), *b = malloc(nb * sizeof *b), *c0 = malloc(nc * sizeof *c0);
    double *ref = calloc((size_t)c->m * c->n, sizeof *ref), *mag = calloc((size_t)c->m * c->n, sizeof *mag);
    double *opa = malloc((size_t)c->m * c->k * sizeof *opa), *opb = malloc((size_t)c->k * c->n * sizeof *opb);
    void *ab = malloc(na * elem), *bb = malloc(nb * elem), *cb = malloc(nc * elem);
    bool ok = a && b && c0 && ref && mag && opa && opb && ab && bb && cb;
    if (!ok) snprintf(summary, size, "out of memory");
    if (ok) {
        fill(rng, a, na), fill(rng, b, nb), fill(rng, c0, nc);
        /* With beta 0 the BLAS must not read C: make that visible with NaN. */
        for (size_t i = 0; c->beta == 0.0 && i < nc; i++)
            if ((int)(i % ldc) < c->n) c0[i] = NAN;
        for (int i = 0; i < c->m; i++)
            for (int p = 0; p < c->k; p++)
                opa[(size_t)i * c->k + p] = c->trans_a ? a[(size_t)p * lda + i] : a[(size_t)i * lda + p];
        for (int p = 0; p < c->k; p++)
            for (int j = 0; j < c->n; j++)
                opb[(size_t)p * c->n + j] = c->trans_b ? b[(size_t)j * ldb + p] : b[(size_t)p * ldb + j];
        for (int i = 0; i < c->m; i++) {
            double *r = ref + (size_t)i * c->n, *g = mag + (size_t)i * c->n;
            for (int j = 0; c->beta != 0.0 && j < c->n; j++)
                r[j] = c->beta * c0[(size_t)i * ldc + j], g[j] = fabs(r[j]);
            for (int p = 0; p < c->k; p++) {
                double x = opa[(size_t)i * c->k + p];
                const double *y = opb + (size_t)p * c->n;
                for (int j = 0; j < c->n; j++) r[j] += x * y[j], g[j] += fabs(x * y[j]);
            }
        }
        CBLAS_TRANSPOSE ta = c->trans_a ? CblasTrans : CblasNoTrans, tb = c->trans_b ? CblasTrans : CblasNoTrans;
        if (c->dgemm) {
            memcpy(ab, a, na * elem), memcpy(bb, b, nb * elem), memcpy(cb, c0, nc * elem);
            cblas_dgemm(CblasRowMajor, ta, tb, c->m, c->n, c->k, 1.0, ab, lda, bb, ldb, c->beta, cb, ldc);
        } else {
            float *af = ab, *bf = bb, *cf = cb;
            for (size_t i = 0; i < na; i++) af[i] = (float)a[i];
            for (size_t i = 0; i < nb; i++) bf[i] = (float)b[i];
            for (size_t i = 0; i < nc; i++) cf[i] = (float)c0[i];
            cblas_sgemm(CblasRowMajor, ta, tb, c->m, c->n, c->k, 1.0f, af, lda, bf, ldb, (float)c->beta, cf, ldc);
        }
        int terms = c->k + (c->beta != 0.0);
        double rel = gamma_k(terms, c->dgemm ? 0x1p-53 : 0x1p-24) + gamma_k(terms, 0x1p-53);
        for (int i = 0; ok && i < c->m; i++)
            for (int j = 0; ok && j < ldc; j++) {
                size_t at = (size_t)i * ldc + j;
                double got = c->dgemm ? ((double *)cb)[at] : ((float *)cb)[at];
                if (j >= c->n) { /* padding between rows: must be untouched */
                    ok = got == (c->dgemm ? c0[at] : (float)c0[at]);
                    if (!ok) snprintf(summary, size, "%s: wrote outside C at (%d,%d)", c->what, i, j);
                    continue;
                }
                double want = ref[(size_t)i * c->n + j], bound = rel * mag[(size_t)i * c->n + j];
                ok = fabs(got - want) <= bound; /* false for NaN */
                if (!ok)
                    snprintf(summary, size, "%s: entry (%d,%d) is %.9g, reference %.9g, allowed error %.3g", c->what,
                             i, j, got, want, bound);
            }
    }
    free(a), free(b), free(c0), free(ref), free(mag), free(opa), free(opb), free(ab), free(bb), free(cb);
    return ok;
}

bool cc_blas_self_check(char *summary, size_t size)
{
    CC_ARG_NOT_NULL(summary, NULL, false);
    cc_rng rng;
    cc_rng_seed(&rng, 0x5e1fc4ec);
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++)
        if (!run_case(&CASES[i], &rng, summary, size)) return false;
    snprintf(summary, size, "%zu sgemm/dgemm cases within their rounding bounds", sizeof CASES / sizeof CASES[0]);
    return true;
}
