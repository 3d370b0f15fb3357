/* cmd_discover.c — `circuitc discover`: rank (previous-token, induction) head
 * pairs from the weights alone (include/circuitc/discover.h), then, unless
 * --no-runtime, score the ranking against the runtime head detectors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/charts.h"
#include "circuitc/discover.h"
#include "plot_cli.h"
#include "progress.h"
#include "runtime.h"

/* The runtime truth: heads at least this strong (validate's defaults). */
static const double PREV_THRESHOLD = 0.5, INDUCTION_THRESHOLD = 0.4;
enum { CHART_PAIRS = 10 };

typedef struct {
    bool ran;
    double *prev, *induction; /* [L*H] runtime scores */
    double *p_prev, *r_prev, *p_ind, *r_ind; /* [K] each, one allocation starting at p_prev */
    int n_prev, n_ind, K;
} runtime_check;

static void runtime_free(runtime_check *rc)
{
    free(rc->prev), free(rc->induction), free(rc->p_prev);
}

static int run_runtime(const cc_model *m, const rt_opts *o, const int *tokens, const cc_discover_result *d, int K,
                       runtime_check *out, cc_error *err)
{
    cc_head_scores s = {0};
    if (cc_head_scores_run(m, tokens, o->batch, o->n, CC_KERNEL_FAST, &s, err) != 0) return -1;
    int L = m->cfg.n_layers, H = m->cfg.n_heads, n = L * H;
    *out = (runtime_check){.ran = true, .K = K};
    out->prev = malloc((size_t)n * sizeof(double));
    out->induction = malloc((size_t)n * sizeof(double));
    double *arrays = calloc(4 * (size_t)K, sizeof(double));
    int rc = 0;
    if (!out->prev || !out->induction || !arrays) rc = cc_fail(err, "out of memory");
    else {
        memcpy(out->prev, s.diag[CC_SCORE_PREV_TOKEN], (size_t)n * sizeof(double));
        memcpy(out->induction, s.diag[CC_SCORE_INDUCTION], (size_t)n * sizeof(double));
        out->p_prev = arrays, out->r_prev = arrays + K, out->p_ind = arrays + 2 * K, out->r_ind = arrays + 3 * K;
        arrays = NULL;
        cc_discover_precision_recall(d, L, H, false, out->prev, PREV_THRESHOLD, K, out->p_prev, out->r_prev,
                                     &out->n_prev);
        cc_discover_precision_recall(d, L, H, true, out->induction, INDUCTION_THRESHOLD, K, out->p_ind, out->r_ind,
                                     &out->n_ind);
    }
    free(arrays);
    cc_head_scores_free(&s);
    return rc;
}

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

static json_t *result_json(const cc_model *m, const char *circuit, const cc_discover_result *d, int top,
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
                            o->batch, "seed", (json_int_t)o->seed, "prev_token_threshold", PREV_THRESHOLD,
                            "induction_threshold", INDUCTION_THRESHOLD, "prev_token_heads",
                            true_heads(rt->prev, n, H, PREV_THRESHOLD), "induction_heads",
                            true_heads(rt->induction, n, H, INDUCTION_THRESHOLD), "precision_prev_token",
                            doubles(rt->p_prev, rt->K), "recall_prev_token", doubles(rt->r_prev, rt->K),
                            "precision_induction", doubles(rt->p_ind, rt->K), "recall_induction",
                            doubles(rt->r_ind, rt->K));
    return json_pack("{s:s, s:i, s:I, s:i, s:{s:f, s:f, s:i, s:I}, s:o, s:o}", "circuit", circuit, "pairs",
                     d->n_pairs, "vocab", (json_int_t)d->vocab, "positions", d->positions, "baseline", "mean",
                     d->baseline_mean, "std", d->baseline_std, "samples", samples, "seed", (json_int_t)o->seed,
                     "ranking", ranking, "runtime", runtime);
}

static void print_result(const cc_model *m, const char *circuit, const cc_discover_result *d, int top,
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
           "induction heads (>= %.1f)\n", o->n, o->batch, (unsigned long long)o->seed, rt->n_prev, PREV_THRESHOLD,
           rt->n_ind, INDUCTION_THRESHOLD);
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

static int plot_discover(const char *out, const cc_model *m, const char *circuit, const cc_discover_result *d,
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

static int run(const cli_args *a)
{
    rt_opts o;
    rt_begin(a, &o);
    bool runtime = !a->v[O_NO_RUNTIME].on;
    const char *circuit = a->v[O_CIRCUIT].s;
    int samples = a->v[O_BASELINE_SAMPLES].i;
    if (samples < 1) return cli_usage_error("discover", "--baseline-samples must be at least 1: ratios need a baseline");
    cc_error err;
    cc_circuit *c = NULL;
    cc_model *m = NULL;
    int *tokens = NULL;
    cc_part parts[8];
    int n_parts = cc_discover_parts(parts);
    if (cc_circuit_open(circuit, &c, &err) != 0 ||
        (runtime ? rt_setup(&o, o.batch, &m, &tokens, &err) : cli_load_parts(&a->common, parts, n_parts, &m, &err)) != 0) {
        cli_progress_clear();
        cc_circuit_free(c), cc_model_free(m), free(tokens);
        return cli_fail(&err);
    }
    cli_progress_begin("discover");
    cc_discover_options d_opts = {.circuit = c, .top = o.top, .baseline_samples = samples, .seed = o.seed,
                                  .progress = cli_progress_update};
    cc_discover_result d = {0};
    runtime_check rt = {0};
    int rc = cc_discover(m, &d_opts, &d, &err);
    if (rc == 0 && runtime) {
        cli_progress_begin("discover: runtime check");
        rc = run_runtime(m, &o, tokens, &d, o.top, &rt, &err);
    }
    cli_progress_clear();
    if (rc != 0) {
        rc = cli_fail(&err);
    } else if (o.common.json) {
        rc = cli_print_result(result_json(m, circuit, &d, o.top, &rt, &o, samples));
    } else {
        print_result(m, circuit, &d, o.top, &rt, &o, samples);
        rc = CLI_OK;
    }
    if (d.pairs && o.common.plot && plot_discover(o.common.plot, m, circuit, &d, &rt) != CLI_OK) rc = CLI_FAIL;
    runtime_free(&rt);
    cc_discover_free(&d);
    free(tokens);
    cc_model_free(m);
    cc_circuit_free(c);
    return rc;
}

const cli_command cli_cmd_discover = {
    .name = "discover",
    .synopsis = "",
    .summary = "rank (previous-token, induction) head pairs from the weights alone; check against the runtime",
    .description =
        "Ranks every earlier -> later head pair as a (previous-token, induction) candidate from the\n"
        "weights alone: the K-composition score and its ratio to the random baseline, the earlier\n"
        "head's positional QK circuit (the fraction of positions whose pattern peaks at the previous\n"
        "position) and, for the --top pairs by ratio x positional, the exact top-1 accuracy of the\n"
        "two-head circuit (--circuit, default kcomp) in both directions. Those pairs rank first, by\n"
        "positional x mean top-1. Then, unless --no-runtime, it runs the model on repeated random\n"
        "tokens and scores the ranking against the runtime head detectors (`heads`): precision and\n"
        "recall at k = 1..--top of the predicted previous-token heads (earlier heads of the ranking)\n"
        "and induction heads (later heads), the true heads being those scoring at least 0.5\n"
        "(previous-token) and 0.4 (induction). --plot: the top pairs' evidence beside their runtime\n"
        "scores.\n",
    .examples = "discover --top 5\n"
                "discover --no-runtime --json\n"
                "discover --plot /tmp/discover.png\n",
    .options = (const opt_id[]){O_CIRCUIT, O_TOP, O_BASELINE_SAMPLES, O_SEED, O_SEQ_LEN, O_BATCH, O_NO_RUNTIME, O_PLOT,
                                CLI_MODEL_OPTIONS, O_NONE},
    .run = run,
};
