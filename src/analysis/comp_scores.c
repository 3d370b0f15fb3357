/* comp_scores.c — the comp-scores command as one call
 * (include/circuitc/comp_scores.h): every head's weights, the scores of the
 * modes asked for, the baseline, each mode's ranking. */
#include "circuitc/comp_scores.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/args.h"
#include "core/progress_report.h"
#include "core/clock.h"
#include "core/parallel.h"
#include "model/model_internal.h"

void cc_comp_scores_defaults(cc_comp_scores_options *o)
{
    if (!o) return;
    *o = (cc_comp_scores_options){.modes = {true, true, true}, .top = 10, .baseline_samples = 200, .process = true};
}

static int by_score_desc(const void *a, const void *b)
{
    const cc_comp_pair *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    if (x->left.layer != y->left.layer) return x->left.layer - y->left.layer;
    if (x->left.head != y->left.head) return x->left.head - y->left.head;
    if (x->right.layer != y->right.layer) return x->right.layer - y->right.layer;
    return x->right.head - y->right.head;
}

/* Mode MODE's earlier -> later pairs ranked, the first TOP kept in R. */
static int rank_pairs(cc_comp_scores *r, int mode, int top, cc_error *err)
{
    int H = r->n_heads, n = r->n_layers * H, np = 0;
    const double *ms = r->scores + (size_t)mode * n * n;
    cc_comp_pair *pairs = malloc((size_t)(n > 0 ? n * n : 1) * sizeof *pairs);
    if (!pairs) return cc_fail_code(err, CC_E_NOMEM, "out of memory");
    bool base = r->baseline_samples > 0;
    for (int a = 0; a < n; a++)
        for (int b = 0; b < n; b++)
            if (a / H < b / H) {
                double s = ms[(size_t)a * n + b];
                pairs[np++] = (cc_comp_pair){{a / H, a % H}, {b / H, b % H}, s,
                                             base ? s / r->baseline_mean : NAN,
                                             base && r->baseline_std > 0 ? (s - r->baseline_mean) / r->baseline_std : NAN};
            }
    qsort(pairs, (size_t)np, sizeof *pairs, by_score_desc);
    r->top[mode] = pairs;
    r->n_top[mode] = top < 0 ? 0 : np < top ? np : top;
    return 0;
}

/* Reports one more step done (the first call: none); -1 when the callback cancels. */
static int step(const cc_comp_scores_options *o, long *done, long steps, cc_error *err)
{
    return cci_progress(o->progress, o->progress_ctx, ++*done, steps, "comp-scores", err);
}

int cc_comp_scores_run(cc_model *m, const cc_comp_scores_options *o, cc_comp_scores *out, cc_error *err)
{
    CC_PAR_CALL(o ? o->threads : 0);
    CC_ARG_NOT_NULL(m, err, -1);
    CC_ARG_NOT_NULL(o, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    memset(out, 0, sizeof *out);
    long steps = 1 + o->modes[0] + o->modes[1] + o->modes[2] + (o->baseline_samples > 0), done = -1;
    if (step(o, &done, steps, err) != 0) return -1;
    /* every head's Q, K, V and O; not the embeddings or the MLPs */
    const cc_part heads[] = {{CC_PART_Q, -1, -1}, {CC_PART_K, -1, -1}, {CC_PART_V, -1, -1}, {CC_PART_O, -1, -1}};
    if (cc_model_need(m, heads, 4, o->process, err) != 0 || step(o, &done, steps, err) != 0) return -1;
    out->n_layers = m->cfg.n_layers, out->n_heads = m->cfg.n_heads;
    out->d_model = m->cfg.d_model, out->d_head = m->cfg.d_head;
    out->baseline_samples = o->baseline_samples, out->seed = o->seed;
    out->baseline_mean = out->baseline_std = NAN;
    size_t n = (size_t)out->n_layers * out->n_heads;
    if (!(out->scores = calloc(3 * n * n, sizeof *out->scores))) return cc_fail_code(err, CC_E_NOMEM, "out of memory");
    for (int mode = 0; mode < 3; mode++) {
        if (!(out->modes[mode] = o->modes[mode])) continue;
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (cc_composition_scores(m, (cc_comp_mode)mode, out->scores + mode * n * n, err) != 0) return -1;
        out->scores_seconds += cci_seconds_since(&t0);
        if (step(o, &done, steps, err) != 0) return -1;
    }
    if (o->baseline_samples > 0) {
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (cc_composition_baseline(out->d_model, out->d_head, o->baseline_samples, o->seed, NULL,
                                    &out->baseline_mean, &out->baseline_std, err) != 0)
            return -1;
        out->baseline_seconds = cci_seconds_since(&t0);
        if (step(o, &done, steps, err) != 0) return -1;
    }
    for (int mode = 0; mode < 3; mode++)
        if (out->modes[mode] && rank_pairs(out, mode, o->top, err) != 0) return -1;
    return 0;
}

void cc_comp_scores_free(cc_comp_scores *r)
{
    if (!r) return;
    free(r->scores);
    for (int mode = 0; mode < 3; mode++) free(r->top[mode]);
    memset(r, 0, sizeof *r);
}
