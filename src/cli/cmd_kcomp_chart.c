/* cmd_kcomp_chart.c — `circuitc kcomp-chart PREV:IND ...`: exact top-1 and
 * top-K accuracy of a composition circuit (kcomp by default) for several head
 * pairs side by side, as a table and (--plot) a grouped bar chart. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuit_summary.h"
#include "circuitc/charts.h"
#include "circuitc/circuit.h"
#include "circuitc/topk.h"
#include "cli.h"
#include "options.h"
#include "plot_cli.h"

enum { MAX_PAIRS = 64 };

/* The head pairs PREV:IND of A into PAIRS; -1 after a usage error. */
static int parse_pairs(const cli_args *a, cc_head pairs[][2])
{
    cc_error err;
    if (a->n_pos > MAX_PAIRS) return cli_usage_error("kcomp-chart", "at most %d pairs", MAX_PAIRS), -1;
    for (int i = 0; i < a->n_pos; i++) {
        const char *p = a->pos[i], *colon = strchr(p, ':');
        char left[64];
        if (!colon || colon == p || (size_t)(colon - p) >= sizeof left)
            return cli_usage_error("kcomp-chart", "a pair is PREV:IND (e.g. L0H0:L1H0), got \"%s\"", p), -1;
        memcpy(left, p, (size_t)(colon - p));
        left[colon - p] = '\0';
        if (cc_head_parse(left, NULL, &pairs[i][0], &err) != 0 || cc_head_parse(colon + 1, NULL, &pairs[i][1], &err) != 0)
            return cli_usage_error("kcomp-chart", "pair \"%s\": %s", p, err.msg), -1;
    }
    return 0;
}

/* --plot: the rows' top-1 and top-K bars of the NP pairs (VALS as in run). */
static int plot_bars(const char *out, const cc_circuit *circ, const char *const *names, int np, int K,
                     char (*labels)[80], const double *vals, bool no_processing)
{
    cc_error err;
    double *bars = malloc((size_t)np * 2 * sizeof *bars);
    const char **groups = malloc((size_t)np * sizeof *groups);
    char s1[16], sk[16], title[256], *ml = cli_model_label(cli_run()->model);
    snprintf(s1, sizeof s1, "top-1");
    snprintf(sk, sizeof sk, "top-%d", K);
    const char *series[2] = {s1, sk};
    snprintf(title, sizeof title, "%s exact accuracy per %s:%s pair (rows) — model %s%s", cc_circuit_name(circ),
             names[0], names[1], ml ? ml : "?", no_processing ? " (no processing)" : "");
    int rc = CLI_OK;
    if (!bars || !groups) {
        cc_fail(&err, "out of memory");
        rc = cli_fail(&err);
    } else {
        for (int i = 0; i < np; i++) groups[i] = labels[i], bars[2 * i] = vals[4 * i], bars[2 * i + 1] = vals[4 * i + 1];
        cc_chart_opts o = {.out = out, .title = title};
        if (cc_chart_bars(&o, "fraction of tokens (exact, whole vocabulary)", np, groups, 2, series, bars, &err) != 0)
            rc = cli_fail(&err);
    }
    free(bars), free(groups), free(ml);
    return rc;
}

static int run(const cli_args *a)
{
    cli_common common = a->common;
    const char *circuit = a->v[O_CIRCUIT].s;
    unsigned long long K = (unsigned long long)a->v[O_K].i;
    int np = a->n_pos;
    cc_head pairs[MAX_PAIRS][2];
    cc_error err;
    if (parse_pairs(a, pairs) != 0) return CLI_USAGE;
    cc_circuit *circ = NULL;
    if (cc_circuit_open(circuit, &circ, &err) != 0) return cli_fail(&err);
    if (cc_circuit_n_params(circ) != 2) {
        cc_fail(&err, "circuit %s has %d parameters; kcomp-chart needs a two-head circuit", cc_circuit_name(circ),
                cc_circuit_n_params(circ));
        cc_circuit_free(circ);
        return cli_fail(&err);
    }
    const char *names[2] = {cc_circuit_param(circ, 0), cc_circuit_param(circ, 1)};
    cc_model *m = NULL;
    if (cli_open_model(&common, &m, &err) != 0 ||
        circuit_load_parts(&common, m, circ, names, &pairs[0][0], 2, np, false, &err) != 0) {
        if (m) cc_fail_prefix(&err, "%s", cc_circuit_name(circ));
        cc_model_free(m);
        cc_circuit_free(circ);
        return cli_fail(&err);
    }
    double *vals = malloc((size_t)np * 4 * sizeof *vals); /* [pair][rows top1, rows topK, cols top1, cols topK] */
    char(*labels)[80] = malloc((size_t)np * sizeof *labels);
    int rc = vals && labels ? 0 : cc_fail(&err, "out of memory");
    for (int i = 0; i < np && rc == 0; i++) {
        char a[32], b[32];
        snprintf(labels[i], sizeof labels[i], "%s:%s", cc_head_name(pairs[i][0], a, sizeof a),
                 cc_head_name(pairs[i][1], b, sizeof b));
        cc_fm fm = {0}, t = {0};
        cc_topk_options opt = {.k_max = (int)K, .method = CC_TOPK_FAST};
        cc_topk_result rr, cr;
        rc = cc_circuit_compile(circ, m, names, pairs[i], 2, &fm, NULL, &err);
        if (rc == 0 && fm.l != fm.r)
            rc = cc_fail(&err, "circuit %s is %d x %d; accuracy needs a square circuit", cc_circuit_name(circ), fm.l, fm.r);
        if (rc == 0) rc = cc_topk_diagonal(&fm, &opt, &rr, &err);
        if (rc == 0) rc = cc_fm_transpose(&fm, &t, &err);
        if (rc == 0) rc = cc_topk_diagonal(&t, &opt, &cr, &err);
        if (rc != 0) cc_fail_prefix(&err, "%s %s", cc_circuit_name(circ), labels[i]);
        cc_fm_free(&t);
        cc_fm_free(&fm);
        if (rc == 0) {
            vals[i * 4 + 0] = (double)rr.correct[0] / (double)rr.n;
            vals[i * 4 + 1] = (double)rr.correct[K - 1] / (double)rr.n;
            vals[i * 4 + 2] = (double)cr.correct[0] / (double)cr.n;
            vals[i * 4 + 3] = (double)cr.correct[K - 1] / (double)cr.n;
        }
    }
    if (rc != 0) {
        free(vals), free(labels);
        cc_model_free(m), cc_circuit_free(circ);
        return cli_fail(&err);
    }
    if (common.json) {
        json_t *arr = json_array();
        for (int i = 0; i < np; i++) {
            char a[32], b[32];
            json_array_append_new(
                arr, json_pack("{s:s, s:s, s:s, s:{s:f, s:f}, s:{s:f, s:f}}", "pair", labels[i], names[0],
                               cc_head_name(pairs[i][0], a, sizeof a), names[1], cc_head_name(pairs[i][1], b, sizeof b),
                               "rows", "top1_accuracy", vals[i * 4], "topk_accuracy", vals[i * 4 + 1], "cols",
                               "top1_accuracy", vals[i * 4 + 2], "topk_accuracy", vals[i * 4 + 3]));
        }
        rc = cli_print_result(json_pack("{s:s, s:i, s:o}", "circuit", cc_circuit_name(circ), "k", (int)K, "pairs", arr));
    } else {
        printf("circuit %s, model %s%s\nexact top-1 and top-%llu accuracy of the diagonal over the whole vocabulary\n"
               "rows: %s\ncols: %s\n", cc_circuit_name(circ), m->model_path, common.no_processing ? " (no processing)" : "",
               K, cc_circuit_rows(circ), cc_circuit_cols(circ));
        printf("%-12s %10s %10s %10s %10s\n", "pair", "rows@1", "rows@K", "cols@1", "cols@K");
        for (int i = 0; i < np; i++)
            printf("%-12s %10.4f %10.4f %10.4f %10.4f\n", labels[i], vals[i * 4], vals[i * 4 + 1], vals[i * 4 + 2],
                   vals[i * 4 + 3]);
        printf("(K = %llu; pairs are %s:%s)\n", K, names[0], names[1]);
    }
    if (common.plot && plot_bars(common.plot, circ, names, np, (int)K, labels, vals, common.no_processing) != CLI_OK)
        rc = CLI_FAIL;
    free(vals), free(labels);
    cc_model_free(m);
    cc_circuit_free(circ);
    return rc;
}

const cli_command cli_cmd_kcomp_chart = {
    .name = "kcomp-chart",
    .synopsis = "PREV:IND...",
    .arg_noun = "head pair",
    .min_args = 1,
    .max_args = -1,
    .summary = "bar chart of a composition circuit's exact top-1/top-K accuracy over head pairs",
    .description =
        "For each pair of heads PREV:IND (e.g. L0H0:L1H0 or 0.0:1.0; at most 64) compiles the two-head\n"
        "circuit (--circuit, default kcomp; any circuit file or built-in with two parameters) and\n"
        "measures the exact full-vocabulary top-1 and top-K accuracy of its diagonal in both\n"
        "directions (rows and columns). --plot: a grouped bar chart of the rows' top-1 and top-K\n"
        "accuracy per pair.\n",
    .examples = "kcomp-chart L0H0:L1H0 L0H1:L1H0 L0H2:L1H0 L0H3:L1H0\n"
                "kcomp-chart L0H0:L1H0 0.1:1.0 --circuit qcomp --k 3 --json\n",
    .options = (const opt_id[]){O_CIRCUIT, O_K, O_PLOT, CLI_MODEL_OPTIONS, O_NONE},
    .run = run,
};
