/* cmd_heads.c — `circuitc heads`: attention-head scores on repeated random
 * tokens or on prompts, ranked (cc_heads_report_run, include/circuitc/runtime_report.h). */
#include <stdio.h>

#include "html_cli.h"
#include "plot_cli.h"
#include "progress.h"
#include "runtime.h"

/* The human table: the top heads of each score, from the JSON's rankings. */
static void print_human(const cc_model *m, const rt_opts *o, const cc_prompt_batch *b, const cc_heads_report *r,
                        const json_t *j)
{
    if (b) rt_print_prompt_header(m, b);
    else rt_print_header(m, o, o->batch);
    printf("top %d heads per score (detect_head options: exclude_bos %s, exclude_current %s)\n", r->n_top,
           o->exclude_bos ? "on" : "off", o->exclude_current ? "on" : "off");
    const json_t *rankings = json_object_get(j, "rankings");
    for (int k = 0; k < r->n_scores; k++) {
        printf("%-28s", r->label[k]);
        json_t *top = json_object_get(rankings, r->label[k]), *e;
        size_t i;
        json_array_foreach(top, i, e) printf(" %6s %.3f", json_string_value(json_object_get(e, "head")),
                                             cli_num(json_real_value(json_object_get(e, "score")), 3));
        printf("\n");
    }
}

static int run(const cli_args *a)
{
    rt_opts o;
    prompt_opts po;
    bool on_prompt = prompt_given(a);
    int rc = on_prompt ? rt_begin_prompt(a, &po) : -1;
    if (rc >= 0) return rc;
    rt_begin(a, &o);
    cc_error err;
    cc_model *m = NULL;
    cc_prompt_batch b = {0};
    cc_heads_report r = {0};
    rc = on_prompt ? prompt_setup(&po, 0, &m, &b, &err) : rt_prepare(&o, o.batch, &m, &err);
    if (rc == 0) {
        cc_heads_options ho = {.input = rt_input(&o), .top = o.top, .exclude_bos = o.exclude_bos,
                               .exclude_current = o.exclude_current, .progress = cli_progress_update,
                               .prompts = on_prompt ? &b : NULL};
        rc = cc_heads_report_run(m, &ho, &r, &err);
    }
    json_t *j = rc == 0 ? cc_heads_report_json(&r) : NULL;
    if (rc == 0 && !j) rc = cc_fail_code(&err, CC_E_NOMEM, "out of memory");
    if (rc != 0) {
        cc_heads_report_free(&r);
        cc_prompt_batch_free(&b);
        cc_model_free(m);
        return cli_fail(&err);
    }
    json_incref(j); /* kept for --plot */
    if (o.common.json) rc = cli_print_result(j);
    else print_human(m, &o, on_prompt ? &b : NULL, &r, j), json_decref(j), rc = CLI_OK;
    int K = r.n_top;
    if (o.common.plot && cli_plot_heads(o.common.plot, j, K < 3 ? K : 3, NULL) != CLI_OK) rc = CLI_FAIL;
    if (rc == CLI_OK && o.common.html) rc = cli_html_page(&o.common, CC_HTML_TABLES, "head scores", json_incref(j));
    json_decref(j);
    cc_heads_report_free(&r);
    cc_prompt_batch_free(&b);
    cc_model_free(m);
    return rc;
}

const cli_command cli_cmd_heads = {
    .name = "heads",
    .synopsis = "",
    .summary = "induction / previous / duplicate / current-token and detect_head scores",
    .description =
        "Scores every attention head on B repeated random sequences [BOS, A, A] (|A| = n):\n"
        "  induction        mean attention from dest to dest-(n-1)  (diagonal offset 1-n)\n"
        "  previous_token   mean attention to dest-1                (offset -1)\n"
        "  duplicate_token  mean attention to dest-n                (offset -n)\n"
        "  current_token    mean attention to dest itself           (offset 0)\n"
        "each a mean over sequences and over every destination where the diagonal exists\n"
        "(torch.diagonal), and TransformerLens' detect_head \"mul\" score sum(A*D)/sum(A) for its\n"
        "induction_head, previous_token_head and duplicate_token_head patterns D (averaged over\n"
        "sequences). Prints the top K heads of each score. --plot: layer x head heatmaps of the\n"
        "induction and previous-token scores. --html: the rankings as sortable tables.\n"
        "With --prompt, --prompt-file or --tokens the heads are scored on the prompts instead (all\n"
        "of one length; docs/prompts.md): previous_token, current_token and detect_head's three,\n"
        "which need no repeat length; heads are ordered, and --plot drawn, by detect_head's\n"
        "induction_head score. On the repeated tokens given as --tokens the figures are the same.\n",
    .examples = "heads --batch 10 --top 5\n"
                "heads --exclude-bos --json\n"
                "heads --tokens 511,17,301,99,4,17,301,99 --top 3\n",
    .options = (const opt_id[]){O_SEQ_LEN, O_BATCH, O_SEED, O_TOP, O_EXCLUDE_BOS, O_EXCLUDE_CURRENT, O_PLOT, O_HTML,
                                CLI_PROMPT_OPTIONS, CLI_MODEL_OPTIONS, O_NONE},
    .run = run,
};
