/* discover_output.c — what `circuitc discover` shows: the ranking and the
 * runtime check as a text table (the JSON is the library's), and the --plot
 * bar chart. */
#include <stdio.h>
#include <stdlib.h>

#include "circuitc/charts.h"
#include "discover_cli.h"
#include "plot_cli.h"

enum { CHART_PAIRS = 10 };

void discover_print_result(const cc_model *m, const cc_discover_report *r)
{
    const cc_discover_result *d = &r->ranking;
    int H = r->n_heads, top = r->top;
    printf("discover  %s, %d earlier -> later head pairs, model %s%s\n", r->circuit, d->n_pairs, cc_model_path(m),
           cc_model_processed(m) ? "" : " (no processing)");
    printf("baseline  K-composition random baseline %.6f (std %.6f; %d samples, seed %llu); positional evidence over "
           "%d positions\n", d->baseline_mean, d->baseline_std, r->baseline_samples, (unsigned long long)r->seed,
           d->positions);
    printf("%4s  %-7s %-7s %9s %7s %10s %9s %9s %7s", "rank", "earlier", "later", "comp", "ratio", "positional",
           "rows top1", "cols top1", "score");
    if (r->runtime) printf(" %9s %9s", "rt prev", "rt induct");
    printf("\n");
    for (int k = 0; k < top && k < d->n_pairs; k++) {
        const cc_discover_pair *p = &d->pairs[k];
        char e[32], l[32];
        printf("%4d  %-7s %-7s %9.5f %6.2fx %10.3f", k + 1, cc_head_name(p->earlier, e, sizeof e),
               cc_head_name(p->later, l, sizeof l), p->comp_score, p->comp_ratio, cli_num(p->positional, 3));
        if (p->exact)
            printf(" %9.4f %9.4f %7.4f", (double)p->rows_top1 / d->vocab, (double)p->cols_top1 / d->vocab, p->score);
        else printf(" %9s %9s %7s", "-", "-", "-");
        if (r->runtime)
            printf(" %9.3f %9.3f", cli_num(r->prev[p->earlier.layer * H + p->earlier.head], 3),
                   cli_num(r->induction[p->later.layer * H + p->later.head], 3));
        printf("\n");
    }
    if (!r->runtime) return;
    printf("runtime   repeated tokens (seq-len %d, batch %d, seed %llu): %d previous-token heads (score >= %.1f), %d "
           "induction heads (>= %.1f)\n", r->seq_len, r->batch, (unsigned long long)r->seed, r->n_prev,
           r->prev_threshold, r->n_induction, r->induction_threshold);
    printf("%-28s", "  k");
    for (int k = 0; k < top; k++) printf(" %5d", k + 1);
    const char *labels[4] = {"  previous-token precision", "  previous-token recall", "  induction precision",
                             "  induction recall"};
    const double *rows[4] = {r->precision_prev, r->recall_prev, r->precision_induction, r->recall_induction};
    for (int i = 0; i < 4; i++) {
        printf("\n%-28s", labels[i]);
        for (int k = 0; k < top; k++) printf(" %5.2f", rows[i][k]);
    }
    printf("\n");
}

int discover_plot(const char *out, const cc_model *m, const cc_discover_report *r)
{
    const cc_discover_result *d = &r->ranking;
    int H = r->n_heads, n = d->n_pairs < CHART_PAIRS ? d->n_pairs : CHART_PAIRS, ns = r->runtime ? 4 : 2;
    char (*labels)[40] = malloc((size_t)(n ? n : 1) * sizeof *labels);
    const char **groups = malloc((size_t)(n ? n : 1) * sizeof *groups);
    double *v = malloc((size_t)(n ? n : 1) * 4 * sizeof *v);
    cc_error err;
    if (!labels || !groups || !v) {
        free(labels), free(groups), free(v);
        cc_fail_code(&err, CC_E_NOMEM, "out of memory");
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
        if (r->runtime) {
            row[2] = r->prev[p->earlier.layer * H + p->earlier.head];
            row[3] = r->induction[p->later.layer * H + p->later.head];
        }
    }
    static const char *const series[4] = {"positional QK at p-1 (earlier)", "circuit top-1 (mean rows, cols)",
                                          "runtime previous-token (earlier)", "runtime induction (later)"};
    char title[512], *label = cli_model_label(cc_model_path(m));
    snprintf(title, sizeof title, "discover: weight-only ranking of %s pairs — model %s", r->circuit,
             label ? label : cc_model_path(m));
    free(label);
    cc_chart_opts o = {.out = out, .title = title};
    int rc = cc_chart_bars(&o, "score", n, groups, ns, series, v, &err) == 0 ? CLI_OK : cli_fail(&err);
    free(labels), free(groups), free(v);
    return rc;
}
