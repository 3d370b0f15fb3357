/* cmd_dla.c — `circuitc dla`: direct logit attribution at a prompt's last
 * position (cc_dla_run; its JSON: cc_dla_json, include/circuitc/prompt_json.h). */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/dla.h"
#include "circuitc/prompt_json.h"
#include "html_cli.h"
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

/* The heading of the human output: model, prompt length, position(s), metric. */
static void print_heading(const cc_model *m, const cc_prompt_batch *b, const char *where, int32_t answer,
                          int32_t wrong)
{
    char *answer_text = cc_prompt_token_text(b, answer), *wrong_text = wrong >= 0 ? cc_prompt_token_text(b, wrong) : NULL;
    printf("model %s (%s), %d %s, %s\n", cc_model_path(m), cc_model_processed(m) ? "processed" : "unprocessed", b->length[0],
           cli_tokens_word(b->length[0]), where);
    printf("direct logit attribution of ");
    prompt_print_token(answer_text ? answer_text : "?", 0);
    if (wrong >= 0) {
        printf(" - ");
        prompt_print_token(wrong_text ? wrong_text : "?", 0);
    }
    printf("\n");
    free(answer_text), free(wrong_text);
}

/* --position: -1 for every position ("all"), else the position (default: the
 * last); -2 after a usage error (printed). */
static int position_of(const cli_args *a)
{
    const char *p = a->v[O_POSITION].s;
    int at = -1;
    if (!p) return INT_MAX;
    if (strcmp(p, "all") == 0) return -1;
    return cli_parse_int("dla", "--position", p, 0, INT_MAX - 1, &at) == 0 ? at : -2;
}

/* Every position of row 0 of B: {the prompt's keys, positions: [cc_dla_json per position]}, the human
 * view a line per position. */
static int run_all(const prompt_opts *o, const cc_model *m, const cc_prompt_batch *b, int32_t answer, int32_t wrong)
{
    cc_error err;
    json_t *all = json_array(), *body = cc_prompt_json(b, 0);
    int T = b->length[0], rc = 0;
    if (!o->common.json) print_heading(m, b, "every position", answer, wrong);
    if (!o->common.json) printf("  pos  token                      sum  largest head\n");
    for (int p = 0; rc == 0 && p < T; p++) {
        cc_dla d = {0};
        rc = cc_dla_run(m, b->tokens, p + 1, answer, wrong, CC_KERNEL_FAST, 0, &d, &err);
        if (rc == 0 && !o->common.json) {
            char *text = cc_prompt_token_text(b, b->tokens[p]);
            int best = 0;
            for (int i = 1; i < d.n_layers * d.n_heads; i++) best = fabs(d.head[i]) > fabs(d.head[best]) ? i : best;
            printf("%5d  ", p);
            prompt_print_token(text ? text : "?", 20);
            printf(" %10.4f  L%dH%d %.4f\n", d.sum, best / d.n_heads, best % d.n_heads, d.head[best]);
            free(text);
        }
        if (rc == 0) json_array_append_new(all, cc_dla_json(&d, b));
        cc_dla_free(&d);
    }
    if (rc == 0 && body && all) json_object_set(body, "positions", all);
    json_decref(all);
    if (rc != 0 || !body) return json_decref(body), rc != 0 ? cli_fail(&err) : CLI_FAIL;
    rc = o->common.json ? cli_print_result(json_incref(body)) : CLI_OK;
    if (rc == CLI_OK && o->common.html)
        rc = cli_html_page(&o->common, CC_HTML_DLA, "direct logit attribution at every position", json_incref(body));
    json_decref(body);
    return rc;
}

/* One position AT of row 0 of B. */
static int run_one(const prompt_opts *o, const cc_model *m, const cc_prompt_batch *b, int at, int32_t answer,
                   int32_t wrong)
{
    cc_error err;
    cc_dla d = {0};
    int rc = CLI_OK;
    if (cc_dla_run(m, b->tokens, at + 1, answer, wrong, CC_KERNEL_FAST, 0, &d, &err) != 0) rc = cli_fail(&err);
    if (rc == CLI_OK && o->common.json) {
        rc = cli_print_result(cc_dla_json(&d, b));
    } else if (rc == CLI_OK) {
        char where[64];
        snprintf(where, sizeof where, "position %d", d.position);
        print_heading(m, b, where, answer, wrong);
        print_dla(&d);
    }
    if (rc == CLI_OK && o->common.plot) rc = prompt_plot_dla(o->common.plot, m, b, &d);
    if (rc == CLI_OK && o->common.html)
        rc = cli_html_page(&o->common, CC_HTML_DLA, "direct logit attribution", cc_dla_json(&d, b));
    cc_dla_free(&d);
    return rc;
}

static int run(const cli_args *a)
{
    prompt_opts o;
    int rc = prompt_begin(a, true, &o), at = position_of(a);
    if (rc >= 0) return rc;
    if (at == -2) return CLI_USAGE;
    if (at == -1 && o.common.plot) return cli_usage_error("dla", "--plot draws one position: give --position P");
    cc_model *m = NULL;
    cc_prompt_batch b;
    cc_error err;
    int32_t answer = -1, wrong = -1;
    if (prompt_setup(&o, 1, &m, &b, &err) != 0 ||
        cc_prompt_single_token(&b, cc_model_config(m), o.answer, "--answer", &answer, &err) != 0 ||
        (o.wrong && cc_prompt_single_token(&b, cc_model_config(m), o.wrong, "--wrong", &wrong, &err) != 0)) {
        rc = cli_fail(&err);
    } else if (at != INT_MAX && at >= b.length[0]) {
        rc = cli_usage_error("dla", "--position %d: the prompt has positions 0..%d", at, b.length[0] - 1);
    } else {
        rc = at == -1 ? run_all(&o, m, &b, answer, wrong)
                      : run_one(&o, m, &b, at == INT_MAX ? b.length[0] - 1 : at, answer, wrong);
    }
    cc_prompt_batch_free(&b);
    cc_model_free(m);
    return rc;
}

const cli_command cli_cmd_dla = {
    .name = "dla",
    .synopsis = "",
    .summary = "direct logit attribution of an answer (- a wrong token) to heads, MLPs, embeddings",
    .description =
        "Direct logit attribution at the prompt's last position (--position P: at P, as on the prompt\n"
        "cut after P; --position all: at every position): how much the embeddings, every\n"
        "head, every layer's attention bias and every MLP add to the logit of --answer (or to the\n"
        "logit difference answer - --wrong), as TransformerLens' decompose_resid and\n"
        "stack_head_results with apply_ln=True (each part centred and divided by the final\n"
        "LayerNorm scale of the full residual stream, then dotted with the unembedding direction).\n"
        "The parts and the unembedding bias sum to the model's logit (difference); both are printed.\n"
        "A token is the text of one token (\" Mary\", with its leading space) or #ID for an id.\n"
        "--plot: bars of the embeddings, each layer's attention and MLP, beside a layer x head heatmap.\n"
        "--html: the prompt, the layer x head attribution and the components, values on hover; with\n"
        "--position all the prompt's tokens coloured by each position's sum, click one for its parts.\n",
    .examples = "dla --tokens 511,17,301,99,4,17,301,99 --answer \"#4\" --wrong \"#250\"\n"
                "dla --tokens 511,17,301,99,4,17,301,99 --answer \"#4\" --json\n"
                "dla --tokens 511,17,301,99,4,17,301,99 --answer \"#301\" --position 5\n"
                "dla --tokens 511,17,301,99,4,17,301,99 --answer \"#4\" --position all\n",
    .options = (const opt_id[]){CLI_PROMPT_OPTIONS, O_ANSWER, O_WRONG, O_POSITION, O_PLOT, O_HTML, CLI_MODEL_OPTIONS, O_NONE},
    .run = run,
};
