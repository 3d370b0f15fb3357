/* discover.c — a (previous-token, induction) pair ranked from the weights
 * alone, and the ranking scored against runtime head scores (discover.h). */
#include "circuitc/discover.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/composition.h"
#include "core/args.h"
#include "core/parallel.h"
#include "model/rotary.h"
#include "runtime/vecmath.h"
#include "circuit_internal.h"
#include "topk_internal.h"
#include "model/model_internal.h"

enum { DEFAULT_POSITIONS = 101 };

/* Fraction of query positions p in [1, T) whose best key k <= p is p - 1,
 * for scores S(p, k) given by SCORE. */
static double prev_fraction(int T, float (*score)(const void *ctx, int p, int k), const void *ctx)
{
    int hits = 0;
    for (int p = 1; p < T; p++) {
        int best = 0;
        float top = score(ctx, p, 0);
        for (int k = 1; k <= p; k++) {
            float s = score(ctx, p, k);
            if (s > top) top = s, best = k;
        }
        hits += best == p - 1;
    }
    return (double)hits / (T - 1);
}

/* Learned positions: the scores W_pos W_Q W_K^T W_pos^T, [n_ctx, n_ctx]. */
typedef struct {
    const float *S;
    size_t n;
} matrix_scores;

static float matrix_score(const void *ctx, int p, int k)
{
    const matrix_scores *m = ctx;
    return m->S[(size_t)p * m->n + (size_t)k];
}

/* A rotary head's mean query and mean key, rotated to every position. */
typedef struct {
    const float *q, *k; /* [T, dh] */
    int dh;
} rotated;

static float rotated_score(const void *ctx, int p, int k)
{
    const rotated *r = ctx;
    double s = 0;
    for (int i = 0; i < r->dh; i++) s += (double)r->q[(size_t)p * r->dh + i] * r->k[(size_t)k * r->dh + i];
    return (float)s;
}

/* Rotary positions: the scores of head H's mean query and mean key (over the
 * vocabulary, each embedding row through the norm the block applies)
 * rotated to positions p and k, so they depend on p - k only. */
static int rotary_positional(const cc_model *m, cc_head h, int T, double *frac, cc_error *err)
{
    const cc_config *c = &m->cfg;
    const cc_weights *w = &m->w;
    int d = c->d_model, dh = c->d_head, V = c->d_vocab;
    size_t off = ((size_t)h.layer * c->n_heads + h.head);
    float *row = malloc((size_t)d * sizeof *row), *q = calloc((size_t)T * dh, sizeof *q),
          *k = calloc((size_t)T * dh, sizeof *k), *sn = malloc((size_t)T * c->rotary_dim * sizeof *sn),
          *cs = malloc((size_t)T * c->rotary_dim * sizeof *cs), *scratch = malloc((size_t)dh * sizeof *scratch);
    double *mean = calloc((size_t)d, sizeof *mean);
    int rc = row && q && k && sn && cs && scratch && mean ? 0 : cc_fail_code(err, CC_E_NOMEM, "out of memory");
    const float *lw = w->ln1_w ? w->ln1_w + (size_t)h.layer * d : NULL, *lb = w->ln1_b ? w->ln1_b + (size_t)h.layer * d : NULL;
    for (int v = 0; rc == 0 && v < V; v++) {
        const float *x = w->W_E + (size_t)v * d;
        if (c->norm == CC_NORM_RMS) cc_vec_rmsnorm(x, d, lw, c->ln_eps, row);
        else cc_vec_layernorm(x, d, lw, lb, c->ln_eps, row);
        for (int i = 0; i < d; i++) mean[i] += row[i] / V;
    }
    for (int j = 0; rc == 0 && j < dh; j++) { /* q = mean W_Q + b_Q, at position 0 (row 0) */
        double sq = w->b_Q[off * dh + j], sk = w->b_K[off * dh + j];
        for (int i = 0; i < d; i++) {
            sq += mean[i] * w->W_Q[(off * d + i) * dh + j];
            sk += mean[i] * w->W_K[(off * d + i) * dh + j];
        }
        q[j] = (float)sq, k[j] = (float)sk;
    }
    if (rc == 0) {
        cc_rotary_table(c, T, sn, cs);
        for (int t = T - 1; t >= 0; t--) {
            memcpy(q + (size_t)t * dh, q, (size_t)dh * sizeof *q);
            memcpy(k + (size_t)t * dh, k, (size_t)dh * sizeof *k);
            cc_rotary_apply(c, sn + (size_t)t * c->rotary_dim, cs + (size_t)t * c->rotary_dim, q + (size_t)t * dh, scratch);
            cc_rotary_apply(c, sn + (size_t)t * c->rotary_dim, cs + (size_t)t * c->rotary_dim, k + (size_t)t * dh, scratch);
        }
        *frac = prev_fraction(T, rotated_score, &(rotated){q, k, dh});
    }
    free(row), free(q), free(k), free(sn), free(cs), free(scratch), free(mean);
    return rc;
}

int cc_prev_positional(const cc_model *m, cc_head h, int T, double *frac, cc_error *err)
{
    CC_ARG_NOT_NULL(m, err, -1);
    CC_ARG_NOT_NULL(frac, err, -1);
    if (m->cfg.pos == CC_POS_ROTARY) {
        if (T < 2 || T > m->cfg.n_ctx)
            return cc_fail(err, "positional evidence over %d positions: needs 2 to n_ctx = %d", T, m->cfg.n_ctx);
        if (h.layer < 0 || h.layer >= m->cfg.n_layers || h.head < 0 || h.head >= m->cfg.n_heads)
            return cc_fail(err, "positional evidence: head L%dH%d is outside the model", h.layer, h.head);
        return rotary_positional(m, h, T, frac, err);
    }
    cc_circuit *c;
    if (cc_circuit_open("pos_qk", &c, err) != 0) return -1;
    const char *name = cc_circuit_param(c, 0);
    cc_fm fm;
    int rc = cc_circuit_compile_f32(c, m, &name, &h, 1, &fm, err); /* the float32 scores only */
    cc_circuit_free(c);
    if (rc != 0) return -1;
    int n = fm.l;
    if (T < 2 || T > n) {
        cc_fm_free(&fm);
        return cc_fail(err, "positional evidence over %d positions: needs 2 to n_ctx = %d", T, n);
    }
    float *S = malloc((size_t)n * n * sizeof *S); /* [n_ctx, n_ctx]: small */
    if (!S) {
        cc_fm_free(&fm);
        return cc_fail_code(err, CC_E_NOMEM, "out of memory");
    }
    cc_fm_AB(&fm, S);
    *frac = prev_fraction(T, matrix_score, &(matrix_scores){S, (size_t)n});
    free(S);
    cc_fm_free(&fm);
    return 0;
}

/* cc_prev_positional of every head that can be an earlier one, side by side
 * (each head on one thread, its products on one core); the first failing
 * head's error. */
typedef struct {
    const cc_model *m;
    int T;
    double *frac;
    int *rc;
    cc_error *errs;
} positional_job;

static void positional_heads(void *ctx, size_t lo, size_t hi)
{
    positional_job *J = ctx;
    int H = J->m->cfg.n_heads;
    for (size_t h = lo; h < hi; h++)
        J->rc[h] = cc_prev_positional(J->m, (cc_head){(int)h / H, (int)h % H}, J->T, &J->frac[h], &J->errs[h]);
}

static int every_prev_positional(const cc_model *m, int T, double *frac, cc_error *err)
{
    size_t n = (size_t)(m->cfg.n_layers - 1) * m->cfg.n_heads;
    int *rc = calloc(n + 1, sizeof *rc);
    cc_error *errs = malloc((n + 1) * sizeof *errs);
    if (!rc || !errs) {
        free(rc), free(errs);
        return cc_fail_code(err, CC_E_NOMEM, "out of memory");
    }
    positional_job job = {m, T, frac, rc, errs};
    int blas_threads = cc_blas_threads_hold();
    cc_par_for(n, 4, positional_heads, &job);
    cc_blas_threads_restore(blas_threads);
    int failed = -1;
    for (size_t h = 0; h < n && failed < 0; h++)
        if (rc[h] != 0) failed = (int)h;
    if (failed >= 0 && err) *err = errs[failed];
    free(rc), free(errs);
    return failed >= 0 ? -1 : 0;
}

int cc_discover_parts(cc_part *parts)
{
    CC_ARG_NOT_NULL(parts, NULL, -1);
    parts[0] = (cc_part){CC_PART_W_E, 0, 0};
    parts[1] = (cc_part){CC_PART_W_POS, 0, 0};
    parts[2] = (cc_part){CC_PART_Q, -1, -1};
    parts[3] = (cc_part){CC_PART_K, -1, -1};
    parts[4] = (cc_part){CC_PART_V, -1, -1};
    parts[5] = (cc_part){CC_PART_O, -1, -1};
    return 6;
}

static double pre_score(const cc_discover_pair *p) { return p->comp_ratio * p->positional; }

/* Ties (qsort is not stable) go by the heads, earlier then later. */
static int by_heads(const cc_discover_pair *x, const cc_discover_pair *y)
{
    int d[4] = {x->earlier.layer - y->earlier.layer, x->earlier.head - y->earlier.head, x->later.layer - y->later.layer,
                x->later.head - y->later.head};
    for (int k = 0; k < 4; k++)
        if (d[k]) return d[k];
    return 0;
}

static int by_pre_score(const void *a, const void *b)
{
    const cc_discover_pair *x = a, *y = b;
    double sx = pre_score(x), sy = pre_score(y);
    if (sx != sy) return sx > sy ? -1 : 1;
    return by_heads(x, y);
}

/* Exact pairs first by score, then the rest by pre-score. */
static int by_rank(const void *a, const void *b)
{
    const cc_discover_pair *x = a, *y = b;
    if (x->exact != y->exact) return x->exact ? -1 : 1;
    double sx = x->exact ? x->score : pre_score(x), sy = y->exact ? y->score : pre_score(y);
    if (sx != sy) return sx > sy ? -1 : 1;
    return by_heads(x, y);
}

/* The exact top-1 scans of a batch of compiled pairs: every thread takes the
 * next pair not yet taken (pairs differ widely in cost: a pair whose diagonal
 * wins is scanned in full), each scan on one core: their set-up (transposes,
 * Grams, the rotation) then runs side by side instead of in turn, and no thread
 * waits on another within a scan. The counts are exact, so they do not depend
 * on how the pairs are split. Progress is the rows of every scan of the phase,
 * summed under a lock over the pairs in flight. */
enum { BATCH = 4 }; /* pairs compiled together (their W_E W_Q[I] in one pass), then scanned */

struct scan_batch;
typedef struct {
    struct scan_batch *g;
    long finished, current; /* rows of this pair's finished scans, and of the one running */
} scan_slot;

typedef struct scan_batch {
    cc_discover_pair *pairs;
    cc_fm *fms;
    int n, next;            /* pairs in the batch; the next one no thread has taken */
    const cc_discover_options *o;
    int rc[BATCH];
    cc_error errs[BATCH];
    scan_slot slots[BATCH];
    long done_before, total; /* rows of the earlier batches' scans; of all scans */
    bool cancelled;          /* the caller's callback asked to stop: every scan stops */
    pthread_mutex_t lock;
} scan_batch;

/* The scans' progress summed into the caller's callback; its answer to one
 * scan is every scan's. */
static int locked_progress(void *ctx, long done, long total)
{
    scan_slot *slot = ctx;
    scan_batch *g = slot->g;
    (void)total;
    pthread_mutex_lock(&g->lock);
    slot->current = done;
    long sum = g->done_before;
    for (int k = 0; k < BATCH; k++) sum += g->slots[k].finished + g->slots[k].current;
    if (!g->cancelled) g->cancelled = g->o->progress(g->o->progress_ctx, sum, g->total) != 0;
    bool stop = g->cancelled;
    pthread_mutex_unlock(&g->lock);
    return stop;
}

/* One thread of the batch: both scans of each pair it takes (rows and
 * columns, their set-up shared), their rows then counted as finished. */
static void scan_pairs(void *ctx, size_t lo, size_t hi)
{
    scan_batch *g = ctx;
    (void)lo, (void)hi;
    for (;;) {
        pthread_mutex_lock(&g->lock);
        int k = g->cancelled ? g->n : g->next++;
        pthread_mutex_unlock(&g->lock);
        if (k >= g->n) return;
        cc_discover_pair *p = &g->pairs[k];
        cc_topk_options t = {.k_max = 1, .method = CC_TOPK_FAST, .threads = 1,
                             .progress = g->o->progress ? locked_progress : NULL, .progress_ctx = &g->slots[k]};
        cc_topk_result rows, cols;
        int rc = cci_topk_diagonal_both(&g->fms[k], &t, &rows, &cols, &g->errs[k]);
        pthread_mutex_lock(&g->lock);
        g->slots[k].finished += 2L * g->fms[k].l, g->slots[k].current = 0;
        pthread_mutex_unlock(&g->lock);
        if (rc == 0) p->rows_top1 = rows.correct[0], p->cols_top1 = cols.correct[0];
        p->exact = rc == 0;
        g->rc[k] = rc;
    }
}

/* The exact top-1 of PAIRS[0 .. n) in batches of BATCH pairs: each batch
 * compiled at once (CACHE: the chain prefixes the pairs share, their earlier
 * heads mostly; every compilation on all cores), then scanned on every core. */
static int exact_top1(const cc_model *m, const cc_discover_options *o, cc_chain_cache *cache, cc_discover_pair *pairs,
                      int n, cc_error *err)
{
    const char *names[2] = {cc_circuit_param(o->circuit, 0), cc_circuit_param(o->circuit, 1)};
    int rc = 0;
    scan_batch g = {.o = o, .total = 2L * n * m->cfg.d_vocab};
    pthread_mutex_init(&g.lock, NULL);
    /* Our threads split the work (the compilations' row blocks, the pairs'
     * scans), each GEMM on one core: held for the whole phase, since OpenBLAS'
     * workers, once woken by a small product between them, spin for a while
     * against our threads. */
    int blas_threads = cc_blas_threads_hold();
    for (int k0 = 0; k0 < n && rc == 0; k0 += BATCH) {
        int nb = n - k0 < BATCH ? n - k0 : BATCH;
        cc_fm fms[BATCH];
        cc_head heads[BATCH][2];
        for (int k = 0; k < nb; k++) heads[k][0] = pairs[k0 + k].earlier, heads[k][1] = pairs[k0 + k].later;
        rc = cci_circuit_compile_exact_many(o->circuit, m, names, heads[0], 2, nb, cache, fms, err);
        if (rc != 0) break;
        g.pairs = pairs + k0, g.fms = fms, g.n = nb, g.next = 0;
        for (int k = 0; k < BATCH; k++) g.slots[k] = (scan_slot){.g = &g}, g.rc[k] = 0;
        cc_par_for((size_t)cc_par_threads(), 1, scan_pairs, &g);
        for (int k = 0; k < nb; k++) g.done_before += g.slots[k].finished;
        for (int k = 0; k < nb && rc == 0; k++)
            if (g.rc[k] != 0) {
                if (err) *err = g.errs[k];
                rc = -1;
            }
        for (int k = 0; k < nb; k++) cc_fm_free(&fms[k]);
    }
    cc_blas_threads_restore(blas_threads);
    pthread_mutex_destroy(&g.lock);
    return rc;
}

void cc_discover_free(cc_discover_result *r)
{
    if (!r) return;
    free(r->pairs);
    r->pairs = NULL;
}

int cc_discover(const cc_model *m, const cc_discover_options *o, cc_discover_result *out, cc_error *err)
{
    CC_PAR_CALL(o ? o->threads : 0);
    CC_ARG_NOT_NULL(m, err, -1);
    CC_ARG_NOT_NULL(o, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    if (cc_circuit_n_params(o->circuit) != 2)
        return cc_fail(err, "circuit %s has %d parameters; discover needs a two-head circuit (earlier, later) such as "
                            "kcomp", cc_circuit_name(o->circuit), cc_circuit_n_params(o->circuit));
    const cc_config *c = &m->cfg;
    int L = c->n_layers, H = c->n_heads, n = L * H;
    *out = (cc_discover_result){.vocab = c->d_vocab};
    out->positions = o->positions > 0 ? o->positions : c->n_ctx < DEFAULT_POSITIONS ? c->n_ctx : DEFAULT_POSITIONS;
    double *comp = malloc((size_t)n * n * sizeof *comp), *positional = malloc((size_t)n * sizeof *positional);
    int n_pairs = 0;
    for (int l = 1; l < L; l++) n_pairs += H * l * H;
    out->pairs = malloc((size_t)(n_pairs ? n_pairs : 1) * sizeof *out->pairs);
    int rc = 0;
    if (!comp || !positional || !out->pairs) rc = cc_fail_code(err, CC_E_NOMEM, "out of memory");
    if (rc == 0) rc = cc_composition_scores(m, CC_COMP_K, comp, err);
    if (rc == 0)
        rc = cc_composition_baseline(c->d_model, c->d_head, o->baseline_samples, o->seed, NULL, &out->baseline_mean,
                                     &out->baseline_std, err);
    if (rc == 0) rc = every_prev_positional(m, out->positions, positional, err);
    for (int e = 0; e < n && rc == 0; e++)
        for (int i = (e / H + 1) * H; i < n; i++) {
            double s = comp[(size_t)e * n + i];
            out->pairs[out->n_pairs++] = (cc_discover_pair){
                .earlier = {e / H, e % H}, .later = {i / H, i % H}, .comp_score = s,
                .comp_ratio = out->baseline_mean > 0 ? s / out->baseline_mean : 0, .positional = positional[e]};
        }
    if (rc == 0) {
        qsort(out->pairs, (size_t)out->n_pairs, sizeof *out->pairs, by_pre_score);
        cc_chain_cache *cache = cc_chain_cache_new();
        if (!cache) rc = cc_fail_code(err, CC_E_NOMEM, "out of memory");
        int top = o->top < out->n_pairs ? o->top : out->n_pairs;
        if (rc == 0 && top > 0) rc = exact_top1(m, o, cache, out->pairs, top, err);
        for (int k = 0; k < top && rc == 0; k++) {
            cc_discover_pair *p = &out->pairs[k];
            p->score = p->positional * 0.5 * (double)(p->rows_top1 + p->cols_top1) / (double)c->d_vocab;
        }
        cc_chain_cache_free(cache);
        qsort(out->pairs, (size_t)out->n_pairs, sizeof *out->pairs, by_rank);
    }
    free(comp), free(positional);
    if (rc != 0) cc_discover_free(out);
    return rc;
}

/* The first K distinct heads of the ranking (earlier or later heads), as flat indices. */
static int predicted_heads(const cc_discover_result *r, int H, bool later, int K, int *out)
{
    int n = 0;
    for (int k = 0; k < r->n_pairs && n < K; k++) {
        cc_head h = later ? r->pairs[k].later : r->pairs[k].earlier;
        int idx = h.layer * H + h.head;
        bool seen = false;
        for (int j = 0; j < n; j++) seen = seen || out[j] == idx;
        if (!seen) out[n++] = idx;
    }
    return n;
}

void cc_discover_precision_recall(const cc_discover_result *r, int L, int H, bool induction, const double *runtime,
                                  double threshold, int K, double *precision, double *recall, int *n_true)
{
    if (!r || !runtime || !precision || !recall || !n_true) return;
    int *pred = malloc((size_t)(K > 0 ? K : 1) * sizeof *pred);
    int n_pred = pred ? predicted_heads(r, H, induction, K, pred) : 0;
    *n_true = 0;
    for (int h = 0; h < L * H; h++) *n_true += runtime[h] >= threshold;
    int hits = 0;
    for (int k = 0; k < K; k++) {
        if (k < n_pred) hits += runtime[pred[k]] >= threshold;
        int denom = k < n_pred ? k + 1 : n_pred;
        precision[k] = denom > 0 ? (double)hits / denom : 0;
        recall[k] = *n_true > 0 ? (double)hits / *n_true : 0;
    }
    free(pred);
}
