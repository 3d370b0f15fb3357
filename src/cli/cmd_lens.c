/* cmd_lens.c — `circuitc lens`: the logit lens on one prompt (cc_logit_lens_run;
 * its JSON: cc_logit_lens_json, include/circuitc/prompt_json.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/predictions.h"
#include "circuitc/prompt_json.h"
#include "html_cli.h"
#include "prompt_cli.h"

static void print_lens(const cc_prompt_batch *b, const cc_logit_lens *r)
{
    char label[32];
#define LABEL(i) cc_logit_lens_label(r, i, label, sizeof label)
    int T = r->pos;
    printf("probability (rank) of the next token at every position, per residual stream\n%45s", "");
    for (int i = 0; i < r->n_rows; i++) printf(" %-15s", LABEL(i));
    printf("\n");
    for (int t = 0; t + 1 < T; t++) {
        char *cur = cc_prompt_token_text(b, b->tokens[t]), *next = cc_prompt_token_text(b, b->tokens[t + 1]);
        printf("%4d ", t);
        prompt_print_token(cur ? cur : "?", 16);
        printf(" -> ");
        prompt_print_token(next ? next : "?", 16);
        free(cur), free(next);
        for (int i = 0; i < r->n_rows; i++) {
            char rank[16];
            snprintf(rank, sizeof rank, "(%d)", r->rank[(size_t)i * T + t]);
            printf(" %.4f %-8s", r->prob[(size_t)i * T + t], rank);
        }
        printf("\n");
    }
    printf("\ntop token per layer and position\n");
    for (int i = 0; i < r->n_rows; i++) {
        printf("%-11s", LABEL(i));
        for (int t = 0; t < T; t++) {
            char *text = cc_prompt_token_text(b, r->top_id[((size_t)i * T + t) * r->k]);
            printf(" ");
            prompt_print_token(text ? text : "?", 12);
            free(text);
        }
        printf("\n");
    }
#undef LABEL
}

static int run(const cli_args *a)
{
    prompt_opts o;
    int rc = prompt_begin(a, false, &o);
    if (rc >= 0) return rc;
    cc_model *m = NULL;
    cc_prompt_batch b;
    cc_logit_lens r = {0};
    cc_error err;
    if (prompt_setup(&o, 1, &m, &b, &err) != 0 ||
        cc_logit_lens_run(m, b.tokens, b.length[0], o.top, CC_KERNEL_FAST, 0, &r, &err) != 0) {
        rc = cli_fail(&err);
    } else if (o.common.json) {
        rc = cli_print_result(cc_logit_lens_json(&r, &b));
    } else {
        printf("model %s (%s), %d %s, logit lens over %d residual streams\n", cc_model_path(m),
               cc_model_processed(m) ? "processed" : "unprocessed", b.length[0], cli_tokens_word(b.length[0]), r.n_rows);
        print_lens(&b, &r);
        rc = CLI_OK;
    }
    if (rc == CLI_OK && o.common.plot) rc = prompt_plot_lens(o.common.plot, m, &b, &r);
    if (rc == CLI_OK && o.common.html)
        rc = cli_html_page(&o.common, CC_HTML_LENS, "logit lens", cc_logit_lens_json(&r, &b));
    cc_logit_lens_free(&r);
    cc_prompt_batch_free(&b);
    cc_model_free(m);
    return rc;
}

const cli_command cli_cmd_lens = {
    .name = "lens",
    .synopsis = "",
    .summary = "logit lens: the next token's probability and rank after every layer",
    .description =
        "The logit lens on one prompt: the residual stream before every layer and after the last,\n"
        "each through ln_final (its own statistics) and the unembedding, as TransformerLens'\n"
        "model.unembed(cache.accumulated_resid(apply_ln=True)); the last row is the model's output.\n"
        "For every layer and position: the probability and rank (0 = top) of the token that comes\n"
        "next, and the --top K most likely tokens. The human view prints the next token's\n"
        "probability and each cell's top token; --json has everything. --plot: a layer x position\n"
        "heatmap of the probabilities, labelled with the tokens, each cell marked with its top token.\n"
        "--html: the same grid in a page, each cell's probability, rank and top tokens on hover.\n",
    .examples = "lens --tokens 511,17,301,99,4,17,301,99\n"
                "lens --tokens 511,17,301,99,4,17,301,99 --top 3 --json\n",
    .options = (const opt_id[]){CLI_PROMPT_OPTIONS, O_TOP, O_PLOT, O_HTML, CLI_MODEL_OPTIONS, O_NONE},
    .run = run,
};
