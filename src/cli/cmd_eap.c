/* cmd_eap.c — `circuitc eap`: edge attribution patching (EAP, EAP-IG) on a
 * batch of prompt pairs, the top edges, a circuit and the faithfulness curve
 * (circuitc/eap_run.h does the work; docs/eap.md says what each number means). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "circuitc/act_cache.h"
#include "circuitc/charts.h"
#include "circuitc/eap_run.h"
#include "circuitc/fsio.h"
#include "plot_cli.h"
#include "progress.h"
#include "tokenize_cli.h"

#define REPEAT_HALF 8 /* --task repeat: the repeated block's length when --seq-len is not given */

/* The tokenizer of the built-in text tasks and of --pairs files (NULL: none could be opened, and NEED says
 * whether that is an error). */
static int open_tokenizer(const cli_args *a, bool need, tokenize_setup *ts, cc_error *err)
{
    if (tokenize_open(&a->common, a->v[O_TOKENIZER].s, false, ts, err) == 0) return 0;
    ts->tok = NULL;
    return need ? -1 : 0;
}

static int load_pairs(const cli_args *a, const cc_model *m, cc_eap_pairs *p, cc_error *err)
{
    tokenize_setup ts = {0};
    int task = a->v[O_TASK].choice, n = a->v[O_BATCH].i, rc;
    unsigned long long seed = a->v[O_SEED].u;
    if (a->v[O_PAIRS].given) {
        if (open_tokenizer(a, false, &ts, err) != 0) return -1;
        rc = cc_eap_pairs_load(a->v[O_PAIRS].s, m, ts.tok, p, err);
    } else if (task == 0) {
        return cc_eap_pairs_repeat(m, n, a->v[O_SEQ_LEN].given ? a->v[O_SEQ_LEN].i : REPEAT_HALF, seed, p, err);
    } else {
        if (open_tokenizer(a, true, &ts, err) != 0) return -1;
        rc = task == 1 ? cc_eap_pairs_ioi(m, ts.tok, n, seed, p, err)
                       : cc_eap_pairs_greater_than(m, ts.tok, n, seed, p, err);
    }
    cc_tokenizer_free(ts.tok);
    return rc;
}

static void print_text(const cc_model *m, const cc_eap_run_result *r, int top)
{
    const cc_eap_graph *g = &r->graph;
    char name[96];
    printf("model %s (%s)\n", cc_model_path(m), cc_model_processed(m) ? "processed" : "unprocessed");
    if (r->opts.ig_steps) printf("EAP-IG, %d steps", r->opts.ig_steps);
    else printf("EAP");
    printf(", metric %s, %d pairs", cc_pair_metric_name(r->opts.metric), r->n_pairs);
    if (!isnan(r->curve.clean)) printf(": clean %.5g, corrupt %.5g", r->curve.clean, r->curve.corrupt);
    printf("; %ld edges\n", g->n_edges);
    printf("%4s %12s  %s\n", "rank", "score", "edge (sender->receiver)");
    for (long i = 0; i < g->n_edges && i < top; i++)
        printf("%4ld %+12.5g  %s\n", i + 1, r->scores[r->order[i]], cc_eap_edge_name(g, r->order[i], name, sizeof name));
    if (r->circuit) {
        printf("circuit (%s %ld): %ld edges after pruning, metric %.5g, faithfulness %.1f%%\n",
               r->opts.selection == CC_EAP_GREEDY ? "greedy" : "top-n", r->opts.circuit_edges, r->circuit_kept,
               cli_num(r->circuit_metric, CLI_NUM_G), cli_num(100 * r->circuit_faithfulness, 1));
        for (long e = 0; e < g->n_edges; e++)
            if (r->circuit[e]) printf("  %s\n", cc_eap_edge_name(g, e, name, sizeof name));
    }
    if (!r->curve.n_points) return;
    printf("faithfulness curve: (metric - corrupt) / (clean - corrupt)\n%8s %8s %12s %12s\n", "asked", "edges",
           "metric", "faithful");
    for (int i = 0; i < r->curve.n_points; i++)
        printf("%8ld %8ld %12.5g %11.1f%%\n", r->curve.asked[i], r->curve.edges[i],
               cli_num(r->curve.metric[i], CLI_NUM_G), cli_num(100 * r->curve.faithfulness[i], 1));
}

/* --plot: the faithfulness curve as one bar per circuit size, labelled "asked/kept after pruning"; a
 * value outside [0, 1] is written on its bar, which the chart clips. */
static int plot_curve(const char *out, const cc_model *m, const cc_eap_run_result *r)
{
    const cc_eap_curve *c = &r->curve;
    char (*labels)[48] = malloc((size_t)c->n_points * sizeof *labels);
    const char **groups = malloc((size_t)c->n_points * sizeof *groups);
    char *model = cli_model_label(cc_model_path(m)), title[256];
    cc_error err;
    int rc = CLI_FAIL;
    if (!labels || !groups || !model) {
        cc_fail_code(&err, CC_E_NOMEM, "out of memory");
        rc = cli_fail(&err);
        goto out;
    }
    for (int i = 0; i < c->n_points; i++) {
        snprintf(labels[i], sizeof labels[i], "%ld/%ld", c->asked[i], c->edges[i]);
        groups[i] = labels[i];
    }
    snprintf(title, sizeof title, "%s faithfulness by circuit size (edges asked/kept) — model %s, %s, %d pairs",
             r->opts.ig_steps ? "EAP-IG" : "EAP", model, cc_pair_metric_name(r->opts.metric), r->n_pairs);
    cc_chart_opts o = {.out = out, .title = title};
    rc = cc_chart_bars(&o, "(metric - corrupt) / (clean - corrupt)", c->n_points, groups, 1,
                       (const char *const[]){"faithfulness"}, c->faithfulness, &err) == 0 ? CLI_OK : cli_fail(&err);
out:
    free(labels), free(groups), free(model);
    return rc;
}

static int run(const cli_args *a)
{
    if (a->v[O_PAIRS].given && a->v[O_TASK].given)
        return cli_usage_error("eap", "--pairs and --task both give prompt pairs: pass one");
    bool scores_only = a->v[O_SCORES_ONLY].on;
    if (scores_only && (a->v[O_TOP_N].given || a->v[O_GREEDY].on || a->common.plot))
        return cli_usage_error("eap", "--scores-only measures no circuit and no curve: drop --top-n, --greedy and "
                                      "--plot, or --scores-only");
    cli_common common = a->common;
    cc_error err;
    cc_cache_format fmt;
    const char *scores_out = a->v[O_SCORES_OUT].s;
    if (scores_out && cc_cache_format_of(scores_out, &fmt, &err) != 0)
        return cli_usage_error("eap", "--scores %s: name the scores file FILE.safetensors or FILE.npz (the extension "
                                      "picks the format)", scores_out);
    if (scores_out && cc_out_check(scores_out, NULL, &err) != 0) return cli_usage_error("eap", "%s", err.msg);
    cc_model *m = NULL;
    if (cli_load_model(&common, &m, &err) != 0) return cli_fail(&err);
    cc_eap_pairs p = {0};
    cc_eap_run_result r = {0};
    cc_eap_run_options o = {.metric = (cc_pair_metric)a->v[O_EAP_METRIC].choice,
                            .ig_steps = a->v[O_IG_STEPS].i,
                            .selection = a->v[O_GREEDY].on ? CC_EAP_GREEDY : CC_EAP_TOPN,
                            .circuit_edges = scores_only ? 0 : a->v[O_TOP_N].i, .kernel = CC_KERNEL_FAST,
                            .no_curve = scores_only, .progress = cli_progress_update};
    int rc = CLI_OK;
    cli_progress_begin("eap");
    if (load_pairs(a, m, &p, &err) != 0 || cc_eap_run(m, &p, &o, &r, &err) != 0 ||
        (scores_out && cc_eap_scores_write(scores_out, &r.graph, r.scores, &err) != 0))
        rc = cli_fail(&err);
    else if (common.json) rc = cli_print_result(cc_eap_run_json(&r));
    else print_text(m, &r, a->v[O_TOP].i);
    if (rc == CLI_OK && common.plot) rc = plot_curve(common.plot, m, &r);
    cc_eap_run_result_free(&r);
    cc_eap_pairs_free(&p);
    cc_model_free(m);
    return rc;
}

const cli_command cli_cmd_eap = {
    .name = "eap",
    .synopsis = "",
    .summary = "edge attribution patching (EAP, EAP-IG): edge scores, a circuit and its faithfulness",
    .description =
        "Scores every edge of the model's graph (senders: the input embedding, each head, each MLP;\n"
        "receivers: each head's q, k and v input, each MLP's input, the logits) by EAP-IG (--ig-steps\n"
        "N, default 5) or EAP (--ig-steps 0): (corrupted - clean output of the sender) . the gradient\n"
        "of the metric at the receiver's input, summed over positions, averaged over the prompt pairs\n"
        "(the gradient averaged over N runs whose token embedding goes from the corrupted one to the\n"
        "clean one). Pairs come from --pairs FILE or --task (repeat: [BOS, A, A'] with the second\n"
        "half corrupted, --batch pairs, --seq-len the block length, default 8). Prints the --top\n"
        "edges by |score|, the circuit of --top-n edges (or --greedy), pruned to paths from the input\n"
        "to the logits, with its faithfulness: the metric of the clean run with every edge outside\n"
        "the circuit carrying its corrupted value, as (metric - corrupt) / (clean - corrupt); then\n"
        "that curve at 1, 2, 4, ... edges. --plot: the curve as bars, one per circuit size.\n"
        "--scores-only: the scores and the top edges alone (no circuit, no curve: about half the time).\n"
        "--scores FILE: every edge's score as float64 arrays numpy or safetensors load, written\n"
        "complete or not at all. See docs/eap.md.\n",
    .examples = "eap --task repeat --batch 10 --top-n 8 --plot eap.svg\n"
                "eap --ig-steps 0 --greedy --top-n 10 --seq-len 6 --json\n"
                "eap --metric kl --batch 4 --scores /tmp/eap-scores.npz\n"
                "eap --scores-only --batch 4 --scores /tmp/eap-scores.safetensors\n",
    .options = (const opt_id[]){O_PAIRS, O_TASK, O_EAP_METRIC, O_IG_STEPS, O_TOP_N, O_GREEDY, O_TOP, O_BATCH,
                                O_SEQ_LEN, O_SEED, O_TOKENIZER, O_SCORES_OUT, O_SCORES_ONLY, O_PLOT, CLI_MODEL_OPTIONS, O_NONE},
    .run = run,
};
