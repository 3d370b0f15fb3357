/* charts.c — data files and template variables of each chart (circuitc/charts.h). */
#include "circuitc/charts.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/plot.h"
#include "core/args.h"

/* A number as data text: %.9g, NaN for undefined. */
static void put_num(FILE *f, double v)
{
    if (isnan(v)) fputs("NaN", f);
    else fprintf(f, "%.9g", v);
}

/* Writes the grid V [rows][cols] (V[r * cols + c]) as "col row value" lines. */
static void put_grid(FILE *f, const char *what, const double *v, int rows, int cols)
{
    fprintf(f, "# %s\n# col row value\n", what);
    for (int r = 0; r < rows; r++) {
        for (int c = 0; c < cols; c++) {
            fprintf(f, "%d %d ", c, r);
            put_num(f, v[(size_t)r * cols + c]);
            fputc('\n', f);
        }
        fputc('\n', f);
    }
}

/* Head names "L0H0 L0H1 ..." of L x H heads, a gnuplot word list. Caller frees. */
static char *head_words(int L, int H)
{
    size_t cap = (size_t)L * H * 16 + 1, len = 0;
    char *s = malloc(cap);
    if (!s) return NULL;
    s[0] = '\0';
    for (int l = 0; l < L; l++)
        for (int h = 0; h < H; h++) len += (size_t)snprintf(s + len, cap - len, "%sL%dH%d", len ? " " : "", l, h);
    return s;
}

/* Numbers FROM..TO as a word list. Caller frees. */
static char *int_words(int from, int to)
{
    size_t cap = (size_t)(to - from + 1) * 12 + 1, len = 0;
    char *s = malloc(cap);
    if (!s) return NULL;
    s[0] = '\0';
    for (int i = from; i <= to; i++) len += (size_t)snprintf(s + len, cap - len, "%s%d", len ? " " : "", i);
    return s;
}

/* Begins chart NAME with O's output and title. */
static int begin(const cc_chart_opts *o, const char *name, int w, int h, cc_plot **p, cc_error *err)
{
    if (cc_plot_begin(name, o->out, w, h, p, err) != 0) return -1;
    cc_plot_set_str(*p, "title", o->title ? o->title : "");
    return 0;
}

/* Renders P, keeps its data if asked, and ends it. */
static int finish(const cc_chart_opts *o, cc_plot *p, int rc, cc_error *err)
{
    if (rc == 0) rc = cc_plot_render(p, err);
    if (rc == 0 && o->keep_data) rc = cc_plot_keep_data(p, o->keep_data, err);
    cc_plot_end(p);
    return rc;
}

/* Opens FILE in P, or returns -1. */
#define OPEN_DATA(f, p, file)                      \
    FILE *f = cc_plot_data((p), (file), err);      \
    if (!f) return finish(o, (p), -1, err)

int cc_chart_circuit(const cc_chart_opts *o, int K, const double *rows_acc, const double *cols_acc,
                     const char *rows_label, const char *cols_label, const double *sv, int n_sv, cc_error *err)
{
    CC_ARG_NOT_NULL(o, err, -1);
    CC_ARG_NOT_NULL(rows_acc, err, -1);
    CC_ARG_NOT_NULL(cols_acc, err, -1);
    CC_ARG_NOT_NULL(sv, err, -1);
    cc_plot *p;
    if (begin(o, "circuit", CC_CHART_CIRCUIT_W, CC_CHART_CIRCUIT_H, &p, err) != 0) return -1;
    OPEN_DATA(f, p, "topk.dat");
    fprintf(f, "# top-k accuracy of the diagonal\n# k rows_accuracy cols_accuracy\n");
    for (int k = 0; k < K; k++) {
        fprintf(f, "%d ", k + 1);
        put_num(f, rows_acc[k]);
        fputc(' ', f);
        put_num(f, cols_acc[k]);
        fputc('\n', f);
    }
    if (cc_plot_data_close(p, f, err) != 0) return finish(o, p, -1, err);
    OPEN_DATA(g, p, "spectrum.dat");
    fprintf(g, "# singular values, descending\n# i sigma\n");
    for (int i = 0; i < n_sv; i++) {
        fprintf(g, "%d ", i + 1);
        put_num(g, sv[i]);
        fputc('\n', g);
    }
    if (cc_plot_data_close(p, g, err) != 0) return finish(o, p, -1, err);
    cc_plot_set_num(p, "kmax", K);
    cc_plot_set_num(p, "nsv", n_sv);
    cc_plot_set_str(p, "rows_label", rows_label && *rows_label ? rows_label : "rows");
    cc_plot_set_str(p, "cols_label", cols_label && *cols_label ? cols_label : "columns");
    return finish(o, p, 0, err);
}

int cc_chart_comp_width(int n_modes) { return n_modes >= 3 ? CC_CHART_COMP_W : n_modes == 2 ? 900 : 520; }

/* begin() for a head x head heatmap: also its grid [n, n] and the head names
 * (n = L * H heads, H per layer) for the tics; the caller frees both. */
static int begin_head_grid(const cc_chart_opts *o, const char *name, int w, int h, int n, int H, cc_plot **p,
                           double **grid, char **words, cc_error *err)
{
    if (begin(o, name, w, h, p, err) != 0) return -1;
    *grid = malloc((size_t)n * n * sizeof **grid + 1);
    *words = head_words(n / H, H);
    if (!*grid || !*words) {
        free(*grid), free(*words);
        cc_plot_end(*p);
        return cc_fail_code(err, CC_E_NOMEM, "out of memory");
    }
    return 0;
}

int cc_chart_comp_scores(const cc_chart_opts *o, int L, int H, int n_modes, const char *const *mode_names,
                         const double *const *scores, double baseline_mean, double baseline_std, cc_error *err)
{
    CC_ARG_NOT_NULL(o, err, -1);
    CC_ARG_NOT_NULL(mode_names, err, -1);
    CC_ARG_NOT_NULL(scores, err, -1);
    if (n_modes < 1 || n_modes > 3) return cc_fail_code(err, CC_E_INTERNAL, "internal error: comp-scores chart takes 1..3 modes");
    cc_plot *p;
    double *g, vmax = 0;
    char *words;
    if (begin_head_grid(o, "comp_scores", cc_chart_comp_width(n_modes), CC_CHART_COMP_H, L * H, H, &p, &g, &words,
                        err) != 0)
        return -1;
    int n = L * H;
    int rc = 0;
    char modes[64] = "";
    for (int m = 0; m < n_modes && rc == 0; m++) {
        for (int a = 0; a < n; a++)
            for (int b = 0; b < n; b++) {
                double v = scores[m][(size_t)a * n + b];
                g[(size_t)a * n + b] = a / H < b / H ? v : NAN;
                if (a / H < b / H && v > vmax) vmax = v;
            }
        char file[64], what[96];
        snprintf(file, sizeof file, "comp_%s.dat", mode_names[m]);
        snprintf(what, sizeof what, "%s-composition score: row = earlier head, col = later head", mode_names[m]);
        FILE *f = cc_plot_data(p, file, err);
        if (!f) {
            rc = -1;
            break;
        }
        put_grid(f, what, g, n, n);
        rc = cc_plot_data_close(p, f, err);
        snprintf(modes + strlen(modes), sizeof modes - strlen(modes), "%s%s", m ? " " : "", mode_names[m]);
    }
    cc_plot_set_str(p, "modes", modes);
    cc_plot_set_str(p, "heads", words);
    cc_plot_set_num(p, "nheads", n);
    cc_plot_set_num(p, "heads_per_layer", H);
    cc_plot_set_num(p, "vmax", vmax > 0 ? vmax : 1);
    cc_plot_set_num(p, "baseline", baseline_mean);
    cc_plot_set_num(p, "baseline_std", baseline_std);
    free(g), free(words);
    return finish(o, p, rc, err);
}

/* The TOP largest of V [n] as "head layer index value" lines. */
static void put_top(FILE *f, const double *v, int L, int H, int top)
{
    int n = L * H;
    char *used = calloc((size_t)n + 1, 1);
    fprintf(f, "# top heads\n# head layer index value\n");
    for (int t = 0; t < top && t < n && used; t++) {
        int best = -1;
        for (int i = 0; i < n; i++)
            if (!used[i] && (best < 0 || v[i] > v[best])) best = i;
        used[best] = 1;
        fprintf(f, "L%dH%d %d %d ", best / H, best % H, best / H, best % H);
        put_num(f, v[best]);
        fputc('\n', f);
    }
    free(used);
}

int cc_chart_heads(const cc_chart_opts *o, int L, int H, const double *induction, const double *previous, int top,
                   cc_error *err)
{
    CC_ARG_NOT_NULL(o, err, -1);
    CC_ARG_NOT_NULL(induction, err, -1);
    CC_ARG_NOT_NULL(previous, err, -1);
    cc_plot *p;
    if (begin(o, "heads", CC_CHART_HEADS_W, CC_CHART_HEADS_H, &p, err) != 0) return -1;
    const char *names[2] = {"induction", "previous_token"};
    const double *v[2] = {induction, previous};
    for (int k = 0; k < 2; k++) {
        char file[64];
        snprintf(file, sizeof file, "%s.dat", names[k]);
        OPEN_DATA(f, p, file);
        put_grid(f, k ? "previous-token score: row = layer, col = head" : "induction score: row = layer, col = head",
                 v[k], L, H);
        if (cc_plot_data_close(p, f, err) != 0) return finish(o, p, -1, err);
        snprintf(file, sizeof file, "%s_top.dat", names[k]);
        OPEN_DATA(t, p, file);
        put_top(t, v[k], L, H, top);
        if (cc_plot_data_close(p, t, err) != 0) return finish(o, p, -1, err);
    }
    cc_plot_set_num(p, "nlayers", L);
    cc_plot_set_num(p, "nheads", H);
    /* a cell of a 12 x 12 grid holds a value in a small font, not the head's name too */
    cc_plot_set_num(p, "annot_font", H > 8 || L > 8 ? 7 : 9);
    cc_plot_set_num(p, "annot_names", H <= 8 && L <= 8);
    return finish(o, p, 0, err);
}

/* Grows *S (capacity *CAP) to hold NEED bytes; -1 when out of memory. */
static int reserve(char **s, size_t *cap, size_t need)
{
    if (need <= *cap) return 0;
    char *grown = realloc(*s, 2 * need);
    if (!grown) return -1;
    *s = grown, *cap = 2 * need;
    return 0;
}

/* TEXT as the chart font can draw it, into OUT (SIZE bytes): ASCII (its
 * controls and quotes are the caller's to escape) and Latin letters up to
 * U+024F kept, anything else (CJK, emoji, C1 controls, invalid UTF-8: boxes in
 * DejaVu Sans) as '?', and at most MAX_CHARS characters, the last an ellipsis
 * when TEXT is longer. */
static void latin_text(const char *text, char *out, size_t size, int max_chars)
{
    int total = 0; /* characters in TEXT: bytes that do not continue a UTF-8 sequence */
    for (const unsigned char *c = (const unsigned char *)text; *c; c++) total += (*c & 0xC0) != 0x80;
    int keep = total > max_chars ? max_chars - 1 : total;
    size_t o = 0;
    const unsigned char *c = (const unsigned char *)text;
    for (int chars = 0; *c && chars < keep && o + 5 < size; chars++) {
        int n = *c < 0x80 ? 1 : (*c & 0xE0) == 0xC0 ? 2 : (*c & 0xF0) == 0xE0 ? 3 : (*c & 0xF8) == 0xF0 ? 4 : 0;
        unsigned cp = n == 1 ? *c : *c & (0x7Fu >> n); /* the lead byte's payload bits */
        for (int k = 1; k < n; k++)
            if ((c[k] & 0xC0) == 0x80) cp = (cp << 6) | (c[k] & 0x3F);
            else n = 0;
        bool drawable = n == 1 || (n == 2 && cp >= 0xA0 && cp <= 0x24F);
        if (n == 0) n = 1; /* an invalid byte: one '?' */
        if (!drawable) out[o++] = '?';
        else memcpy(out + o, c, (size_t)n), o += (size_t)n;
        c += n;
    }
    if (keep < total && o + 4 <= size) memcpy(out + o, "\xE2\x80\xA6", 3), o += 3; /* U+2026 */
    out[o] = '\0';
}

/* Appends TEXT to the growable string *S (length *LEN, capacity *CAP) as one
 * gnuplot double-quoted tic label: a quote or backslash escaped, a single quote as
 * \047 (the command is passed on inside a single-quoted string, where gnuplot
 * 5.4 cannot read two doubled quotes in a row), control characters shown as the
 * text \n, \t or \xHH, % doubled (gnuplot reads a tic label as a format: a
 * token "%" failed the chart). -1 when out of memory. */
static int put_label(char **s, size_t *len, size_t *cap, const char *text)
{
    /* worst case: every byte as \\xHH, two quotes, NUL */
    if (reserve(s, cap, *len + 5 * strlen(text) + 3) != 0) return -1;
    char *o = *s + *len;
    *o++ = '"';
    for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
        if (*c == '"' || *c == '\\') o += sprintf(o, "\\%c", *c);
        else if (*c == '\'') o += sprintf(o, "\\047");
        else if (*c == '%') *o++ = '%', *o++ = '%';
        else if (*c == '\n') o += sprintf(o, "\\\\n");
        else if (*c == '\t') o += sprintf(o, "\\\\t");
        else if (*c < 0x20 || *c == 0x7F) o += sprintf(o, "\\\\x%02X", *c);
        else *o++ = (char)*c;
    }
    *o++ = '"';
    *o = '\0';
    *len = (size_t)(o - *s);
    return 0;
}

enum { TIC_CHARS = 14, LENS_CELL_CHARS = 6 }; /* the longest token label on an axis, in a lens cell */

/* The gnuplot command "set AXIStics ("text" 0, "text" 1, ...) EXTRA" labelling
 * positions 0..N-1 with LABELS (latin_text). Caller frees; NULL when out of memory. */
static char *token_tics(const char *axis, const char *const *labels, int n, const char *extra)
{
    size_t cap = 64 + strlen(extra), len = 0;
    char *s = malloc(cap);
    if (!s) return NULL;
    len = (size_t)sprintf(s, "set %stics (", axis);
    for (int i = 0; i < n; i++) {
        char sep[32], text[64];
        int k = snprintf(sep, sizeof sep, " %d%s", i, i + 1 < n ? ", " : "");
        latin_text(labels[i], text, sizeof text, TIC_CHARS);
        if (put_label(&s, &len, &cap, text) != 0 || reserve(&s, &cap, len + (size_t)k + 1) != 0)
            return free(s), NULL;
        memcpy(s + len, sep, (size_t)k + 1);
        len += (size_t)k;
    }
    char *out = realloc(s, len + strlen(extra) + 3);
    if (!out) return free(s), NULL;
    sprintf(out + len, ") %s", extra);
    return out;
}

/* Sets gnuplot variable VAR to token_tics(AXIS, LABELS, N, EXTRA) in P. */
static int set_tics(cc_plot *p, const char *var, const char *axis, const char *const *labels, int n,
                    const char *extra, cc_error *err)
{
    char *cmd = token_tics(axis, labels, n, extra);
    if (!cmd) return cc_fail_code(err, CC_E_NOMEM, "out of memory for the chart's labels");
    int rc = cc_plot_set_str(p, var, cmd);
    free(cmd);
    return rc == 0 ? 0 : cc_fail_code(err, CC_E_NOMEM, "out of memory for the chart's labels");
}

/* The attention pattern chart: N > 0 marks the repeat of [BOS, A, A] (T = 1 + 2n);
 * TOKENS (may be NULL) label both axes. */
static int pattern_chart(const cc_chart_opts *o, int T, int n, const float *pattern, const char *const *tokens,
                         cc_error *err)
{
    cc_plot *p;
    if (begin(o, "pattern", CC_CHART_PATTERN_W, CC_CHART_PATTERN_H, &p, err) != 0) return -1;
    OPEN_DATA(f, p, "pattern.dat");
    fprintf(f, "# attention pattern: row = destination, col = source\n# col row value\n");
    for (int r = 0; r < T; r++) {
        for (int c = 0; c < T; c++) {
            fprintf(f, "%d %d ", c, r);
            put_num(f, pattern[(size_t)r * T + c]);
            fputc('\n', f);
        }
        fputc('\n', f);
    }
    if (cc_plot_data_close(p, f, err) != 0) return finish(o, p, -1, err);
    cc_plot_set_num(p, "n", n);
    cc_plot_set_num(p, "npos", T);
    int rc = 0;
    if (tokens)
        rc = set_tics(p, "xtics_cmd", "x", tokens, T, "rotate by 90 right font ',8'", err) ||
             set_tics(p, "ytics_cmd", "y", tokens, T, "font ',8'", err);
    return finish(o, p, rc ? -1 : 0, err);
}

int cc_chart_pattern(const cc_chart_opts *o, int n, const float *pattern, cc_error *err)
{
    CC_ARG_NOT_NULL(o, err, -1);
    CC_ARG_NOT_NULL(pattern, err, -1);
    return pattern_chart(o, 1 + 2 * n, n, pattern, NULL, err);
}

int cc_chart_pattern_tokens(const cc_chart_opts *o, int T, const float *pattern, const char *const *tokens,
                            cc_error *err)
{
    CC_ARG_NOT_NULL(o, err, -1);
    CC_ARG_NOT_NULL(pattern, err, -1);
    CC_ARG_NOT_NULL(tokens, err, -1);
    return pattern_chart(o, T, 0, pattern, tokens, err);
}

int cc_chart_lens(const cc_chart_opts *o, int n_rows, int T, const double *prob, const char *const *row_labels,
                  const char *const *tokens, const char *const *top_tokens, cc_error *err)
{
    CC_ARG_NOT_NULL(o, err, -1);
    CC_ARG_NOT_NULL(prob, err, -1);
    CC_ARG_NOT_NULL(row_labels, err, -1);
    CC_ARG_NOT_NULL(tokens, err, -1);
    CC_ARG_NOT_NULL(top_tokens, err, -1);
    cc_plot *p;
    int h = CC_CHART_LENS_H_BASE + 22 * n_rows, w = CC_CHART_LENS_W_BASE + 46 * T;
    if (begin(o, "lens", w, h, &p, err) != 0) return -1;
    OPEN_DATA(f, p, "lens.dat");
    put_grid(f, "probability of the next token: row = residual stream, col = position", prob, n_rows, T);
    if (cc_plot_data_close(p, f, err) != 0) return finish(o, p, -1, err);
    OPEN_DATA(g, p, "lens_top.dat");
    fprintf(g, "# top token: col row \"text\" probability (latin_text, cut to %d characters; a double quote as ', a control as ?)\n",
            LENS_CELL_CHARS);
    for (int r = 0; r < n_rows; r++)
        for (int c = 0; c < T; c++) {
            char text[64];
            latin_text(top_tokens[(size_t)r * T + c], text, sizeof text, LENS_CELL_CHARS);
            fprintf(g, "%d %d \"", c, r);
            for (const unsigned char *t = (const unsigned char *)text; *t; t++)
                fputc(*t == '"' ? '\'' : *t < 0x20 || *t == 0x7F ? '?' : *t, g);
            fputs("\" ", g);
            put_num(g, prob[(size_t)r * T + c]);
            fputc('\n', g);
        }
    if (cc_plot_data_close(p, g, err) != 0) return finish(o, p, -1, err);
    if (set_tics(p, "xtics_cmd", "x", tokens, T, "rotate by 45 right font ',9'", err) ||
        set_tics(p, "ytics_cmd", "y", row_labels, n_rows, "font ',9'", err))
        return finish(o, p, -1, err);
    cc_plot_set_num(p, "nrows", n_rows);
    cc_plot_set_num(p, "npos", T);
    return finish(o, p, 0, err);
}

int cc_chart_dla(const cc_chart_opts *o, int L, int H, const double *heads, int n_parts,
                 const char *const *part_labels, const double *parts, const char *ylabel, cc_error *err)
{
    CC_ARG_NOT_NULL(o, err, -1);
    CC_ARG_NOT_NULL(heads, err, -1);
    CC_ARG_NOT_NULL(part_labels, err, -1);
    CC_ARG_NOT_NULL(parts, err, -1);
    CC_ARG_NOT_NULL(ylabel, err, -1);
    cc_plot *p;
    if (begin(o, "dla", CC_CHART_DLA_W, CC_CHART_DLA_H, &p, err) != 0) return -1;
    double vmax = 0;
    for (int i = 0; i < L * H; i++) vmax = fabs(heads[i]) > vmax ? fabs(heads[i]) : vmax;
    OPEN_DATA(f, p, "dla_heads.dat");
    put_grid(f, "direct logit attribution: row = layer, col = head", heads, L, H);
    if (cc_plot_data_close(p, f, err) != 0) return finish(o, p, -1, err);
    OPEN_DATA(g, p, "dla_parts.dat");
    fprintf(g, "# part value\n");
    for (int i = 0; i < n_parts; i++) {
        fprintf(g, "%d ", i);
        put_num(g, parts[i]);
        fputc('\n', g);
    }
    if (cc_plot_data_close(p, g, err) != 0) return finish(o, p, -1, err);
    if (set_tics(p, "xtics_cmd", "x", part_labels, n_parts, "rotate by 60 right font ',9'", err))
        return finish(o, p, -1, err);
    cc_plot_set_num(p, "nlayers", L);
    cc_plot_set_num(p, "nheads", H);
    cc_plot_set_num(p, "nparts", n_parts);
    cc_plot_set_num(p, "vmax", vmax > 0 ? vmax : 1);
    cc_plot_set_str(p, "ylabel", ylabel);
    return finish(o, p, 0, err);
}

int cc_chart_repeat(const cc_chart_opts *o, int n, const double *logprob, double first_mean, double second_mean,
                    cc_error *err)
{
    CC_ARG_NOT_NULL(o, err, -1);
    CC_ARG_NOT_NULL(logprob, err, -1);
    cc_plot *p;
    if (begin(o, "repeat", CC_CHART_REPEAT_W, CC_CHART_REPEAT_H, &p, err) != 0) return -1;
    OPEN_DATA(f, p, "repeat.dat");
    fprintf(f, "# mean correct-token log-prob; position i predicts token i+1\n# position mean_logprob half\n");
    for (int i = 0; i < 2 * n; i++) {
        fprintf(f, "%d ", i);
        put_num(f, logprob[i]);
        fprintf(f, " %d\n", i < n ? 1 : 2);
    }
    if (cc_plot_data_close(p, f, err) != 0) return finish(o, p, -1, err);
    cc_plot_set_num(p, "n", n);
    cc_plot_set_num(p, "first_mean", first_mean);
    cc_plot_set_num(p, "second_mean", second_mean);
    return finish(o, p, 0, err);
}

int cc_chart_patch(const cc_chart_opts *o, int L, int n, const double *delta, double clean_loss, cc_error *err)
{
    CC_ARG_NOT_NULL(o, err, -1);
    CC_ARG_NOT_NULL(delta, err, -1);
    cc_plot *p;
    if (begin(o, "patch", CC_CHART_PATCH_W, CC_CHART_PATCH_H, &p, err) != 0) return -1;
    int NP = n + 1;
    double vmax = 0;
    for (int i = 0; i < L * NP; i++)
        if (fabs(delta[i]) > vmax) vmax = fabs(delta[i]);
    OPEN_DATA(f, p, "patch.dat");
    put_grid(f, "loss(patched) - loss(clean): row = layer, col = position - n", delta, L, NP);
    if (cc_plot_data_close(p, f, err) != 0) return finish(o, p, -1, err);
    char *pos = int_words(n, 2 * n);
    if (!pos) return finish(o, p, cc_fail_code(err, CC_E_NOMEM, "out of memory"), err);
    cc_plot_set_str(p, "positions", pos);
    free(pos);
    cc_plot_set_num(p, "nlayers", L);
    cc_plot_set_num(p, "n", n);
    cc_plot_set_num(p, "vmax", vmax > 0 ? vmax : 1);
    cc_plot_set_num(p, "clean_loss", clean_loss);
    return finish(o, p, 0, err);
}

/* Labels LABELS [n] as gnuplot variables PREFIX0, PREFIX1, ... (quoted safely
 * by cc_plot_set_str; the template reads them with value()). TICS: they label
 * tics, which gnuplot reads as formats, so % is doubled. */
static int set_labels(cc_plot *p, const char *prefix, const char *const *labels, int n, bool tics)
{
    for (int i = 0; i < n; i++) {
        char name[32], *text = malloc(2 * strlen(labels[i]) + 1), *o = text;
        if (!text) return -1;
        for (const char *c = labels[i]; *c; c++)
            if ((*o++ = *c) == '%' && tics) *o++ = '%';
        *o = '\0';
        snprintf(name, sizeof name, "%s%d", prefix, i);
        int rc = cc_plot_set_str(p, name, text);
        free(text);
        if (rc != 0) return -1;
    }
    return 0;
}

/* The labelled heatmap (template heatmap.gp), N_MARKS cells MARKS (flat
 * row * cols + col) framed; the public charts' arguments are checked. */
static int draw_heatmap(const cc_chart_opts *o, int rows, int cols, const double *values, const char *const *row_labels,
                        const char *const *col_labels, const char *xlabel, const char *ylabel, const char *cblabel,
                        const char *subtitle, const int *marks, int n_marks, cc_error *err)
{
    cc_plot *p;
    int h = 160 + 22 * rows;
    if (begin(o, "heatmap", CC_CHART_HEATMAP_W, h < CC_CHART_HEATMAP_MIN_H ? CC_CHART_HEATMAP_MIN_H : h, &p, err) != 0)
        return -1;
    double vmax = 0;
    for (size_t i = 0; i < (size_t)rows * cols; i++)
        if (fabs(values[i]) > vmax) vmax = fabs(values[i]);
    OPEN_DATA(f, p, "heatmap.dat");
    put_grid(f, cblabel, values, rows, cols);
    if (cc_plot_data_close(p, f, err) != 0) return finish(o, p, -1, err);
    if (n_marks > 0) {
        OPEN_DATA(fm, p, "marks.dat");
        fprintf(fm, "# the framed cells\n# col row\n");
        for (int i = 0; i < n_marks; i++) fprintf(fm, "%d %d\n", marks[i] % cols, marks[i] / cols);
        if (cc_plot_data_close(p, fm, err) != 0) return finish(o, p, -1, err);
    }
    if (set_labels(p, "row", row_labels, rows, true) != 0 || set_labels(p, "col", col_labels, cols, true) != 0)
        return finish(o, p, cc_fail_code(err, CC_E_NOMEM, "chart labels: out of memory"), err);
    cc_plot_set_num(p, "nrows", rows);
    cc_plot_set_num(p, "ncols", cols);
    cc_plot_set_num(p, "marks", n_marks > 0 ? n_marks : 0);
    if (vmax < o->scale_floor) vmax = o->scale_floor;
    cc_plot_set_num(p, "vmax", vmax > 0 ? vmax : 1);
    char note[96];
    snprintf(note, sizeof note, "colour scale symmetric, +-%.3g%s", vmax > 0 ? vmax : 1,
             o->scale_floor > 0 ? (vmax > o->scale_floor ? " (the largest value)" : " (its floor)") : "");
    cc_plot_set_str(p, "scale_note", note);
    cc_plot_set_str(p, "xname", xlabel);
    cc_plot_set_str(p, "yname", ylabel);
    cc_plot_set_str(p, "cbname", cblabel);
    cc_plot_set_str(p, "subtitle", subtitle);
    return finish(o, p, 0, err);
}

int cc_chart_heatmap(const cc_chart_opts *o, int rows, int cols, const double *values, const char *const *row_labels,
                     const char *const *col_labels, const char *xlabel, const char *ylabel, const char *cblabel,
                     const char *subtitle, cc_error *err)
{
    CC_ARG_NOT_NULL(o, err, -1);
    CC_ARG_NOT_NULL(values, err, -1);
    CC_ARG_NOT_NULL(row_labels, err, -1);
    CC_ARG_NOT_NULL(col_labels, err, -1);
    CC_ARG_NOT_NULL(xlabel, err, -1);
    CC_ARG_NOT_NULL(ylabel, err, -1);
    CC_ARG_NOT_NULL(cblabel, err, -1);
    CC_ARG_NOT_NULL(subtitle, err, -1);
    return draw_heatmap(o, rows, cols, values, row_labels, col_labels, xlabel, ylabel, cblabel, subtitle, NULL, 0, err);
}

int cc_chart_ablate(const cc_chart_opts *o, int L, int H, const double *change, int n_ablated, const int *ablated,
                    const char *cblabel, const char *subtitle, cc_error *err)
{
    CC_ARG_NOT_NULL(o, err, -1);
    CC_ARG_NOT_NULL(change, err, -1);
    CC_ARG_NOT_NULL(ablated, err, -1);
    CC_ARG_NOT_NULL(cblabel, err, -1);
    CC_ARG_NOT_NULL(subtitle, err, -1);
    for (int i = 0; i < n_ablated; i++)
        if (ablated[i] < 0 || ablated[i] >= L * H)
            return cc_fail(err, "ablate chart: ablated head %d is outside the %d x %d heads", ablated[i], L, H);
    char **rows = calloc((size_t)(L > 0 ? L : 1), sizeof *rows), **cols = calloc((size_t)(H > 0 ? H : 1), sizeof *cols);
    bool ok = rows && cols;
    for (int l = 0; ok && l < L; l++) ok = asprintf(&rows[l], "L%d", l) >= 0 || (rows[l] = NULL);
    for (int h = 0; ok && h < H; h++) ok = asprintf(&cols[h], "H%d", h) >= 0 || (cols[h] = NULL);
    int rc = ok ? draw_heatmap(o, L, H, change, (const char *const *)rows, (const char *const *)cols, "head", "layer",
                               cblabel, subtitle, ablated, n_ablated, err)
                : cc_fail_code(err, CC_E_NOMEM, "chart labels: out of memory");
    for (int l = 0; rows && l < L; l++) free(rows[l]);
    for (int h = 0; cols && h < H; h++) free(cols[h]);
    free(rows), free(cols);
    return rc;
}

int cc_chart_bars(const cc_chart_opts *o, const char *ylabel, int n_groups, const char *const *groups,
                  int n_series, const char *const *series, const double *values, cc_error *err)
{
    CC_ARG_NOT_NULL(o, err, -1);
    CC_ARG_NOT_NULL(groups, err, -1);
    CC_ARG_NOT_NULL(series, err, -1);
    CC_ARG_NOT_NULL(values, err, -1);
    cc_plot *p;
    if (begin(o, "bars", CC_CHART_BARS_W, CC_CHART_BARS_H, &p, err) != 0) return -1;
    OPEN_DATA(f, p, "bars.dat");
    fprintf(f, "# group");
    for (int s = 0; s < n_series; s++) fprintf(f, " %s", series[s]);
    fprintf(f, "\n");
    for (int g = 0; g < n_groups; g++) {
        fprintf(f, "%s", groups[g]);
        for (int s = 0; s < n_series; s++) {
            fputc(' ', f);
            put_num(f, values[(size_t)g * n_series + s]);
        }
        fputc('\n', f);
    }
    if (cc_plot_data_close(p, f, err) != 0) return finish(o, p, -1, err);
    if (set_labels(p, "series", series, n_series, false) != 0) return finish(o, p, cc_fail_code(err, CC_E_NOMEM, "out of memory"), err);
    cc_plot_set_num(p, "nseries", n_series);
    /* a value over each bar while they fit: beyond 24 bars the labels would collide */
    cc_plot_set_num(p, "value_labels", n_groups * n_series <= 24);
    cc_plot_set_num(p, "ngroups", n_groups);
    cc_plot_set_str(p, "ylabel", ylabel ? ylabel : "");
    return finish(o, p, 0, err);
}

int cc_chart_atlas(const cc_chart_opts *o, int L, int H, const double *rows_acc, const double *cols_acc,
                   double min_acc, cc_error *err)
{
    CC_ARG_NOT_NULL(o, err, -1);
    CC_ARG_NOT_NULL(rows_acc, err, -1);
    CC_ARG_NOT_NULL(cols_acc, err, -1);
    cc_plot *p;
    double *g;
    char *words;
    if (begin_head_grid(o, "atlas", CC_CHART_ATLAS_W, CC_CHART_ATLAS_H, L * H, H, &p, &g, &words, err) != 0) return -1;
    int n = L * H;
    int rc = 0;
    const double *grids[2] = {rows_acc, cols_acc};
    static const char *const files[2] = {"atlas_rows.dat", "atlas_cols.dat"};
    for (int k = 0; k < 2 && rc == 0; k++) {
        /* not a pair: -1 (empty); certified below min_acc: NaN in, -2 out (hatched) */
        for (size_t i = 0; i < (size_t)n * n; i++)
            g[i] = (int)(i / n) / H < (int)(i % n) / H ? (isnan(grids[k][i]) ? -2 : grids[k][i]) : -1;
        FILE *f = cc_plot_data(p, files[k], err);
        if (!f) {
            rc = -1;
            break;
        }
        put_grid(f, k ? "top-1 accuracy, columns (key tokens): row = earlier head, col = later head; -2 = below min-acc"
                      : "top-1 accuracy, rows (query tokens): row = earlier head, col = later head; -2 = below min-acc",
                 g, n, n);
        rc = cc_plot_data_close(p, f, err);
    }
    cc_plot_set_str(p, "heads", words);
    cc_plot_set_num(p, "nheads", n);
    cc_plot_set_num(p, "heads_per_layer", H);
    cc_plot_set_num(p, "min_acc", min_acc);
    free(g), free(words);
    return finish(o, p, rc, err);
}
