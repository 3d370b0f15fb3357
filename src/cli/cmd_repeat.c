/* cmd_repeat.c — `circuitc repeat`: correct-token log-probs on repeated random tokens. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "plot_cli.h"
#include "runtime.h"

static const char *HELP =
    "Usage: circuitc repeat [--seq-len N] [--batch B] [--seed S] [--model PATH] [--json]\n\n"
    "Runs BATCH sequences [BOS, A, A] with A = N uniform random tokens (golden/FORMAT.md's\n"
    "generator; BOS may appear in A) and reports the log-prob of each correct next token:\n"
    "the means and argmax accuracies over the first half (positions 0..N-1) and the second\n"
    "half (N..2N-1), and the mean cross-entropy loss. An induction circuit shows as a second\n"
    "half far better than the first.\n\n"
    "Options:\n"
    "  --seq-len N        length of the repeated block A (default 50; 1+2N <= n_ctx)\n"
    "  --batch B          number of sequences (default 30)\n"
    "  --seed S           token seed (default 0)\n";

int cmd_repeat(int argc, char **argv)
{
    rt_opts o = {.n = 50, .batch = 30};
    int rc = rt_parse("repeat", argc, argv, RT_SEQ_LEN | RT_BATCH | RT_SEED | RT_PLOT, HELP, &o);
    if (rc >= 0) return rc;
    if (o.n_args > 0) return cli_usage_error("repeat", "unexpected argument \"%s\"", o.args[0]);
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
    json_t *j = rt_json_header("repeat", m, &o, B);
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
        rc = cli_print_json(j);
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
