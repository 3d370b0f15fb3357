/* circuitc/html.h — interactive pages: one self-contained HTML file per
 * result, to explore in a browser as circuitsvis does in a notebook. The
 * page embeds the result's JSON (the command's --json body) and a small
 * hand-written script and style (src/output/html/page.js, page.css, built
 * into the library), so it opens from disk with no server and no network
 * (its Content-Security-Policy allows nothing else). docs/html.md describes
 * each view and the JSON it reads. */
#ifndef CIRCUITC_HTML_H
#define CIRCUITC_HTML_H

#include <jansson.h>

#include "circuitc/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    CC_HTML_PATTERN = 0, /* {layer, selected, heads: [cc_prompt_pattern_json of each head of the layer]} */
    CC_HTML_DLA,         /* cc_dla_json */
    CC_HTML_LENS,        /* cc_logit_lens_json */
    CC_HTML_HEATMAP,     /* patch's JSON on a prompt pair: shape, value, normalized, clean_text */
    CC_HTML_TABLES,      /* any JSON: its scalars, and each list of objects as a sortable table */
    CC_HTML_COUNT
} cc_html_view;

/* The view's name as the page's JSON says it ("pattern" ...), "?" out of range. */
const char *cc_html_view_name(cc_html_view view);

/* Writes the page showing DATA (a JSON object, embedded as is with 9
 * significant digits, as --json prints it) in VIEW to PATH under the
 * output-path rule (circuitc/fsio.h: complete or not at all). TITLE heads the
 * page, SUBTITLE (may be NULL) is the line below it. */
int cc_html_write(const char *path, cc_html_view view, const char *title, const char *subtitle, const json_t *data,
                  cc_error *err);

#ifdef __cplusplus
}
#endif

#endif
