/* cmd_ablate.c — `circuitc ablate HEAD...`: zero or mean ablation of attention
 * heads on repeated random tokens or on prompts (cc_ablate_report_run,
 * include/circuitc/runtime_report.h). */
#include <stdio.h>
#include <stdlib.h>

#include "circuitc/charts.h"
#include "circuitc/heads.h"
#include "plot_cli.h"
#include "progress.h"
#include "runtime.h"

/* The colour scale reaches at least +-0.1 of a score in [0, 1], so that noise
 * near 0 is not drawn saturated. */
#define ABLATE_SCALE_FLOOR 0.1

/* The K largest induction-score changes of R (CLEAN and ABLATED [L*H]), SCORE naming the score. */
static void print_changes(const cc_ablate_report *r, int top, int L, int H, const double *clean,
                          const double *ablated, const char *score)
{
    char name[32];
    int LH = L * H, K = top < LH ? top : LH;
    printf("largest %s-score changes (top %d of %d heads):\n", score, K, LH);
    printf("  %-7s %9s %9s %10s\n", "head", "clean", "ablated", "change");
    for (int k = 0; k < K; k++) {
        int i = r->order[k];
        printf("  %-7s %9.4f %9.4f %+10.4f\n", cc_head_name((cc_head){i / H, i % H}, name, sizeof name),
               cli_num(clean[i], 4), cli_num(ablated[i], 4), cli_num(r->change[i], 4));
    }
}

static void print_ablated(const cc_ablate_report *r)
{
    char name[32];
    printf("%s ablation of", r->mode == CC_ABLATE_MEAN ? "mean" : "zero");
    for (int i = 0; i < r->n_ablated; i++) printf(" %s", cc_head_name(r->ablated[i], name, sizeof name));
    printf(" (hook_z)\n");
}

static void print_repeated(const cc_model *m, const rt_opts *o, const cc_ablate_report *r)
{
    const cc_ablation *a = &r->ablation;
    rt_print_header(m, o, o->batch);
    print_ablated(r);
    printf("%-9s %10s %12s %12s %10s %10s\n", "", "loss", "1st log-p", "2nd log-p", "1st acc", "2nd acc");
    const cc_repeat_stats *st[2] = {&a->clean, &a->ablated};
    for (int k = 0; k < 2; k++)
        printf("%-9s %10.4f %12.4f %12.4f %10.4f %10.4f\n", k ? "ablated" : "clean", st[k]->loss,
               cli_num(st[k]->first_mean, 4), cli_num(st[k]->second_mean, 4), st[k]->first_acc, st[k]->second_acc);
    printf("loss change %+.4f; second-half mean log-prob change %+.4f\n", cli_num(a->ablated.loss - a->clean.loss, 4),
           cli_num(a->ablated.second_mean - a->clean.second_mean, 4));
    print_changes(r, o->top, a->n_layers, a->n_heads, a->clean_induction, a->ablated_induction, "induction");
}

static void print_prompts(const cc_model *m, const cc_prompt_batch *b, int top, const cc_ablate_report *r)
{
    const cc_token_ablation *a = &r->on_prompts;
    rt_print_prompt_header(m, b);
    print_ablated(r);
    printf("%-9s %10s %12s %10s   (every next-token prediction)\n", "", "loss", "mean log-p", "accuracy");
    const cc_token_stats *st[2] = {&a->clean, &a->ablated};
    for (int k = 0; k < 2; k++)
        printf("%-9s %10.4f %12.4f %10.4f\n", k ? "ablated" : "clean", st[k]->loss, cli_num(st[k]->mean_logprob, 4),
               st[k]->accuracy);
    printf("loss change %+.4f\n", cli_num(a->ablated.loss - a->clean.loss, 4));
    print_changes(r, top, a->n_layers, a->n_heads, a->clean_induction, a->ablated_induction,
                  "detect_head induction_head");
}

/* --plot: every head's induction-score change, the ablated heads framed. */
static int plot_changes(const char *out, const cc_model *m, const cc_ablate_report *r)
{
    cc_error err;
    bool on_prompts = r->prompts != NULL;
    double clean = on_prompts ? r->on_prompts.clean.loss : r->ablation.clean.loss,
           ablated = on_prompts ? r->on_prompts.ablated.loss : r->ablation.ablated.loss;
    int H = cc_model_config(m)->n_heads, *flat = malloc((size_t)r->n_ablated * sizeof *flat);
    char *model = cli_model_label(cc_model_path(m)), *title = NULL, sub[256];
    if (asprintf(&title, "ablation — model %s, %s", model,
                 on_prompts ? "on the prompt" : "on repeated random tokens") < 0)
        title = NULL;
    int n = snprintf(sub, sizeof sub, "%s ablation of", r->mode == CC_ABLATE_MEAN ? "mean" : "zero");
    for (int i = 0; flat && i < r->n_ablated; i++) {
        flat[i] = r->ablated[i].layer * H + r->ablated[i].head;
        if (n < (int)sizeof sub) n += snprintf(sub + n, sizeof sub - n, " L%dH%d", r->ablated[i].layer, r->ablated[i].head);
    }
    if (n < (int)sizeof sub)
        snprintf(sub + n, sizeof sub - n, " (framed): loss %.4f -> %.4f (%+.4f)", clean, ablated, cli_num(ablated - clean, 4));
    cc_chart_opts o = {.out = out, .title = title ? title : "ablation", .scale_floor = ABLATE_SCALE_FLOOR};
    int rc = flat ? cc_chart_ablate(&o, cc_model_config(m)->n_layers, H, r->change, r->n_ablated, flat,
                                    on_prompts ? "change of detect_head's induction_head score" : "induction score change",
                                    sub, &err)
                  : cc_fail_code(&err, CC_E_NOMEM, "out of memory");
    free(flat), free(model), free(title);
    return rc == 0 ? CLI_OK : cli_fail(&err);
}

/* The HEAD... arguments into *HEADS (checked against CFG when not NULL). */
static int parse_heads(const rt_opts *o, const cc_config *cfg, cc_head *heads, cc_error *err)
{
    for (int i = 0; i < o->n_args; i++)
        if (cc_head_parse(o->args[i], cfg, &heads[i], err) != 0) return -1;
    return 0;
}

static int run(const cli_args *args)
{
    rt_opts o;
    prompt_opts po;
    bool on_prompt = prompt_given(args);
    int rc = on_prompt ? rt_begin_prompt(args, &po) : -1;
    if (rc >= 0) return rc;
    rt_begin(args, &o);
    cc_error err;
    cc_head *heads = calloc((size_t)o.n_args, sizeof *heads);
    if (!heads) return cc_fail_code(&err, CC_E_NOMEM, "out of memory"), cli_fail(&err);
    if (parse_heads(&o, NULL, heads, &err) != 0) return free(heads), cli_usage_error("ablate", "%s", err.msg);
    cc_model *m = NULL;
    cc_prompt_batch b = {0};
    cc_ablate_report r = {0};
    rc = on_prompt ? prompt_setup(&po, 0, &m, &b, &err) : rt_prepare(&o, o.batch, &m, &err);
    if (rc == 0) rc = parse_heads(&o, cc_model_config(m), heads, &err);
    if (rc == 0) {
        cc_ablate_options ao = {.input = rt_input(&o), .n_heads = o.n_args, .heads = heads, .mode = o.mode,
                                .progress = cli_progress_update, .prompts = on_prompt ? &b : NULL};
        rc = cc_ablate_report_run(m, &ao, &r, &err);
    }
    if (rc != 0) rc = cli_fail(&err);
    else if (o.common.json) rc = cli_print_result(cc_ablate_report_json(&r));
    else if (on_prompt) print_prompts(m, &b, o.top, &r), rc = CLI_OK;
    else print_repeated(m, &o, &r), rc = CLI_OK;
    if (rc == CLI_OK && o.common.plot) rc = plot_changes(o.common.plot, m, &r);
    free(heads);
    cc_ablate_report_free(&r);
    cc_prompt_batch_free(&b);
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
        "changes in the human view). Heads are L<layer>H<head> or <layer>.<head>.\n"
        "With --prompt, --prompt-file or --tokens the heads are ablated on the prompts instead (all\n"
        "of one length; the mean over their positions): the loss, mean log-prob and accuracy of\n"
        "every next-token prediction, the log-prob change at each position (--json), and every\n"
        "head's detect_head induction_head score, which needs no repeat length.\n"
        "--plot: every head's score change as a layer x head heatmap, the ablated heads framed.\n",
    .examples = "ablate L0H0\n"
                "ablate L0H0 L0H1 --ablate zero --top 5 --json\n"
                "ablate L1H0 --tokens 511,17,301,99,4,17,301,99\n"
                "ablate L0H0 --plot /tmp/ablate.png\n",
    .options = (const opt_id[]){O_ABLATE, O_SEQ_LEN, O_BATCH, O_SEED, O_TOP, O_PLOT, CLI_PROMPT_OPTIONS,
                                CLI_MODEL_OPTIONS, O_NONE},
    .run = run,
};
