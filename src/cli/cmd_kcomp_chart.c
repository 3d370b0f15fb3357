/* cmd_kcomp_chart.c — `circuitc kcomp-chart PREV:IND ...`: exact top-1 and
 * top-K accuracy of a composition circuit (kcomp by default) for several head
 * pairs side by side, as a table and (--plot) a grouped bar chart. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuit_summary.h"
#include "circuitc/charts.h"
#include "circuitc/circuit.h"
#include "circuitc/measure.h"
#include "cli.h"
#include "plot_cli.h"

static const char *HELP =
    "Usage: circuitc kcomp-chart PREV:IND ... [--circuit NAME] [--k K] [--plot FILE] [--model PATH] [--json]\n\n"
    "For each pair of heads PREV:IND (e.g. L0H0:L1H0 or 0.0:1.0) compiles the two-head circuit\n"
    "(default kcomp; any circuit file or built-in with two parameters) and measures the exact\n"
    "full-vocabulary top-1 and top-K accuracy of its diagonal in both directions (rows and\n"
    "columns). With --plot, a grouped bar chart of the rows' top-1 and top-K accuracy per pair.\n\n"
    "Options:\n"
    "  --circuit NAME     two-parameter circuit (built-in name or .circuit file; default kcomp)\n"
    "  --k K              the second bar: top-K accuracy (default 5, 2..64)\n" CLI_PLOT_HELP CLI_COMMON_HELP;

enum { MAX_PAIRS = 64 };

int cmd_kcomp_chart(int argc, char **argv)
{
    enum { OPT_CIRCUIT = OPT_FIRST_COMMAND_SPECIFIC, OPT_K };
    static const struct option opts[] = {CLI_COMMON_LONG_OPTIONS, CLI_PLOT_OPTION,
                                         {"circuit", required_argument, NULL, OPT_CIRCUIT},
                                         {"k", required_argument, NULL, OPT_K},
                                         {NULL, 0, NULL, 0}};
    cli_common common = {0};
    bool help = false;
    const char *circuit = "kcomp";
    unsigned long long K = 5;
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (cli_common_option(c, &common, &help)) continue;
        switch (c) {
        case OPT_CIRCUIT: circuit = optarg; break;
        case OPT_K:
            if (cli_parse_u64("kcomp-chart", "--k", optarg, &K) != 0) return CLI_USAGE;
            if (K < 2 || K > CC_TOPK_MAX_K) return cli_usage_error("kcomp-chart", "--k must be between 2 and %d", CC_TOPK_MAX_K);
            break;
        case ':': return cli_usage_error("kcomp-chart", "option %s needs a value", argv[optind - 1]);
        default: return cli_usage_error("kcomp-chart", "unknown option %s", argv[optind - 1]);
        }
    }
    if (help) {
        fputs(HELP, stdout);
        return CLI_OK;
    }
    int np = argc - optind;
    if (np < 1) return cli_usage_error("kcomp-chart", "give at least one head pair PREV:IND (e.g. L0H0:L1H0)");
    if (np > MAX_PAIRS) return cli_usage_error("kcomp-chart", "at most %d pairs", MAX_PAIRS);
    cc_head pairs[MAX_PAIRS][2];
    cc_error err;
    for (int i = 0; i < np; i++) {
        const char *a = argv[optind + i], *colon = strchr(a, ':');
        char left[64];
        if (!colon || colon == a || (size_t)(colon - a) >= sizeof left)
            return cli_usage_error("kcomp-chart", "a pair is PREV:IND (e.g. L0H0:L1H0), got \"%s\"", a);
        memcpy(left, a, (size_t)(colon - a));
        left[colon - a] = '\0';
        if (cc_head_parse(left, NULL, &pairs[i][0], &err) != 0 || cc_head_parse(colon + 1, NULL, &pairs[i][1], &err) != 0)
            return cli_usage_error("kcomp-chart", "pair \"%s\": %s", a, err.msg);
    }
    int prc = cli_plot_check("kcomp-chart", &common);
    if (prc >= 0) return prc;

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
        cc_fm fm = {0};
        cc_measure_options opt = {.k_max = (int)K, .ranks = CC_RANKS_NEVER, .method = CC_TOPK_FAST};
        cc_circuit_measurement r = {0};
        rc = cc_circuit_compile(circ, m, names, pairs[i], 2, &fm, NULL, &err);
        if (rc == 0) rc = cc_circuit_measure(circ, &fm, &opt, &r, &err);
        if (rc != 0) cc_fail_prefix(&err, "%s %s", cc_circuit_name(circ), labels[i]);
        cc_fm_free(&fm);
        if (rc == 0) {
            vals[i * 4 + 0] = (double)r.rows.correct[0] / (double)r.n;
            vals[i * 4 + 1] = (double)r.rows.correct[K - 1] / (double)r.n;
            vals[i * 4 + 2] = (double)r.cols.correct[0] / (double)r.n;
            vals[i * 4 + 3] = (double)r.cols.correct[K - 1] / (double)r.n;
        }
        cc_circuit_measurement_free(&r);
    }
    if (rc != 0) {
        free(vals), free(labels);
        cc_model_free(m), cc_circuit_free(circ);
        return cli_fail(&err);
    }
    char *ml = cli_model_label(m->model_path);
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
        rc = cli_print_json(json_pack("{s:s, s:s, s:b, s:i, s:o}", "model", m->model_path, "circuit",
                                      cc_circuit_name(circ), "processing", !common.no_processing, "k", (int)K,
                                      "pairs", arr));
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
    if (common.plot) {
        double *bars = malloc((size_t)np * 2 * sizeof *bars);
        const char **groups = malloc((size_t)np * sizeof *groups);
        char s1[16], sk[16], title[256];
        snprintf(s1, sizeof s1, "top-1");
        snprintf(sk, sizeof sk, "top-%llu", K);
        const char *series[2] = {s1, sk};
        snprintf(title, sizeof title, "%s exact accuracy per %s:%s pair (rows) — model %s%s", cc_circuit_name(circ),
                 names[0], names[1], ml ? ml : "?", common.no_processing ? " (no processing)" : "");
        if (!bars || !groups) {
            cc_fail(&err, "out of memory");
            rc = cli_fail(&err);
        } else {
            for (int i = 0; i < np; i++) groups[i] = labels[i], bars[2 * i] = vals[4 * i], bars[2 * i + 1] = vals[4 * i + 1];
            cc_chart_opts o = {.out = common.plot, .title = title};
            if (cc_chart_bars(&o, "fraction of tokens (exact, whole vocabulary)", np, groups, 2, series, bars, &err) != 0)
                rc = cli_fail(&err);
        }
        free(bars);
        free(groups);
    }
    free(ml);
    free(vals), free(labels);
    cc_model_free(m);
    cc_circuit_free(circ);
    return rc;
}
