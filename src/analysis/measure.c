/* measure.c — a square circuit's accuracy in both directions with its
 * spectrum, and the composition score of two heads (include/circuitc/measure.h). */
#include "circuitc/measure.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "circuitc/head_circuits.h"
#include "core/args.h"
#include "core/clock.h"
#include "core/parallel.h"
#include "model/model_internal.h"

void cc_measure_defaults(cc_measure_options *o)
{
    if (!o) return;
    *o = (cc_measure_options){.k_max = 5, .ranks = CC_RANKS_AUTO, .method = CC_TOPK_FAST, .n_singular = 8};
}

/* Top-k statistics of FM's diagonal over rows (or COLUMNS) by O's method. Ranks
 * come from a brute-force pass, and with o->compare the other method runs too:
 * either second pass must give the same counts and near-ties (a difference
 * would be a bug). */
static int measure_direction(const cc_fm *fm, const cc_measure_options *o, bool ranks, bool columns,
                             cc_topk_result *res, cc_error *err)
{
    const char *what = columns ? "columns" : "rows";
    if (o->phase) o->phase(o->progress_ctx, columns ? "exact top-k, columns" : "exact top-k, rows");
    cc_topk_options opt = {.k_max = o->k_max, .method = o->method, .components = o->components, .columns = columns,
                           .progress = o->progress, .progress_ctx = o->progress_ctx};
    if (cc_topk_diagonal(fm, &opt, res, err) != 0) return -1;
    if (!ranks && !o->compare) return 0;
    cc_topk_options second = opt;
    second.method = ranks || o->method == CC_TOPK_FAST ? CC_TOPK_BRUTE : CC_TOPK_FAST;
    second.ranks = ranks;
    cc_topk_result other;
    if (cc_topk_diagonal(fm, &second, &other, err) != 0) return -1;
    for (int k = 0; k < o->k_max; k++)
        if (other.correct[k] != res->correct[k] || other.near_ties_at[k] != res->near_ties_at[k])
            return cc_fail_code(err, CC_E_INTERNAL, "internal error: %s top-%d differs between methods (%ld vs %ld correct, %ld vs %ld "
                                "near-ties); please report",
                           what, k + 1, res->correct[k], other.correct[k], res->near_ties_at[k], other.near_ties_at[k]);
    res->has_ranks = other.has_ranks;
    res->rank_mean = other.rank_mean;
    res->rank_median = other.rank_median;
    return 0;
}

/* Leading singular values (as float32 values), numerical rank and norm of FM. */
static int measure_spectrum(const cc_fm *fm, int n_singular, cc_circuit_measurement *out, cc_error *err)
{
    int k = fm->m < fm->l ? fm->m : fm->l;
    k = k < fm->r ? k : fm->r;
    double *S = malloc((size_t)(k > 0 ? k : 1) * sizeof *S);
    if (!S) return cc_fail_code(err, CC_E_NOMEM, "out of memory for the singular values");
    if (cc_fm_singular_values(fm, S, err) != 0) {
        free(S);
        return -1;
    }
    /* reported as float32 values, as TransformerLens' FactoredMatrix.S is */
    double tol = k > 0 ? (double)(float)S[0] * (fm->l > fm->r ? fm->l : fm->r) * 0x1p-23 : 0;
    out->rank = 0;
    for (int i = 0; i < k; i++) {
        S[i] = (float)S[i];
        out->rank += S[i] > tol;
    }
    out->n_singular = n_singular < k ? n_singular : k;
    out->singular_values = S;
    out->frobenius_norm = cc_fm_norm(fm);
    return 0;
}

int cc_circuit_measure(const cc_circuit *c, const cc_fm *fm, const cc_measure_options *o, cc_circuit_measurement *out,
                       cc_error *err)
{
    CC_PAR_CALL(o ? o->threads : 0);
    CC_ARG_NOT_NULL(fm, err, -1);
    CC_ARG_NOT_NULL(o, err, -1);
    CC_ARG_ENUM(o->ranks, CC_RANKS_NEVER + 1, err, -1);
    CC_ARG_ENUM(o->method, CC_TOPK_BRUTE + 1, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    memset(out, 0, sizeof *out);
    if (fm->l != fm->r)
        return cc_fail(err, "circuit %s is %d x %d; accuracy needs a square (token x token) circuit",
                       c ? cc_circuit_name(c) : "(unnamed)", fm->l, fm->r);
    bool ranks = o->ranks == CC_RANKS_ALWAYS || (o->ranks == CC_RANKS_AUTO && fm->l <= CC_MEASURE_AUTO_RANKS_MAX);
    if (measure_direction(fm, o, ranks, false, &out->rows, err) != 0 ||
        measure_direction(fm, o, ranks, true, &out->cols, err) != 0 ||
        measure_spectrum(fm, o->n_singular, out, err) != 0)
        return -1;
    out->n = fm->l;
    out->inner_dim = fm->m;
    out->seconds = cci_seconds_since(&t0);
    return 0;
}

void cc_circuit_measurement_free(cc_circuit_measurement *m)
{
    if (!m) return;
    free(m->singular_values);
    m->singular_values = NULL;
    m->n_singular = 0;
}

int cc_head_composition_score(const cc_model *m, cc_comp_mode mode, cc_head early, cc_head late, int baseline_samples,
                              uint64_t seed, cc_head_composition *out, cc_error *err)
{
    CC_ARG_NOT_NULL(m, err, -1);
    CC_ARG_ENUM(mode, CC_COMP_V + 1, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    *out = (cc_head_composition){.mode = mode, .baseline_samples = baseline_samples, .seed = seed};
    cc_fm left, right, t;
    if (cc_head_ov(m, early, &left, err) != 0) return -1;
    int rc = mode == CC_COMP_V ? cc_head_ov(m, late, &right, err) : cc_head_qk(m, late, &right, err);
    bool have_right = rc == 0;
    if (have_right && mode == CC_COMP_K) { /* K-composition reads the later head's QK circuit transposed */
        rc = cc_fm_transpose(&right, &t, err);
        cc_fm_free(&right);
        right = t;
        have_right = rc == 0;
    }
    if (rc == 0) rc = cc_fm_composition_score(&left, &right, &out->score, err);
    cc_fm_free(&left);
    if (have_right) cc_fm_free(&right);
    if (rc != 0 || baseline_samples == 0) return rc;
    if (cc_composition_baseline(m->cfg.d_model, m->cfg.d_head, baseline_samples, seed, NULL, &out->baseline_mean,
                                &out->baseline_std, err) != 0)
        return -1;
    out->ratio_to_baseline = out->baseline_mean > 0 ? out->score / out->baseline_mean : 0.0;
    return 0;
}
