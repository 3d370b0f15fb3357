/* cmd_pattern_prompt.c — `circuitc pattern HEAD --prompt TEXT` (or --tokens):
 * one head's attention pattern on a researcher's prompt, labelled with its tokens. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/heads.h"
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
    cc_fwd_result r = {0};
    cc_fwd_opts fo = {.skip_unembed = true};
    cc_fwd_want(&fo, CC_HOOK_PATTERN, hd.layer);
    if (prompt_setup(&o, 1, &m, &b, &err) != 0 || cc_head_parse(o.args[0], &m->cfg, &hd, &err) != 0 ||
        cc_forward(m, b.tokens, 1, b.length[0], &fo, &r, &err) != 0) {
        rc = cli_fail(&err);
    } else {
        int T = b.length[0];
        const float *P = cc_fwd_act(&r, CC_HOOK_PATTERN, hd.layer) + (size_t)hd.head * T * T;
        char name[32];
        cc_head_name(hd, name, sizeof name);
        if (o.common.json) {
            json_t *j = prompt_json_start(&b), *jp = json_array();
            json_object_set_new(j, "head", json_string(name));
            json_object_set_new(j, "layer", json_integer(hd.layer));
            json_object_set_new(j, "index", json_integer(hd.head));
            prompt_json_tokens(j, &b, 0);
            for (int i = 0; i < T; i++) {
                json_t *row = json_array();
                for (int k = 0; k < T; k++) json_array_append_new(row, json_real(P[(size_t)i * T + k]));
                json_array_append_new(jp, row);
            }
            json_object_set_new(j, "pattern", jp);
            rc = cli_print_result(j);
        } else {
            printf("model %s (%s), %s attention pattern on %d %s\n", m->model_path,
                   m->processed ? "processed" : "unprocessed", name, T, cli_tokens_word(T));
            print_pattern(&b, P, T);
            rc = CLI_OK;
        }
        if (rc == CLI_OK && o.common.plot) rc = prompt_plot_pattern(o.common.plot, m, &b, name, P);
    }
    cc_fwd_result_free(&r);
    cc_prompt_batch_free(&b);
    cc_model_free(m);
    return rc;
}
