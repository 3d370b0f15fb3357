/* attribute_report.c — `circuitc attribute HOOK` as one call with its JSON:
 * attribution patching on a prompt pair and its check against exact patching
 * (--verify K or all), and the JSON of the repeated-token mlp_out sweep. */
#include <math.h>
#include <stdlib.h>

#include "circuitc/prompt_pair.h"
#include "core/args.h"
#include "core/json_num.h"
#include "runtime/patch_internal.h"

int cc_attr_report_run(const cc_model *m, const cc_prompt_pair *p, const cc_patch_opts *o, int verify, int list,
                       cc_attr_report *out, cc_error *err)
{
    CC_ARG_NOT_NULL(out, err, -1);
    *out = (cc_attr_report){.verify = verify, .correlation = NAN};
    CCI_PATCH_PAIR_ARGS(m, p, p, o, out, err);
    CC_ARG_ENUM(p->metric.kind, CC_METRIC_LOSS + 1, err, -1);
    if (verify < 0) return cc_fail_code(err, CC_E_ARG, "attribute: verify is %d; give a count K >= 0 or all", verify);
    bool all = verify == CC_ATTR_VERIFY_ALL;
    if (all && list < 1) return cc_fail_code(err, CC_E_ARG, "attribute: list is %d; verify all lists at least 1", list);
    cc_patch_opts po = *o;
    po.metric = p->metric;
    if (cc_attr_patch(m, p->clean.tokens, p->corrupt.tokens, p->T, &po, &out->attr, err) != 0) return -1;
    if (verify == 0) return 0;
    int n = all ? list : verify;
    if (!(out->top = malloc((size_t)n * sizeof *out->top))) return cc_fail_code(err, CC_E_NOMEM, "out of memory");
    if (all)
        return cc_act_patch(m, p->clean.tokens, p->corrupt.tokens, p->T, &po, &out->exact, err) != 0
                   ? -1
                   : cc_attr_compare(&out->attr, &out->exact, n, out->top, &out->n_top, &out->correlation, err);
    if (cc_attr_top(&out->attr, n, out->top, &out->n_top, err) != 0) return -1;
    return cc_act_patch_nodes(m, p->clean.tokens, p->corrupt.tokens, p->T, &po, out->top, out->n_top, &out->exact,
                              err);
}

void cc_attr_report_free(cc_attr_report *r)
{
    if (!r) return;
    cc_attr_result_free(&r->attr);
    cc_patch_result_free(&r->exact);
    free(r->top);
    *r = (cc_attr_report){0};
}

static json_t *verify_json(const cc_attr_report *r)
{
    const cc_patch_result *e = &r->attr.est;
    json_t *top = json_array();
    for (int i = 0; top && i < r->n_top; i++) {
        int n = r->top[i], l = n / (e->n_pos * e->n_heads), pos = e->pos_lo + n / e->n_heads % e->n_pos;
        json_array_append_new(top, json_pack("{s:i, s:i, s:i, s:o, s:o}", "layer", l, "position", pos, "head",
                                             n % e->n_heads, "attribution", cc_json_num(r->attr.attribution[n]),
                                             "exact", cc_json_num(r->exact.value[n] - r->exact.corrupt)));
    }
    bool all = r->verify == CC_ATTR_VERIFY_ALL;
    return json_pack("{s:i, s:b, s:o, s:o, s:o}", "k", r->n_top, "all", all, "correlation", cc_json_num(r->correlation),
                     "top", top, "exact_value", all ? cc_patch_values_json(&r->exact, r->exact.value) : json_null());
}

json_t *cc_attr_report_json(const cc_prompt_pair *p, const cc_patch_opts *o, const cc_attr_report *r)
{
    CC_ARG_NOT_NULL(p, NULL, NULL);
    CC_ARG_NOT_NULL(o, NULL, NULL);
    CC_ARG_NOT_NULL(r, NULL, NULL);
    CC_ARG_ENUM(o->hook, CC_HOOK_COUNT, NULL, NULL);
    CC_ARG_ENUM(o->metric.kind, CC_METRIC_LOSS + 1, NULL, NULL);
    CC_ARG_ENUM(o->kernel, CC_KERNEL_REF + 1, NULL, NULL);
    CC_ARG_ENUM(p->metric.kind, CC_METRIC_LOSS + 1, NULL, NULL);
    const cc_patch_result *e = &r->attr.est;
    json_t *j = json_pack("{s:s, s:b, s:s, s:s, s:s}", "hook", cc_patch_hook_name(o->hook), "per_head", o->per_head,
                          "positions", o->all_positions ? "all" : "each", "method", "attribution", "gradient_run",
                          "corrupt");
    if (!j || cc_prompt_pair_json_set(p, j) != 0) return json_decref(j), NULL;
    json_object_set_new(j, "clean", json_real(e->clean));
    json_object_set_new(j, "corrupt", json_real(e->corrupt));
    json_object_set_new(j, "shape", json_pack("[iii]", e->n_layers, e->n_pos, e->n_heads));
    json_object_set_new(j, "layout", json_string("[layer][position][head]; one position entry with --positions "
                                                 "all, one head entry without --per-head"));
    json_object_set_new(j, "attribution", cc_patch_values_json(e, r->attr.attribution));
    json_object_set_new(j, "value", cc_patch_values_json(e, e->value));
    json_object_set_new(j, "normalized", cc_patch_values_json(e, e->normalized));
    json_object_set_new(j, "peak_bytes", json_integer((json_int_t)r->attr.peak_bytes));
    if (r->verify) json_object_set_new(j, "verify", verify_json(r));
    return j;
}

/* V [L, n+1] as rows [layer][p-n]. */
static json_t *grid_json(const cc_attr_sweep *s, const double *v)
{
    json_t *rows = json_array();
    for (int l = 0; rows && l < s->n_layers; l++) {
        json_t *row = json_array();
        for (int p = 0; p <= s->n; p++) json_array_append_new(row, json_real(v[l * (s->n + 1) + p]));
        json_array_append_new(rows, row);
    }
    return rows;
}

/* The sweep's check: the LISTED largest estimates and, with ALL, every node's exact effect. */
static json_t *sweep_verify_json(const cc_attr_sweep *s, bool all, int listed)
{
    int NP = s->n + 1;
    json_t *top = json_array(), *exact = json_null();
    for (int i = 0; top && i < listed; i++)
        json_array_append_new(top, json_pack("{s:i, s:i, s:f, s:f}", "layer", s->top[i] / NP, "position",
                                             s->n + s->top[i] % NP, "estimate", s->estimate[s->top[i]], "exact",
                                             s->top_exact[i]));
    if (all) {
        double *grid = malloc((size_t)s->n_layers * NP * sizeof *grid);
        for (int i = 0; grid && i < s->n_top; i++) grid[s->top[i]] = s->top_exact[i];
        exact = grid ? grid_json(s, grid) : NULL;
        free(grid);
    }
    return json_pack("{s:i, s:b, s:o, s:o, s:o}", "k", listed, "all", all, "correlation", cc_json_num(s->correlation),
                     "top", top, "exact", exact);
}

json_t *cc_attr_sweep_json(const cc_attr_sweep *s, uint64_t seed, bool all, int listed)
{
    CC_ARG_NOT_NULL(s, NULL, NULL);
    if (listed < 0 || listed > s->n_top) return NULL;
    json_t *pos = json_array();
    for (int p = 0; pos && p <= s->n; p++) json_array_append_new(pos, json_integer(s->n + p));
    return json_pack("{s:s, s:s, s:s, s:I, s:i, s:i, s:f, s:o, s:o, s:o, s:I}", "hook", "mlp_out", "method",
                     "attribution", "gradient_run", "unpatched", "seed", (json_int_t)seed, "seq_len", s->n,
                     "n_layers", s->n_layers, "clean_loss", s->clean_loss, "patch_positions", pos, "estimate",
                     grid_json(s, s->estimate), "verify", sweep_verify_json(s, all, listed), "peak_bytes",
                     (json_int_t)s->peak_bytes);
}
