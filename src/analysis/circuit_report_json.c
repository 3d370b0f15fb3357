/* circuit_report_json.c — the circuit commands' results as the JSON the CLI
 * prints (include/circuitc/circuit_report.h; keys in README.md). */
#include <stdio.h>
#include <stdlib.h>

#include "circuitc/circuit_report.h"
#include "core/args.h"

static const char *method_name(cc_topk_method m) { return m == CC_TOPK_FAST ? "fast" : "brute-force"; }

/* {count, rows: the first few, at_k: per k} or null when the circuit has no float32 error bounds. */
static json_t *near_ties_json(const cc_topk_result *r)
{
    if (!r->has_near_ties) return json_null();
    json_t *rows = json_array(), *at_k = json_array();
    for (long i = 0; i < r->near_ties && i < CC_TOPK_NEAR_TIE_LIST; i++)
        json_array_append_new(rows, json_integer(r->near_tie_rows[i]));
    for (int k = 0; k < r->k_max; k++) json_array_append_new(at_k, json_integer(r->near_ties_at[k]));
    return json_pack("{s:I, s:o, s:o}", "count", (json_int_t)r->near_ties, "rows", rows, "at_k", at_k);
}

static json_t *direction_json(const cc_topk_result *r, const char *meaning)
{
    json_t *topk = json_array(), *acc = json_array();
    for (int k = 0; k < r->k_max; k++) {
        json_array_append_new(topk, json_integer(r->correct[k]));
        json_array_append_new(acc, json_real((double)r->correct[k] / (double)r->n));
    }
    json_t *j = json_pack("{s:s, s:I, s:f, s:o, s:o, s:I, s:s, s:i, s:I, s:I, s:f}", "meaning", meaning, "top1",
                          (json_int_t)r->correct[0], "top1_accuracy", (double)r->correct[0] / (double)r->n, "topk",
                          topk, "topk_accuracy", acc, "tied_rows", (json_int_t)r->tied_rows, "method",
                          method_name(r->method), "components", r->components, "exact_evaluations",
                          (json_int_t)r->exact_evaluations, "rows_scanned_fully", (json_int_t)r->rows_scanned_fully,
                          "seconds", r->seconds);
    if (!j) return NULL;
    json_object_set_new(j, "near_ties", near_ties_json(r));
    json_object_set_new(j, "screen", json_string(r->bf16_screen ? "bf16" : "f32"));
    json_object_set_new(j, "rank_mean", r->has_ranks ? json_real(r->rank_mean) : json_null());
    json_object_set_new(j, "rank_median", r->has_ranks ? json_real(r->rank_median) : json_null());
    return j;
}

json_t *cc_circuit_measurement_json(const cc_circuit *c, const cc_circuit_measurement *r)
{
    CC_ARG_NOT_NULL(c, NULL, NULL);
    CC_ARG_NOT_NULL(r, NULL, NULL);
    json_t *sv = json_array();
    for (int i = 0; i < r->n_singular; i++) json_array_append_new(sv, json_real(r->singular_values[i]));
    json_t *j = json_pack("{s:s, s:[i,i], s:i, s:i, s:f, s:o, s:o, s:o, s:f}", "circuit", cc_circuit_name(c), "shape",
                          r->n, r->n, "inner_dim", r->inner_dim, "rank", r->rank, "frobenius_norm", r->frobenius_norm,
                          "singular_values", sv, "rows", direction_json(&r->rows, cc_circuit_rows(c)), "cols",
                          direction_json(&r->cols, cc_circuit_cols(c)), "seconds", r->seconds);
    if (j && !r->rows.has_ranks)
        json_object_set_new(j, "ranks_note", json_string("diagonal ranks skipped for a vocabulary above "
                                                         "16384; pass --ranks (one brute-force pass per "
                                                         "direction)"));
    return j;
}

/* The composition score against its baseline {mean, std, samples, seed}, as
 * comp-scores and discover write it: null without samples, and the ratio null
 * then or when the baseline mean is 0. */
static json_t *composition_json(const cc_head_composition *hc)
{
    int samples = hc->baseline_samples;
    json_t *baseline = samples ? json_pack("{s:f, s:f, s:i, s:I}", "mean", hc->baseline_mean, "std", hc->baseline_std,
                                           "samples", samples, "seed", (json_int_t)hc->seed)
                               : json_null();
    return json_pack("{s:s, s:f, s:o, s:o}", "mode", cc_comp_mode_name(hc->mode), "score", hc->score,
                     "ratio_to_baseline", samples && hc->baseline_mean > 0 ? json_real(hc->ratio_to_baseline) : json_null(),
                     "baseline", baseline);
}

json_t *cc_circuit_report_json(const cc_circuit_report *r)
{
    CC_ARG_NOT_NULL(r, NULL, NULL);
    if (!r->circuit || !r->measured) return NULL;
    json_t *j = cc_circuit_measurement_json(r->circuit, &r->measurement);
    json_t *bind = json_object();
    if (!j || !bind) {
        json_decref(j);
        json_decref(bind);
        return NULL;
    }
    json_object_del(j, "seconds"); /* the measurement's: phase_seconds.topk_spectrum below */
    char hn[32];
    for (int i = 0; i < r->n_heads; i++)
        json_object_set_new(bind, cc_circuit_param(r->circuit, i), json_string(cc_head_name(r->heads[i], hn, sizeof hn)));
    json_object_set_new(j, "bindings", bind);
    if (r->note) json_object_set_new(j, "note", json_string(r->note));
    if (r->has_composition) json_object_set_new(j, "composition", composition_json(&r->composition));
    json_object_set_new(j, "phase_seconds", json_pack("{s:f, s:f}", "load", r->load_seconds, "topk_spectrum",
                                                      r->measurement.seconds));
    return j;
}

static json_t *flops_json(double optimal, double left, double right)
{
    return json_pack("{s:f, s:f, s:f}", "chosen", optimal, "left_to_right", left, "right_to_left", right);
}

json_t *cc_compile_result_json(const cc_compile_result *r)
{
    CC_ARG_NOT_NULL(r, NULL, NULL);
    const cc_circuit *c = r->circuit;
    const cc_circuit_plan *plan = &r->plan;
    const cc_fm *fm = &r->factors;
    if (!c || !r->path) return NULL;
    json_t *params = json_array(), *bind = json_object(), *cons = json_array(), *dims = json_array();
    for (int i = 0; i < cc_circuit_n_params(c); i++) json_array_append_new(params, json_string(cc_circuit_param(c, i)));
    for (int i = 0; i < r->n_bind; i++) {
        char hb[32];
        json_object_set_new(bind, r->bind_names[i], json_string(cc_head_name(r->bind_heads[i], hb, sizeof hb)));
    }
    for (int i = 0; i < cc_circuit_n_constraints(c); i++)
        json_array_append_new(cons, json_string(cc_circuit_constraint_text(c, i)));
    for (int i = 0; i <= plan->n_terms; i++) json_array_append_new(dims, json_integer(plan->dims[i]));
    /* the path byte for byte, as the model's in the CLI's envelope (check cc_utf8_valid to print it as JSON) */
    json_t *j = json_pack(
        "{s:s, s:o, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:[i,i], s:{s:[i,i], s:[i,i]}, s:f, "
        "s:{s:s, s:o, s:i, s:i, s:s, s:s, s:o, s:o, s:f}, s:{s:f}}",
        "circuit", cc_circuit_name(c), "file", json_string_nocheck(r->path), "description",
        cc_circuit_description(c), "chain", cc_circuit_chain_text(c), "rows", cc_circuit_rows(c), "cols",
        cc_circuit_cols(c), "params", params, "bindings", bind, "constraints", cons, "shape", fm->l, fm->r,
        "factors", "A", fm->l, fm->m, "B", fm->m, fm->r, "norm", cc_fm_norm(fm), "plan", "order",
        cc_compile_order_name(r->order), "dims", dims, "split", plan->split, "inner_dim", (int)plan->dims[plan->split],
        "order_A", plan->order_text_a, "order_B", plan->order_text_b, "flops_A",
        flops_json(plan->flops_a, plan->flops_a_left, plan->flops_a_right), "flops_B",
        flops_json(plan->flops_b, plan->flops_b_left, plan->flops_b_right), "flops_total",
        plan->flops_a + plan->flops_b, "phase_seconds", "compile", r->seconds);
    if (j && r->explain) json_object_set_new(j, "explain", json_string(r->explain));
    return j;
}

json_t *cc_kcomp_chart_json(const cc_kcomp_chart *r)
{
    CC_ARG_NOT_NULL(r, NULL, NULL);
    if (!r->circuit) return NULL;
    const char *p0 = cc_circuit_param(r->circuit, 0), *p1 = cc_circuit_param(r->circuit, 1);
    json_t *arr = json_array();
    for (int i = 0; i < r->n_pairs; i++) {
        char a[32], b[32], label[80];
        const double *v = r->accuracy + 4 * i;
        cc_head_name(r->pairs[2 * i], a, sizeof a), cc_head_name(r->pairs[2 * i + 1], b, sizeof b);
        snprintf(label, sizeof label, "%s:%s", a, b);
        json_array_append_new(arr, json_pack("{s:s, s:{s:s, s:s}, s:{s:f, s:f}, s:{s:f, s:f}}", "pair", label,
                                             "bindings", p0, a, p1, b, "rows", "top1_accuracy", v[0], "topk_accuracy",
                                             v[1], "cols", "top1_accuracy", v[2], "topk_accuracy", v[3]));
    }
    return json_pack("{s:s, s:i, s:o}", "circuit", cc_circuit_name(r->circuit), "k", r->k, "pairs", arr);
}
