/* cmd_pattern_prompt.c — `circuitc pattern HEAD --prompt TEXT` (or --tokens):
 * one head's attention pattern on a researcher's prompt, labelled with its
 * tokens (cc_prompt_pattern_run and cc_prompt_pattern_json). */
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

int cmd_pattern_prompt(const cli_args *a)
{
    prompt_opts o;
    int rc = prompt_begin(a, false, &o);
    if (rc >= 0) return rc;
    cc_error err;
    cc_head hd;
    if (cc_head_parse(o.args[0], NULL, &hd, &err) != 0) return cli_usage_error("pattern", "%s", err.msg);
    cc_model *m = NULL;
    cc_prompt_batch b;
    cc_prompt_pattern r = {0};
    if (prompt_setup(&o, 1, &m, &b, &err) != 0 || cc_head_parse(o.args[0], cc_model_config(m), &hd, &err) != 0 ||
        cc_prompt_pattern_run(m, &b, hd, &r, &err) != 0) {
        rc = cli_fail(&err);
    } else {
        int T = r.positions;
        char name[32];
        cc_head_name(hd, name, sizeof name);
        if (o.common.json) {
            rc = cli_print_result(cc_prompt_pattern_json(&r, &b));
        } else {
            printf("model %s (%s), %s attention pattern on %d %s\n", cc_model_path(m),
                   cc_model_processed(m) ? "processed" : "unprocessed", name, T, cli_tokens_word(T));
            print_pattern(&b, r.pattern, T);
            rc = CLI_OK;
        }
        if (rc == CLI_OK && o.common.plot) rc = prompt_plot_pattern(o.common.plot, m, &b, name, r.pattern);
        if (rc == CLI_OK && o.common.html) {
            json_t *page = cli_pattern_layer_json(m, &b, hd.layer, hd.head, &err);
            char what[64];
            snprintf(what, sizeof what, "layer %d attention patterns", hd.layer);
            rc = page ? cli_html_page(&o.common, CC_HTML_PATTERN, what, page) : cli_fail(&err);
        }
    }
    cc_prompt_pattern_free(&r);
    cc_prompt_batch_free(&b);
    cc_model_free(m);
    return rc;
}
