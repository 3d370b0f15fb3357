/* cmd_pattern_prompt.c — `circuitc pattern HEADS --prompt TEXT` (or --tokens):
 * the attention patterns of one head, a layer's heads or a list of heads on a
 * researcher's prompt, labelled with its tokens (cc_prompt_patterns_run; JSON:
 * cc_prompt_pattern_json for one head, cc_prompt_patterns_json for several). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/heads.h"
#include "circuitc/prompt_json.h"
#include "html_cli.h"
#include "prompt_cli.h"

static void print_pattern(const cc_prompt_batch *b, const float *P, int T)
{
    printf("  dest  token               attends to (weight)\n");
    for (int i = 0; i < T; i++) {
        int best[3] = {-1, -1, -1};
        for (int j = 0; j <= i; j++) /* the three largest weights, lower position first on ties */
            for (int k = 0; k < 3; k++)
                if (best[k] < 0 || P[(size_t)i * T + j] > P[(size_t)i * T + best[k]]) {
                    memmove(best + k + 1, best + k, (size_t)(2 - k) * sizeof *best);
                    best[k] = j;
                    break;
                }
        char *text = cc_prompt_token_text(b, b->tokens[i]);
        printf("%6d  ", i);
        prompt_print_token(text ? text : "?", 20);
        free(text);
        for (int k = 0; k < 3 && best[k] >= 0; k++) {
            char *src = cc_prompt_token_text(b, b->tokens[best[k]]);
            printf("  %d ", best[k]);
            prompt_print_token(src ? src : "?", 0);
            printf(" %.3f", P[(size_t)i * T + best[k]]);
            free(src);
        }
        printf("\n");
    }
}

/* The page's selected head: HEADS' HEAD when SPEC is one head (the page shows
 * its whole layer), else the first. */
static int html_page(const prompt_opts *o, const cc_model *m, const cc_prompt_batch *b, const cc_head *heads, int n,
                     bool one_head)
{
    cc_error err;
    cc_head *layer = one_head ? malloc((size_t)cc_model_config(m)->n_heads * sizeof *layer) : NULL;
    if (one_head && !layer) return cc_fail_code(&err, CC_E_NOMEM, "out of memory"), cli_fail(&err);
    for (int h = 0; one_head && h < cc_model_config(m)->n_heads; h++) layer[h] = (cc_head){heads[0].layer, h};
    json_t *page = one_head ? cli_pattern_page_json(m, b, layer, cc_model_config(m)->n_heads, heads[0].head, &err)
                            : cli_pattern_page_json(m, b, heads, n, 0, &err);
    free(layer);
    char what[64];
    if (one_head || json_is_integer(json_object_get(page, "layer")))
        snprintf(what, sizeof what, "layer %d attention patterns", heads[0].layer);
    else snprintf(what, sizeof what, "attention patterns of %d heads", n);
    return page ? cli_html_page(&o->common, CC_HTML_PATTERN, what, page) : cli_fail(&err);
}

/* The human view: each head's three most attended sources per destination. */
static void print_patterns(const cc_model *m, const cc_prompt_batch *b, const cc_prompt_patterns *r)
{
    int T = r->positions;
    for (int k = 0; k < r->n_heads; k++) {
        char name[32];
        cc_head_name(r->heads[k], name, sizeof name);
        printf("%smodel %s (%s), %s attention pattern on %d %s\n", k ? "\n" : "", cc_model_path(m),
               cc_model_processed(m) ? "processed" : "unprocessed", name, T, cli_tokens_word(T));
        print_pattern(b, r->pattern + (size_t)k * T * T, T);
    }
}

/* The heads SPEC names (one head, a layer, or a list); *ONE_HEAD when it is one head. */
static int parse_spec(const char *spec, const cc_config *cfg, cc_head **heads, int *n, bool *one_head, cc_error *err)
{
    cc_head h;
    *one_head = !strchr(spec, ',') && cc_head_parse(spec, NULL, &h, err) == 0;
    return cc_head_list_parse(spec, cfg, heads, n, err);
}

int cmd_pattern_prompt(const cli_args *a)
{
    prompt_opts o;
    int rc = prompt_begin(a, false, &o), n = 0;
    if (rc >= 0) return rc;
    cc_error err;
    cc_head *heads = NULL;
    bool one_head;
    if (parse_spec(o.args[0], NULL, &heads, &n, &one_head, &err) != 0) return cli_usage_error("pattern", "%s", err.msg);
    free(heads), heads = NULL;
    if (!one_head && o.common.plot)
        return cli_usage_error("pattern", "--plot draws one head: give one HEAD (--html shows several)");
    cc_model *m = NULL;
    cc_prompt_batch b;
    cc_prompt_patterns r = {0};
    if (prompt_setup(&o, 1, &m, &b, &err) != 0 || parse_spec(o.args[0], cc_model_config(m), &heads, &n, &one_head, &err) != 0 ||
        cc_prompt_patterns_run(m, &b, heads, n, 0, &r, &err) != 0) {
        rc = cli_fail(&err);
    } else {
        char name[32];
        cc_prompt_pattern one = {.head = heads[0], .positions = r.positions, .pattern = r.pattern};
        if (o.common.json) rc = cli_print_result(one_head ? cc_prompt_pattern_json(&one, &b) : cc_prompt_patterns_json(&r, &b));
        else print_patterns(m, &b, &r), rc = CLI_OK;
        if (rc == CLI_OK && o.common.plot)
            rc = prompt_plot_pattern(o.common.plot, m, &b, cc_head_name(heads[0], name, sizeof name), r.pattern);
        if (rc == CLI_OK && o.common.html) rc = html_page(&o, m, &b, heads, n, one_head);
    }
    free(heads);
    cc_prompt_patterns_free(&r);
    cc_prompt_batch_free(&b);
    cc_model_free(m);
    return rc;
}
