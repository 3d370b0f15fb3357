/* topk.c — exact diagonal top-k statistics of a square FactoredMatrix.
 *
 * Both methods stream GEMM tiles of at most TILE_ROWS x TILE_COLS floats per
 * thread and never hold the n x n matrix. The tiles multiply float32 roundings
 * A32, B32 of the float64 factors; a tile entry t approximates the float64
 * score s_ij within a proven bound (|t - s| <= gamma_m |A32_i| |B32_j| for the
 * GEMM, + (2u + u^2) |A64_i| |B64_j| for rounding the factors, + the float64
 * dot product's own error); an entry is counted from the tile only when the
 * bound settles its comparisons with the diagonal, and is otherwise recomputed
 * in float64 (exact_score), so results never depend on tiling, threading or
 * BLAS kernels. With near-tie data the settling window widens by the float32
 * evaluation's error (topk.h), so that the entries that decide a near-tie are
 * recomputed too.
 *
 * The fast path rotates the factors so that the product's singular directions
 * come first (M = Q' K'^T with Q' = A T_q, K' = B^T T_k, T_q T_k^T = I), scores
 * with the leading c components only, and bounds the rest by Cauchy-Schwarz on
 * the tails: |s_ij - head_ij| <= |q'_i,tail| |k'_j,tail| + eta_i. A row is
 * settled as soon as k_max entries are certainly above its diagonal; otherwise
 * the entries the bounds cannot settle are recomputed exactly (or the whole
 * row is, when there are many). */
#include "circuitc/topk.h"

#include "core/parallel.h"
#include "core/progress_report.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/args.h"
#include "topk_bf16.h"
#include "topk_internal.h"

enum {
    TILE_ROWS = 128,   /* rows per work item */
    TILE_COLS = 1024,  /* columns per GEMM tile: 128 x 1024 floats = 512 KiB, fits L2 */
    FIRST_TILE_COLS = 128, /* fast path: columns of a block's first tile (then up to TILE_COLS) */
    MAX_CANDIDATES = 512, /* fast path: candidates per row before a full exact row scan is cheaper */
};

static const double U32 = 0x1p-24; /* float32 unit roundoff */
static const double U64 = 0x1p-53; /* float64 unit roundoff */

typedef struct {
    long gt;           /* entries strictly above the diagonal (all of them, or >= k_max if settled early) */
    int ties_before;   /* j < i with s_ij == s_ii */
    bool tied;         /* some j != i with s_ij == s_ii */
    long sure;         /* entries above the diagonal by more than the float32 evaluation's error (topk.h g_i) */
    long within;       /* j != i within that error of the diagonal (topk.h w_i) */
} row_stat;

typedef struct {
    int n, m, k_max;
    bool ranks, fast;
    const float *A32;   /* [n, m] screen factors */
    const float *B32;   /* [m, n] */
    const double *A64;  /* [n, m] exact factors */
    const double *Bt64; /* [n, m] columns of B64 as rows */
    float *own_A32, *own_B32; /* owned roundings */
    double *own_A64, *own_Bt64; /* owned when not borrowed from the matrix */
    bool widened;       /* A64, Bt64 are float32 factors widened (exact in float32) */
    double *diag;       /* [n] exact s_ii */
    double *a_norm, *b_norm; /* [n] |A64_i|, |Bt64_j| (row_norms) */
    bool borrowed;      /* A64, Bt64, diag and the norms are the transpose's (borrow_transpose) */
    double *err_brute;  /* [n] screen bound per row for the full-width product */
    bool f32_ready;     /* A32, B32, err_brute prepared (need_f32_screen; under lock) */
    /* bfloat16 screen for the settling scans, when the CPU has AVX-512 BF16 */
    bool bf16;
    int pairs;
    uint32_t *Apk, *Bpk; /* topk_bf16.h packings of A64 and of B64's columns */
    double *err_bf16;   /* [n] its bound per row */
    /* near-ties (topk.h): per row |a_i|, eA_i, per column |b_j|, eB_j */
    bool near;
    const double *qa, *ea, *qb, *eb;
    double c_final;     /* lambda u sqrt(5m/6): the final float32 product's share */
    double *window;     /* [n] max_j e_ij + e_ii (0 without near-tie data) */
    /* fast path */
    int c;              /* leading components */
    float *Qh;          /* [n, c] */
    float *KhT;         /* [c, n] */
    float *beta;        /* [n] key tail norms */
    float *alpha;       /* [n] query tail norms (rounded up) */
    double *eta;        /* [n] rounding + transform margin of the head scores */
    row_stat *stats;    /* [n] */
    /* work queue and counters */
    pthread_mutex_t lock;
    long next_row, rows_done, exact_evals, rows_full;
    cc_progress_fn progress;
    void *progress_ctx;
    long progress_base, progress_total; /* reported as base + rows_done of total */
    int failed;         /* a worker could not get its scratch memory, or ... */
    int cancelled;      /* ... the progress callback asked to stop */
} job;

/* The definition of a score: float64 dot product in index order. */
static double exact_score(const job *J, int i, int j)
{
    const double *a = J->A64 + (size_t)i * J->m, *b = J->Bt64 + (size_t)j * J->m;
    double s = 0;
    for (int c = 0; c < J->m; c++) s += a[c] * b[c];
    return s;
}

/* e_ij of topk.h: how far a float32 evaluation of the chain can be from s_ij. */
static double fp32_err(const job *J, int i, int j)
{
    double a = J->qa[i], ea = J->ea[i], b = J->qb[j], eb = J->eb[j];
    return ea * b + a * eb + ea * eb + J->c_final * (a + ea) * (b + eb);
}

/* Records the exact comparison of s_ij with the diagonal of row i, and where
 * s_ij lies relative to the float32 evaluation's error window. */
static void resolve(const job *J, int i, int j, row_stat *st)
{
    double s = exact_score(J, i, j), d = J->diag[i];
    if (s > d) st->gt++;
    else if (s == d) {
        st->tied = true;
        if (j < i) st->ties_before++;
    }
    double e = J->near ? fp32_err(J, i, j) + fp32_err(J, i, i) : 0;
    if (s - d > e) st->sure++;
    else if (s - d >= -e) st->within++;
}

/* Float thresholds that round outward, so float comparisons stay conservative. */
static float round_up(double x)
{
    float f = (float)x;
    return (double)f < x ? nextafterf(f, INFINITY) : f;
}
static float round_down(double x)
{
    float f = (float)x;
    return (double)f > x ? nextafterf(f, -INFINITY) : f;
}

static double gamma_n(int n) { return n * U32 / (1 - n * U32); }

/* ---- tile scans ------------------------------------------------------------ */

/* The scans below run once per matrix entry: built for AVX-512 too, chosen at
 * run time, since the project's baseline target has 4-lane SSE2 only. */
#define SCAN_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))

/* ABOVE = #{t > HI}, NEAR = #{t >= LO} over T[0..n). */
SCAN_CLONES static void count_window(const float *t, int n, float hi, float lo, int *above, int *near)
{
    int a = 0, b = 0;
    for (int j = 0; j < n; j++) {
        a += t[j] > hi;
        b += t[j] >= lo;
    }
    *above = a, *near = b;
}

/* With tail bound alpha * beta_j: ABOVE = #{t - tail > ABOVE_THR} (lower bound above
 * the diagonal), MAYBE = #{t + tail >= BELOW_THR} (upper bound reaches it). */
SCAN_CLONES static void count_tail_bounds(const float *t, const float *beta, float alpha, int n, float above_thr,
                                          float below_thr, int *above, int *maybe)
{
    int a = 0, b = 0;
    for (int j = 0; j < n; j++) {
        float tail = alpha * beta[j];
        a += t[j] - tail > above_thr;
        b += t[j] + tail >= below_thr;
    }
    *above = a, *maybe = b;
}

/* ---- brute force ---------------------------------------------------------- */

/* Exact statistics for the rows ROWS[0..nr) (nr <= TILE_ROWS) by full-width tiles.
 * With SETTLE, a row leaves the scan as soon as k_max entries are certainly above
 * its diagonal, by more than the float32 evaluation's error (its top-k answers
 * and near-tie status are then known; its full rank is not); this scan runs
 * through the bfloat16 screen when there is one (HITS: its scratch). */
/* The settling scan of brute_rows through the bfloat16 screen (topk_bf16.h). */
static long bf16_rows(job *J, const int *rows, int nr, cc_bf16_hit *hits, row_stat *out)
{
    long evals = 0, above[TILE_ROWS];
    float hi[TILE_ROWS], lo[TILE_ROWS];
    int live[TILE_ROWS], live_rows[TILE_ROWS], nlive = nr; /* index into ROWS/OUT, and the row */
    for (int r = 0; r < nr; r++) out[r] = (row_stat){0}, live[r] = r;
    for (int c0 = 0; c0 < J->n && nlive > 0; c0 += TILE_COLS) {
        int cw = J->n - c0 < TILE_COLS ? J->n - c0 : TILE_COLS;
        for (int r = 0; r < nlive; r++) {
            int i = live_rows[r] = rows[live[r]];
            double e = J->err_bf16[i] + J->window[i];
            hi[r] = round_up(J->diag[i] + e), lo[r] = round_down(J->diag[i] - e), above[r] = 0;
        }
        long nh = cc_bf16_scan(J->Apk, live_rows, nlive, J->Bpk, J->pairs, c0, cw, hi, lo, above, hits);
        for (int r = 0; r < nlive; r++) out[live[r]].gt += above[r], out[live[r]].sure += above[r];
        for (long h = 0; h < nh; h++) {
            int i = live_rows[hits[h].r];
            if (hits[h].col == i) continue;
            resolve(J, i, hits[h].col, &out[live[hits[h].r]]);
            evals++;
        }
        int keep = 0;
        for (int r = 0; r < nlive; r++)
            if (out[live[r]].sure < J->k_max) live[keep++] = live[r];
        nlive = keep;
    }
    return evals;
}

static int prepare_f32_screen(job *J);

/* The float32 screen, prepared by the first scan that needs it: most rows of
 * the fast path settle without it. Returns -1 (J->failed set) on allocation
 * failure. */
static int need_f32_screen(job *J)
{
    pthread_mutex_lock(&J->lock);
    if (!J->f32_ready && !J->failed) {
        if (prepare_f32_screen(J) == 0) J->f32_ready = true;
        else J->failed = 1;
    }
    int rc = J->f32_ready ? 0 : -1;
    pthread_mutex_unlock(&J->lock);
    return rc;
}

static long brute_rows(job *J, const int *rows, int nr, bool settle, float *tile, float *Ablock, cc_bf16_hit *hits,
                       row_stat *out)
{
    if (settle && J->bf16) return bf16_rows(J, rows, nr, hits, out);
    if (need_f32_screen(J) != 0) return 0;
    int n = J->n, m = J->m;
    long evals = 0;
    int live[TILE_ROWS], nlive = nr; /* live[r]: index into ROWS/OUT of tile row r */
    for (int r = 0; r < nr; r++) {
        memcpy(Ablock + (size_t)r * m, J->A32 + (size_t)rows[r] * m, (size_t)m * sizeof(float));
        out[r] = (row_stat){0};
        live[r] = r;
    }
    for (int c0 = 0; c0 < n && nlive > 0; c0 += TILE_COLS) {
        int cw = n - c0 < TILE_COLS ? n - c0 : TILE_COLS;
        /* tile [nlive, cw] = Ablock [nlive, m] x B[:, c0:c0+cw] */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nlive, cw, m, 1.0f, Ablock, m, J->B32 + c0, n, 0.0f,
                    tile, cw);
        for (int r = 0; r < nlive; r++) {
            int i = rows[live[r]];
            row_stat *st = &out[live[r]];
            double d = J->diag[i], e = J->err_brute[i] + J->window[i];
            float hi = round_up(d + e), lo = round_down(d - e);
            const float *t = tile + (size_t)r * cw;
            int above, near;
            count_window(t, cw, hi, lo, &above, &near);
            st->gt += above;
            st->sure += above;
            if (near > above) /* some entries need the exact comparison */
                for (int j = 0; j < cw; j++)
                    if (t[j] >= lo && t[j] <= hi && c0 + j != i) {
                        resolve(J, i, c0 + j, st);
                        evals++;
                    }
        }
        if (settle) { /* compact the rows still open */
            int keep = 0;
            for (int r = 0; r < nlive; r++) {
                if (out[live[r]].sure >= J->k_max) continue;
                if (keep != r) memcpy(Ablock + (size_t)keep * m, Ablock + (size_t)r * m, (size_t)m * sizeof(float));
                live[keep++] = live[r];
            }
            nlive = keep;
        }
    }
    return evals;
}

/* ---- fast path ------------------------------------------------------------ */

typedef struct {
    int *cand;       /* [TILE_ROWS, MAX_CANDIDATES] */
    int *ncand;      /* [TILE_ROWS] (MAX_CANDIDATES + 1 = overflowed) */
    long *sure;      /* [TILE_ROWS] certainly above by more than the float32 evaluation's error */
    bool *settled;   /* [TILE_ROWS] */
    cc_bf16_hit *hits; /* [TILE_ROWS * TILE_COLS] when the bfloat16 screen runs */
} fast_scratch;

static long fast_rows(job *J, int r0, int nr, float *tile, float *Ablock, fast_scratch *s, row_stat *out,
                      long *full_rows)
{
    int n = J->n, c = J->c;
    long evals = 0;
    /* the open rows: live[q] is the block row of tile row q, whose head factor is row q of Ablock */
    int live[TILE_ROWS], nlive = nr;
    for (int r = 0; r < nr; r++) {
        s->ncand[r] = 0, s->sure[r] = 0, s->settled[r] = false, live[r] = r;
        memcpy(Ablock + (size_t)r * c, J->Qh + (size_t)(r0 + r) * c, (size_t)c * sizeof(float));
    }
    for (int c0 = 0, cw; c0 < n && nlive > 0; c0 += cw) {
        /* A narrow first tile: most rows of a circuit whose diagonal does not
         * win settle on their first entries, and the rest of the first
         * TILE_COLS columns is then multiplied for the open rows only. */
        cw = c0 == 0 ? FIRST_TILE_COLS : c0 < TILE_COLS ? TILE_COLS - c0 : TILE_COLS;
        if (cw > n - c0) cw = n - c0;
        if (c0 == TILE_COLS && c0 < n) {
            /* After TILE_COLS columns: if most open rows are heading for more candidates
             * than resolving pays for, the bounds are too loose for this block and
             * the plain full-width scan is cheaper. */
            int hopeless = 0;
            for (int q = 0; q < nlive; q++) hopeless += (double)s->ncand[live[q]] * n / TILE_COLS > MAX_CANDIDATES;
            /* Also when most rows stay open and the head scores cost more than half of
             * a full-width product: scanning on would cost more than the plain scan. */
            if (2 * hopeless > nr || (2 * nlive > nr && 2 * c > J->m)) {
                int rows[TILE_ROWS];
                for (int r = 0; r < nr; r++) rows[r] = r0 + r;
                *full_rows += nr;
                return evals + brute_rows(J, rows, nr, true, tile, Ablock, s->hits, out);
            }
        }
        /* tile [nlive, cw] = Qh [open rows, c] x KhT[:, c0:c0+cw] : head scores of the open rows only */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nlive, cw, c, 1.0f, Ablock, c, J->KhT + c0, n, 0.0f,
                    tile, cw);
        const float *beta = J->beta + c0;
        for (int q = 0; q < nlive; q++) {
            int r = live[q], i = r0 + r;
            double d = J->diag[i], e = J->eta[i] + J->window[i];
            float above_thr = round_up(d + e), below_thr = round_down(d - e);
            float alpha = J->alpha[i];
            const float *t = tile + (size_t)q * cw;
            int above, maybe;
            count_tail_bounds(t, beta, alpha, cw, above_thr, below_thr, &above, &maybe);
            s->sure[r] += above;
            if (s->sure[r] >= J->k_max) { /* k_max entries certainly above: outside every top-k */
                s->settled[r] = true;
                continue;
            }
            if (maybe > above && s->ncand[r] <= MAX_CANDIDATES)
                for (int j = 0; j < cw && s->ncand[r] <= MAX_CANDIDATES; j++) {
                    float tail = alpha * beta[j];
                    if (t[j] + tail >= below_thr && !(t[j] - tail > above_thr) && c0 + j != i) {
                        if (s->ncand[r] < MAX_CANDIDATES) s->cand[(size_t)r * MAX_CANDIDATES + s->ncand[r]] = c0 + j;
                        s->ncand[r]++;
                    }
                }
        }
        int keep = 0; /* compact the rows still open */
        for (int q = 0; q < nlive; q++) {
            if (s->settled[live[q]]) continue;
            if (keep != q) memcpy(Ablock + (size_t)keep * c, Ablock + (size_t)q * c, (size_t)c * sizeof(float));
            live[keep++] = live[q];
        }
        nlive = keep;
    }
    /* Settle what the bounds left open: exactly, candidate by candidate, or by a full row scan. */
    int full[TILE_ROWS], nfull = 0;
    for (int r = 0; r < nr; r++) {
        out[r] = (row_stat){.gt = s->sure[r], .sure = s->sure[r]};
        if (s->settled[r]) continue;
        if (s->ncand[r] > MAX_CANDIDATES) {
            full[nfull++] = r0 + r;
            continue;
        }
        for (int k = 0; k < s->ncand[r]; k++) resolve(J, r0 + r, s->cand[(size_t)r * MAX_CANDIDATES + k], &out[r]);
        evals += s->ncand[r];
    }
    if (nfull > 0) {
        row_stat fs[TILE_ROWS];
        evals += brute_rows(J, full, nfull, true, tile, Ablock, s->hits, fs);
        for (int k = 0; k < nfull; k++) out[full[k] - r0] = fs[k];
        *full_rows += nfull;
    }
    return evals;
}

/* ---- threads -------------------------------------------------------------- */

static void *worker(void *arg)
{
    job *J = arg;
    float *tile = malloc((size_t)TILE_ROWS * TILE_COLS * sizeof *tile);
    float *Ablock = malloc((size_t)TILE_ROWS * J->m * sizeof *Ablock + 1);
    fast_scratch s = {0};
    if (J->fast) {
        s.cand = malloc((size_t)TILE_ROWS * MAX_CANDIDATES * sizeof *s.cand);
        s.ncand = malloc(TILE_ROWS * sizeof *s.ncand);
        s.sure = malloc(TILE_ROWS * sizeof *s.sure);
        s.settled = malloc(TILE_ROWS * sizeof *s.settled);
        if (J->bf16) s.hits = malloc((size_t)TILE_ROWS * TILE_COLS * sizeof *s.hits);
    }
    bool ok = tile && Ablock && (!J->fast || (s.cand && s.ncand && s.sure && s.settled && (!J->bf16 || s.hits)));
    long evals = 0, full = 0;
    int rows[TILE_ROWS];
    for (;;) {
        pthread_mutex_lock(&J->lock);
        if (!ok) J->failed = 1;
        long r0 = J->failed ? J->n : J->next_row;
        J->next_row = r0 + TILE_ROWS;
        pthread_mutex_unlock(&J->lock);
        if (r0 >= J->n) break;
        int nr = (int)(J->n - r0 < TILE_ROWS ? J->n - r0 : TILE_ROWS);
        if (J->fast) {
            evals += fast_rows(J, (int)r0, nr, tile, Ablock, &s, J->stats + r0, &full);
        } else {
            for (int r = 0; r < nr; r++) rows[r] = (int)r0 + r;
            evals += brute_rows(J, rows, nr, false, tile, Ablock, NULL, J->stats + r0); /* the reference: every entry */
        }
        pthread_mutex_lock(&J->lock);
        J->rows_done += nr;
        if (!J->cancelled && J->progress &&
            J->progress(J->progress_ctx, J->progress_base + J->rows_done, J->progress_total) != 0)
            J->cancelled = J->failed = 1; /* the workers take no further rows */
        pthread_mutex_unlock(&J->lock);
    }
    pthread_mutex_lock(&J->lock);
    J->exact_evals += evals;
    J->rows_full += full;
    pthread_mutex_unlock(&J->lock);
    free(tile), free(Ablock), free(s.cand), free(s.ncand), free(s.sure), free(s.settled), free(s.hits);
    return NULL;
}

/* ---- preparation ---------------------------------------------------------- */

static double norm_f(const float *x, int m)
{
    double s = 0;
    for (int c = 0; c < m; c++) s += (double)x[c] * x[c];
    return sqrt(s);
}

/* OUT[i] = X_i . Y_i for the rows of X, Y [n, m], each sum in index order (the
 * same value as exact_score), ROW_LANES rows side by side so that the float64
 * additions of one row do not wait on each other. */
enum { ROW_LANES = 8 };

static void row_dots(const double *X, const double *Y, int n, int m, double *out)
{
    int i = 0;
    for (; i + ROW_LANES <= n; i += ROW_LANES) {
        double sum[ROW_LANES] = {0};
        for (int c = 0; c < m; c++)
            for (int r = 0; r < ROW_LANES; r++) sum[r] += X[(size_t)(i + r) * m + c] * Y[(size_t)(i + r) * m + c];
        for (int r = 0; r < ROW_LANES; r++) out[i + r] = sum[r];
    }
    for (; i < n; i++) {
        double s = 0;
        for (int c = 0; c < m; c++) s += X[(size_t)i * m + c] * Y[(size_t)i * m + c];
        out[i] = s;
    }
}

/* OUT[i] = |row i of X [n, m]|, the sum of squares in index order. */
static void row_norms(const double *X, int n, int m, double *out)
{
    row_dots(X, X, n, m, out);
    for (int i = 0; i < n; i++) out[i] = sqrt(out[i]);
}

/* Reciprocal condition estimate of upper-triangular R [m, m] (1-norm). */
static double tri_rcond(const double *R, int m)
{
    double rc = 0;
    if (LAPACKE_dtrcon(LAPACK_ROW_MAJOR, '1', 'U', 'N', m, R, m, &rc) != 0) return 0;
    return rc;
}

/* The head/tail data of a job whose leading components have been filled in: its
 * query head norms HEAD_Q [n] and largest key head norm KH_MAX give eta. */
static void fast_margins(job *J, const double *head_q, double kh_max, double transform_rel)
{
    int n = J->n;
    double bmax = 0;
    float beta_max = 0;
    for (int j = 0; j < n; j++) {
        bmax = fmax(bmax, J->b_norm[j]);
        beta_max = J->beta[j] > beta_max ? J->beta[j] : beta_max;
    }
    /* eta_i bounds everything but the tail: the head GEMM's rounding (plus the
     * rounding of the rotated factors to float32), the float evaluation of
     * head +- tail, and the float64 rotation's error relative to |a_i| |b_j|. */
    double g = gamma_n(J->c) + 4 * U32;
    for (int i = 0; i < n; i++) {
        double an = J->a_norm[i];
        J->eta[i] = (g * head_q[i] * kh_max + 4 * U32 * J->alpha[i] * beta_max + transform_rel * an * bmax) *
                        (1 + 1e-6) +
                    1e-30;
    }
}

static int fast_alloc(job *J, int c)
{
    int n = J->n;
    J->c = c;
    J->Qh = malloc((size_t)n * c * sizeof *J->Qh);
    J->KhT = malloc((size_t)c * n * sizeof *J->KhT);
    J->beta = malloc((size_t)n * sizeof *J->beta);
    J->alpha = malloc((size_t)n * sizeof *J->alpha);
    J->eta = malloc((size_t)n * sizeof *J->eta);
    return J->Qh && J->KhT && J->beta && J->alpha && J->eta ? 0 : -1;
}

/* Builds the rotation and the head/tail data for the fast path, and those of
 * TWIN (NULL, or the job of J's transpose, borrow_transpose) from the same
 * rotation: the transpose's rows are J's columns, so its query side is J's key
 * side and the other way round (T_q and T_k swap; T_k T_q^T = I as well).
 * Returns 0, or 1 when the factors are too ill-conditioned for a tight bound
 * (use brute force), or -1 on allocation failure. */
static int prepare_fast(job *J, int want_c, job *twin)
{
    int n = J->n, m = J->m;
    int rc = -1;
    double *Ga = calloc((size_t)m * m, sizeof *Ga), *Gb = calloc((size_t)m * m, sizeof *Gb);
    double *core = malloc((size_t)m * m * sizeof *core), *X = malloc((size_t)m * m * sizeof *X);
    double *Yt = malloc((size_t)m * m * sizeof *Yt), *S = malloc((size_t)m * sizeof *S);
    double *Tq = malloc((size_t)m * m * sizeof *Tq), *Tk = malloc((size_t)m * m * sizeof *Tk);
    enum { BLK = 2048 };
    double *rot = malloc((size_t)BLK * m * sizeof *rot);
    if (!Ga || !Gb || !core || !X || !Yt || !S || !Tq || !Tk || !rot) goto out;

    /* Grams in float64: Ga = A^T A, Gb = B B^T (= Bt^T Bt) */
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, m, n, 1.0, J->A64, m, 0.0, Ga, m);
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, m, n, 1.0, J->Bt64, m, 0.0, Gb, m);
    /* Ga = Ra^T Ra, Gb = Rb^T Rb (upper Cholesky; rows below the diagonal are unused) */
    if (LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'U', m, Ga, m) != 0 || LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'U', m, Gb, m) != 0) {
        rc = 1; /* rank-deficient factor */
        goto out;
    }
    for (int i = 0; i < m; i++)
        for (int j = 0; j < i; j++) Ga[(size_t)i * m + j] = Gb[(size_t)i * m + j] = 0;
    double rca = tri_rcond(Ga, m), rcb = tri_rcond(Gb, m);
    /* The float64 rotation's error relative to |a_i| |b_j|: a generous multiple of
     * m^2 ulps times the condition numbers (the 1-norm estimates can be off by m). */
    double transform_rel = 8.0 * m * m * 0x1p-52 / (rca * rcb);
    if (!(rca > 0 && rcb > 0) || transform_rel > 1e-3) {
        rc = 1;
        goto out;
    }
    /* core = Ra Rb^T = X S Y^T */
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, m, m, 1.0, Ga, m, Gb, m, 0.0, core, m);
    if (LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'S', m, m, core, m, S, X, m, Yt, m) != 0) {
        rc = 1;
        goto out;
    }
    /* Tq = Ra^{-1} X S^{1/2}, Tk = Rb^{-1} Y S^{1/2} */
    for (int i = 0; i < m; i++)
        for (int j = 0; j < m; j++) {
            Tq[(size_t)i * m + j] = X[(size_t)i * m + j] * sqrt(S[j]);
            Tk[(size_t)i * m + j] = Yt[(size_t)j * m + i] * sqrt(S[j]);
        }
    cblas_dtrsm(CblasRowMajor, CblasLeft, CblasUpper, CblasNoTrans, CblasNonUnit, m, m, 1.0, Ga, m, Tq, m);
    cblas_dtrsm(CblasRowMajor, CblasLeft, CblasUpper, CblasNoTrans, CblasNonUnit, m, m, 1.0, Gb, m, Tk, m);

    /* Components: the fewest whose singular values carry 90% of sum(S), a multiple of 4. */
    int c = want_c;
    if (c <= 0) {
        double total = 0, acc = 0;
        for (int i = 0; i < m; i++) total += S[i];
        for (c = 0; c < m && acc < 0.9 * total; c++) acc += S[c];
        c = (c + 3) / 4 * 4;
    }
    if (c > m) c = m;
    if (c < 1) c = 1;
    /* the query side's head norms of J and of TWIN (J's key side) */
    double *head_q = malloc((size_t)n * sizeof *head_q), *head_k = malloc((size_t)n * sizeof *head_k);
    if (!head_q || !head_k || fast_alloc(J, c) != 0 || (twin && fast_alloc(twin, c) != 0)) {
        free(head_q), free(head_k);
        goto out;
    }
    double head_max[2] = {0, 0};
    for (int side = 0; side < 2; side++) {
        const double *src = side == 0 ? J->A64 : J->Bt64;
        const double *T = side == 0 ? Tq : Tk;
        /* where this side goes: the query side (Qh, alpha) or the key side (KhT, beta) */
        job *q_of = side == 0 ? J : twin, *k_of = side == 0 ? twin : J;
        double *head = side == 0 ? head_q : head_k;
        for (int r0 = 0; r0 < n; r0 += BLK) {
            int nr = n - r0 < BLK ? n - r0 : BLK;
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nr, m, m, 1.0, src + (size_t)r0 * m, m, T, m, 0.0,
                        rot, m);
            for (int r = 0; r < nr; r++) {
                const double *v = rot + (size_t)r * m;
                double h = 0, tail = 0;
                for (int k = 0; k < c; k++) h += v[k] * v[k];
                for (int k = c; k < m; k++) tail += v[k] * v[k];
                int i = r0 + r;
                float tail_up = round_up(sqrt(tail) * (1 + 1e-6));
                head[i] = sqrt(h);
                head_max[side] = fmax(head_max[side], head[i]);
                if (q_of) {
                    for (int k = 0; k < c; k++) q_of->Qh[(size_t)i * c + k] = (float)v[k];
                    q_of->alpha[i] = tail_up;
                }
                if (k_of) {
                    for (int k = 0; k < c; k++) k_of->KhT[(size_t)k * n + i] = (float)v[k];
                    k_of->beta[i] = tail_up;
                }
            }
        }
    }
    fast_margins(J, head_q, head_max[1], transform_rel);
    if (twin) fast_margins(twin, head_k, head_max[0], transform_rel);
    free(head_q), free(head_k);
    rc = 0;
out:
    free(Ga), free(Gb), free(core), free(X), free(Yt), free(S), free(Tq), free(Tk), free(rot);
    return rc;
}

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

static int run_threads(job *J, int threads)
{
    int blas_threads = cc_blas_threads_hold(); /* our threads split the rows; each GEMM runs on one core */
    pthread_t tid[64];
    int started = 0;
    for (int t = 1; t < threads && t < 64; t++)
        if (pthread_create(&tid[started], NULL, worker, J) == 0) started++;
    worker(J);
    for (int t = 0; t < started; t++) pthread_join(tid[t], NULL);
    cc_blas_threads_restore(blas_threads);
    return J->failed ? -1 : 0;
}

/* OUT [cols, rows] = X^T for X [rows, cols], widened when X32. Written in
 * order, read from ROWS streams: X is wide (a vocabulary) and short (d_head),
 * so writing in X's order would touch a new cache line at every entry. */
static double *transposed64(const double *X, const float *X32, int rows, int cols)
{
    double *out = malloc((size_t)rows * cols * sizeof *out + 1);
    if (out)
        for (int j = 0; j < cols; j++)
            for (int i = 0; i < rows; i++) {
                size_t k = (size_t)i * cols + j;
                out[(size_t)j * rows + i] = X ? X[k] : (double)X32[k];
            }
    return out;
}

static double *widened(const float *X, size_t n)
{
    double *out = malloc(n * sizeof *out + 1);
    if (out)
        for (size_t k = 0; k < n; k++) out[k] = X[k];
    return out;
}

/* The exact factors as rows, A64 [n, m] and Bt64 [n, m] (B's columns), from the
 * matrix's float64 factors (or its float32 ones widened); for COLUMNS those of
 * the transpose (B^T, A^T), which borrows A64 as Bt64. Then the exact diagonal.
 * Returns -1 on allocation failure. */
static int prepare_exact(job *J, const cc_fm *fm, bool columns)
{
    int n = J->n, m = J->m;
    bool exact = fm->A64 && fm->B64;
    J->widened = !exact;
    /* B's columns as rows: the rows direction's Bt64, the columns direction's A64 */
    double *b_cols = transposed64(exact ? fm->B64 : NULL, fm->B, m, n);
    const double *a_rows = exact ? fm->A64 : (J->own_A64 = widened(fm->A, (size_t)n * m));
    J->own_Bt64 = b_cols;
    J->diag = malloc((size_t)n * sizeof *J->diag);
    J->a_norm = malloc((size_t)n * sizeof *J->a_norm), J->b_norm = malloc((size_t)n * sizeof *J->b_norm);
    if (!b_cols || !a_rows || !J->diag || !J->a_norm || !J->b_norm) return -1;
    J->A64 = columns ? b_cols : a_rows;
    J->Bt64 = columns ? a_rows : b_cols;
    row_dots(J->A64, J->Bt64, n, m, J->diag); /* exact_score(J, i, i) */
    row_norms(J->A64, n, m, J->a_norm);
    row_norms(J->Bt64, n, m, J->b_norm);
    return 0;
}

/* The float32 screen: float32 roundings A32 [n, m], B32 [m, n] of the exact
 * factors and the per-row bound of a full-width tile entry. Returns -1 on
 * allocation failure. */
static int prepare_f32_screen(job *J)
{
    int n = J->n, m = J->m;
    size_t nm = (size_t)n * m;
    J->err_brute = malloc((size_t)n * sizeof *J->err_brute);
    J->A32 = J->own_A32 = malloc(nm * sizeof *J->own_A32);
    J->B32 = J->own_B32 = malloc(nm * sizeof *J->own_B32);
    if (!J->err_brute || !J->own_A32 || !J->own_B32) return -1;
    for (size_t k = 0; k < nm; k++) J->own_A32[k] = (float)J->A64[k];
    for (int j = 0; j < n; j++)
        for (int c = 0; c < m; c++) J->own_B32[(size_t)c * n + j] = (float)J->Bt64[(size_t)j * m + c];
    double b32max = 0, b64max = 0;
    for (int j = 0; j < n; j++) {
        double b32 = 0;
        for (int c = 0; c < m; c++) b32 += (double)J->B32[(size_t)c * n + j] * J->B32[(size_t)c * n + j];
        b32max = fmax(b32max, sqrt(b32));
        b64max = fmax(b64max, J->b_norm[j]);
    }
    /* |t - s| <= GEMM rounding + factor rounding (none when the factors are
     * float32 values) + the float64 dot product's own error */
    double g = gamma_n(m), factor_round = J->widened ? 0 : 2 * U32 + U32 * U32, own = 2 * m * U64 / (1 - m * U64);
    for (int i = 0; i < n; i++) {
        double a64 = J->a_norm[i];
        J->err_brute[i] = (g * norm_f(J->A32 + (size_t)i * m, m) * b32max + (factor_round + own) * a64 * b64max) *
                              (1 + 1e-6) +
                          1e-30;
    }
    return 0;
}

/* Packs the factors for the bfloat16 screen and bounds it per row: the float32
 * accumulation (gamma_m of the rounded factors' norms), the rounding of both
 * factors to bfloat16 and the float64 dot product's own error, plus what the
 * kernel's flushing of subnormals can lose. Returns -1 on allocation failure. */
static int prepare_bf16(job *J)
{
    int n = J->n, m = J->m, panels = (n + CC_BF16_PANEL - 1) / CC_BF16_PANEL;
    J->pairs = cc_bf16_pairs(m);
    J->Apk = malloc((size_t)n * J->pairs * sizeof *J->Apk);
    J->Bpk = malloc((size_t)panels * J->pairs * CC_BF16_PANEL * sizeof *J->Bpk);
    J->err_bf16 = malloc((size_t)n * sizeof *J->err_bf16);
    if (!J->Apk || !J->Bpk || !J->err_bf16) return -1;
    cc_bf16_pack_rows(J->A64, n, m, J->Apk);
    cc_bf16_pack_cols(J->Bt64, n, m, J->Bpk);
    double bmax = 0, d = CC_BF16_ROUNDING;
    for (int j = 0; j < n; j++) bmax = fmax(bmax, J->b_norm[j]);
    double rel = gamma_n(m) * (1 + d) * (1 + d) + 2 * d + d * d + 2 * m * U64 / (1 - m * U64);
    for (int i = 0; i < n; i++) {
        double an = J->a_norm[i];
        J->err_bf16[i] = rel * an * bmax * (1 + 1e-6) + (m + 1) * 0x1p-126 * (1 + an) * (1 + bmax) + 1e-30;
    }
    return 0;
}

/* Row and column norms, the float32 chain errors and each row's widest window
 * (topk.h near-ties). Returns -1 on allocation failure. */
static int prepare_near_ties(job *J, const cc_fm *fm, bool columns)
{
    int n = J->n, m = J->m;
    J->window = calloc((size_t)n, sizeof *J->window);
    if (!J->window) return -1;
    J->near = fm->errA && fm->errB;
    if (!J->near) return 0;
    J->qa = J->a_norm, J->qb = J->b_norm;
    J->ea = columns ? fm->errB : fm->errA, J->eb = columns ? fm->errA : fm->errB;
    J->c_final = CC_FP32_ERR_LAMBDA * U32 * sqrt(5.0 * m / 6.0);
    double qb_max = 0, eb_max = 0, sum_max = 0;
    for (int j = 0; j < n; j++) {
        qb_max = fmax(qb_max, J->qb[j]);
        eb_max = fmax(eb_max, J->eb[j]);
        sum_max = fmax(sum_max, J->qb[j] + J->eb[j]);
    }
    for (int i = 0; i < n; i++) {
        double a = J->qa[i], ea = J->ea[i];
        double widest = ea * qb_max + a * eb_max + ea * eb_max + J->c_final * (a + ea) * sum_max;
        J->window[i] = (widest + fp32_err(J, i, i)) * (1 + 1e-6);
    }
    return 0;
}

/* TWIN becomes the columns' job of J's matrix FM: J's exact factors swapped,
 * its diagonal (B_i . A_i: the same products, the same sum) and its norms,
 * borrowed. Returns -1 on allocation failure. */
static int borrow_transpose(job *twin, const job *J, const cc_fm *fm)
{
    twin->borrowed = true, twin->widened = J->widened;
    twin->A64 = J->Bt64, twin->Bt64 = J->A64;
    twin->diag = J->diag, twin->a_norm = J->b_norm, twin->b_norm = J->a_norm;
    return prepare_near_ties(twin, fm, true);
}

static void free_job(job *J)
{
    free(J->own_Bt64), free(J->own_A32), free(J->own_B32), free(J->own_A64), free(J->err_brute);
    if (!J->borrowed) free(J->diag), free(J->a_norm), free(J->b_norm);
    free(J->window), free(J->stats);
    free(J->Qh), free(J->KhT), free(J->beta), free(J->alpha), free(J->eta);
    free(J->Apk), free(J->Bpk), free(J->err_bf16);
    pthread_mutex_destroy(&J->lock);
}

/* Counts, ties, near-ties and ranks from the per-row statistics. */
static int summarise(const job *J, const cc_topk_options *opt, cc_topk_result *out)
{
    int n = J->n;
    long *ranks = opt->ranks ? malloc((size_t)n * sizeof *ranks) : NULL;
    if (opt->ranks && !ranks) return -1;
    out->has_near_ties = J->near;
    double rank_sum = 0;
    int listed = 0;
    for (int i = 0; i < n; i++) {
        const row_stat *st = &J->stats[i];
        long rank = st->gt + st->ties_before;
        for (int k = 1; k <= J->k_max; k++) out->correct[k - 1] += rank < k;
        if (st->tied && st->gt < J->k_max) out->tied_rows++;
        bool near = false;
        for (int k = 1; J->near && k <= J->k_max; k++)
            if (st->sure < k && k <= st->sure + st->within) out->near_ties_at[k - 1]++, near = true;
        if (near && listed < CC_TOPK_NEAR_TIE_LIST) out->near_tie_rows[listed++] = i;
        out->near_ties += near;
        if (opt->near_tie_mask) opt->near_tie_mask[i] = near;
        if (ranks) {
            ranks[i] = rank;
            rank_sum += (double)rank;
        }
    }
    if (ranks) {
        qsort(ranks, (size_t)n, sizeof *ranks, cmp_long);
        out->has_ranks = true;
        out->rank_mean = rank_sum / n;
        out->rank_median = n % 2 ? (double)ranks[n / 2] : 0.5 * (double)(ranks[n / 2 - 1] + ranks[n / 2]);
    }
    free(ranks);
    return 0;
}

static int check_args(const cc_fm *fm, const cc_topk_options *opt, cc_error *err)
{
    if (fm->l != fm->r)
        return cc_fail(err, "top-k accuracy needs a square circuit; this one is %d x %d", fm->l, fm->r);
    if (opt->k_max < 1 || opt->k_max > CC_TOPK_MAX_K)
        return cc_fail(err, "top-k: k must be between 1 and %d, got %d", CC_TOPK_MAX_K, opt->k_max);
    if (fm->m < 1) return cc_fail(err, "top-k: the circuit has inner dimension 0");
    return 0;
}

static int job_init(job *J, const cc_fm *fm, const cc_topk_options *opt, long progress_base, long progress_total)
{
    *J = (job){.n = fm->l, .m = fm->m, .k_max = opt->k_max, .ranks = opt->ranks, .progress = opt->progress,
               .progress_ctx = opt->progress_ctx, .progress_base = progress_base, .progress_total = progress_total};
    pthread_mutex_init(&J->lock, NULL);
    J->stats = calloc((size_t)J->n, sizeof *J->stats);
    return J->stats ? 0 : -1;
}

/* The method of J (and of TWIN, its transpose, when not NULL) and its set-up. */
static int prepare_method(job *J, job *twin, const cc_topk_options *opt, cc_error *err)
{
    J->fast = opt->method == CC_TOPK_FAST && !opt->ranks;
    if (J->fast) {
        int p = prepare_fast(J, opt->components, twin);
        if (p < 0) return cc_fail_code(err, CC_E_NOMEM, "out of memory preparing the fast top-k path");
        if (p > 0) J->fast = false; /* ill-conditioned factors: the brute-force path is exact */
    }
    /* the bfloat16 screen settles the full-width scans when the CPU has it; the
     * float32 one is prepared when a scan needs it (need_f32_screen) */
    for (job *k = J; k; k = k == J ? twin : NULL) {
        k->fast = J->fast;
        k->bf16 = k->fast && opt->screen == CC_TOPK_SCREEN_AUTO && cc_bf16_available();
        if (k->bf16 && prepare_bf16(k) != 0) return cc_fail_code(err, CC_E_NOMEM, "out of memory preparing the top-k screen");
    }
    return 0;
}

/* Runs the prepared job J into OUT; its seconds count from T0. */
static int scan_job(job *J, const cc_topk_options *opt, struct timespec t0, cc_topk_result *out, cc_error *err)
{
    int outer = cc_par_call_threads(); /* 0 here: the count of a call this one runs inside */
    int threads = opt->threads > 0 ? opt->threads : outer > 0 ? outer : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (threads < 1) threads = 1;
    if (run_threads(J, threads) != 0)
        return J->cancelled ? cci_cancelled(err, "top-k accuracy")
                            : cc_fail_code(err, CC_E_NOMEM, "out of memory in top-k worker threads");
    *out = (cc_topk_result){.n = J->n, .k_max = J->k_max, .exact_evaluations = J->exact_evals,
                            .rows_scanned_fully = J->rows_full, .components = J->fast ? J->c : 0,
                            .bf16_screen = J->bf16, .method = J->fast ? CC_TOPK_FAST : CC_TOPK_BRUTE};
    if (summarise(J, opt, out) != 0) return cc_fail_code(err, CC_E_NOMEM, "out of memory for diagonal ranks (n = %d)", J->n);
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    out->seconds = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    return 0;
}

int cc_topk_diagonal(const cc_fm *fm, const cc_topk_options *opt, cc_topk_result *out, cc_error *err)
{
    CC_PAR_CALL(opt ? opt->threads : 0);
    CC_ARG_NOT_NULL(fm, err, -1);
    CC_ARG_NOT_NULL(opt, err, -1);
    CC_ARG_ENUM(opt->method, CC_TOPK_BRUTE + 1, err, -1);
    CC_ARG_ENUM(opt->screen, CC_TOPK_SCREEN_F32 + 1, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (check_args(fm, opt, err) != 0) return -1;
    job J;
    int rc = -1;
    if (job_init(&J, fm, opt, 0, fm->l) != 0 || prepare_exact(&J, fm, opt->columns) != 0 ||
        prepare_near_ties(&J, fm, opt->columns) != 0)
        cc_fail_code(err, CC_E_NOMEM, "out of memory for top-k accuracy (n = %d)", J.n);
    else if (prepare_method(&J, NULL, opt, err) == 0 && scan_job(&J, opt, t0, out, err) == 0)
        rc = 0;
    free_job(&J);
    return rc;
}

int cci_topk_diagonal_both(const cc_fm *fm, const cc_topk_options *opt, cc_topk_result *rows, cc_topk_result *cols,
                           cc_error *err)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (check_args(fm, opt, err) != 0) return -1;
    long n = fm->l;
    job J, T;
    int rc = -1, init = job_init(&J, fm, opt, 0, 2 * n), init_t = job_init(&T, fm, opt, n, 2 * n);
    if (init != 0 || init_t != 0 || prepare_exact(&J, fm, false) != 0 || prepare_near_ties(&J, fm, false) != 0 ||
        borrow_transpose(&T, &J, fm) != 0)
        cc_fail_code(err, CC_E_NOMEM, "out of memory for top-k accuracy (n = %ld)", n);
    else if (prepare_method(&J, &T, opt, err) == 0 && scan_job(&J, opt, t0, rows, err) == 0) {
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (scan_job(&T, opt, t0, cols, err) == 0) rc = 0;
    }
    free_job(&J), free_job(&T);
    return rc;
}
