/* html.c — the interactive pages (include/circuitc/html.h): the page's
 * skeleton, its style and script (generated html_assets.c, from
 * src/output/html/page.css and page.js) and the result's JSON, in one file. */
#include "circuitc/html.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/fsio.h"
#include "core/args.h"

extern const char cci_html_css[], cci_html_js[];

static const char *const VIEW_NAMES[CC_HTML_COUNT] = {"pattern", "dla", "lens", "heatmap", "tables"};

const char *cc_html_view_name(cc_html_view view)
{
    CC_ARG_ENUM(view, CC_HTML_COUNT, NULL, "?");
    return VIEW_NAMES[view];
}

/* TEXT with &, <, >, " escaped, for the title and the headings. */
static void put_escaped(FILE *f, const char *text)
{
    for (const char *s = text; *s; s++) {
        if (*s == '&') fputs("&amp;", f);
        else if (*s == '<') fputs("&lt;", f);
        else if (*s == '>') fputs("&gt;", f);
        else if (*s == '"') fputs("&quot;", f);
        else fputc(*s, f);
    }
}

/* JSON text inside <script>: every '<' (only ever inside a string) as \u003c,
 * so no "</script>" or "<!--" in a token text can end the element. */
static void put_json(FILE *f, const char *json)
{
    for (const char *s = json; *s; s++) {
        if (*s == '<') fputs("\\u003c", f);
        else fputc(*s, f);
    }
}

int cc_html_write(const char *path, cc_html_view view, const char *title, const char *subtitle, const json_t *data,
                  cc_error *err)
{
    CC_ARG_NOT_NULL(path, err, -1);
    CC_ARG_ENUM(view, CC_HTML_COUNT, err, -1);
    CC_ARG_NOT_NULL(title, err, -1);
    CC_ARG_NOT_NULL(data, err, -1);
    if (!json_is_object(data)) return cc_fail(err, "cc_html_write: data is not a JSON object");
    json_t *page = json_pack("{s:s, s:s, s:O}", "view", VIEW_NAMES[view], "title", title, "data", data);
    char *json = page ? json_dumps(page, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9)) : NULL;
    json_decref(page);
    if (!json) return cc_fail(err, "%s: cannot encode the page's data (out of memory, or a title that is not UTF-8)",
                              path);
    cc_out o;
    if (cc_out_open(path, &o, err) != 0) return free(json), -1;
    FILE *f = o.f;
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
          "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n<title>", f);
    put_escaped(f, title);
    fprintf(f, "</title>\n<style>\n%s</style>\n</head>\n<body data-view=\"%s\">\n<header><h1>", cci_html_css,
            VIEW_NAMES[view]);
    put_escaped(f, title);
    fputs("</h1>", f);
    if (subtitle) {
        fputs("<p class=\"cc-meta\">", f);
        put_escaped(f, subtitle);
        fputs("</p>", f);
    }
    fputs("</header>\n<main id=\"cc-root\"></main>\n<div id=\"cc-tip\" role=\"tooltip\" hidden></div>\n"
          "<script type=\"application/json\" id=\"cc-data\">", f);
    put_json(f, json);
    fprintf(f, "</script>\n<script>\n%s</script>\n</body>\n</html>\n", cci_html_js);
    free(json);
    if (ferror(f)) {
        int e = errno;
        cc_out_abandon(&o);
        return cc_fail(err, "%s: write failed: %s", path, strerror(e));
    }
    return cc_out_commit(&o, err);
}
