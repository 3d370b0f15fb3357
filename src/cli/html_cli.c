/* html_cli.c — the commands' --html pages (html_cli.h). */
#include "html_cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "circuitc/fsio.h"
#include "circuitc/prompt_json.h"
#include "circuitc/runtime_report.h"
#include "plot_cli.h"

int cli_html_check(const char *cmd, const cli_common *common)
{
    if (!common->html) return -1;
    const char *p = common->html, *dot = strrchr(p, '.');
    if (!dot || (strcasecmp(dot, ".html") != 0 && strcasecmp(dot, ".htm") != 0))
        return cli_usage_error(cmd, "--html takes a file name ending in .html, got \"%s\"", p);
    cc_error err;
    if (cc_out_check(p, NULL, &err) != 0) return cli_fail(&err);
    return -1;
}

int cli_html_page(const cli_common *common, cc_html_view view, const char *what, json_t *body)
{
    if (!common->html) return json_decref(body), CLI_OK;
    cc_error err;
    if (!body) return cc_fail_code(&err, CC_E_NOMEM, "out of memory for the page's data"), cli_fail(&err);
    const cli_run_state *run = cli_run();
    char *model = cli_model_label(run->model), title[256], subtitle[512];
    snprintf(title, sizeof title, "circuitc %s: %s", run->command, what);
    snprintf(subtitle, sizeof subtitle, "model %s%s; circuitc %s", model ? model : "?",
             run->processed ? "" : " (no processing)", CIRCUITC_VERSION);
    free(model);
    int rc = cc_html_write(common->html, view, title, subtitle, body, &err);
    json_decref(body);
    return rc == 0 ? CLI_OK : cli_fail(&err);
}

json_t *cli_pattern_page_json(const cc_model *m, const cc_prompt_batch *b, const cc_head *heads, int n, int selected,
                              cc_error *err)
{
    cc_prompt_patterns r = {0};
    json_t *body = NULL, *page = NULL, *keys = NULL;
    if (cc_prompt_patterns_run(m, b, heads, n, 0, &r, err) != 0) goto done;
    if (!(body = cc_prompt_patterns_json(&r, b)) || !(keys = json_deep_copy(body))) goto nomem;
    json_object_del(keys, "patterns"); /* the prompt's keys, which each head's entry repeats */
    json_t *all = json_object_get(body, "patterns"), *e;
    size_t i;
    bool one_layer = n == cc_model_config(m)->n_heads; /* every head of one layer, in order */
    json_array_foreach(all, i, e) {
        one_layer = one_layer && heads[i].layer == heads[0].layer && heads[i].head == (int)i;
        if (json_object_update(e, keys) != 0) goto nomem;
    }
    page = json_pack("{s:o, s:i, s:O}", "layer", one_layer ? json_integer(heads[0].layer) : json_null(), "selected",
                     selected, "heads", all);
    if (page) goto done;
nomem:
    cc_fail_code(err, CC_E_NOMEM, "out of memory for the page's data");
done:
    json_decref(body), json_decref(keys);
    cc_prompt_patterns_free(&r);
    return page;
}

/* Every head of LAYER. */
static cc_head *layer_heads(const cc_config *c, int layer)
{
    cc_head *heads = malloc((size_t)c->n_heads * sizeof *heads);
    for (int h = 0; heads && h < c->n_heads; h++) heads[h] = (cc_head){layer, h};
    return heads;
}

int cli_pattern_page_ids(const cli_common *common, const cc_model *m, const int *tokens, int T, cc_head head)
{
    cc_error err;
    size_t size = (size_t)T * 12 + 1, n = 0;
    char *spec = malloc(size);
    cc_head *heads = layer_heads(cc_model_config(m), head.layer);
    if (!spec || !heads) return free(spec), free(heads), cc_fail_code(&err, CC_E_NOMEM, "out of memory"), cli_fail(&err);
    for (int t = 0; t < T; t++) n += (size_t)snprintf(spec + n, size - n, "%s%d", t ? "," : "", tokens[t]);
    cc_prompt_batch b = {0};
    json_t *page = NULL;
    if (cc_prompt_batch_load(&(cc_prompt_source){.tokens = spec}, m, &b, &err) == 0)
        page = cli_pattern_page_json(m, &b, heads, cc_model_config(m)->n_heads, head.head, &err);
    free(spec), free(heads);
    cc_prompt_batch_free(&b);
    char what[64];
    snprintf(what, sizeof what, "layer %d attention patterns", head.layer);
    return page ? cli_html_page(common, CC_HTML_PATTERN, what, page) : cli_fail(&err);
}
