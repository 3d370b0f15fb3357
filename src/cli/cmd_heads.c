/* cmd_heads.c — `circuitc heads`: attention-head scores on repeated random tokens, ranked. */
#include <stdio.h>
#include <stdlib.h>

#include "plot_cli.h"
#include "runtime.h"

typedef struct {
    const double *v;
    int idx;
} ranked;

static int by_score_desc(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    double vx = x->v[x->idx], vy = y->v[y->idx];
    if (vx != vy) return vx > vy ? -1 : 1;
    return x->idx - y->idx;
}

static int run(const cli_args *a)
{
    rt_opts o;
    rt_begin(a, &o);
    int rc;
    cc_error err;
    cc_model *m = NULL;
    int *tok = NULL;
    cc_head_scores s = {0};
    if (rt_setup(&o, o.batch, &m, &tok, &err) != 0 ||
        cc_head_scores_run(m, tok, o.batch, o.n, CC_KERNEL_FAST, &s, &err) != 0) {
        free(tok);
        cc_model_free(m);
        return cli_fail(&err);
    }
    int L = s.n_layers, H = s.n_heads, LH = L * H, K = o.top < LH ? o.top : LH;
    int variant = (o.exclude_bos ? 1 : 0) | (o.exclude_current ? 2 : 0);
    /* the seven scores, in print order */
    const double *score[CC_SCORE_COUNT + CC_DETECT_COUNT];
    char label[CC_SCORE_COUNT + CC_DETECT_COUNT][48];
    for (int k = 0; k < CC_SCORE_COUNT; k++) {
        score[k] = s.diag[k];
        snprintf(label[k], sizeof label[k], "%s", cc_score_name((cc_score_kind)k));
    }
    static const cc_detect_kind det_order[CC_DETECT_COUNT] = {CC_DETECT_INDUCTION, CC_DETECT_PREV_TOKEN,
                                                              CC_DETECT_DUPLICATE};
    for (int k = 0; k < CC_DETECT_COUNT; k++) {
        score[CC_SCORE_COUNT + k] = s.detect[det_order[k]][variant];
        snprintf(label[CC_SCORE_COUNT + k], sizeof label[0], "detect_%s", cc_detect_name(det_order[k]));
    }
    int NS = CC_SCORE_COUNT + CC_DETECT_COUNT;
    ranked *rk = malloc((size_t)LH * sizeof *rk);
    json_t *j = rt_json_header(&o, o.batch);
    json_object_set_new(j, "n_layers", json_integer(L));
    json_object_set_new(j, "n_heads", json_integer(H));
    json_object_set_new(j, "detect_options",
                        json_pack("{s:b, s:b}", "exclude_bos", o.exclude_bos, "exclude_current_token", o.exclude_current));
    json_t *heads = json_array(), *rankings = json_object();
    for (int i = 0; i < LH; i++) rk[i] = (ranked){s.diag[CC_SCORE_INDUCTION], i};
    qsort(rk, (size_t)LH, sizeof *rk, by_score_desc);
    for (int r = 0; r < LH; r++) {
        int i = rk[r].idx;
        char name[32];
        cc_head_name((cc_head){i / H, i % H}, name, sizeof name);
        json_t *e = json_pack("{s:s, s:i, s:i}", "head", name, "layer", i / H, "index", i % H);
        for (int k = 0; k < CC_SCORE_COUNT; k++) json_object_set_new(e, label[k], json_real(score[k][i]));
        json_t *det = json_object();
        for (int k = 0; k < CC_DETECT_COUNT; k++)
            json_object_set_new(det, cc_detect_name(det_order[k]), json_real(score[CC_SCORE_COUNT + k][i]));
        json_object_set_new(e, "detect", det);
        json_array_append_new(heads, e);
    }
    if (!o.common.json) rt_print_header(m, &o, o.batch);
    if (!o.common.json) printf("top %d heads per score (detect_head options: exclude_bos %s, exclude_current %s)\n", K,
                               o.exclude_bos ? "on" : "off", o.exclude_current ? "on" : "off");
    for (int k = 0; k < NS; k++) {
        for (int i = 0; i < LH; i++) rk[i] = (ranked){score[k], i};
        qsort(rk, (size_t)LH, sizeof *rk, by_score_desc);
        json_t *top = json_array();
        if (!o.common.json) printf("%-28s", label[k]);
        for (int r = 0; r < K; r++) {
            char name[32];
            int i = rk[r].idx;
            cc_head_name((cc_head){i / H, i % H}, name, sizeof name);
            json_array_append_new(top, json_pack("{s:s, s:f}", "head", name, "score", score[k][i]));
            if (!o.common.json) printf(" %6s %.3f", name, score[k][i]);
        }
        if (!o.common.json) printf("\n");
        json_object_set_new(rankings, label[k], top);
    }
    json_object_set_new(j, "heads", heads);
    json_object_set_new(j, "rankings", rankings);
    json_incref(j); /* kept for --plot */
    if (o.common.json) rc = cli_print_result(j);
    else json_decref(j), rc = CLI_OK;
    if (o.common.plot && cli_plot_heads(o.common.plot, j, K < 3 ? K : 3, NULL) != CLI_OK) rc = CLI_FAIL;
    json_decref(j);
    free(rk);
    cc_head_scores_free(&s);
    free(tok);
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
        "induction and previous-token scores.\n",
    .examples = "heads --batch 10 --top 5\n"
                "heads --exclude-bos --json\n",
    .options = (const opt_id[]){O_SEQ_LEN, O_BATCH, O_SEED, O_TOP, O_EXCLUDE_BOS, O_EXCLUDE_CURRENT, O_PLOT,
                                CLI_MODEL_OPTIONS, O_NONE},
    .run = run,
};
