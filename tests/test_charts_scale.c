/* test_charts_scale.c — the charts at GPT-2-small scale (12 layers x 12 heads,
 * a 50257-token vocabulary's tokens) stay readable: each is drawn to a PNG
 * through the library, and its kept driver (plot.gp, the chart's variables),
 * data files and template are checked for what made it unreadable: lens cell
 * text cut short, horizontal and in the font's alphabet; the heads grid's
 * annotations shrunk to values; path patching's colour scale floored at the
 * whole effect; ablate's score changes labelled, framed and floored; the discover bars' legend text with spaces and no value labels
 * past 24 bars; every legend outside the data; equal top-k curves both drawn. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/charts.h"
#include "testutil.h"

enum { L = 12, H = 12, T = 16 };

/* The text of FILE (PREFIX FILE, kept by keep_data, or a template under plots/). Caller frees. */
static char *text_of(const char *prefix, const char *file)
{
    char path[2100];
    snprintf(path, sizeof path, "%s%s", prefix, file);
    size_t len;
    char *t = (char *)tu_read_file(path, &len);
    t = realloc(t, len + 1);
    t[len] = '\0';
    return t;
}

static char *template_of(const char *name)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/plots/", getenv("CIRCUITC_SOURCE_ROOT"));
    return text_of(dir, name);
}

/* Asserts a PNG was written at OUT. */
static void expect_png(const char *out)
{
    size_t len;
    uint8_t *png = tu_read_file(out, &len);
    ck_assert_msg(len > 1000 && memcmp(png, "\x89PNG", 4) == 0, "%s is not a PNG", out);
    free(png);
}

/* A kept chart under DIR: opts drawing DIR/NAME.png, keeping data as DIR/NAME-<file>. */
typedef struct {
    char out[2048], prefix[2048];
    cc_chart_opts o;
} kept;

static void keep(kept *k, const char *dir, const char *name)
{
    snprintf(k->out, sizeof k->out, "%s/%s.png", dir, name);
    snprintf(k->prefix, sizeof k->prefix, "%s/%s-", dir, name);
    k->o = (cc_chart_opts){.out = k->out, .title = name, .keep_data = k->prefix};
}

START_TEST(lens_cells_fit_and_use_the_fonts_alphabet)
{
    char *dir = tu_tmpdir();
    kept k;
    keep(&k, dir, "lens");
    static const char *const words[4] = {" the", " informationally", "\xe4\xb8\xad\xe6\x96\x87", "caf\xc3\xa9\x01"};
    const char *tokens[T], *tops[(L + 1) * T], *rows[L + 1];
    double prob[(L + 1) * T];
    char row_names[L + 1][16];
    for (int t = 0; t < T; t++) tokens[t] = words[t % 4];
    for (int r = 0; r <= L; r++) {
        snprintf(row_names[r], sizeof row_names[r], r ? "after %d" : "embed", r - 1);
        rows[r] = row_names[r];
        for (int t = 0; t < T; t++) tops[r * T + t] = words[(r + t) % 4], prob[r * T + t] = (r + t) % 7 / 7.0;
    }
    cc_error err;
    ck_assert_msg(cc_chart_lens(&k.o, L + 1, T, prob, rows, tokens, tops, &err) == 0, "%s", err.msg);
    expect_png(k.out);
    char *data = text_of(k.prefix, "lens_top.dat"), *line = strchr(data, '\n') + 1;
    ck_assert_msg(strstr(data, "\"caf\xc3\xa9?\"") != NULL, "Latin kept, a control shown as ?: %s", data);
    for (char *save = NULL, *l = strtok_r(line, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        char *open = strchr(l, '"'), *close = strrchr(l, '"');
        ck_assert(open && close > open);
        int chars = 0;
        for (const unsigned char *c = (const unsigned char *)open + 1; c < (const unsigned char *)close; c++) {
            chars += (*c & 0xC0) != 0x80;
            ck_assert_msg(*c >= 0x20 && *c != 0xE4, "a control or CJK byte in the lens cell text: %s", l);
        }
        ck_assert_msg(chars <= 6, "lens cell text of %d characters (at most 6 fit a cell): %s", chars, l);
    }
    free(data);
    char *tpl = template_of("lens.gp");
    ck_assert_msg(strstr(strstr(tpl, "lens_top.dat"), "rotate") == NULL, "lens cell text is rotated");
    free(tpl);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(heads_grid_annotations_shrink)
{
    char *dir = tu_tmpdir();
    kept k;
    keep(&k, dir, "heads");
    double ind[L * H], prev[L * H];
    for (int i = 0; i < L * H; i++) ind[i] = (i * 37 % 101) / 100.0, prev[i] = (i * 53 % 97) / 96.0;
    cc_error err;
    ck_assert_msg(cc_chart_heads(&k.o, L, H, ind, prev, 10, &err) == 0, "%s", err.msg);
    expect_png(k.out);
    char *gp = text_of(k.prefix, "plot.gp");
    tu_assert_contains(gp, "annot_font = 7");
    tu_assert_contains(gp, "annot_names = 0");
    free(gp);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(path_patch_scale_has_a_floor)
{
    char *dir = tu_tmpdir();
    kept k;
    keep(&k, dir, "heatmap");
    k.o.scale_floor = 1.0;
    double v[L * H];
    const char *rows[L], *cols[H];
    for (int i = 0; i < L * H; i++) v[i] = 0.0026 * ((i % 5) - 2) / 2; /* noise of +-0.0026 */
    for (int i = 0; i < L; i++) rows[i] = "layer", cols[i] = "head";
    cols[3] = " 5%"; /* a token: tic labels are gnuplot formats, so % is doubled */
    cc_error err;
    ck_assert_msg(cc_chart_heatmap(&k.o, L, H, v, rows, cols, "head", "layer", "normalised", "noise", &err) == 0, "%s",
                  err.msg);
    expect_png(k.out);
    char *gp = text_of(k.prefix, "plot.gp");
    tu_assert_contains(gp, "vmax = 1.0\n");
    tu_assert_contains(gp, "+-1 (its floor)");
    free(gp);
    char *tpl = template_of("heatmap.gp");
    tu_assert_contains(tpl, "set cbrange [-vmax:vmax]");
    tu_assert_contains(tpl, "scale_note");
    free(tpl);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

/* ablate --plot on 12 x 12 heads: labelled rows and columns, the ablated heads
 * framed, noise drawn on the floored scale rather than saturated. */
START_TEST(ablate_changes_framed_on_a_floored_scale)
{
    char *dir = tu_tmpdir();
    kept k;
    keep(&k, dir, "heatmap");
    k.o.scale_floor = 0.25;
    double change[L * H];
    for (int i = 0; i < L * H; i++) change[i] = 0.002 * ((i % 5) - 2); /* noise of +-0.004 */
    const int ablated[2] = {5 * H + 1, 11 * H + 11};
    cc_error err;
    ck_assert_msg(cc_chart_ablate(&k.o, L, H, change, 2, ablated, "induction score change",
                                  "mean ablation of L5H1 L11H11 (framed)", &err) == 0, "%s", err.msg);
    expect_png(k.out);
    char *gp = text_of(k.prefix, "plot.gp");
    tu_assert_contains(gp, "vmax = 0.25\n");
    tu_assert_contains(gp, "marks = 2.0\n");
    tu_assert_contains(gp, "row11 = 'L11'");
    tu_assert_contains(gp, "col11 = 'H11'");
    free(gp);
    char *marks = text_of(k.prefix, "marks.dat");
    tu_assert_contains(marks, "\n1 5\n11 11\n");
    free(marks);
    char *tpl = template_of("heatmap.gp");
    tu_assert_contains(tpl, "'/marks.dat' using 1:2:(0.5):(0.5) with boxxyerror fs empty");
    free(tpl);
    const int outside[1] = {L * H};
    ck_assert_int_eq(cc_chart_ablate(&k.o, L, H, change, 1, outside, "x", "y", &err), -1);
    tu_assert_contains(err.msg, "outside the 12 x 12 heads");
    tu_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(discover_bars_legend_and_labels)
{
    char *dir = tu_tmpdir();
    kept k;
    keep(&k, dir, "bars");
    static const char *const series[4] = {"positional QK at p-1 (earlier)", "circuit top-1 (mean rows, cols)",
                                          "runtime previous-token (earlier)", "runtime induction (later)"};
    const char *groups[10] = {"L0H1->L1H4", "L3H7->L5H1", "L4H11->L5H5", "L2H2->L9H9", "L1H0->L2H3",
                              "L5H5->L6H9", "L0H0->L11H11", "L7H2->L8H3", "L9H1->L10H7", "L10H1->L11H0"};
    double v[40];
    for (int i = 0; i < 40; i++) v[i] = (i * 29 % 41) / 40.0;
    cc_error err;
    ck_assert_msg(cc_chart_bars(&k.o, "score", 10, groups, 4, series, v, &err) == 0, "%s", err.msg);
    expect_png(k.out);
    char *gp = text_of(k.prefix, "plot.gp");
    tu_assert_contains(gp, "series0 = 'positional QK at p-1 (earlier)'");
    tu_assert_contains(gp, "value_labels = 0");
    free(gp);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

/* qk, vcomp, kcomp (circuit.gp), repeat (repeat.gp), discover (bars.gp): the key outside the data. */
START_TEST(legends_sit_outside_the_data)
{
    static const char *const templates[3] = {"circuit.gp", "repeat.gp", "bars.gp"};
    for (int i = 0; i < 3; i++) {
        char *tpl = template_of(templates[i]), *key = strstr(tpl, "\nset key ");
        ck_assert_msg(key != NULL, "%s sets no key", templates[i]);
        key[strcspn(key + 1, "\n") + 1] = '\0';
        ck_assert_msg(strstr(key, "below") || strstr(key, "outside"), "%s: \"%s\" puts the key over the data",
                      templates[i], key + 1);
        free(tpl);
    }
    /* kcomp: equal rows and columns curves; the columns drawn dashed with their own markers */
    char *dir = tu_tmpdir();
    kept k;
    keep(&k, dir, "circuit");
    double acc[10], sv[12];
    for (int i = 0; i < 10; i++) acc[i] = 0.5 + 0.05 * i;
    for (int i = 0; i < 12; i++) sv[i] = 12.0 - i;
    cc_error err;
    ck_assert_msg(cc_chart_circuit(&k.o, 10, acc, acc, "query", "key", sv, 12, &err) == 0, "%s", err.msg);
    expect_png(k.out);
    char *tpl = template_of("circuit.gp"), *cols = strstr(tpl, "using 1:3");
    ck_assert(cols != NULL);
    cols[strcspn(cols, "\n")] = '\0';
    ck_assert_msg(strstr(cols, " dt ") && strstr(cols, " pt "), "columns drawn like rows: %s", cols);
    free(tpl);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("charts_scale");
    TCase *tc = tcase_create("charts_scale");
    tcase_add_test(tc, lens_cells_fit_and_use_the_fonts_alphabet);
    tcase_add_test(tc, heads_grid_annotations_shrink);
    tcase_add_test(tc, path_patch_scale_has_a_floor);
    tcase_add_test(tc, ablate_changes_framed_on_a_floored_scale);
    tcase_add_test(tc, discover_bars_legend_and_labels);
    tcase_add_test(tc, legends_sit_outside_the_data);
    tcase_set_timeout(tc, 300);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
