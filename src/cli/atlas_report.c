/* atlas_report.c — what `circuitc atlas` shows once the units are done: the
 * summary and top exact pairs as text or JSON, and the --plot heatmap. */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

#include "atlas_cli.h"
#include "circuitc/charts.h"
#include "html_cli.h"
#include "plot_cli.h"

static double acc(long count, long V) { return (double)count / (double)V; }

static json_t *entry_json(const cc_atlas_entry *e, long V)
{
    char p[32], l[32];
    return json_pack("{s:s, s:s, s:s, s:f, s:f, s:f, s:f}", "earlier", cc_head_name(e->earlier, p, sizeof p), "later",
                     cc_head_name(e->later, l, sizeof l), "status", e->exact ? "exact" : "bound", "rows_top1",
                     acc(e->rows[0], V), "rows_top5", acc(e->rows[1], V), "cols_top1", acc(e->cols[0], V), "cols_top5",
                     acc(e->cols[1], V));
}

/* Exact pairs by rows top-1 count, then columns, then canonical order. */
static const cc_atlas_entry *g_sort_entries;
static int by_rows_top1(const void *pa, const void *pb)
{
    const cc_atlas_entry *x = &g_sort_entries[*(const long *)pa], *y = &g_sort_entries[*(const long *)pb];
    if (x->rows[0] != y->rows[0]) return x->rows[0] > y->rows[0] ? -1 : 1;
    if (x->cols[0] != y->cols[0]) return x->cols[0] > y->cols[0] ? -1 : 1;
    return (*(const long *)pa > *(const long *)pb) - (*(const long *)pa < *(const long *)pb);
}

static int plot_atlas(const char *out, const atlas_sink *s, const cc_model *m, const char *circuit, double min_acc)
{
    int L = cc_model_config(m)->n_layers, H = cc_model_config(m)->n_heads, n = L * H;
    long V = cc_model_config(m)->d_vocab;
    double *g = malloc(2 * (size_t)n * n * sizeof *g);
    if (!g) {
        cc_error err;
        cc_fail_code(&err, CC_E_NOMEM, "out of memory");
        return cli_fail(&err);
    }
    for (size_t i = 0; i < 2 * (size_t)n * n; i++) g[i] = 0;
    for (long i = 0; i < cc_atlas_n_pairs(s->a); i++) {
        const cc_atlas_entry *e = &s->all[i];
        size_t cell = (size_t)(e->earlier.layer * H + e->earlier.head) * n + e->later.layer * H + e->later.head;
        g[cell] = e->exact ? acc(e->rows[0], V) : NAN;
        g[(size_t)n * n + cell] = e->exact ? acc(e->cols[0], V) : NAN;
    }
    char title[512], *label = cli_model_label(cc_model_path(m));
    snprintf(title, sizeof title, "%s atlas: top-1 accuracy of every earlier -> later head pair — model %s", circuit,
             label ? label : cc_model_path(m));
    free(label);
    cc_chart_opts o = {.out = out, .title = title};
    cc_error err;
    int rc = cc_chart_atlas(&o, L, H, g, g + (size_t)n * n, min_acc, &err) == 0 ? CLI_OK : cli_fail(&err);
    free(g);
    return rc;
}

static void print_summary(const atlas_sink *s, const cc_model *m, const atlas_opts *o, const long *order, int n_top,
                          long n_exact, double wall, double cpu, int ranks, const long *pairs_by_rank)
{
    long V = cc_model_config(m)->d_vocab, n = cc_atlas_n_pairs(s->a);
    printf("atlas     %s, %ld earlier -> later head pairs, model %s%s\n", o->circuit, n, cc_model_path(m),
           cc_model_processed(m) ? "" : " (no processing)");
    if (cc_atlas_uses_bound(s->a))
        printf("bound     %ld pairs certified below top-5 accuracy %g in both directions (no exact pass), %ld exact\n",
               n - n_exact, o->min_acc, n_exact);
    else printf("exact     every pair (no bound: %s)\n", o->min_acc > 0 ? "not the K-composition circuit" : "--min-acc 0");
    if (s->n_resumed) printf("resumed   %ld pairs from the partial file\n", s->n_resumed);
    printf("top %d exact pairs by top-1 accuracy of the rows (query tokens):\n", n_top);
    printf("  %-7s %-7s %10s %10s %10s %10s\n", "earlier", "later", "rows top1", "rows top5", "cols top1", "cols top5");
    for (int r = 0; r < n_top; r++) {
        const cc_atlas_entry *e = &s->all[order[r]];
        char p[32], l[32];
        printf("  %-7s %-7s %10.4f %10.4f %10.4f %10.4f\n", cc_head_name(e->earlier, p, sizeof p),
               cc_head_name(e->later, l, sizeof l), acc(e->rows[0], V), acc(e->rows[1], V), acc(e->cols[0], V),
               acc(e->cols[1], V));
    }
    if (o->out) printf("wrote     %s (%ld pairs, JSON lines)\n", o->out, n);
    printf("time      %.1f s wall, %.1f s CPU", wall, cpu);
    if (ranks > 1) {
        printf(" (%d MPI ranks; pairs computed by each:", ranks);
        for (int r = 0; r < ranks; r++) printf(" %ld", pairs_by_rank[r]);
        printf(")");
    }
    printf("\n");
}

/* The summary, the top exact pairs and (ENTRIES) every pair, as JSON. */
static json_t *atlas_json(const atlas_sink *s, const cc_model *m, const atlas_opts *o, const long *order, int n_top,
                          long n_exact, double cpu, int ranks, const long *pairs_by_rank, bool entries)
{
    long n = cc_atlas_n_pairs(s->a), V = cc_model_config(m)->d_vocab;
    json_t *top = json_array(), *j;
    for (int r = 0; r < n_top; r++) json_array_append_new(top, entry_json(&s->all[order[r]], V));
    j = json_pack("{s:s, s:f, s:b, s:i, s:I, s:I, s:I, s:I, s:o, s:o, s:f, s:i}", "circuit", o->circuit, "min_acc",
                  o->min_acc, "bound", cc_atlas_uses_bound(s->a), "vocab", cc_model_config(m)->d_vocab, "pairs", (json_int_t)n,
                  "exact_pairs", (json_int_t)n_exact, "bounded_pairs", (json_int_t)(n - n_exact), "resumed_pairs",
                  (json_int_t)s->n_resumed, "out", o->out ? cli_json_path(o->out) : json_null(), "top", top,
                  "cpu_seconds", cpu, "ranks", ranks);
    if (j && ranks > 1) {
        json_t *by_rank = json_array();
        for (int r = 0; r < ranks; r++) json_array_append_new(by_rank, json_integer(pairs_by_rank[r]));
        json_object_set_new(j, "pairs_by_rank", by_rank);
    }
    if (j && entries) {
        json_t *all = json_array();
        for (long i = 0; i < n; i++) json_array_append_new(all, entry_json(&s->all[i], V));
        json_object_set_new(j, "entries", all);
    }
    return j;
}

int atlas_report(const atlas_sink *s, const cc_model *m, const atlas_opts *o, const cli_args *a, double wall,
                  double cpu, int ranks, const long *pairs_by_rank)
{
    long n = cc_atlas_n_pairs(s->a), n_exact = 0;
    long *order = malloc((size_t)(n ? n : 1) * sizeof *order);
    if (!order) {
        cc_error err;
        cc_fail_code(&err, CC_E_NOMEM, "out of memory");
        return cli_fail(&err);
    }
    for (long i = 0; i < n; i++)
        if (s->all[i].exact) order[n_exact++] = i;
    g_sort_entries = s->all;
    qsort(order, (size_t)n_exact, sizeof *order, by_rows_top1);
    int n_top = n_exact < o->top ? (int)n_exact : o->top, rc = CLI_OK;
    /* the page lists every pair; --json does when they are not in --out's file */
    json_t *j = a->common.json || a->common.html
                    ? atlas_json(s, m, o, order, n_top, n_exact, cpu, ranks, pairs_by_rank, !o->out || !a->common.json)
                    : NULL;
    if (a->common.json) rc = cli_print_result(json_incref(j));
    else print_summary(s, m, o, order, n_top, n_exact, wall, cpu, ranks, pairs_by_rank);
    if (rc == CLI_OK && a->common.html) rc = cli_html_page(&a->common, CC_HTML_TABLES, "atlas", json_incref(j));
    json_decref(j);
    free(order);
    if (a->common.plot && plot_atlas(a->common.plot, s, m, o->circuit, o->min_acc) != CLI_OK) rc = CLI_FAIL;
    return rc;
}
