/* discover_report_json.c — discover's result as the JSON the CLI prints
 * (include/circuitc/discover.h; keys in README.md). */
#include "circuitc/discover.h"
#include "core/args.h"

static json_t *doubles(const double *v, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(a, json_real(v[i]));
    return a;
}

/* The names of the heads scoring at least THRESHOLD (SCORES [n], H heads a layer). */
static json_t *true_heads(const double *scores, int n, int H, double threshold)
{
    json_t *a = json_array();
    char name[32];
    for (int h = 0; h < n; h++)
        if (scores[h] >= threshold)
            json_array_append_new(a, json_string(cc_head_name((cc_head){h / H, h % H}, name, sizeof name)));
    return a;
}

/* The first r->top pairs, with their heads' runtime scores when the check ran. */
static json_t *ranking_json(const cc_discover_report *r)
{
    const cc_discover_result *d = &r->ranking;
    int H = r->n_heads;
    json_t *ranking = json_array();
    for (int k = 0; k < r->top && k < d->n_pairs; k++) {
        const cc_discover_pair *p = &d->pairs[k];
        char e[32], l[32];
        json_t *j = json_pack("{s:i, s:s, s:s, s:f, s:f, s:f, s:b, s:o, s:o, s:o}", "rank", k + 1, "earlier",
                              cc_head_name(p->earlier, e, sizeof e), "later", cc_head_name(p->later, l, sizeof l),
                              "comp_score", p->comp_score, "ratio_to_baseline", p->comp_ratio, "positional", p->positional,
                              "exact", p->exact,
                              "rows_top1", p->exact ? json_real((double)p->rows_top1 / d->vocab) : json_null(),
                              "cols_top1", p->exact ? json_real((double)p->cols_top1 / d->vocab) : json_null(),
                              "score", p->exact ? json_real(p->score) : json_null());
        if (r->runtime) {
            json_object_set_new(j, "runtime_previous_token", json_real(r->prev[p->earlier.layer * H + p->earlier.head]));
            json_object_set_new(j, "runtime_induction", json_real(r->induction[p->later.layer * H + p->later.head]));
        }
        json_array_append_new(ranking, j);
    }
    return ranking;
}

json_t *cc_discover_report_json(const cc_discover_report *r)
{
    CC_ARG_NOT_NULL(r, NULL, NULL);
    if (!r->circuit) return NULL;
    const cc_discover_result *d = &r->ranking;
    int H = r->n_heads, n = r->n_layers * H, K = r->top;
    json_t *runtime = json_null();
    if (r->runtime)
        runtime = json_pack("{s:i, s:i, s:I, s:f, s:f, s:o, s:o, s:o, s:o, s:o, s:o}", "seq_len", r->seq_len, "batch",
                            r->batch, "seed", (json_int_t)r->seed, "previous_token_threshold", r->prev_threshold,
                            "induction_threshold", r->induction_threshold, "previous_token_heads",
                            true_heads(r->prev, n, H, r->prev_threshold), "induction_heads",
                            true_heads(r->induction, n, H, r->induction_threshold), "precision_previous_token",
                            doubles(r->precision_prev, K), "recall_previous_token", doubles(r->recall_prev, K),
                            "precision_induction", doubles(r->precision_induction, K), "recall_induction",
                            doubles(r->recall_induction, K));
    return json_pack("{s:s, s:i, s:I, s:i, s:{s:f, s:f, s:i, s:I}, s:o, s:o}", "circuit", r->circuit, "pairs",
                     d->n_pairs, "vocab", (json_int_t)d->vocab, "positions", d->positions, "baseline", "mean",
                     d->baseline_mean, "std", d->baseline_std, "samples", r->baseline_samples, "seed",
                     (json_int_t)r->seed, "ranking", ranking_json(r), "runtime", runtime);
}
