/* cmd_ablate.c — `circuitc ablate HEAD...`: zero or mean ablation of attention
 * heads (cc_ablate_report_run, include/circuitc/runtime_report.h). */
#include <stdio.h>
#include <stdlib.h>

#include "circuitc/heads.h"
#include "progress.h"
#include "runtime.h"

static void print_human(const cc_model *m, const rt_opts *o, const cc_ablate_report *r)
{
    const cc_ablation *a = &r->ablation;
    int H = a->n_heads, LH = a->n_layers * H;
    char name[32];
    rt_print_header(m, o, o->batch);
    printf("%s ablation of", r->mode == CC_ABLATE_MEAN ? "mean" : "zero");
    for (int i = 0; i < r->n_ablated; i++) printf(" %s", cc_head_name(r->ablated[i], name, sizeof name));
    printf(" (hook_z)\n");
    printf("%-9s %10s %12s %12s %10s %10s\n", "", "loss", "1st log-p", "2nd log-p", "1st acc", "2nd acc");
    const cc_repeat_stats *st[2] = {&a->clean, &a->ablated};
    for (int k = 0; k < 2; k++)
        printf("%-9s %10.4f %12.4f %12.4f %10.4f %10.4f\n", k ? "ablated" : "clean", st[k]->loss,
               cli_num(st[k]->first_mean, 4), cli_num(st[k]->second_mean, 4), st[k]->first_acc, st[k]->second_acc);
    printf("loss change %+.4f; second-half mean log-prob change %+.4f\n", cli_num(a->ablated.loss - a->clean.loss, 4),
           cli_num(a->ablated.second_mean - a->clean.second_mean, 4));
    int K = o->top < LH ? o->top : LH;
    printf("largest induction-score changes (top %d of %d heads):\n", K, LH);
    printf("  %-7s %9s %9s %10s\n", "head", "clean", "ablated", "change");
    for (int k = 0; k < K; k++) {
        int i = r->order[k];
        printf("  %-7s %9.4f %9.4f %+10.4f\n", cc_head_name((cc_head){i / H, i % H}, name, sizeof name),
               cli_num(a->clean_induction[i], 4), cli_num(a->ablated_induction[i], 4), cli_num(r->change[i], 4));
    }
}

static int run(const cli_args *args)
{
    rt_opts o;
    rt_begin(args, &o);
    cc_error err;
    cc_head *heads = calloc((size_t)o.n_args, sizeof *heads);
    if (!heads) return cc_fail_code(&err, CC_E_NOMEM, "out of memory"), cli_fail(&err);
    for (int i = 0; i < o.n_args; i++)
        if (cc_head_parse(o.args[i], NULL, &heads[i], &err) != 0) {
            free(heads);
            return cli_usage_error("ablate", "%s", err.msg);
        }
    cc_model *m = NULL;
    cc_ablate_report r = {0};
    int rc = rt_prepare(&o, o.batch, &m, &err);
    for (int i = 0; rc == 0 && i < o.n_args; i++) rc = cc_head_parse(o.args[i], cc_model_config(m), &heads[i], &err);
    if (rc == 0) {
        cc_ablate_options ao = {.input = rt_input(&o), .n_heads = o.n_args, .heads = heads, .mode = o.mode,
                                .progress = cli_progress_update};
        rc = cc_ablate_report_run(m, &ao, &r, &err);
    }
    if (rc != 0) rc = cli_fail(&err);
    else if (o.common.json) rc = cli_print_result(cc_ablate_report_json(&r));
    else print_human(m, &o, &r), rc = CLI_OK;
    free(heads);
    cc_ablate_report_free(&r);
    cc_model_free(m);
    return rc;
}

const cli_command cli_cmd_ablate = {
    .name = "ablate",
    .synopsis = "HEAD...",
    .arg_noun = "head",
    .min_args = 1,
    .max_args = -1,
    .summary = "mean or zero ablation of heads: loss and induction-score changes",
    .description =
        "Ablates the given heads together on B repeated random sequences [BOS, A, A] (|A| = n):\n"
        "their output blocks.L.attn.hook_z is set to its mean over the batch and every position in\n"
        "the clean run (--ablate mean) or to zero (--ablate zero). Reports the repeat statistics and\n"
        "loss before and after, and the change of every head's induction score (the K largest\n"
        "changes in the human view). Heads are L<layer>H<head> or <layer>.<head>.\n",
    .examples = "ablate L0H0\n"
                "ablate L0H0 L0H1 --ablate zero --top 5 --json\n",
    .options = (const opt_id[]){O_ABLATE, O_SEQ_LEN, O_BATCH, O_SEED, O_TOP, CLI_MODEL_OPTIONS, O_NONE},
    .run = run,
};
