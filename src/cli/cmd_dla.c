/* cmd_dla.c — `circuitc dla`: direct logit attribution at a prompt's last
 * position (cc_dla_run; its JSON: cc_dla_json, include/circuitc/prompt_json.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "circuitc/dla.h"
#include "circuitc/prompt_json.h"
#include "prompt_cli.h"

static void print_dla(const cc_dla *d)
{
    int L = d->n_layers, H = d->n_heads;
    printf("%-14s %10.4f\n%-14s %10.4f\n", "embed", cli_num(d->embed, 4), "pos_embed", cli_num(d->pos_embed, 4));
    for (int l = 0; l < L; l++) {
        printf("layer %-2d attn  %10.4f  (heads", l, cli_num(d->attn_out[l], 4));
        for (int h = 0; h < H; h++) printf(" %.3f", cli_num(d->head[l * H + h], 3));
        printf("; bias %.4f)\nlayer %-2d mlp   %10.4f\n", cli_num(d->attn_bias[l], 4), l, cli_num(d->mlp_out[l], 4));
    }
    printf("%-14s %10.4f\n%-14s %10.4f\n%-14s %10.4f (ln_final scale %.4f)\n", "unembed bias",
           cli_num(d->unembed_bias, 4), "sum of parts", cli_num(d->sum, 4), "model", cli_num(d->logit, 4), d->scale);
    int best = 0;
    for (int i = 1; i < L * H; i++) best = fabs(d->head[i]) > fabs(d->head[best]) ? i : best;
    printf("largest head: L%dH%d %.4f\n", best / H, best % H, cli_num(d->head[best], 4));
}

static int run(const cli_args *a)
{
    prompt_opts o;
    int rc = prompt_begin(a, true, &o);
    if (rc >= 0) return rc;
    cc_model *m = NULL;
    cc_prompt_batch b;
    cc_dla d = {0};
    cc_error err;
    int32_t answer = -1, wrong = -1;
    if (prompt_setup(&o, 1, &m, &b, &err) != 0 ||
        cc_prompt_single_token(&b, &m->cfg, o.answer, "--answer", &answer, &err) != 0 ||
        (o.wrong && cc_prompt_single_token(&b, &m->cfg, o.wrong, "--wrong", &wrong, &err) != 0) ||
        cc_dla_run(m, b.tokens, b.length[0], answer, wrong, CC_KERNEL_FAST, &d, &err) != 0) {
        rc = cli_fail(&err);
    } else {
        char *answer_text = cc_prompt_token_text(&b, answer), *wrong_text = wrong >= 0 ? cc_prompt_token_text(&b, wrong) : NULL;
        if (o.common.json) {
            rc = cli_print_result(cc_dla_json(&d, &b));
        } else {
            printf("model %s (%s), %d %s, position %d\n", m->model_path,
                   m->processed ? "processed" : "unprocessed", b.length[0], cli_tokens_word(b.length[0]), d.position);
            printf("direct logit attribution of ");
            prompt_print_token(answer_text ? answer_text : "?", 0);
            if (wrong >= 0) {
                printf(" - ");
                prompt_print_token(wrong_text ? wrong_text : "?", 0);
            }
            printf("\n");
            print_dla(&d);
            rc = CLI_OK;
        }
        free(answer_text), free(wrong_text);
        if (rc == CLI_OK && o.common.plot) rc = prompt_plot_dla(o.common.plot, m, &b, &d);
    }
    cc_dla_free(&d);
    cc_prompt_batch_free(&b);
    cc_model_free(m);
    return rc;
}

const cli_command cli_cmd_dla = {
    .name = "dla",
    .synopsis = "",
    .summary = "direct logit attribution of an answer (- a wrong token) to heads, MLPs, embeddings",
    .description =
        "Direct logit attribution at the prompt's last position: how much the embeddings, every\n"
        "head, every layer's attention bias and every MLP add to the logit of --answer (or to the\n"
        "logit difference answer - --wrong), as TransformerLens' decompose_resid and\n"
        "stack_head_results with apply_ln=True (each part centred and divided by the final\n"
        "LayerNorm scale of the full residual stream, then dotted with the unembedding direction).\n"
        "The parts and the unembedding bias sum to the model's logit (difference); both are printed.\n"
        "A token is the text of one token (\" Mary\", with its leading space) or #ID for an id.\n"
        "--plot: bars of the embeddings, each layer's attention and MLP, beside a layer x head heatmap.\n",
    .examples = "dla --tokens 511,17,301,99,4,17,301,99 --answer \"#4\" --wrong \"#250\"\n"
                "dla --tokens 511,17,301,99,4,17,301,99 --answer \"#4\" --json\n",
    .options = (const opt_id[]){CLI_PROMPT_OPTIONS, O_ANSWER, O_WRONG, O_PLOT, CLI_MODEL_OPTIONS, O_NONE},
    .run = run,
};
