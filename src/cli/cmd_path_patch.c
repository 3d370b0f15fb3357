/* cmd_path_patch.c — `circuitc path-patch SENDER RECEIVER...`: path patching
 * from sender heads to the receivers' q, k or v input on a prompt pair. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/charts.h"
#include "patch_pair.h"
#include "plot_cli.h"
#include "progress.h"

/* The layer x head heatmap of "all" senders' normalised effects (the patched
 * metric when the clean and corrupted metrics are equal). */
static int plot_senders(const char *out, const cc_model *m, const char *recv, const char *to, const cc_path_result *r,
                        int layers)
{
    int H = cc_model_config(m)->n_heads, rc = CLI_FAIL;
    bool norm = patch_normalisable(r->clean, r->corrupt);
    char **rows = calloc((size_t)layers, sizeof *rows), **cols = calloc((size_t)H, sizeof *cols);
    char *title = NULL, *sub = NULL, *model = cli_model_label(cc_model_path(m));
    bool ok = rows && cols && model;
    for (int l = 0; ok && l < layers; l++) ok = asprintf(&rows[l], "layer %d", l) >= 0 || (rows[l] = NULL);
    for (int h = 0; ok && h < H; h++) ok = asprintf(&cols[h], "head %d", h) >= 0 || (cols[h] = NULL);
    if (ok && asprintf(&title, "path patching: every sender -> %s %s — model %s", recv, to, model) < 0)
        ok = false, title = NULL;
    if (ok && asprintf(&sub, "%s; clean %.4f, corrupt %.4f", norm ? "(patched - clean) / (clean - corrupt): -1 = the "
                             "path carries the whole change" : "patched metric",
                             cli_num(r->clean, 4), cli_num(r->corrupt, 4)) < 0)
        ok = false, sub = NULL;
    if (!ok) {
        fprintf(stderr, "circuitc path-patch: --plot: out of memory\n");
    } else {
        /* normalised scores: +-1 is the whole effect, so the scale never shrinks below it */
        cc_chart_opts co = {.out = out, .title = title, .scale_floor = norm ? 1.0 : 0.0};
        cc_error err;
        if (cc_chart_heatmap(&co, layers, H, norm ? r->normalized : r->value, (const char *const *)rows,
                             (const char *const *)cols, "sender head", "sender layer",
                             norm ? "normalised path effect" : "patched metric", sub, &err) != 0)
            cli_fail(&err);
        else rc = CLI_OK;
    }
    for (int l = 0; rows && l < layers; l++) free(rows[l]);
    for (int h = 0; cols && h < H; h++) free(cols[h]);
    free(rows), free(cols), free(title), free(sub), free(model);
    return rc;
}

/* The text output: the pair, the metric and one line per sender. */
static void print_text(const cc_model *m, const cc_prompt_pair *pp, const cc_path_result *r, const cc_head *send,
                       int n_send, const char *rn, const char *to)
{
    char hn[32];
    printf("model %s (%s)\n", cc_model_path(m), cc_model_processed(m) ? "processed" : "unprocessed");
    patch_pair_print(pp, r->clean, r->corrupt);
    printf("path patching sender -> %s %s input: the clean run with the sender's z from the corrupted run and "
           "every other head's z frozen; normalised (patched - clean) / (clean - corrupt)\n", rn, to);
    printf("%-8s %10s %10s\n", "sender", "normalised", "metric");
    for (int s = 0; s < n_send; s++) {
        printf("%-8s", cc_head_name(send[s], hn, sizeof hn));
        patch_print_normalised(r->normalized[s]);
        printf(" %10.4f\n", cli_num(r->value[s], 4));
    }
}

static int run(const cli_args *a)
{
    cli_common common = a->common;
    cc_error err;
    cc_model *m = NULL;
    if (!patch_pair_given(a))
        return cli_usage_error("path-patch", "give the prompt pair: --clean TEXT --corrupt TEXT (or --clean-tokens "
                                             "IDS --corrupt-tokens IDS)");
    bool all = strcmp(a->pos[0], "all") == 0;
    if (common.plot && !all)
        return cli_usage_error("path-patch", "--plot draws the sender x receiver heatmap of SENDER all");
    if (cli_load_model(&common, &m, &err) != 0) return cli_fail(&err);
    static const cc_hook_kind TO[] = {CC_HOOK_Q, CC_HOOK_K, CC_HOOK_V};
    int n_recv = a->n_pos - 1, lowest = cc_model_config(m)->n_layers, rc = CLI_OK;
    cc_head *recv = malloc((size_t)n_recv * sizeof *recv), send;
    cc_prompt_pair pp = {0};
    cc_path_patch_report r = {0};
    if (!recv) rc = cli_fail(&(cc_error){.msg = "out of memory", .code = CC_E_NOMEM});
    for (int i = 0; rc == CLI_OK && i < n_recv; i++) {
        if (cc_head_parse(a->pos[1 + i], cc_model_config(m), &recv[i], &err) != 0)
            rc = cli_usage_error("path-patch", "RECEIVER: %s", err.msg);
        else if (recv[i].layer < lowest) lowest = recv[i].layer;
    }
    if (rc == CLI_OK && all && lowest == 0)
        rc = cli_usage_error("path-patch", "SENDER all: the receivers are in layer 0, so no head sends to them");
    if (rc == CLI_OK && !all && cc_head_parse(a->pos[0], cc_model_config(m), &send, &err) != 0)
        rc = cli_usage_error("path-patch", "SENDER: %s", err.msg);
    if (rc == CLI_OK) rc = patch_pair_load(a, m, &pp);
    if (rc != CLI_OK) goto out;
    cc_path_patch_options o = {.senders = all ? NULL : &send, .n_senders = all ? 0 : 1, .receivers = recv,
                               .n_receivers = n_recv, .to = TO[a->v[O_TO].choice], .kernel = CC_KERNEL_FAST,
                               .progress = cli_progress_update};
    cli_progress_begin("path-patch");
    if (cc_path_patch_run(m, &pp, &o, &r, &err) != 0) {
        rc = cli_fail(&err);
        goto out;
    }
    char hn[32], rn[256] = "";
    for (int i = 0; i < n_recv; i++)
        snprintf(rn + strlen(rn), sizeof rn - strlen(rn), "%s%s", i ? "+" : "", cc_head_name(recv[i], hn, sizeof hn));
    const char *to = cc_patch_hook_name(o.to);
    if (common.json) rc = cli_print_result(cc_path_patch_json(&pp, &r));
    else print_text(m, &pp, &r.result, r.senders, r.n_senders, rn, to);
    if (rc == CLI_OK && common.plot && plot_senders(common.plot, m, rn, to, &r.result, lowest) != CLI_OK) rc = CLI_FAIL;
out:
    cc_path_patch_report_free(&r);
    cc_prompt_pair_free(&pp);
    free(recv);
    cc_model_free(m);
    return rc;
}

const cli_command cli_cmd_path_patch = {
    .name = "path-patch",
    .synopsis = "SENDER RECEIVER...",
    .arg_noun = "head",
    .min_args = 2,
    .max_args = -1,
    .summary = "path patching: a sender head's effect through the receivers' q, k or v",
    .description =
        "Path patching as in the IOI paper and ARENA's exercise, on a prompt pair (--clean/--corrupt\n"
        "or --clean-tokens/--corrupt-tokens): (1) run the clean prompt with SENDER's hook_z taken from\n"
        "the corrupted run and every other head's hook_z frozen to its clean value (MLPs recomputed),\n"
        "keeping the RECEIVER heads' hook_q, hook_k or hook_v (--to); (2) run the clean prompt with\n"
        "those receiver inputs patched in and measure the metric. Reports the metric and\n"
        "(patched - clean) / (clean - corrupt): 0 = the path carries nothing, -1 = all of the\n"
        "clean-to-corrupt change. SENDER all: every head in the layers below the lowest receiver\n"
        "(--plot: their layer x head heatmap). Heads: L9H9 or 9.9.\n",
    .examples = "path-patch L0H0 L1H0 --to k --clean-tokens 511,10,20,30,40,50,10 --corrupt-tokens "
                "511,10,20,30,40,60,70 --answer '#20' --wrong '#99'\n"
                "path-patch all L2H1 --to q --clean-tokens 511,10,20,30,40,50,10 --corrupt-tokens "
                "511,10,20,30,40,60,70 --metric loss --json\n",
    .options = (const opt_id[]){O_TO, O_CLEAN, O_CORRUPT, O_CLEAN_TOKENS, O_CORRUPT_TOKENS, O_METRIC, O_ANSWER,
                                O_WRONG, O_TOKENIZER, O_NO_BOS, O_PLOT, CLI_MODEL_OPTIONS, O_NONE},
    .run = run,
};
