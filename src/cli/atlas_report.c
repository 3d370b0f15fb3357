/* atlas_report.c — what `circuitc atlas` shows once the units are done: the
 * library's report (cc_atlas_report_rank) of its entries as text or as the
 * library's JSON with the command's own keys, and the --plot heatmap. */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

#include "atlas_cli.h"
#include "circuitc/atlas_report.h"
#include "circuitc/charts.h"
#include "html_cli.h"
#include "plot_cli.h"

static double acc(long count, long V) { return (double)count / (double)V; }

static int plot_atlas(const char *out, const cc_atlas_report *r, const cc_model *m)
{
    int L = cc_model_config(m)->n_layers, H = cc_model_config(m)->n_heads, n = L * H;
    long V = r->vocab;
    double *g = malloc(2 * (size_t)n * n * sizeof *g);
    if (!g) {
        cc_error err;
        cc_fail_code(&err, CC_E_NOMEM, "out of memory");
        return cli_fail(&err);
    }
    for (size_t i = 0; i < 2 * (size_t)n * n; i++) g[i] = 0;
    for (long i = 0; i < r->n_pairs; i++) {
        const cc_atlas_entry *e = &r->entries[i];
        size_t cell = (size_t)(e->earlier.layer * H + e->earlier.head) * n + e->later.layer * H + e->later.head;
        g[cell] = e->exact ? acc(e->rows[0], V) : NAN;
        g[(size_t)n * n + cell] = e->exact ? acc(e->cols[0], V) : NAN;
    }
    char title[512], *label = cli_model_label(cc_model_path(m));
    snprintf(title, sizeof title, "%s atlas: top-1 accuracy of every earlier -> later head pair — model %s", r->circuit,
             label ? label : cc_model_path(m));
    free(label);
    cc_chart_opts o = {.out = out, .title = title};
    cc_error err;
    int rc = cc_chart_atlas(&o, L, H, g, g + (size_t)n * n, r->min_acc, &err) == 0 ? CLI_OK : cli_fail(&err);
    free(g);
    return rc;
}

static void print_summary(const cc_atlas_report *r, const cc_model *m, const atlas_opts *o, double wall, int ranks,
                          const long *pairs_by_rank)
{
    long V = r->vocab, n = r->n_pairs;
    printf("atlas     %s, %ld earlier -> later head pairs, model %s%s\n", r->circuit, n, cc_model_path(m),
           cc_model_processed(m) ? "" : " (no processing)");
    if (r->bound)
        printf("bound     %ld pairs certified below top-5 accuracy %g in both directions (no exact pass), %ld exact\n",
               n - r->n_exact, r->min_acc, r->n_exact);
    else printf("exact     every pair (no bound: %s)\n", r->min_acc > 0 ? "not the K-composition circuit" : "--min-acc 0");
    if (r->n_resumed) printf("resumed   %ld pairs from the partial file\n", r->n_resumed);
    printf("top %d exact pairs by top-1 accuracy of the rows (query tokens):\n", r->n_top);
    printf("  %-7s %-7s %10s %10s %10s %10s\n", "earlier", "later", "rows top1", "rows top5", "cols top1", "cols top5");
    for (int k = 0; k < r->n_top; k++) {
        const cc_atlas_entry *e = &r->entries[r->ranking[k]];
        char p[32], l[32];
        printf("  %-7s %-7s %10.4f %10.4f %10.4f %10.4f\n", cc_head_name(e->earlier, p, sizeof p),
               cc_head_name(e->later, l, sizeof l), acc(e->rows[0], V), acc(e->rows[1], V), acc(e->cols[0], V),
               acc(e->cols[1], V));
    }
    if (o->out) printf("wrote     %s (%ld pairs, JSON lines)\n", o->out, n);
    printf("time      %.1f s wall, %.1f s CPU", wall, r->cpu_seconds);
    if (ranks > 1) {
        printf(" (%d MPI ranks; pairs computed by each:", ranks);
        for (int k = 0; k < ranks; k++) printf(" %ld", pairs_by_rank[k]);
        printf(")");
    }
    printf("\n");
}

/* The library's JSON with what only the command knows, in --json's order:
 * its --out file, the MPI ranks and the pairs each computed, then every pair
 * (entries, last) unless ENTRIES is false. */
static json_t *command_json(const cc_atlas_report *r, const atlas_opts *o, int ranks, const long *pairs_by_rank,
                            bool entries)
{
    json_t *j = cc_atlas_report_json(r);
    if (!j) return NULL;
    json_t *all = json_incref(json_object_get(j, "entries"));
    json_object_del(j, "entries");
    json_object_set_new(j, "out", cli_json_path(o->out));
    json_object_set_new(j, "ranks", json_integer(ranks));
    if (ranks > 1) {
        json_t *by_rank = json_array();
        for (int k = 0; k < ranks; k++) json_array_append_new(by_rank, json_integer(pairs_by_rank[k]));
        json_object_set_new(j, "pairs_by_rank", by_rank);
    }
    if (entries) json_object_set_new(j, "entries", all);
    else json_decref(all);
    return j;
}

int atlas_report(const atlas_sink *s, const cc_model *m, const atlas_opts *o, const cli_args *a, double wall,
                 double cpu, int ranks, const long *pairs_by_rank)
{
    cc_atlas_report_options ro;
    cc_atlas_report_defaults(&ro);
    ro.circuit = o->circuit, ro.min_acc = o->min_acc, ro.top = o->top;
    cc_atlas_report r;
    cc_error err;
    if (cc_atlas_report_rank(s->a, &ro, s->all, s->n_resumed, &r, &err) != 0) {
        cc_atlas_report_free(&r);
        return cli_fail(&err);
    }
    r.cpu_seconds = cpu;
    int rc = CLI_OK;
    /* the page lists every pair; --json does when they are not in --out's file */
    json_t *j = a->common.json || a->common.html
                    ? command_json(&r, o, ranks, pairs_by_rank, !o->out || !a->common.json)
                    : NULL;
    if (a->common.json) rc = cli_print_result(json_incref(j));
    else print_summary(&r, m, o, wall, ranks, pairs_by_rank);
    if (rc == CLI_OK && a->common.html) rc = cli_html_page(&a->common, CC_HTML_TABLES, "atlas", json_incref(j));
    json_decref(j);
    if (a->common.plot && plot_atlas(a->common.plot, &r, m) != CLI_OK) rc = CLI_FAIL;
    cc_atlas_report_free(&r);
    return rc;
}
