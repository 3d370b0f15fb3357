/* validate.c — `validate`: weight-only predictions against forward-pass evidence
 * (and, optionally, both against the TransformerLens goldens). */
#include "circuitc/validate.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/circuit.h"
#include "circuitc/discover.h"
#include "circuitc/measure.h"
#include "core/args.h"
#include "core/parallel.h"
#include "model/model_internal.h"

void cc_validate_defaults(cc_validate_options *o)
{
    if (!o) return;
    *o = (cc_validate_options){.seq_len = 50, .batch = 10, .seed = 0, .baseline_samples = 200,
                               .ablate = CC_ABLATE_MEAN, .min_prev_positional = 0.5, .min_comp_sigmas = 3,
                               .min_top1_vs_chance = 10, .min_prev_score = 0.5, .min_ind_score = 0.4,
                               .min_ind_drop = 0.5, .min_loss_increase = 0.1};
}

static cc_check *add(cc_validation *v, const char *name, cc_check_kind kind, double value, const char *rel,
                     double threshold, double tol, const char *fmt, ...) __attribute__((format(printf, 8, 9)));

/* Appends a check; "~=" passes when |value - threshold| <= tol, ">=" when value >= threshold. */
static cc_check *add(cc_validation *v, const char *name, cc_check_kind kind, double value, const char *rel,
                     double threshold, double tol, const char *fmt, ...)
{
    cc_check *c = &v->checks[v->n_checks++];
    *c = (cc_check){.kind = kind, .value = value, .threshold = threshold, .tolerance = tol};
    snprintf(c->name, sizeof c->name, "%s", name);
    snprintf(c->relation, sizeof c->relation, "%s", rel);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->what, sizeof c->what, fmt, ap);
    va_end(ap);
    c->pass = strcmp(rel, "~=") == 0 ? fabs(value - threshold) <= tol : value >= threshold;
    return c;
}

static int compile_builtin(const cc_model *m, const char *circuit, const char *const *names, const cc_head *heads,
                           int n, cc_fm *out, cc_error *err)
{
    cc_circuit *c;
    if (cc_circuit_open(circuit, &c, err) != 0) return -1;
    int rc = cc_circuit_compile(c, m, names, heads, n, out, NULL, err);
    cc_circuit_free(c);
    return rc;
}

/* Exact top-1 counts of the K-composition circuit PREV -> IND over rows and columns. */
static int kcomp_top1(const cc_model *m, cc_head prev, cc_head ind, const cc_validate_options *vo, long *rows,
                      long *cols, cc_error *err)
{
    const char *names[2] = {"prev", "ind"};
    cc_head heads[2] = {prev, ind};
    cc_fm fm;
    if (compile_builtin(m, "kcomp", names, heads, 2, &fm, err) != 0) return -1;
    cc_measure_options o = {.k_max = 1, .ranks = CC_RANKS_NEVER, .method = CC_TOPK_FAST, .progress = vo->progress,
                            .progress_ctx = vo->progress_ctx};
    cc_circuit_measurement r;
    int rc = cc_circuit_measure(NULL, &fm, &o, &r, err);
    if (rc == 0) *rows = r.rows.correct[0], *cols = r.cols.correct[0];
    cc_circuit_measurement_free(&r);
    cc_fm_free(&fm);
    return rc;
}

/* ---- goldens -------------------------------------------------------------- */

static json_t *load_golden(const char *dir, const char *file, cc_error *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    json_error_t jerr;
    json_t *j = json_load_file(path, 0, &jerr);
    /* a folder or file that is not there is a file error; one that does not parse, a format error */
    cc_errcode code = json_error_code(&jerr) == json_error_cannot_open_file ? CC_E_IO : CC_E_FORMAT;
    if (!j) cc_fail_code(err, code, "%s: %s; --golden takes a golden/out/<model> folder written by golden/generate", path, jerr.text);
    return j;
}

/* Element [l][h] of the [L, H] tensor KEY in OBJ, or NAN. */
static double golden_lh(json_t *obj, const char *key, int H, cc_head h)
{
    json_t *t = json_object_get(obj, key);
    json_t *v = json_array_get(json_object_get(t, "data"), (size_t)h.layer * H + h.head);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

static json_t *golden_kcomp_pair(json_t *factored, cc_head prev, cc_head ind)
{
    json_t *e;
    size_t i;
    json_array_foreach(json_object_get(factored, "kcomp"), i, e) {
        json_t *p = json_object_get(e, "prev"), *q = json_object_get(e, "ind");
        if (json_integer_value(json_array_get(p, 0)) == prev.layer && json_integer_value(json_array_get(p, 1)) == prev.head &&
            json_integer_value(json_array_get(q, 0)) == ind.layer && json_integer_value(json_array_get(q, 1)) == ind.head)
            return e;
    }
    return NULL;
}

/* ---- the checks ----------------------------------------------------------- */

int cc_validate(const cc_model *m, cc_head prev, cc_head ind, const cc_validate_options *o, cc_validation *v,
                cc_error *err)
{
    CC_PAR_CALL(o ? o->threads : 0);
    CC_ARG_NOT_NULL(m, err, -1);
    CC_ARG_NOT_NULL(o, err, -1);
    CC_ARG_ENUM(o->ablate, CC_ABLATE_MEAN + 1, err, -1);
    CC_ARG_NOT_NULL(v, err, -1);
    const cc_config *c = &m->cfg;
    int H = c->n_heads, V = c->d_vocab;
    *v = (cc_validation){.seq_len = o->seq_len, .batch = o->batch, .seed = o->seed};
    if (o->baseline_samples < 1)
        return cc_fail(err, "validate: baseline_samples is %d; the K-composition check needs a random baseline of at "
                            "least 1 sample (default 200)",
                       o->baseline_samples);
    if (prev.layer >= ind.layer)
        return cc_fail(err, "validate: PREV (L%dH%d) must be in an earlier layer than IND (L%dH%d)", prev.layer,
                       prev.head, ind.layer, ind.head);
    json_t *g_tokens = NULL, *g_scores = NULL, *g_factored = NULL, *g_forward = NULL;
    int *tokens = NULL, rc = -1, n = o->seq_len, B = o->batch;
    cc_head_scores hs = {0};
    cc_ablation ab = {0};
    if (o->golden_dir) {
        if (!m->processed)
            return cc_fail(err, "validate --golden compares with goldens of the processed model; drop --no-processing");
        if (!(g_tokens = load_golden(o->golden_dir, "tokens.json", err)) ||
            !(g_scores = load_golden(o->golden_dir, "head_scores.json", err)) ||
            !(g_factored = load_golden(o->golden_dir, "factored.json", err)) ||
            !(g_forward = load_golden(o->golden_dir, "forward.json", err)))
            goto out;
        /* the evidence runs on the goldens' own batch, regenerated from its seed */
        n = (int)json_integer_value(json_object_get(g_tokens, "n"));
        B = (int)json_integer_value(json_object_get(g_tokens, "batch"));
        v->seed = (uint64_t)json_integer_value(json_object_get(g_tokens, "seed"));
        v->seq_len = n, v->batch = B;
    }
    tokens = malloc((size_t)B * (1 + 2 * n) * sizeof *tokens + 1);
    if (!tokens) {
        cc_fail_code(err, CC_E_NOMEM, "out of memory");
        goto out;
    }
    if (cc_repeat_tokens(c, v->seed, B, n, tokens, err) != 0) goto out;

    /* predictions, from the weights alone */
    double frac = 0;
    cc_head_composition kc;
    long top_rows = 0, top_cols = 0;
    if (cc_prev_positional(m, prev, 1 + 2 * n, &frac, err) != 0 ||
        cc_head_composition_score(m, CC_COMP_K, prev, ind, o->baseline_samples, v->seed, &kc, err) != 0 ||
        kcomp_top1(m, prev, ind, o, &top_rows, &top_cols, err) != 0)
        goto out;
    double score = kc.score, mean = kc.baseline_mean, std = kc.baseline_std;
    add(v, "prev_positional", CC_CHECK_PREDICTION, frac, ">=", o->min_prev_positional, 0,
        "L%dH%d's positional QK circuit peaks at the previous position (fraction of positions 1..%d)", prev.layer,
        prev.head, 2 * n);
    add(v, "kcomp_score", CC_CHECK_PREDICTION, score, ">=", mean + o->min_comp_sigmas * std, 0,
        "K-composition score L%dH%d -> L%dH%d vs random baseline %.4f + %g std (%.4f); %.2fx the baseline", prev.layer,
        prev.head, ind.layer, ind.head, mean, o->min_comp_sigmas, std, score / mean);
    add(v, "kcomp_top1", CC_CHECK_PREDICTION, (double)top_rows / V, ">=", o->min_top1_vs_chance / V, 0,
        "K-comp full circuit top-1 accuracy (rows = query token; columns: %.4f) vs %g x chance", (double)top_cols / V,
        o->min_top1_vs_chance);

    /* evidence, from forward passes */
    if (cc_head_scores_run(m, tokens, B, n, CC_KERNEL_FAST, 0, o->progress, o->progress_ctx, &hs, err) != 0 ||
        cc_ablate_heads(m, tokens, B, n, &prev, 1, o->ablate, CC_KERNEL_FAST, 0, o->progress, o->progress_ctx, &ab,
                        err) != 0)
        goto out;
    size_t pi = (size_t)prev.layer * H + prev.head, ii = (size_t)ind.layer * H + ind.head;
    double prev_score = hs.diag[CC_SCORE_PREV_TOKEN][pi], ind_score = hs.diag[CC_SCORE_INDUCTION][ii];
    double ind_clean = ab.clean_induction[ii], ind_abl = ab.ablated_induction[ii];
    double loss_clean = -ab.clean.second_mean, loss_abl = -ab.ablated.second_mean;
    add(v, "prev_token_score", CC_CHECK_EVIDENCE, prev_score, ">=", o->min_prev_score, 0,
        "L%dH%d's previous-token score on [BOS, A, A] (seq_len %d, batch %d, seed %llu)", prev.layer, prev.head, n, B,
        (unsigned long long)v->seed);
    add(v, "induction_score", CC_CHECK_EVIDENCE, ind_score, ">=", o->min_ind_score, 0,
        "L%dH%d's induction score on the same tokens", ind.layer, ind.head);
    add(v, "induction_drop", CC_CHECK_EVIDENCE, ind_clean > 0 ? (ind_clean - ind_abl) / ind_clean : 0, ">=",
        o->min_ind_drop, 0, "relative drop of L%dH%d's induction score (%.4f -> %.4f) with L%dH%d %s-ablated",
        ind.layer, ind.head, ind_clean, ind_abl, prev.layer, prev.head, o->ablate == CC_ABLATE_MEAN ? "mean" : "zero");
    add(v, "loss_increase", CC_CHECK_EVIDENCE, loss_abl - loss_clean, ">=", o->min_loss_increase, 0,
        "second-half loss increase, nats (%.4f -> %.4f) with L%dH%d ablated", loss_clean, loss_abl, prev.layer,
        prev.head);

    if (o->golden_dir) {
        json_t *gt = json_object_get(json_object_get(g_tokens, "tokens"), "data");
        bool same = json_array_size(gt) == (size_t)B * (1 + 2 * n);
        for (size_t i = 0; same && i < json_array_size(gt); i++) same = json_integer_value(json_array_get(gt, i)) == tokens[i];
        add(v, "golden_tokens", CC_CHECK_PARITY, same, "~=", 1, 0, "regenerated tokens equal tokens.json");
        double gp = golden_lh(g_scores, "previous_token", H, prev), gi = golden_lh(g_scores, "induction", H, ind);
        add(v, "golden_prev_token_score", CC_CHECK_PARITY, prev_score, "~=", gp, 1e-5,
            "previous-token score vs TransformerLens");
        add(v, "golden_induction_score", CC_CHECK_PARITY, ind_score, "~=", gi, 1e-5, "induction score vs TransformerLens");
        json_t *pair = golden_kcomp_pair(g_factored, prev, ind);
        double gr = pair ? (double)json_integer_value(json_object_get(pair, "top1_rows")) : NAN;
        double gc = pair ? (double)json_integer_value(json_object_get(pair, "top1_cols")) : NAN;
        add(v, "golden_kcomp_top1_rows", CC_CHECK_PARITY, (double)top_rows, "~=", gr, 0,
            "K-comp top-1 count (rows) vs TransformerLens, identical");
        add(v, "golden_kcomp_top1_cols", CC_CHECK_PARITY, (double)top_cols, "~=", gc, 0,
            "K-comp top-1 count (columns) vs TransformerLens, identical");
        json_t *k = json_object_get(json_object_get(g_factored, "composition_scores"), "k");
        json_t *kv = json_array_get(json_object_get(k, "data"), (((size_t)prev.layer * H + prev.head) * c->n_layers + ind.layer) * H + ind.head);
        double gk = json_is_number(kv) ? json_number_value(kv) : NAN;
        add(v, "golden_kcomp_score", CC_CHECK_PARITY, score, "~=", gk, 1e-5 * fabs(gk),
            "K-composition score vs TransformerLens (1e-5 relative)");
        json_t *gs = json_object_get(g_forward, "second_half_mean_logprob");
        add(v, "golden_second_half_logprob", CC_CHECK_PARITY, ab.clean.second_mean, "~=",
            json_is_number(gs) ? json_number_value(gs) : NAN, 1e-4, "second-half mean correct log-prob vs TransformerLens");
    }
    v->all_pass = true;
    for (int i = 0; i < v->n_checks; i++) v->all_pass &= v->checks[i].pass;
    rc = 0;
out:
    cc_head_scores_free(&hs);
    cc_ablation_free(&ab);
    free(tokens);
    json_decref(g_tokens), json_decref(g_scores), json_decref(g_factored), json_decref(g_forward);
    return rc;
}

const char *cc_check_kind_name(cc_check_kind k)
{
    CC_ARG_ENUM(k, CC_CHECK_PARITY + 1, NULL, "?");
    static const char *const names[] = {"prediction", "evidence", "parity"};
    return names[k];
}

json_t *cc_validation_json(const cc_validation *v, cc_head prev, cc_head ind)
{
    CC_ARG_NOT_NULL(v, NULL, NULL);
    json_t *checks = json_array();
    int failed = 0;
    for (int i = 0; checks && i < v->n_checks; i++) {
        const cc_check *k = &v->checks[i];
        failed += !k->pass;
        json_array_append_new(checks, json_pack("{s:s, s:s, s:s, s:f, s:s, s:f, s:f, s:b}", "name", k->name, "kind",
                                                cc_check_kind_name(k->kind), "what", k->what, "value", k->value, "relation",
                                                k->relation, "threshold", k->threshold, "tolerance", k->tolerance,
                                                "pass", k->pass));
    }
    char p[32], q[32];
    return json_pack("{s:s, s:s, s:i, s:i, s:I, s:o, s:b, s:i}", "prev", cc_head_name(prev, p, sizeof p), "ind",
                     cc_head_name(ind, q, sizeof q), "seq_len", v->seq_len, "batch", v->batch, "seed",
                     (json_int_t)v->seed, "checks", checks, "all_pass", v->all_pass, "failed", failed);
}
