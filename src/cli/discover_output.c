/* discover_output.c — what `circuitc discover` shows: the ranking and the
 * runtime check as a text table or JSON, and the --plot bar chart. */
#include <stdio.h>
#include <stdlib.h>

#include "circuitc/charts.h"
#include "discover_cli.h"
#include "plot_cli.h"

enum { CHART_PAIRS = 10 };

static json_t *doubles(const double *v, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(a, json_real(v[i]));
    return a;
}

static json_t *true_heads(const double *scores, int n, int H, double threshold)
{
    json_t *a = json_array();
    char name[32];
    for (int h = 0; h < n; h++)
        if (scores[h] >= threshold) json_array_append_new(a, json_string(cc_head_name((cc_head){h / H, h % H}, name, sizeof name)));
    return a;
}

json_t *discover_result_json(const cc_model *m, const char *circuit, const cc_discover_result *d, int top,
                           const runtime_check *rt, const rt_opts *o, int samples)
{
    int H = m->cfg.n_heads, n = m->cfg.n_layers * H;
    json_t *ranking = json_array();
    for (int k = 0; k < top && k < d->n_pairs; k++) {
        const cc_discover_pair *p = &d->pairs[k];
        char e[32], l[32];
        json_t *j = json_pack("{s:i, s:s, s:s, s:f, s:f, s:f, s:b, s:o, s:o, s:o}", "rank", k + 1, "earlier",
                              cc_head_name(p->earlier, e, sizeof e), "later", cc_head_name(p->later, l, sizeof l),
                              "comp_score", p->comp_score, "comp_ratio", p->comp_ratio, "positional", p->positional,
                              "exact", p->exact,
                              "rows_top1", p->exact ? json_real((double)p->rows_top1 / d->vocab) : json_null(),
                              "cols_top1", p->exact ? json_real((double)p->cols_top1 / d->vocab) : json_null(),
                              "score", p->exact ? json_real(p->score) : json_null());
        if (rt->ran) {
            json_object_set_new(j, "runtime_prev_token", json_real(rt->prev[p->earlier.layer * H + p->earlier.head]));
            json_object_set_new(j, "runtime_induction", json_real(rt->induction[p->later.layer * H + p->later.head]));
        }
        json_array_append_new(ranking, j);
    }
    json_t *runtime = json_null();
    if (rt->ran)
        runtime = json_pack("{s:i, s:i, s:I, s:f, s:f, s:o, s:o, s:o, s:o, s:o, s:o}", "seq_len", o->n, "batch",
                            o->batch, "seed", (json_int_t)o->seed, "prev_token_threshold", rt->prev_threshold,
                            "induction_threshold", rt->induction_threshold, "prev_token_heads",
                            true_heads(rt->prev, n, H, rt->prev_threshold), "induction_heads",
                            true_heads(rt->induction, n, H, rt->induction_threshold), "precision_prev_token",
                            doubles(rt->p_prev, rt->K), "recall_prev_token", doubles(rt->r_prev, rt->K),
                            "precision_induction", doubles(rt->p_ind, rt->K), "recall_induction",
                            doubles(rt->r_ind, rt->K));
    return json_pack("{s:s, s:i, s:I, s:i, s:{s:f, s:f, s:i, s:I}, s:o, s:o}", "circuit", circuit, "pairs",
                     d->n_pairs, "vocab", (json_int_t)d->vocab, "positions", d->positions, "baseline", "mean",
                     d->baseline_mean, "std", d->baseline_std, "samples", samples, "seed", (json_int_t)o->seed,
                     "ranking", ranking, "runtime", runtime);
}

void discover_print_result(const cc_model *m, const char *circuit, const cc_discover_result *d, int top,
                         const runtime_check *rt, const rt_opts *o, int samples)
{
    int H = m->cfg.n_heads;
    printf("discover  %s, %d earlier -> later head pairs, model %s%s\n", circuit, d->n_pairs, m->model_path,
           m->processed ? "" : " (no processing)");
    printf("baseline  K-composition random baseline %.6f (std %.6f; %d samples, seed %llu); positional evidence over "
           "%d positions\n", d->baseline_mean, d->baseline_std, samples, (unsigned long long)o->seed, d->positions);
    printf("%4s  %-7s %-7s %9s %7s %10s %9s %9s %7s", "rank", "earlier", "later", "comp", "ratio", "positional",
           "rows top1", "cols top1", "score");
    if (rt->ran) printf(" %9s %9s", "rt prev", "rt induct");
    printf("\n");
    for (int k = 0; k < top && k < d->n_pairs; k++) {
        const cc_discover_pair *p = &d->pairs[k];
        char e[32], l[32];
        printf("%4d  %-7s %-7s %9.5f %6.2fx %10.3f", k + 1, cc_head_name(p->earlier, e, sizeof e),
               cc_head_name(p->later, l, sizeof l), p->comp_score, p->comp_ratio, p->positional);
        if (p->exact)
            printf(" %9.4f %9.4f %7.4f", (double)p->rows_top1 / d->vocab, (double)p->cols_top1 / d->vocab, p->score);
        else printf(" %9s %9s %7s", "-", "-", "-");
        if (rt->ran)
            printf(" %9.3f %9.3f", rt->prev[p->earlier.layer * H + p->earlier.head],
                   rt->induction[p->later.layer * H + p->later.head]);
        printf("\n");
    }
    if (!rt->ran) return;
    printf("runtime   repeated tokens (seq-len %d, batch %d, seed %llu): %d previous-token heads (score >= %.1f), %d "
           "induction heads (>= %.1f)\n", o->n, o->batch, (unsigned long long)o->seed, rt->n_prev, rt->prev_threshold,
           rt->n_ind, rt->induction_threshold);
    printf("%-28s", "  k");
    for (int k = 0; k < rt->K; k++) printf(" %5d", k + 1);
    const char *labels[4] = {"  previous-token precision", "  previous-token recall", "  induction precision",
                             "  induction recall"};
    const double *rows[4] = {rt->p_prev, rt->r_prev, rt->p_ind, rt->r_ind};
    for (int r = 0; r < 4; r++) {
        printf("\n%-28s", labels[r]);
        for (int k = 0; k < rt->K; k++) printf(" %5.2f", rows[r][k]);
    }
    printf("\n");
}

int discover_plot(const char *out, const cc_model *m, const char *circuit, const cc_discover_result *d,
                         const runtime_check *rt)
{
    int H = m->cfg.n_heads, n = d->n_pairs < CHART_PAIRS ? d->n_pairs : CHART_PAIRS, ns = rt->ran ? 4 : 2;
    char (*labels)[40] = malloc((size_t)(n ? n : 1) * sizeof *labels);
    const char **groups = malloc((size_t)(n ? n : 1) * sizeof *groups);
    double *v = malloc((size_t)(n ? n : 1) * 4 * sizeof *v);
    cc_error err;
    if (!labels || !groups || !v) {
        free(labels), free(groups), free(v);
        cc_fail(&err, "out of memory");
        return cli_fail(&err);
    }
    for (int k = 0; k < n; k++) {
        const cc_discover_pair *p = &d->pairs[k];
        char e[32], l[32];
        snprintf(labels[k], sizeof labels[k], "%d:%s>%s", k + 1, cc_head_name(p->earlier, e, sizeof e),
                 cc_head_name(p->later, l, sizeof l));
        groups[k] = labels[k];
        double *row = v + (size_t)k * ns;
        row[0] = p->positional;
        row[1] = p->exact ? 0.5 * (double)(p->rows_top1 + p->cols_top1) / d->vocab : 0;
        if (rt->ran) {
            row[2] = rt->prev[p->earlier.layer * H + p->earlier.head];
            row[3] = rt->induction[p->later.layer * H + p->later.head];
        }
    }
    /* one word each: the template splits the list on spaces */
    static const char *const series[4] = {"positional_QK_at_p-1_(earlier)", "circuit_top-1_(mean_rows,cols)",
                                          "runtime_previous-token_(earlier)", "runtime_induction_(later)"};
    char title[512], *label = cli_model_label(m->model_path);
    snprintf(title, sizeof title, "discover: weight-only ranking of %s pairs — model %s", circuit,
             label ? label : m->model_path);
    free(label);
    cc_chart_opts o = {.out = out, .title = title};
    int rc = cc_chart_bars(&o, "score", n, groups, ns, series, v, &err) == 0 ? CLI_OK : cli_fail(&err);
    free(labels), free(groups), free(v);
    return rc;
}
