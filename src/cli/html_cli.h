/* html_cli.h — `--html FILE` for the commands: check the path up front, then
 * write the interactive page (include/circuitc/html.h) from the same JSON body
 * --json prints. As with --plot (plot_cli.h), main() holds what the command
 * prints until it succeeded: a page that cannot be written is an error on
 * stderr, exit status 1, nothing on stdout and no file. docs/html.md. */
#ifndef CIRCUITC_CLI_HTML_H
#define CIRCUITC_CLI_HTML_H

#include <jansson.h>

#include "circuitc/heads.h"
#include "circuitc/html.h"
#include "circuitc/prompts.h"
#include "cli.h"

/* -1 when COMMON->html is unset or usable; else the exit status to return
 * (message printed): 2 for a name not ending in .html or .htm, 1 for a path
 * the output-path rule refuses. */
int cli_html_check(const char *cmd, const cli_common *common);

/* Writes COMMON->html (when set) showing BODY in VIEW, titled "circuitc CMD:
 * WHAT" over the model's name; frees BODY (NULL: out of memory). CLI_OK or
 * CLI_FAIL (printed). */
int cli_html_page(const cli_common *common, cc_html_view view, const char *what, json_t *body);

/* pattern's page: HEADS [N] on row 0 of B from one forward pass, SELECTED (an
 * index into HEADS) enlarged first: {layer (null unless HEADS are every head of
 * one layer, in order), selected, heads: [each head's cc_prompt_pattern_json
 * keys]}. NULL with ERR on failure. */
json_t *cli_pattern_page_json(const cc_model *m, const cc_prompt_batch *b, const cc_head *heads, int n, int selected,
                              cc_error *err);

/* pattern's page on token ids TOKENS [T] (the repeated-token sequence), as on
 * a prompt given as --tokens. CLI_OK or CLI_FAIL (printed). */
int cli_pattern_page_ids(const cli_common *common, const cc_model *m, const int *tokens, int T, cc_head head);

#endif
