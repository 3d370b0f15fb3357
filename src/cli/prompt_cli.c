/* prompt_cli.c — prompt options and output helpers of run, lens, dla and pattern. */
#include "prompt_cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/charts.h"
#include "plot_cli.h"

bool prompt_given(const cli_args *a)
{
    return a->v[O_PROMPT].given || a->v[O_PROMPT_FILE].given || a->v[O_TOKENS].given;
}

int prompt_begin(const cli_args *a, bool need_answer, prompt_opts *o)
{
    const char *cmd = a->cmd->name;
    *o = (prompt_opts){.common = a->common,
                       .src = {.text = a->v[O_PROMPT].s,
                               .file = a->v[O_PROMPT_FILE].s,
                               .tokens = a->v[O_TOKENS].s,
                               .no_bos = a->v[O_NO_BOS].on,
                               .tokenizer_dir = a->v[O_TOKENIZER].s},
                       .top = a->v[O_TOP].i,
                       .answer = a->v[O_ANSWER].s,
                       .wrong = a->v[O_WRONG].s,
                       .args = a->pos,
                       .n_args = a->n_pos};
    if (a->v[O_PROMPT].given + a->v[O_PROMPT_FILE].given + a->v[O_TOKENS].given != 1)
        return cli_usage_error(cmd, "give exactly one of --prompt TEXT, --prompt-file FILE or --tokens IDS|@FILE");
    if (need_answer && !o->answer) return cli_usage_error(cmd, "--answer TOKEN is required");
    return -1;
}

int prompt_setup(const prompt_opts *o, int max_batch, cc_model **m, cc_prompt_batch *b, cc_error *err)
{
    memset(b, 0, sizeof *b);
    if (cli_load_model(&o->common, m, err) != 0 || cc_prompt_batch_load(&o->src, *m, b, err) != 0) return -1;
    if (max_batch > 0 && b->batch > max_batch)
        return cc_fail(err, "--%s gives %d prompts; this command reads %d (put the prompt on one line, or use "
                            "--prompt)",
                       o->src.file ? "prompt-file" : "tokens", b->batch, max_batch);
    return 0;
}

char **prompt_token_texts(const cc_prompt_batch *b, const int32_t *ids, size_t n)
{
    char **texts = calloc(n ? n : 1, sizeof *texts);
    for (size_t i = 0; texts && i < n; i++)
        if (!(texts[i] = cc_prompt_token_text(b, ids[i]))) return prompt_texts_free(texts, i), NULL;
    return texts;
}

void prompt_texts_free(char **texts, size_t n)
{
    for (size_t i = 0; texts && i < n; i++) free(texts[i]);
    free(texts);
}

/* The prompt's real tokens of row 0 as texts. */
static char **row_texts(const cc_prompt_batch *b)
{
    int32_t *ids = malloc((size_t)b->length[0] * sizeof *ids);
    for (int t = 0; ids && t < b->length[0]; t++) ids[t] = b->tokens[t];
    char **texts = ids ? prompt_token_texts(b, ids, (size_t)b->length[0]) : NULL;
    free(ids);
    return texts;
}

static int chart_done(int rc, const cc_error *err) { return rc == 0 ? CLI_OK : cli_fail(err); }

int prompt_plot_lens(const char *out, const cc_model *m, const cc_prompt_batch *b, const cc_logit_lens *r)
{
    cc_error err;
    size_t cells = (size_t)r->n_rows * r->pos;
    int32_t *top = malloc(cells * sizeof *top);
    char **rows = calloc((size_t)r->n_rows, sizeof *rows), **tokens = row_texts(b), **tops = NULL;
    for (size_t i = 0; top && i < cells; i++) top[i] = r->top_id[i * r->k];
    if (top) tops = prompt_token_texts(b, top, cells);
    for (int i = 0; rows && i < r->n_rows; i++)
        if (i < cc_model_config(m)->n_layers ? asprintf(&rows[i], "%d_pre", i) < 0 : !(rows[i] = strdup("final_post"))) rows[i] = NULL;
    char *model = cli_model_label(cc_model_path(m)), *title = NULL;
    if (asprintf(&title, "logit lens — model %s%s", model, cc_model_processed(m) ? "" : " (no processing)") < 0) title = NULL;
    cc_chart_opts o = {.out = out, .title = title ? title : "logit lens"};
    int rc = top && rows && tokens && tops
                 ? cc_chart_lens(&o, r->n_rows, r->pos, r->prob, (const char *const *)rows, (const char *const *)tokens,
                                 (const char *const *)tops, &err)
                 : cc_fail_code(&err, CC_E_NOMEM, "out of memory for the chart's labels");
    for (int i = 0; rows && i < r->n_rows; i++) free(rows[i]);
    free(rows), free(top), free(model), free(title);
    prompt_texts_free(tokens, (size_t)b->length[0]);
    prompt_texts_free(tops, cells);
    return chart_done(rc, &err);
}

int prompt_plot_dla(const char *out, const cc_model *m, const cc_prompt_batch *b, const cc_dla *d)
{
    cc_error err;
    int L = d->n_layers, n = 2 * L + 3;
    double *parts = malloc((size_t)n * sizeof *parts);
    char **labels = calloc((size_t)n, sizeof *labels);
    bool ok = parts && labels;
    if (ok) {
        parts[0] = d->embed, parts[1] = d->pos_embed, parts[n - 1] = d->unembed_bias;
        labels[0] = strdup("embed"), labels[1] = strdup("pos_embed"), labels[n - 1] = strdup("unembed bias");
        for (int l = 0; l < L; l++) {
            parts[2 + 2 * l] = d->attn_out[l], parts[3 + 2 * l] = d->mlp_out[l];
            if (asprintf(&labels[2 + 2 * l], "L%d attn", l) < 0) labels[2 + 2 * l] = NULL;
            if (asprintf(&labels[3 + 2 * l], "L%d mlp", l) < 0) labels[3 + 2 * l] = NULL;
        }
        for (int i = 0; i < n; i++) ok = ok && labels[i];
    }
    char *answer = cc_prompt_token_text(b, d->answer), *wrong = d->wrong >= 0 ? cc_prompt_token_text(b, d->wrong) : NULL;
    char *model = cli_model_label(cc_model_path(m)), *title = NULL, *ylabel = NULL;
    if (asprintf(&ylabel, "logit('%s')%s%s%s", answer ? answer : "?", wrong ? " - logit('" : "", wrong ? wrong : "",
                 wrong ? "')" : "") < 0)
        ylabel = NULL;
    if (asprintf(&title, "direct logit attribution — model %s, position %d: %s (sum %.4f)", model, d->position,
                 ylabel ? ylabel : "", cli_num(d->sum, 4)) < 0)
        title = NULL;
    cc_chart_opts o = {.out = out, .title = title ? title : "direct logit attribution"};
    int rc = ok && ylabel ? cc_chart_dla(&o, L, d->n_heads, d->head, n, (const char *const *)labels, parts, ylabel, &err)
                          : cc_fail_code(&err, CC_E_NOMEM, "out of memory for the chart's labels");
    prompt_texts_free(labels, labels ? (size_t)n : 0);
    free(parts), free(answer), free(wrong), free(model), free(title), free(ylabel);
    return chart_done(rc, &err);
}

int prompt_plot_pattern(const char *out, const cc_model *m, const cc_prompt_batch *b, const char *head,
                        const float *pattern)
{
    cc_error err;
    char **tokens = row_texts(b), *model = cli_model_label(cc_model_path(m)), *title = NULL;
    if (asprintf(&title, "%s attention pattern — model %s", head, model) < 0) title = NULL;
    cc_chart_opts o = {.out = out, .title = title ? title : head};
    int rc = tokens ? cc_chart_pattern_tokens(&o, b->length[0], pattern, (const char *const *)tokens, &err)
                    : cc_fail_code(&err, CC_E_NOMEM, "out of memory for the chart's labels");
    prompt_texts_free(tokens, (size_t)b->length[0]);
    free(model), free(title);
    return chart_done(rc, &err);
}

void prompt_print_token(const char *text, int width)
{
    int n = 2;
    putchar('"');
    for (const unsigned char *s = (const unsigned char *)text; *s; s++) {
        n += (*s & 0xC0) != 0x80; /* a column per character, not per byte of its UTF-8 */
        if (*s == '\n') fputs("\\n", stdout), n++;
        else if (*s == '\t') fputs("\\t", stdout), n++;
        else if (*s == '\r') fputs("\\r", stdout), n++;
        else if (*s == '"' || *s == '\\') printf("\\%c", *s), n++;
        else if (*s < 0x20 || *s == 0x7F) printf("\\x%02X", *s), n += 3;
        else putchar(*s);
    }
    putchar('"');
    for (; n < width; n++) putchar(' ');
}
