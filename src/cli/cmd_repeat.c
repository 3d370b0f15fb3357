/* cmd_repeat.c — `circuitc repeat`: correct-token log-probs on repeated random tokens. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "plot_cli.h"
#include "runtime.h"

static int run(const cli_args *a)
{
    rt_opts o;
    rt_begin(a, &o);
    int rc;
    cc_error err;
    cc_model *m = NULL;
    int *tok = NULL;
    cc_repeat_stats s = {0};
    if (rt_setup(&o, o.batch, &m, &tok, &err) != 0 || cc_repeat_run(m, tok, o.batch, o.n, CC_KERNEL_FAST, &s, &err)) {
        free(tok);
        cc_model_free(m);
        return cli_fail(&err);
    }
    int n = o.n, B = o.batch;
    json_t *j = rt_json_header(&o, B);
    json_t *per_pos = json_array(), *per_seq = json_array();
    for (int i = 0; i < 2 * n; i++) {
        double sum = 0;
        for (int b = 0; b < B; b++) sum += s.logprob[(size_t)b * 2 * n + i];
        json_array_append_new(per_pos, json_real(sum / B));
    }
    for (int b = 0; b < B; b++) json_array_append_new(per_seq, json_real(s.loss_per_seq[b]));
    json_object_set_new(j, "first_half", json_pack("{s:f, s:f}", "mean_logprob", s.first_mean, "accuracy", s.first_acc));
    json_object_set_new(j, "second_half",
                        json_pack("{s:f, s:f}", "mean_logprob", s.second_mean, "accuracy", s.second_acc));
    json_object_set_new(j, "loss", json_real(s.loss));
    json_object_set_new(j, "loss_per_seq", per_seq);
    json_object_set_new(j, "mean_logprob_per_position", per_pos);
    json_incref(j); /* kept for --plot */
    if (o.common.json) {
        rc = cli_print_result(j);
    } else {
        rt_print_header(m, &o, B);
        printf("%-12s %14s %10s\n", "half", "mean log-prob", "accuracy");
        printf("%-12s %14.4f %10.4f\n", "first", s.first_mean, s.first_acc);
        printf("%-12s %14.4f %10.4f\n", "second", s.second_mean, s.second_acc);
        printf("loss (mean cross-entropy over all %d x %d predictions) %.4f; chance ln(V) = %.4f\n", B, 2 * n, s.loss,
               log((double)m->cfg.d_vocab));
        json_decref(j);
        rc = CLI_OK;
    }
    if (o.common.plot && cli_plot_repeat(o.common.plot, j, NULL) != CLI_OK) rc = CLI_FAIL;
    json_decref(j);
    cc_repeat_stats_free(&s);
    free(tok);
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
