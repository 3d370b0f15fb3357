/* cmd_pattern.c — `circuitc pattern HEAD`: one head's attention pattern on one repeated sequence. */
#include <stdio.h>
#include <stdlib.h>

#include "circuitc/heads.h"
#include "plot_cli.h"
#include "runtime.h"

static int run(const cli_args *a)
{
    rt_opts o;
    rt_begin(a, &o);
    int rc;
    cc_error err;
    cc_head hd;
    if (cc_head_parse(o.args[0], NULL, &hd, &err) != 0) return cli_usage_error("pattern", "%s", err.msg);
    cc_model *m = NULL;
    int *tok = NULL;
    if (rt_setup(&o, 1, &m, &tok, &err) != 0 || cc_head_parse(o.args[0], &m->cfg, &hd, &err) != 0) {
        free(tok);
        cc_model_free(m);
        return cli_fail(&err);
    }
    int T = 1 + 2 * o.n;
    cc_fwd_opts fo = {.skip_unembed = true};
    cc_fwd_want(&fo, CC_HOOK_PATTERN, hd.layer);
    cc_fwd_result r;
    if (cc_forward(m, tok, 1, T, &fo, &r, &err) != 0) {
        cc_fwd_result_free(&r);
        free(tok);
        cc_model_free(m);
        return cli_fail(&err);
    }
    const float *P = cc_fwd_act(&r, CC_HOOK_PATTERN, hd.layer) + (size_t)hd.head * T * T; /* [T, T] */
    double diag[CC_SCORE_COUNT];
    for (int k = 0; k < CC_SCORE_COUNT; k++) {
        int off = cc_score_offset((cc_score_kind)k, o.n);
        double s = 0;
        for (int d = -off; d < T; d++) s += P[(size_t)d * T + d + off];
        diag[k] = s / (T + off);
    }
    char name[32];
    cc_head_name(hd, name, sizeof name);
    if (o.common.json) {
        json_t *j = rt_json_header(&o, 1);
        json_object_set_new(j, "head", json_string(name));
        json_object_set_new(j, "layer", json_integer(hd.layer));
        json_object_set_new(j, "index", json_integer(hd.head));
        json_t *jt = json_array(), *jp = json_array(), *jd = json_object();
        for (int t = 0; t < T; t++) json_array_append_new(jt, json_integer(tok[t]));
        for (int i = 0; i < T; i++) {
            json_t *row = json_array();
            for (int jj = 0; jj < T; jj++) json_array_append_new(row, json_real(P[(size_t)i * T + jj]));
            json_array_append_new(jp, row);
        }
        for (int k = 0; k < CC_SCORE_COUNT; k++) json_object_set_new(jd, cc_score_name((cc_score_kind)k), json_real(diag[k]));
        json_object_set_new(j, "tokens", jt);
        json_object_set_new(j, "diagonals", jd);
        json_object_set_new(j, "pattern", jp);
        rc = cli_print_result(j);
    } else {
        static const char shade[] = " .:-=+*#%@";
        int blk = (T + 99) / 100, W = (T + blk - 1) / blk;
        rt_print_header(m, &o, 1);
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
        for (int k = 0; k < CC_SCORE_COUNT; k++) printf(" %s %.3f", cc_score_name((cc_score_kind)k), diag[k]);
        printf("\n");
        rc = CLI_OK;
    }
    if (o.common.plot && cli_plot_pattern(o.common.plot, m->model_path, name, o.seed, o.n, P, NULL) != CLI_OK)
        rc = CLI_FAIL;
    cc_fwd_result_free(&r);
    free(tok);
    cc_model_free(m);
    return rc;
}

const cli_command cli_cmd_pattern = {
    .name = "pattern",
    .synopsis = "HEAD",
    .arg_noun = "head",
    .min_args = 1,
    .max_args = 1,
    .summary = "one head's attention pattern on a repeated sequence",
    .description =
        "Runs one repeated random sequence [BOS, A, A] (|A| = n) and shows HEAD's attention pattern\n"
        "(blocks.L.attn.hook_pattern): rows are destination positions, columns source positions.\n"
        "The human view is a character heat map (' ' < 0.05 <= . : - = + * # % @, in steps of 0.1;\n"
        "long sequences are shown in blocks, each cell the block's maximum); --json gives the full\n"
        "[T, T] matrix. HEAD is L<layer>H<head> or <layer>.<head>. --plot: the pattern as a heatmap,\n"
        "the induction diagonal framed.\n",
    .examples = "pattern L1H0\n"
                "pattern 1.0 --seq-len 20 --seed 2 --json\n",
    .options = (const opt_id[]){O_SEQ_LEN, O_SEED, O_PLOT, CLI_MODEL_OPTIONS, O_NONE},
    .run = run,
};
