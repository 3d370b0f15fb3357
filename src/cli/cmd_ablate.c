/* cmd_ablate.c — `circuitc ablate HEAD...`: zero or mean ablation of attention heads. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "circuitc/heads.h"
#include "runtime.h"

static json_t *stats_json(const cc_repeat_stats *s)
{
    return json_pack("{s:f, s:f, s:f, s:f, s:f}", "loss", s->loss, "first_half_mean_logprob", s->first_mean,
                     "second_half_mean_logprob", s->second_mean, "first_half_accuracy", s->first_acc,
                     "second_half_accuracy", s->second_acc);
}

static const double *g_change;
static int by_abs_change(const void *a, const void *b)
{
    double x = fabs(g_change[*(const int *)a]), y = fabs(g_change[*(const int *)b]);
    if (x != y) return x > y ? -1 : 1;
    return *(const int *)a - *(const int *)b;
}

static int run(const cli_args *args)
{
    rt_opts o;
    rt_begin(args, &o);
    int rc;
    cc_error err;
    cc_head *heads = calloc((size_t)o.n_args, sizeof *heads);
    for (int i = 0; i < o.n_args; i++)
        if (cc_head_parse(o.args[i], NULL, &heads[i], &err) != 0) {
            free(heads);
            return cli_usage_error("ablate", "%s", err.msg);
        }
    cc_model *m = NULL;
    int *tok = NULL;
    cc_ablation a = {0};
    int bad = rt_setup(&o, o.batch, &m, &tok, &err);
    for (int i = 0; !bad && i < o.n_args; i++) bad = cc_head_parse(o.args[i], &m->cfg, &heads[i], &err);
    if (bad || cc_ablate_heads(m, tok, o.batch, o.n, heads, o.n_args, o.mode, CC_KERNEL_FAST, &a, &err) != 0) {
        free(heads), free(tok);
        cc_model_free(m);
        return cli_fail(&err);
    }
    int L = a.n_layers, H = a.n_heads, LH = L * H;
    double *change = malloc((size_t)LH * sizeof *change);
    int *order = malloc((size_t)LH * sizeof *order);
    for (int i = 0; i < LH; i++) change[i] = a.ablated_induction[i] - a.clean_induction[i], order[i] = i;
    g_change = change;
    qsort(order, (size_t)LH, sizeof *order, by_abs_change);
    const char *mode = o.mode == CC_ABLATE_MEAN ? "mean" : "zero";
    char name[32];
    if (o.common.json) {
        json_t *j = rt_json_header(&o, o.batch);
        json_t *jh = json_array(), *ind = json_array();
        for (int i = 0; i < o.n_args; i++) json_array_append_new(jh, json_string(cc_head_name(heads[i], name, sizeof name)));
        for (int r = 0; r < LH; r++) {
            int i = order[r];
            json_array_append_new(ind, json_pack("{s:s, s:f, s:f, s:f}", "head",
                                                 cc_head_name((cc_head){i / H, i % H}, name, sizeof name), "clean",
                                                 a.clean_induction[i], "ablated", a.ablated_induction[i], "change",
                                                 change[i]));
        }
        json_object_set_new(j, "heads", jh);
        json_object_set_new(j, "mode", json_string(mode));
        json_object_set_new(j, "clean", stats_json(&a.clean));
        json_object_set_new(j, "ablated", stats_json(&a.ablated));
        json_object_set_new(j, "loss_change", json_real(a.ablated.loss - a.clean.loss));
        json_object_set_new(j, "second_half_logprob_change", json_real(a.ablated.second_mean - a.clean.second_mean));
        json_object_set_new(j, "induction_scores", ind);
        rc = cli_print_result(j);
    } else {
        rt_print_header(m, &o, o.batch);
        printf("%s ablation of", mode);
        for (int i = 0; i < o.n_args; i++) printf(" %s", cc_head_name(heads[i], name, sizeof name));
        printf(" (hook_z)\n");
        printf("%-9s %10s %12s %12s %10s %10s\n", "", "loss", "1st log-p", "2nd log-p", "1st acc", "2nd acc");
        const cc_repeat_stats *st[2] = {&a.clean, &a.ablated};
        for (int k = 0; k < 2; k++)
            printf("%-9s %10.4f %12.4f %12.4f %10.4f %10.4f\n", k ? "ablated" : "clean", st[k]->loss,
                   st[k]->first_mean, st[k]->second_mean, st[k]->first_acc, st[k]->second_acc);
        printf("loss change %+.4f; second-half mean log-prob change %+.4f\n", a.ablated.loss - a.clean.loss,
               a.ablated.second_mean - a.clean.second_mean);
        int K = o.top < LH ? o.top : LH;
        printf("largest induction-score changes (top %d of %d heads):\n", K, LH);
        printf("  %-7s %9s %9s %10s\n", "head", "clean", "ablated", "change");
        for (int r = 0; r < K; r++) {
            int i = order[r];
            printf("  %-7s %9.4f %9.4f %+10.4f\n", cc_head_name((cc_head){i / H, i % H}, name, sizeof name),
                   a.clean_induction[i], a.ablated_induction[i], change[i]);
        }
        rc = CLI_OK;
    }
    free(change), free(order), free(heads), free(tok);
    cc_ablation_free(&a);
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
