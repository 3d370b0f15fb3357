/* cmd_pattern.c — `circuitc pattern HEAD`: one head's attention pattern on one
 * repeated sequence (cc_pattern_report_run, include/circuitc/runtime_report.h);
 * on a prompt: cmd_pattern_prompt.c. */
#include <stdio.h>

#include "circuitc/heads.h"
#include "html_cli.h"
#include "plot_cli.h"
#include "prompt_cli.h"
#include "runtime.h"

/* The human view: HEAD's pattern P [T, T] as a character heat map, then its diagonals. */
static void print_heatmap(const cc_model *m, const rt_opts *o, const char *name, const float *P, const double *diag)
{
    int T = 1 + 2 * o->n;
    static const char shade[] = " .:-=+*#%@";
    int blk = (T + 99) / 100, W = (T + blk - 1) / blk;
    rt_print_header(m, o, 1);
    printf("%s attention pattern, %d x %d (rows: destination, columns: source%s)\n", name, T, T,
           blk > 1 ? "; blocks of positions" : "");
    if (blk > 1) printf("each cell: max over %d x %d positions\n", blk, blk);
    for (int bi = 0; bi < W; bi++) {
        char line[128];
        for (int bj = 0; bj < W; bj++) {
            float mx = 0;
            for (int i = bi * blk; i < (bi + 1) * blk && i < T; i++)
                for (int jj = bj * blk; jj < (bj + 1) * blk && jj < T; jj++)
                    mx = P[(size_t)i * T + jj] > mx ? P[(size_t)i * T + jj] : mx;
            int lv = mx < 0.05f ? 0 : (int)(mx * 10) + 1;
            line[bj] = shade[lv > 9 ? 9 : lv];
        }
        line[W] = '\0';
        printf("%4d |%s|\n", bi * blk, line);
    }
    printf("mean attention on the diagonals of this sequence:");
    for (int k = 0; k < CC_SCORE_COUNT; k++) printf(" %s %.3f", cc_score_name((cc_score_kind)k), cli_num(diag[k], 3));
    printf("\n");
}

static int run(const cli_args *a)
{
    if (prompt_given(a)) return cmd_pattern_prompt(a); /* cmd_pattern_prompt.c */
    rt_opts o;
    rt_begin(a, &o);
    cc_error err;
    cc_head hd, *list = NULL;
    int n;
    if (cc_head_parse(o.args[0], NULL, &hd, &err) != 0) {
        bool is_list = cc_head_list_parse(o.args[0], NULL, &list, &n, &(cc_error){0}) == 0;
        free(list);
        return is_list ? cli_usage_error("pattern", "a layer or a list of heads is shown on a prompt (--prompt, "
                                                    "--prompt-file or --tokens); the repeated sequence takes one HEAD")
                       : cli_usage_error("pattern", "%s", err.msg);
    }
    cc_model *m = NULL;
    cc_pattern_report r = {0};
    int rc = rt_prepare(&o, 1, &m, &err);
    if (rc == 0) rc = cc_head_parse(o.args[0], cc_model_config(m), &hd, &err);
    if (rc == 0) rc = cc_pattern_report_run(m, &(cc_pattern_options){.input = rt_input(&o), .head = hd}, &r, &err);
    if (rc != 0) {
        cc_pattern_report_free(&r);
        cc_model_free(m);
        return cli_fail(&err);
    }
    char name[32];
    cc_head_name(hd, name, sizeof name);
    if (o.common.json) {
        rc = cli_print_result(cc_pattern_report_json(&r));
    } else {
        print_heatmap(m, &o, name, r.pattern, r.diagonals);
        rc = CLI_OK;
    }
    if (o.common.plot && cli_plot_pattern(o.common.plot, cc_model_path(m), name, o.seed, o.n, r.pattern, NULL) != CLI_OK)
        rc = CLI_FAIL;
    if (rc == CLI_OK && o.common.html) rc = cli_pattern_page_ids(&o.common, m, r.tokens, r.positions, hd);
    cc_pattern_report_free(&r);
    cc_model_free(m);
    return rc;
}

const cli_command cli_cmd_pattern = {
    .name = "pattern",
    .synopsis = "HEAD",
    .arg_noun = "head",
    .min_args = 1,
    .max_args = 1,
    .summary = "attention patterns: one head on a repeated sequence, or heads on a prompt",
    .description =
        "Runs one repeated random sequence [BOS, A, A] (|A| = n) and shows HEAD's attention pattern\n"
        "(blocks.L.attn.hook_pattern): rows are destination positions, columns source positions.\n"
        "The human view is a character heat map (' ' < 0.05 <= . : - = + * # % @, in steps of 0.1;\n"
        "long sequences are shown in blocks, each cell the block's maximum); --json gives the full\n"
        "[T, T] matrix. HEAD is L<layer>H<head> or <layer>.<head>. --plot: the pattern as a heatmap,\n"
        "the induction diagonal framed. With --prompt, --prompt-file or --tokens the pattern is the\n"
        "prompt's: each destination's three most attended source tokens, --plot labelled with the\n"
        "tokens (docs/prompts.md); on a prompt HEAD may also be a layer (L1: all its heads) or a\n"
        "list (L1H2,L2H0), shown one after another (--json: patterns, one per head; --plot draws one\n"
        "head). --html FILE: a page with every head of HEAD's layer (or the heads listed) on the\n"
        "sequence or prompt (hover a cell for the tokens and the weight, click a head to enlarge it;\n"
        "docs/html.md).\n",
    .examples = "pattern L1H0\n"
                "pattern 1.0 --seq-len 20 --seed 2 --json\n"
                "pattern L1H0 --tokens 511,17,301,99,4,17,301,99\n"
                "pattern L1H0 --tokens 511,17,301,99,4,17,301,99 --html /tmp/pattern.html\n"
                "pattern L1 --tokens 511,17,301,99,4,17,301,99\n"
                "pattern L0H0,L1H0 --tokens 511,17,301,99,4,17,301,99 --json\n",
    .options = (const opt_id[]){O_SEQ_LEN, O_SEED, O_PLOT, O_HTML, CLI_PROMPT_OPTIONS, CLI_MODEL_OPTIONS, O_NONE},
    .run = run,
};
