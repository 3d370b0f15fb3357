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

json_t *cli_pattern_layer_json(const cc_model *m, const cc_prompt_batch *b, int layer, int selected, cc_error *err)
{
    json_t *heads = json_array();
    for (int h = 0; heads && h < cc_model_config(m)->n_heads; h++) {
        cc_prompt_pattern r = {0};
        if (cc_prompt_pattern_run(m, b, (cc_head){layer, h}, &r, err) != 0) {
            cc_prompt_pattern_free(&r);
            json_decref(heads);
            return NULL;
        }
        json_t *j = cc_prompt_pattern_json(&r, b);
        cc_prompt_pattern_free(&r);
        if (!j || json_array_append_new(heads, j) != 0) heads = (json_decref(heads), NULL);
    }
    json_t *page = heads ? json_pack("{s:i, s:i, s:o}", "layer", layer, "selected", selected, "heads", heads) : NULL;
    if (!page) cc_fail_code(err, CC_E_NOMEM, "out of memory for the page's data");
    return page;
}

int cli_pattern_page_ids(const cli_common *common, const cc_model *m, const int *tokens, int T, cc_head head)
{
    cc_error err;
    size_t size = (size_t)T * 12 + 1, n = 0;
    char *spec = malloc(size);
    if (!spec) return cc_fail_code(&err, CC_E_NOMEM, "out of memory"), cli_fail(&err);
    for (int t = 0; t < T; t++) n += (size_t)snprintf(spec + n, size - n, "%s%d", t ? "," : "", tokens[t]);
    cc_prompt_batch b = {0};
    json_t *page = NULL;
    if (cc_prompt_batch_load(&(cc_prompt_source){.tokens = spec}, m, &b, &err) == 0)
        page = cli_pattern_layer_json(m, &b, head.layer, head.head, &err);
    free(spec);
    cc_prompt_batch_free(&b);
    char what[64];
    snprintf(what, sizeof what, "layer %d attention patterns", head.layer);
    return page ? cli_html_page(common, CC_HTML_PATTERN, what, page) : cli_fail(&err);
}
