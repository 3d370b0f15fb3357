/* cmd_discover.c — `circuitc discover`: rank (previous-token, induction) head
 * pairs from the weights alone, then, unless --no-runtime, score the ranking
 * against the runtime head detectors: cc_discover_report_run
 * (include/circuitc/discover.h); its table and chart: discover_output.c. */
#include <malloc.h>
#include <stdlib.h>

#include "discover_cli.h"
#include "html_cli.h"
#include "progress.h"

/* The exact phase allocates and frees some 100 MB per pair (the float64
 * factors, their transposes and float32 roundings, 26 MB each at GPT-2's
 * vocabulary): glibc would hand each back to the kernel and fault it in again
 * for the next pair, about 2 s of system time in 18 s of CPU. Blocks under
 * 64 MB come from the heap instead, and the heap is kept (this process ends
 * after one command). */
static void keep_freed_memory(void)
{
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
}

static int run(const cli_args *a)
{
    keep_freed_memory();
    rt_opts o;
    rt_begin(a, &o);
    bool runtime = !a->v[O_NO_RUNTIME].on;
    int samples = a->v[O_BASELINE_SAMPLES].i;
    if (samples < 1) return cli_usage_error("discover", "--baseline-samples must be at least 1: ratios need a baseline");
    cc_error err;
    cc_model *m = NULL;
    int *tokens = NULL;
    cc_discover_report r = {0};
    /* the runtime check runs the whole model; the ranking alone loads its parts (in the call) */
    int rc = runtime ? rt_setup(&o, o.batch, &m, &tokens, &err) : cli_open_model(&a->common, &m, &err);
    if (rc == 0) {
        cc_discover_report_options d;
        cc_discover_report_defaults(&d);
        d.circuit = a->v[O_CIRCUIT].s, d.top = o.top, d.baseline_samples = samples, d.seed = o.seed;
        d.process = !a->common.no_processing;
        d.tokens = tokens, d.batch = o.batch, d.seq_len = o.n;
        d.phase = cli_progress_phase, d.progress = cli_progress_update;
        rc = cc_discover_report_run(m, &d, &r, &err);
        if (rc == 0 && !runtime) cli_parts_loaded(&a->common, m);
    }
    cli_progress_clear();
    if (rc != 0) {
        rc = cli_fail(&err);
    } else if (o.common.json) {
        rc = cli_print_result(cc_discover_report_json(&r));
    } else {
        discover_print_result(m, &r);
        rc = CLI_OK;
    }
    if (r.ranking.pairs && o.common.plot && discover_plot(o.common.plot, m, &r) != CLI_OK) rc = CLI_FAIL;
    if (rc == CLI_OK && o.common.html)
        rc = cli_html_page(&o.common, CC_HTML_TABLES, "discover", cc_discover_report_json(&r));
    cc_discover_report_free(&r);
    free(tokens);
    cc_model_free(m);
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
    .options = (const opt_id[]){O_CIRCUIT, O_TOP, O_BASELINE_SAMPLES, O_SEED, O_SEQ_LEN, O_BATCH, O_NO_RUNTIME, O_PLOT, O_HTML,
                                CLI_MODEL_OPTIONS, O_NONE},
    .run = run,
};
