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

/* Option O's value, or NULL when it was not given. */
static const char *given(const cli_args *a, opt_id o)
{
    return a->v[o].given ? a->v[o].s : NULL;
}

int patch_pair_load(const cli_args *a, const cc_model *m, cc_prompt_pair *p)
{
    memset(p, 0, sizeof *p);
    const char *cmd = a->cmd->name;
    static const opt_id prompts[][2] = {{O_CLEAN, O_CLEAN_TOKENS}, {O_CORRUPT, O_CORRUPT_TOKENS}};
    for (int i = 0; i < 2; i++)
        if (a->v[prompts[i][0]].given == a->v[prompts[i][1]].given)
            return cli_usage_error(cmd, "give exactly one of --%s TEXT and --%s IDS", cli_options[prompts[i][0]].name,
                                   cli_options[prompts[i][1]].name);
    bool loss = a->v[O_METRIC].choice != 0;
    if (loss && (a->v[O_ANSWER].given || a->v[O_WRONG].given))
        return cli_usage_error(cmd, "--answer and --wrong belong to --metric logit_diff, not loss");
    if (!loss && (!a->v[O_ANSWER].given || !a->v[O_WRONG].given))
        return cli_usage_error(cmd, "--metric logit_diff needs --answer TOKEN and --wrong TOKEN");
    cc_prompt_pair_source src = {.clean = given(a, O_CLEAN), .corrupt = given(a, O_CORRUPT),
                                 .clean_tokens = given(a, O_CLEAN_TOKENS), .corrupt_tokens = given(a, O_CORRUPT_TOKENS),
                                 .no_bos = a->v[O_NO_BOS].on, .tokenizer_dir = given(a, O_TOKENIZER),
                                 .metric = loss ? CC_METRIC_LOSS : CC_METRIC_LOGIT_DIFF,
                                 .answer = given(a, O_ANSWER), .wrong = given(a, O_WRONG)};
    cc_error err;
    if (cc_prompt_pair_load(&src, m, p, &err) == 0) return CLI_OK;
    /* a pair that does not fit together (lengths, more than one prompt) is a usage error, as a missing option */
    return err.code == CC_E_ARG ? cli_usage_error(cmd, "%s", err.msg) : cli_fail(&err);
}

char *patch_pair_text(const cc_prompt_pair *p, int tok)
{
    return cc_prompt_token_text(&p->clean, tok);
}

static void print_prompt(const cc_prompt_pair *p, const char *name, const cc_prompt_batch *b)
{
    printf("%-8s", name);
    for (int t = 0; t < b->pos; t++) {
        char *s = patch_pair_text(p, b->tokens[t]);
        printf("%s[%s]", t ? " " : "", s ? s : "?");
        free(s);
    }
    printf("\n");
}

void patch_pair_print(const cc_prompt_pair *p, double clean, double corrupt)
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
