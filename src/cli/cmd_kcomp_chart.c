/* cmd_kcomp_chart.c — `circuitc kcomp-chart PREV:IND ...`: exact top-1 and
 * top-K accuracy of a composition circuit (kcomp by default) for several head
 * pairs side by side, as a table and (--plot) a grouped bar chart. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/charts.h"
#include "circuitc/circuit_report.h"
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

/* The "pair" labels of chart J ("L0H0:L1H0"), in order. */
static const char *pair_label(const json_t *j, int i)
{
    return json_string_value(json_object_get(json_array_get(json_object_get(j, "pairs"), (size_t)i), "pair"));
}

/* --plot: the rows' top-1 and top-K bars of chart R (its JSON J). */
static int plot_bars(const char *out, const cc_kcomp_chart *r, const json_t *j, bool no_processing)
{
    cc_error err;
    int np = r->n_pairs, K = r->k;
    double *bars = malloc((size_t)np * 2 * sizeof *bars);
    const char **groups = malloc((size_t)np * sizeof *groups);
    char s1[16], sk[16], title[256], *ml = cli_model_label(cli_run()->model);
    snprintf(s1, sizeof s1, "top-1");
    snprintf(sk, sizeof sk, "top-%d", K);
    const char *series[2] = {s1, sk};
    snprintf(title, sizeof title, "%s exact accuracy per %s:%s pair (rows) — model %s%s", cc_circuit_name(r->circuit),
             cc_circuit_param(r->circuit, 0), cc_circuit_param(r->circuit, 1), ml ? ml : "?",
             no_processing ? " (no processing)" : "");
    int rc = CLI_OK;
    if (!bars || !groups) {
        cc_fail_code(&err, CC_E_NOMEM, "out of memory");
        rc = cli_fail(&err);
    } else {
        for (int i = 0; i < np; i++)
            groups[i] = pair_label(j, i), bars[2 * i] = r->accuracy[4 * i], bars[2 * i + 1] = r->accuracy[4 * i + 1];
        cc_chart_opts o = {.out = out, .title = title};
        if (cc_chart_bars(&o, "fraction of tokens (exact, whole vocabulary)", np, groups, 2, series, bars, &err) != 0)
            rc = cli_fail(&err);
    }
    free(bars), free(groups), free(ml);
    return rc;
}

static void print_human(const cc_kcomp_chart *r, const json_t *j, bool no_processing)
{
    const cc_circuit *circ = r->circuit;
    printf("circuit %s, model %s%s\nexact top-1 and top-%d accuracy of the diagonal over the whole vocabulary\n"
           "rows: %s\ncols: %s\n", cc_circuit_name(circ), cli_run()->model, no_processing ? " (no processing)" : "",
           r->k, cc_circuit_rows(circ), cc_circuit_cols(circ));
    printf("%-12s %10s %10s %10s %10s\n", "pair", "rows@1", "rows@K", "cols@1", "cols@K");
    for (int i = 0; i < r->n_pairs; i++) {
        const double *v = r->accuracy + 4 * i;
        printf("%-12s %10.4f %10.4f %10.4f %10.4f\n", pair_label(j, i), cli_num(v[0], 4), cli_num(v[1], 4),
               cli_num(v[2], 4), cli_num(v[3], 4));
    }
    printf("(K = %d; pairs are %s:%s)\n", r->k, cc_circuit_param(circ, 0), cc_circuit_param(circ, 1));
}

static int run(const cli_args *a)
{
    cli_common common = a->common;
    cc_head pairs[MAX_PAIRS][2];
    if (parse_pairs(a, pairs) != 0) return CLI_USAGE;
    cc_kcomp_chart_options o = {.circuit = a->v[O_CIRCUIT].s, .n_pairs = a->n_pos, .pairs = &pairs[0][0],
                                .k = a->v[O_K].i, .process = !common.no_processing};
    cc_kcomp_chart r = {0};
    cc_model *m = NULL;
    cc_error err;
    if (cli_open_model(&common, &m, &err) != 0 || cc_kcomp_chart_run(m, &o, &r, &err) != 0) {
        cc_model_free(m);
        cc_kcomp_chart_free(&r);
        return cli_fail(&err);
    }
    cli_parts_loaded(&common, m);
    cc_model_free(m);
    json_t *j = cc_kcomp_chart_json(&r);
    int rc = CLI_OK;
    if (!j) rc = cli_print_result(NULL); /* says what could not be encoded */
    else if (common.json) rc = cli_print_result(json_incref(j));
    else print_human(&r, j, common.no_processing);
    if (j && common.plot && plot_bars(common.plot, &r, j, common.no_processing) != CLI_OK) rc = CLI_FAIL;
    json_decref(j);
    cc_kcomp_chart_free(&r);
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
