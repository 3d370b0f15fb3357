/* cmd_repeat.c — `circuitc repeat`: correct-token log-probs on repeated random
 * tokens (cc_repeat_report_run, include/circuitc/runtime_report.h). */
#include <math.h>
#include <stdio.h>

#include "plot_cli.h"
#include "progress.h"
#include "runtime.h"

static int run(const cli_args *a)
{
    rt_opts o;
    rt_begin(a, &o);
    cc_error err;
    cc_model *m = NULL;
    cc_repeat_report r = {0};
    int rc = rt_prepare(&o, o.batch, &m, &err);
    if (rc == 0) {
        cc_repeat_input in = rt_input(&o);
        rc = cc_repeat_report_run(m, &in, 0, cli_progress_update, NULL, &r, &err);
    }
    json_t *j = rc == 0 ? cc_repeat_report_json(&r) : NULL;
    if (rc == 0 && !j) rc = cc_fail_code(&err, CC_E_NOMEM, "out of memory");
    if (rc != 0) {
        cc_repeat_report_free(&r);
        cc_model_free(m);
        return cli_fail(&err);
    }
    const cc_repeat_stats *s = &r.stats;
    json_incref(j); /* kept for --plot */
    if (o.common.json) {
        rc = cli_print_result(j);
    } else {
        rt_print_header(m, &o, o.batch);
        printf("%-12s %14s %10s\n", "half", "mean log-prob", "accuracy");
        printf("%-12s %14.4f %10.4f\n", "first", cli_num(s->first_mean, 4), s->first_acc);
        printf("%-12s %14.4f %10.4f\n", "second", cli_num(s->second_mean, 4), s->second_acc);
        printf("loss (mean cross-entropy over all %d x %d predictions) %.4f; chance ln(V) = %.4f\n", o.batch, 2 * o.n,
               s->loss, log((double)r.d_vocab));
        json_decref(j);
        rc = CLI_OK;
    }
    if (o.common.plot && cli_plot_repeat(o.common.plot, j, NULL) != CLI_OK) rc = CLI_FAIL;
    json_decref(j);
    cc_repeat_report_free(&r);
    cc_model_free(m);
    return rc;
}

const cli_command cli_cmd_repeat = {
    .name = "repeat",
    .synopsis = "",
    .summary = "correct-token log-probs on repeated random tokens [BOS, A, A]",
    .description =
        "Runs B sequences [BOS, A, A] with A = n uniform random tokens (golden/FORMAT.md's generator;\n"
        "BOS may appear in A) and reports the log-prob of each correct next token: the means and\n"
        "argmax accuracies over the first half (positions 0..n-1) and the second half (n..2n-1), and\n"
        "the mean cross-entropy loss. An induction circuit shows as a second half far better than\n"
        "the first. --plot: mean log-prob per position, the halves split by a dashed line.\n",
    .examples = "repeat --seq-len 50 --batch 10\n"
                "repeat --seed 3 --json\n",
    .options = (const opt_id[]){O_SEQ_LEN, O_BATCH, O_SEED, O_PLOT, CLI_MODEL_OPTIONS, O_NONE},
    .run = run,
};
