/* patch_pair.c — the prompt pair and metric of `patch` and `path-patch` (patch_pair.h). */
#include "patch_pair.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool patch_pair_given(const cli_args *a)
{
    return a->v[O_CLEAN].given || a->v[O_CLEAN_TOKENS].given;
}

/* One prompt from TEXT_OPT or TOKENS_OPT (exactly one of them). */
static int load_one(const cli_args *a, const cc_model *m, opt_id text_opt, opt_id tokens_opt, cc_prompt_batch *out)
{
    const char *cmd = a->cmd->name, *text = cli_options[text_opt].name, *ids = cli_options[tokens_opt].name;
    if (a->v[text_opt].given == a->v[tokens_opt].given)
        return cli_usage_error(cmd, "give exactly one of --%s TEXT and --%s IDS", text, ids);
    cc_prompt_source src = {.text = a->v[text_opt].given ? a->v[text_opt].s : NULL,
                            .tokens = a->v[tokens_opt].given ? a->v[tokens_opt].s : NULL,
                            .no_bos = a->v[O_NO_BOS].on,
                            .tokenizer_dir = a->v[O_TOKENIZER].given ? a->v[O_TOKENIZER].s : NULL};
    cc_error err;
    if (cc_prompt_batch_load(&src, m, out, &err) != 0) {
        cc_fail_prefix(&err, "--%s", a->v[text_opt].given ? text : ids);
        return cli_fail(&err);
    }
    if (out->batch != 1)
        return cli_usage_error(cmd, "--%s: one prompt, not %d", a->v[text_opt].given ? text : ids, out->batch);
    return CLI_OK;
}

int patch_pair_load(const cli_args *a, const cc_model *m, patch_pair *p)
{
    memset(p, 0, sizeof *p);
    const char *cmd = a->cmd->name;
    int rc = load_one(a, m, O_CLEAN, O_CLEAN_TOKENS, &p->clean);
    if (rc == CLI_OK) rc = load_one(a, m, O_CORRUPT, O_CORRUPT_TOKENS, &p->corrupt);
    if (rc != CLI_OK) return rc;
    p->T = p->clean.pos;
    if (p->corrupt.pos != p->T)
        return cli_usage_error(cmd, "the clean prompt has %d tokens and the corrupted one %d: patching needs the same "
                                    "number (reword one, or give token ids)", p->T, p->corrupt.pos);
    p->metric.kind = a->v[O_METRIC].choice == 0 ? CC_METRIC_LOGIT_DIFF : CC_METRIC_LOSS;
    if (p->metric.kind == CC_METRIC_LOSS) {
        if (a->v[O_ANSWER].given || a->v[O_WRONG].given)
            return cli_usage_error(cmd, "--answer and --wrong belong to --metric logit_diff, not loss");
        return CLI_OK;
    }
    if (!a->v[O_ANSWER].given || !a->v[O_WRONG].given)
        return cli_usage_error(cmd, "--metric logit_diff needs --answer TOKEN and --wrong TOKEN");
    cc_error err;
    int32_t answer, wrong;
    if (cc_prompt_single_token(&p->clean, cc_model_config(m), a->v[O_ANSWER].s, "--answer", &answer, &err) != 0 ||
        cc_prompt_single_token(&p->clean, cc_model_config(m), a->v[O_WRONG].s, "--wrong", &wrong, &err) != 0)
        return cli_fail(&err);
    p->metric.answer = answer, p->metric.wrong = wrong;
    return CLI_OK;
}

void patch_pair_free(patch_pair *p)
{
    cc_prompt_batch_free(&p->clean);
    cc_prompt_batch_free(&p->corrupt);
}

char *patch_pair_text(const patch_pair *p, int tok)
{
    return cc_prompt_token_text(&p->clean, tok);
}

static void prompt_json(const patch_pair *p, const cc_prompt_batch *b, json_t *j, const char *ids_key,
                        const char *text_key)
{
    json_t *ids = json_array(), *texts = json_array();
    for (int t = 0; t < b->pos; t++) {
        char *s = patch_pair_text(p, b->tokens[t]);
        json_array_append_new(ids, json_integer(b->tokens[t]));
        json_array_append_new(texts, s ? json_string(s) : json_null());
        free(s);
    }
    json_object_set_new(j, ids_key, ids);
    json_object_set_new(j, text_key, texts);
}

void patch_pair_json(const patch_pair *p, json_t *j)
{
    prompt_json(p, &p->clean, j, "clean_tokens", "clean_text");
    prompt_json(p, &p->corrupt, j, "corrupt_tokens", "corrupt_text");
    json_t *mj = json_object();
    bool ld = p->metric.kind == CC_METRIC_LOGIT_DIFF;
    json_object_set_new(mj, "kind", json_string(ld ? "logit_diff" : "loss"));
    if (ld) {
        char *a = patch_pair_text(p, p->metric.answer), *w = patch_pair_text(p, p->metric.wrong);
        /* {id, token}, as dla writes its answer and wrong tokens */
        json_object_set_new(mj, "answer", json_pack("{s:i, s:s?}", "id", p->metric.answer, "token", a));
        json_object_set_new(mj, "wrong", json_pack("{s:i, s:s?}", "id", p->metric.wrong, "token", w));
        free(a), free(w);
    }
    json_object_set_new(j, "metric", mj);
}

static void print_prompt(const patch_pair *p, const char *name, const cc_prompt_batch *b)
{
    printf("%-8s", name);
    for (int t = 0; t < b->pos; t++) {
        char *s = patch_pair_text(p, b->tokens[t]);
        printf("%s[%s]", t ? " " : "", s ? s : "?");
        free(s);
    }
    printf("\n");
}

void patch_pair_print(const patch_pair *p, double clean, double corrupt)
{
    print_prompt(p, "clean", &p->clean);
    print_prompt(p, "corrupt", &p->corrupt);
    if (p->metric.kind == CC_METRIC_LOGIT_DIFF) {
        char *a = patch_pair_text(p, p->metric.answer), *w = patch_pair_text(p, p->metric.wrong);
        printf("metric: logit[%s] - logit[%s] at position %d; clean %.4f, corrupt %.4f\n", a ? a : "?", w ? w : "?",
               p->T - 1, cli_num(clean, 4), cli_num(corrupt, 4));
        free(a), free(w);
    } else {
        printf("metric: loss (mean cross-entropy of the run's own next tokens); clean %.4f, corrupt %.4f\n", clean,
               corrupt);
    }
    if (!patch_normalisable(clean, corrupt))
        printf("clean and corrupted runs give the same metric; the normalised score is undefined (choose prompts "
               "or --answer/--wrong tokens that the model tells apart)\n");
}

bool patch_normalisable(double clean, double corrupt) { return isfinite(1.0 / (clean - corrupt)); }

void patch_print_normalised(double v)
{
    if (isfinite(v)) printf(" %+10.4f", cli_num(v, 4));
    else printf(" %10s", "-");
}

json_t *patch_json_num(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}
