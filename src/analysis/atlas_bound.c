/* atlas_bound.c — certified upper bounds on the top-1 and top-5 counts of a
 * K-composition pair from a float32 screen (atlas_bound.h).
 *
 * The exact scores are s_ij = A64_i . B64_j (topk.h), A64 = W_E W_Q[I] and
 * B64 = W_E W_V[P] W_O[P] W_K[I] multiplied in float64. The screen computes
 *   Q^ = fl32(W_E W_Q[I]),  E^ = fl32(W_E W_V[P]),  N^ = fl32(W_O[P] W_K[I]),
 *   K^ = fl32(E^ N^),       t_ij = fl32(Q^_i . K^_j)  (t_ii in float64 from Q^, K^).
 * Every product obeys |fl(XY) - XY| <= gamma_n |X| |Y| entrywise (n its inner
 * dimension, gamma_n = n u / (1 - n u), any summation order), and Euclidean
 * row norms of |X| |Y| are bounded with Frobenius norms. With q_i, k_j the
 * exact real rows this gives, for the screen,
 *   |Q^_i - q_i| <= eQ_i = g32(d) |W_E_i| ||W_Q||_F
 *   |E^_j - e_j| <= eE_j = g32(d) |W_E_j| ||W_V||_F,  ||N^ - N|| <= eN = g32(d) ||W_O||_F ||W_K||_F
 *   |K^_j - k_j| <= eK_j = g32(dh) |E^_j| ||N^||_F + eE_j ||N^||_F + (|E^_j| + eE_j) eN
 *   |t_ij - q_i.k_j| <= (g32(dh) |Q^_i| + eQ_i) |K^_j| + (|Q^_i| + eQ_i) eK_j
 * and for the float64 chain that defines s_ij (inner dimensions summing to
 * 3d + 2dh = n_chain):
 *   |s_ij - q_i.k_j| <= g64(n_chain) |W_E_i| |W_E_j| ||W_Q||_F ||W_K||_F ||W_V||_F ||W_O||_F.
 * The sum delta_ij is x_i . y_j for per-row x = (g32 |Q^_i| + eQ_i, |Q^_i| + eQ_i,
 * g64 |W_E_i| ||W_Q|| ||W_K||) and per-column y = (|K^_j|, eK_j, |W_E_j| ||W_V|| ||W_O||).
 * Then t_ij - t_ii > delta_ij + delta_ii proves s_ij > s_ii: j beats i's
 * diagonal, and a row with k such columns is wrong at k. The same holds for
 * the columns (the transpose, x and y swapped). The norms are computed in
 * float64 from float32 data and inflated by NORM_SLACK, far above their own
 * rounding; the margin's own float64 arithmetic is covered by MARGIN_SLACK
 * (every margin is at least g32(dh) |t| >> 2^-52 |t|). */
#include "atlas_bound.h"

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/parallel.h"
#include "model/model_internal.h"

enum {
    FIRST_BLOCK = 64,     /* candidate columns compared in the first pass; each next pass doubles */
    MAX_BLOCK = 1024,     /* ... up to this many */
    MAX_CANDIDATES = 4096, /* candidates tried at most before a pair goes to the exact pass */
    ROW_CHUNK = 1024,     /* survivors scored per GEMM */
    STRUCTURED_AFTER = 448, /* candidates after which a pair with half its rows surviving stops refining */
};
static const double NORM_SLACK = 1.0 + 1e-9;
static const double MARGIN_SLACK = 1.0 + 1e-6;

struct atlas_screen {
    const cc_model *m;
    int L, H, d, dh;
    long V;
    int n_cand;
    double g32_d, g32_dh, g64_chain;
    double *we_norm;                 /* [V] |W_E_i| */
    double *frob_q, *frob_k, *frob_v, *frob_o; /* [L*H] */
    float **E;                       /* [L*H] -> [V, dh], NULL for the last layer's heads */
    double **e_norm;                 /* |E^_j| */
    int **e_order;                   /* the n_cand rows of largest |E^_j|, descending */
};

/* One direction's scratch: survivors [ROW_CHUNK, dh], candidates [MAX_BLOCK, dh], scores [ROW_CHUNK, MAX_BLOCK]. */
typedef struct {
    float *rows, *cols, *scores;
    int *surv;
    unsigned char *beaten;
} scratch;

struct atlas_later {
    cc_head head;
    float *Q;      /* [V, dh] */
    double *q_norm;
    double *eQ;
    double *x;     /* [3, V]: the rows' margin terms (file comment), the later head's alone */
    int *order;    /* the n_cand rows of largest |Q^_i|, descending */
    /* the pairs' work space, reused by each pair of the later head */
    float *N, *K;  /* [dh, dh], [V, dh] */
    double *vec;   /* [4, V] */
    scratch w;
};

static double gamma_n(double n, double u) { return n * u / (1.0 - n * u); }

static const float *head_block(const float *W, const cc_model *m, int head_index)
{
    return W + (size_t)head_index * m->cfg.d_model * m->cfg.d_head;
}

static double frobenius(const float *X, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)X[i] * X[i];
    return sqrt(s) * NORM_SLACK;
}

/* frobenius() of every row, ROW_LANES rows side by side: the same sums (each
 * row's in index order), without waiting on one addition chain at a time. */
enum { ROW_LANES = 8 };

static void row_norms(const float *X, long rows, int cols, double *out)
{
    long i = 0;
    for (; i + ROW_LANES <= rows; i += ROW_LANES) {
        double sum[ROW_LANES] = {0};
        for (int c = 0; c < cols; c++)
            for (int r = 0; r < ROW_LANES; r++) {
                float x = X[(size_t)(i + r) * cols + c];
                sum[r] += (double)x * x;
            }
        for (int r = 0; r < ROW_LANES; r++) out[i + r] = sqrt(sum[r]) * NORM_SLACK;
    }
    for (; i < rows; i++) out[i] = frobenius(X + (size_t)i * cols, (size_t)cols);
}

/* OUT[i] = A_i . B_i in float64, index order, for rows of A, B [rows, cols]; as row_norms. */
static void row_dots(const float *A, const float *B, long rows, int cols, double *out)
{
    long i = 0;
    for (; i + ROW_LANES <= rows; i += ROW_LANES) {
        double sum[ROW_LANES] = {0};
        for (int c = 0; c < cols; c++)
            for (int r = 0; r < ROW_LANES; r++) {
                size_t k = (size_t)(i + r) * cols + c;
                sum[r] += (double)A[k] * B[k];
            }
        for (int r = 0; r < ROW_LANES; r++) out[i + r] = sum[r];
    }
    for (; i < rows; i++) {
        double t = 0;
        for (int c = 0; c < cols; c++) t += (double)A[(size_t)i * cols + c] * B[(size_t)i * cols + c];
        out[i] = t;
    }
}

/* Candidate order: indices by norm descending, ties by index (deterministic). */
typedef struct {
    double norm;
    int index;
} ranked;

static int by_norm_desc(const void *pa, const void *pb)
{
    const ranked *a = pa, *b = pb;
    if (a->norm != b->norm) return a->norm > b->norm ? -1 : 1;
    return (a->index > b->index) - (a->index < b->index);
}

static int candidate_order(const double *norms, long V, int n_cand, int **out)
{
    ranked *r = malloc((size_t)V * sizeof *r);
    int *order = malloc((size_t)n_cand * sizeof *order);
    if (!r || !order) {
        free(r), free(order);
        return -1;
    }
    for (long i = 0; i < V; i++) r[i] = (ranked){norms[i], (int)i};
    qsort(r, (size_t)V, sizeof *r, by_norm_desc);
    for (int i = 0; i < n_cand; i++) order[i] = r[i].index;
    free(r);
    *out = order;
    return 0;
}

/* OUT [V, dh] = fl32(W_E W_X[head]) on the calling thread's BLAS. */
static void embed_times_head(const atlas_screen *s, const float *W, int head_index, float *out)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)s->V, s->dh, s->d, 1.0f, s->m->w.W_E, s->d,
                head_block(W, s->m, head_index), s->dh, 0.0f, out, s->dh);
}

typedef struct {
    atlas_screen *s;
    int failed;
} screen_job;

static void screen_heads(void *ctx, size_t lo, size_t hi)
{
    screen_job *j = ctx;
    atlas_screen *s = j->s;
    for (size_t h = lo; h < hi; h++) {
        s->E[h] = malloc((size_t)s->V * s->dh * sizeof(float));
        s->e_norm[h] = malloc((size_t)s->V * sizeof(double));
        if (!s->E[h] || !s->e_norm[h]) {
            j->failed = 1;
            continue;
        }
        embed_times_head(s, s->m->w.W_V, (int)h, s->E[h]);
        row_norms(s->E[h], s->V, s->dh, s->e_norm[h]);
        if (candidate_order(s->e_norm[h], s->V, s->n_cand, &s->e_order[h]) != 0) j->failed = 1;
    }
}

void atlas_screen_free(atlas_screen *s)
{
    if (!s) return;
    int n = s->L * s->H;
    for (int h = 0; h < n; h++)
        if (s->E) free(s->E[h]), free(s->e_norm[h]), free(s->e_order[h]);
    free(s->E), free(s->e_norm), free(s->e_order);
    free(s->we_norm), free(s->frob_q), free(s->frob_k), free(s->frob_v), free(s->frob_o);
    free(s);
}

int atlas_screen_new(const cc_model *m, atlas_screen **out, cc_error *err)
{
    const cc_config *c = &m->cfg;
    atlas_screen *s = calloc(1, sizeof *s);
    if (!s) return cc_fail_code(err, CC_E_NOMEM, "out of memory preparing the atlas");
    *s = (atlas_screen){.m = m, .L = c->n_layers, .H = c->n_heads, .d = c->d_model, .dh = c->d_head, .V = c->d_vocab};
    s->n_cand = s->V < MAX_CANDIDATES ? (int)s->V : MAX_CANDIDATES;
    s->g32_d = gamma_n(s->d, 0x1p-24) * NORM_SLACK;
    s->g32_dh = gamma_n(s->dh, 0x1p-24) * NORM_SLACK;
    s->g64_chain = gamma_n(3.0 * s->d + 2.0 * s->dh, 0x1p-53) * NORM_SLACK;
    int n = s->L * s->H;
    s->we_norm = malloc((size_t)s->V * sizeof(double));
    s->frob_q = malloc((size_t)n * sizeof(double));
    s->frob_k = malloc((size_t)n * sizeof(double));
    s->frob_v = malloc((size_t)n * sizeof(double));
    s->frob_o = malloc((size_t)n * sizeof(double));
    s->E = calloc((size_t)n, sizeof *s->E);
    s->e_norm = calloc((size_t)n, sizeof *s->e_norm);
    s->e_order = calloc((size_t)n, sizeof *s->e_order);
    if (!s->we_norm || !s->frob_q || !s->frob_k || !s->frob_v || !s->frob_o || !s->E || !s->e_norm || !s->e_order) {
        atlas_screen_free(s);
        return cc_fail_code(err, CC_E_NOMEM, "out of memory preparing the atlas");
    }
    row_norms(m->w.W_E, s->V, s->d, s->we_norm);
    size_t block = (size_t)s->d * s->dh;
    for (int h = 0; h < n; h++) {
        s->frob_q[h] = frobenius(head_block(m->w.W_Q, m, h), block);
        s->frob_k[h] = frobenius(head_block(m->w.W_K, m, h), block);
        s->frob_v[h] = frobenius(head_block(m->w.W_V, m, h), block);
        s->frob_o[h] = frobenius(head_block(m->w.W_O, m, h), block);
    }
    screen_job job = {s, 0};
    int saved = cc_blas_threads_hold();
    cc_par_for((size_t)(s->L - 1) * s->H, 1, screen_heads, &job); /* the last layer's heads are never earlier */
    cc_blas_threads_restore(saved);
    if (job.failed) {
        atlas_screen_free(s);
        return cc_fail_code(err, CC_E_NOMEM, "out of memory computing the atlas' screen factors W_E W_V (%ld x %d floats per head)",
                       (long)c->d_vocab, c->d_head);
    }
    *out = s;
    return 0;
}

void atlas_later_free(atlas_later *q)
{
    if (!q) return;
    free(q->Q), free(q->q_norm), free(q->eQ), free(q->x), free(q->order);
    free(q->N), free(q->K), free(q->vec);
    free(q->w.rows), free(q->w.cols), free(q->w.scores), free(q->w.surv), free(q->w.beaten);
    free(q);
}

cc_head atlas_later_head(const atlas_later *q) { return q->head; }

int atlas_later_new(const atlas_screen *s, cc_head later, atlas_later **out, cc_error *err)
{
    atlas_later *q = calloc(1, sizeof *q);
    if (!q) return cc_fail_code(err, CC_E_NOMEM, "out of memory");
    q->head = later;
    q->Q = malloc((size_t)s->V * s->dh * sizeof(float));
    q->q_norm = malloc((size_t)s->V * sizeof(double));
    q->eQ = malloc((size_t)s->V * sizeof(double));
    q->x = malloc((size_t)s->V * 3 * sizeof(double));
    long V = s->V;
    int dh = s->dh;
    q->N = malloc((size_t)dh * dh * sizeof *q->N), q->K = malloc((size_t)V * dh * sizeof *q->K);
    q->vec = malloc((size_t)V * 4 * sizeof *q->vec);
    q->w = (scratch){malloc((size_t)ROW_CHUNK * dh * sizeof(float)), malloc((size_t)MAX_BLOCK * dh * sizeof(float)),
                     malloc((size_t)ROW_CHUNK * MAX_BLOCK * sizeof(float)), malloc((size_t)V * sizeof(int)), malloc((size_t)V)};
    if (!q->Q || !q->q_norm || !q->eQ || !q->x || !q->N || !q->K || !q->vec || !q->w.rows || !q->w.cols ||
        !q->w.scores || !q->w.surv || !q->w.beaten) {
        atlas_later_free(q);
        return cc_fail_code(err, CC_E_NOMEM, "out of memory computing W_E W_Q for the atlas (vocabulary %ld)", V);
    }
    int hi = later.layer * s->H + later.head;
    embed_times_head(s, s->m->w.W_Q, hi, q->Q);
    row_norms(q->Q, s->V, s->dh, q->q_norm);
    for (long i = 0; i < s->V; i++) q->eQ[i] = s->g32_d * s->we_norm[i] * s->frob_q[hi];
    double chain_q = s->g64_chain * s->frob_q[hi] * s->frob_k[hi];
    for (long j = 0; j < V; j++) {
        q->x[j] = s->g32_dh * q->q_norm[j] + q->eQ[j];
        q->x[V + j] = q->q_norm[j] + q->eQ[j];
        q->x[2 * V + j] = chain_q * s->we_norm[j];
    }
    if (candidate_order(q->q_norm, s->V, s->n_cand, &q->order) != 0) {
        atlas_later_free(q);
        return cc_fail_code(err, CC_E_NOMEM, "out of memory");
    }
    *out = q;
    return 0;
}

/* One direction: rows of R [V, dh] against candidate rows of C [V, dh]
 * (score t_ij = R_i . C_j), margins x_i . y_j. */
typedef struct {
    const float *R, *C;
    const double *x[3], *y[3];
    const int *order;
} direction;

/* Adds to beaten[] the candidates COLS [nb, dh] (margins YMAX, their
 * largest y) that certainly beat the diagonal of each survivor SURV[0 .. ns). */
/* #{T[b] > THR}, b < n. Runs once per score: built for AVX-512 and AVX2 too,
 * chosen at run time, since the project's baseline target has SSE2 only. */
__attribute__((target_clones("avx512f", "avx2", "default"))) static int count_above(const float *t, int n, float thr)
{
    int c = 0;
    for (int b = 0; b < n; b++) c += t[b] > thr;
    return c;
}

/* The largest float <= X: for every float t, t > X exactly when t > it. */
static float float_floor(double x)
{
    float f = (float)x;
    return (double)f > x ? nextafterf(f, -INFINITY) : f;
}

static void count_beaten(const atlas_screen *s, const direction *dir, const double *diag, const double *ymax,
                         int nb, long ns, scratch *w)
{
    int dh = s->dh;
    for (long r0 = 0; r0 < ns; r0 += ROW_CHUNK) {
        int nr = ns - r0 < ROW_CHUNK ? (int)(ns - r0) : ROW_CHUNK;
        const float *rows = dir->R + (size_t)w->surv[r0] * dh; /* survivors in increasing order: contiguous rows */
        if (w->surv[r0 + nr - 1] - w->surv[r0] != nr - 1) {
            for (int r = 0; r < nr; r++)
                memcpy(w->rows + (size_t)r * dh, dir->R + (size_t)w->surv[r0 + r] * dh, (size_t)dh * sizeof(float));
            rows = w->rows;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nr, nb, dh, 1.0f, rows, dh, w->cols, dh, 0.0f,
                    w->scores, nb);
        for (int r = 0; r < nr; r++) {
            int i = w->surv[r0 + r];
            double margin = 0;
            for (int k = 0; k < 3; k++) margin += dir->x[k][i] * (ymax[k] + dir->y[k][i]);
            double thr = diag[i] + margin * MARGIN_SLACK;
            int c = count_above(w->scores + (size_t)r * nb, nb, float_floor(thr));
            int total = w->beaten[i] + c;
            w->beaten[i] = (unsigned char)(total > 5 ? 5 : total);
        }
    }
}

/* Counts, for every row, the candidates that certainly beat its diagonal
 * (capped at 5), over growing blocks of candidates while the top-5 survivors
 * are at least MIN_COUNT; *N1 and *N5: rows with no / fewer than 5 such columns. */
static void bound_direction(const atlas_screen *s, const direction *dir, const double *diag, long min_count,
                            scratch *w, long *n1, long *n5)
{
    long V = s->V;
    int dh = s->dh;
    memset(w->beaten, 0, (size_t)V);
    long ns = V;
    for (long i = 0; i < V; i++) w->surv[i] = (int)i;
    int pos = 0, block = FIRST_BLOCK;
    while (pos < s->n_cand && ns > 0) {
        int nb = s->n_cand - pos < block ? s->n_cand - pos : block;
        const int *J = dir->order + pos;
        double ymax[3] = {0, 0, 0};
        for (int b = 0; b < nb; b++) {
            memcpy(w->cols + (size_t)b * dh, dir->C + (size_t)J[b] * dh, (size_t)dh * sizeof(float));
            for (int k = 0; k < 3; k++)
                if (dir->y[k][J[b]] > ymax[k]) ymax[k] = dir->y[k][J[b]];
        }
        count_beaten(s, dir, diag, ymax, nb, ns, w);
        long kept = 0;
        for (long r = 0; r < ns; r++)
            if (w->beaten[w->surv[r]] < 5) w->surv[kept++] = w->surv[r];
        ns = kept;
        pos += nb;
        if (block < MAX_BLOCK) block *= 2;
        if (ns < min_count) break;
        if (pos >= STRUCTURED_AFTER && ns > V / 2) break; /* a structured pair: the exact pass will count it */
    }
    long c1 = 0;
    for (long i = 0; i < V; i++) c1 += w->beaten[i] == 0;
    *n1 = c1;
    *n5 = ns;
}

void atlas_pair_bound(const atlas_screen *s, atlas_later *q, cc_head earlier, long min_count, long rows[2],
                      long cols[2], bool *pruned)
{
    long V = s->V;
    int dh = s->dh, d = s->d;
    int pi = earlier.layer * s->H + earlier.head, ii = q->head.layer * s->H + q->head.head;
    float *N = q->N, *K = q->K;
    double *vec = q->vec;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, dh, dh, d, 1.0f, head_block(s->m->w.W_O, s->m, pi), d,
                head_block(s->m->w.W_K, s->m, ii), dh, 0.0f, N, dh); /* N = W_O [dh, d] W_K [d, dh] */
    double nF = frobenius(N, (size_t)dh * dh);
    double eN = s->g32_d * s->frob_o[pi] * s->frob_k[ii];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)V, dh, dh, 1.0f, s->E[pi], dh, N, dh, 0.0f, K, dh);
    double *k_norm = vec, *eK = vec + V, *diag = vec + 2 * V, *y2 = vec + 3 * V;
    const double *x0 = q->x, *x1 = q->x + V, *x2 = q->x + 2 * V;
    row_norms(K, V, dh, k_norm);
    row_dots(q->Q, K, V, dh, diag);
    double chain_p = s->frob_v[pi] * s->frob_o[pi];
    for (long j = 0; j < V; j++) {
        double eE = s->g32_d * s->we_norm[j] * s->frob_v[pi], en = s->e_norm[pi][j];
        eK[j] = (s->g32_dh * en * nF + eE * nF + (en + eE) * eN) * NORM_SLACK;
        y2[j] = chain_p * s->we_norm[j];
    }
    direction by_rows = {q->Q, K, {x0, x1, x2}, {k_norm, eK, y2}, s->e_order[pi]};
    direction by_cols = {K, q->Q, {k_norm, eK, y2}, {x0, x1, x2}, q->order};
    bound_direction(s, &by_rows, diag, min_count, &q->w, &rows[0], &rows[1]);
    bound_direction(s, &by_cols, diag, min_count, &q->w, &cols[0], &cols[1]);
    *pruned = rows[1] < min_count && cols[1] < min_count;
}
