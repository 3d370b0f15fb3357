/* cmd_run.c — `circuitc run`: the model's predictions on a prompt, position by
 * position (cc_next_tokens_run; its JSON: cc_next_tokens_json,
 * include/circuitc/prompt_json.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "circuitc/predictions.h"
#include "circuitc/prompt_json.h"
#include "prompt_cli.h"

static void print_prompt(const cc_prompt_batch *b, const cc_next_tokens *r, int row)
{
    if (b->batch > 1) printf("\nprompt %d", row + 1);
    if (isnan(r->loss[row])) printf("%s%d token (no prediction to score)\n", b->batch > 1 ? ": " : "", b->length[row]);
    else printf("%s%d tokens, loss %.4f\n", b->batch > 1 ? ": " : "", b->length[row], r->loss[row]);
    printf("  pos     id  token                 logprob   rank  most likely next tokens\n");
    for (int t = 0; t < b->length[row]; t++) {
        size_t at = (size_t)row * r->pos + t;
        char *text = cc_prompt_token_text(b, b->tokens[at]);
        printf("%5d %6d  ", t, b->tokens[at]);
        prompt_print_token(text ? text : "?", 20);
        free(text);
        if (isnan(r->logprob[at])) printf("        -      -  ");
        else printf(" %8.4f %6d  ", cli_num(r->logprob[at], 4), r->rank[at]);
        for (int i = 0; i < r->k; i++) {
            char *next = cc_prompt_token_text(b, r->top_id[at * r->k + i]);
            prompt_print_token(next ? next : "?", 0);
            printf(" %.3f%s", r->top_prob[at * r->k + i], i + 1 < r->k ? "  " : "\n");
            free(next);
        }
    }
}

static int run(const cli_args *a)
{
    prompt_opts o;
    int rc = prompt_begin(a, false, &o);
    if (rc >= 0) return rc;
    cc_model *m = NULL;
    cc_prompt_batch b;
    cc_next_tokens r = {0};
    cc_error err;
    if (prompt_setup(&o, 0, &m, &b, &err) != 0 ||
        cc_next_tokens_run(m, b.tokens, b.length, b.batch, b.pos, o.top, CC_KERNEL_FAST, 0, &r, &err) != 0) {
        rc = cli_fail(&err);
    } else if (o.common.json) {
        rc = cli_print_result(cc_next_tokens_json(&r, &b));
    } else {
        printf("model %s (%s), tokenizer %s\n", cc_model_path(m), cc_model_processed(m) ? "processed" : "unprocessed",
               b.tokenizer_dir ? b.tokenizer_dir : "none (token ids shown as #ID)");
        for (int row = 0; row < b.batch; row++) print_prompt(&b, &r, row);
        rc = CLI_OK;
    }
    cc_next_tokens_free(&r);
    cc_prompt_batch_free(&b);
    cc_model_free(m);
    return rc;
}

const cli_command cli_cmd_run = {
    .name = "run",
    .synopsis = "",
    .summary = "a prompt's next-token predictions: log-probs, ranks, top-K, loss",
    .description =
        "Runs each prompt through the model and shows, at every position, the token, its log-prob\n"
        "given the positions before it (log_softmax of the previous position's logits), its rank\n"
        "there (0 = the model's top choice), and the --top K most likely next tokens with their\n"
        "probabilities; then the prompt's loss (mean cross-entropy of its predictions, as\n"
        "TransformerLens' model(prompt, return_type=\"loss\")). A --prompt-file batch is padded on\n"
        "the right as to_tokens does; the padding is not part of any figure (docs/prompts.md).\n",
    .examples = "run --tokens 511,17,301,99,4,17,301,99 --top 3\n"
                "run --tokens 511,17,301,99,4,17,301,99 --json\n",
    .options = (const opt_id[]){CLI_PROMPT_OPTIONS, O_TOP, CLI_MODEL_OPTIONS, O_NONE},
    .run = run,
};
