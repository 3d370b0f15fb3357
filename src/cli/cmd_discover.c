/* cmd_discover.c — `circuitc discover`: rank (previous-token, induction) head
 * pairs from the weights alone (include/circuitc/discover.h), then, unless
 * --no-runtime, score the ranking against the runtime head detectors (its
 * output: discover_output.c). */
#include <stdlib.h>
#include <string.h>

#include "discover_cli.h"
#include "progress.h"

/* The runtime truth: heads at least this strong (validate's defaults). */
static const double PREV_THRESHOLD = 0.5, INDUCTION_THRESHOLD = 0.4;

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
    *out = (runtime_check){.ran = true, .K = K, .prev_threshold = PREV_THRESHOLD,
                           .induction_threshold = INDUCTION_THRESHOLD};
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
        rc = cli_print_result(discover_result_json(m, circuit, &d, o.top, &rt, &o, samples));
    } else {
        discover_print_result(m, circuit, &d, o.top, &rt, &o, samples);
        rc = CLI_OK;
    }
    if (d.pairs && o.common.plot && discover_plot(o.common.plot, m, circuit, &d, &rt) != CLI_OK) rc = CLI_FAIL;
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
