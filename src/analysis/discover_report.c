/* discover_report.c — the discover command as one call
 * (include/circuitc/discover.h): the weight-only ranking on the circuit
 * named, then optionally the runtime check of its predicted heads. */
#include <stdlib.h>
#include <string.h>

#include "circuitc/discover.h"
#include "circuitc/experiments.h"
#include "core/args.h"
#include "core/parallel.h"
#include "model/model_internal.h"

void cc_discover_report_defaults(cc_discover_report_options *o)
{
    if (!o) return;
    *o = (cc_discover_report_options){.top = 10, .baseline_samples = 200, .process = true, .batch = 1,
                                      .seq_len = 50, .prev_threshold = CC_DISCOVER_PREV_THRESHOLD,
                                      .induction_threshold = CC_DISCOVER_INDUCTION_THRESHOLD};
}

/* The runtime head scores on O's tokens and the ranking's precision and recall against them. */
static int runtime_check(const cc_model *m, const cc_discover_report_options *o, cc_discover_report *r, cc_error *err)
{
    cc_head_scores s = {0};
    if (cc_head_scores_run(m, o->tokens, o->batch, o->seq_len, CC_KERNEL_FAST, 0, o->progress, o->progress_ctx, &s,
                           err) != 0)
        return -1;
    int L = r->n_layers, H = r->n_heads, n = L * H, K = r->top;
    r->batch = o->batch, r->seq_len = o->seq_len;
    r->prev_threshold = o->prev_threshold, r->induction_threshold = o->induction_threshold;
    r->prev = malloc((size_t)n * sizeof *r->prev);
    r->induction = malloc((size_t)n * sizeof *r->induction);
    r->precision_prev = calloc(4 * (size_t)(K > 0 ? K : 1), sizeof *r->precision_prev); /* the four arrays */
    int rc = 0;
    if (!r->prev || !r->induction || !r->precision_prev) rc = cc_fail_code(err, CC_E_NOMEM, "out of memory");
    else {
        r->recall_prev = r->precision_prev + K;
        r->precision_induction = r->precision_prev + 2 * K;
        r->recall_induction = r->precision_prev + 3 * K;
        memcpy(r->prev, s.diag[CC_SCORE_PREV_TOKEN], (size_t)n * sizeof *r->prev);
        memcpy(r->induction, s.diag[CC_SCORE_INDUCTION], (size_t)n * sizeof *r->induction);
        cc_discover_precision_recall(&r->ranking, L, H, false, r->prev, r->prev_threshold, K, r->precision_prev,
                                     r->recall_prev, &r->n_prev);
        cc_discover_precision_recall(&r->ranking, L, H, true, r->induction, r->induction_threshold, K,
                                     r->precision_induction, r->recall_induction, &r->n_induction);
        r->runtime = true;
    }
    cc_head_scores_free(&s);
    return rc;
}

int cc_discover_report_run(cc_model *m, const cc_discover_report_options *o, cc_discover_report *out, cc_error *err)
{
    CC_PAR_CALL(o ? o->threads : 0);
    CC_ARG_NOT_NULL(m, err, -1);
    CC_ARG_NOT_NULL(o, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    memset(out, 0, sizeof *out);
    if (o->baseline_samples < 1)
        return cc_fail(err, "baseline_samples is %d; discover needs at least 1: ratios need a baseline",
                       o->baseline_samples);
    if (o->tokens && !m->loaded)
        return cc_fail_code(err, CC_E_ARG, "the runtime check runs the model: load it whole (cc_model_load_weights) first");
    const char *spec = o->circuit ? o->circuit : "kcomp";
    cc_circuit *c = NULL;
    if (!(out->circuit = strdup(spec))) return cc_fail_code(err, CC_E_NOMEM, "out of memory");
    out->n_layers = m->cfg.n_layers, out->n_heads = m->cfg.n_heads;
    out->top = o->top, out->baseline_samples = o->baseline_samples, out->seed = o->seed;
    cc_part parts[8];
    int n_parts = cc_discover_parts(parts);
    if (cc_circuit_open(spec, &c, err) != 0 || cc_model_need(m, parts, n_parts, m->loaded ? m->processed : o->process,
                                                             err) != 0) {
        cc_circuit_free(c);
        return -1;
    }
    if (o->phase) o->phase(o->progress_ctx, "discover");
    cc_discover_options d = {.circuit = c, .top = o->top, .baseline_samples = o->baseline_samples, .seed = o->seed,
                             .positions = o->positions, .progress = o->progress, .progress_ctx = o->progress_ctx};
    int rc = cc_discover(m, &d, &out->ranking, err);
    cc_circuit_free(c);
    if (rc == 0 && o->tokens) {
        if (o->phase) o->phase(o->progress_ctx, "discover: runtime check");
        rc = runtime_check(m, o, out, err);
    }
    return rc;
}

void cc_discover_report_free(cc_discover_report *r)
{
    if (!r) return;
    free(r->circuit);
    cc_discover_free(&r->ranking);
    free(r->prev), free(r->induction), free(r->precision_prev);
    memset(r, 0, sizeof *r);
}
