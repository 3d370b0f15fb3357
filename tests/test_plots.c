/* test_plots.c — charts: every --plot chart rendered on the bundled model (PNG
 * signature and IHDR size, SVG well-formed with the expected title), the data
 * files each chart writes (golden text from fixed inputs), kcomp-chart, report,
 * and the failure paths: gnuplot missing, gnuplot failing, bad output paths. */
#include <dirent.h>
#include <glob.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "circuitc/charts.h"
#include "testutil.h"

/* ---- file checks ------------------------------------------------------------ */

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Asserts PATH is a PNG of W x H: the 8-byte signature, then the IHDR chunk. */
static void assert_png(const char *path, int w, int h)
{
    size_t n;
    uint8_t *b = tu_read_file(path, &n);
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    ck_assert_msg(n > 33 && memcmp(b, sig, 8) == 0, "%s: not a PNG", path);
    ck_assert_msg(memcmp(b + 12, "IHDR", 4) == 0, "%s: first chunk is not IHDR", path);
    uint32_t len = (uint32_t)b[8] << 24 | (uint32_t)b[9] << 16 | (uint32_t)b[10] << 8 | b[11];
    uint32_t pw = (uint32_t)b[16] << 24 | (uint32_t)b[17] << 16 | (uint32_t)b[18] << 8 | b[19];
    uint32_t ph = (uint32_t)b[20] << 24 | (uint32_t)b[21] << 16 | (uint32_t)b[22] << 8 | b[23];
    ck_assert_uint_eq(len, 13);
    ck_assert_msg(pw == (uint32_t)w && ph == (uint32_t)h, "%s: %ux%u, expected %dx%d", path, pw, ph, w, h);
    free(b);
}

/* Appends the unescaped character data of S[0..n) to TEXT. */
static void add_text(char *text, size_t *tl, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '&') {
            static const struct { const char *e; char c; } ent[] = {
                {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
            bool done = false;
            for (size_t k = 0; k < 5 && !done; k++)
                if (strncmp(s + i, ent[k].e, strlen(ent[k].e)) == 0) {
                    text[(*tl)++] = ent[k].c;
                    i += strlen(ent[k].e) - 1;
                    done = true;
                }
            if (!done) text[(*tl)++] = '&';
        } else {
            text[(*tl)++] = s[i];
        }
    }
    text[*tl] = '\0';
}

/* Parses the SVG at PATH just enough: well-formed element nesting with one
 * root element named svg, whose width/height attributes are W and H, and
 * TITLE within its character data. */
static void assert_svg(const char *path, int w, int h, const char *title)
{
    size_t n;
    char *s = (char *)tu_read_file(path, &n);
    char *text = malloc(n + 1);
    size_t tl = 0;
    text[0] = '\0';
    char stack[256][32];
    int depth = 0, roots = 0;
    size_t i = 0;
    while (i < n) {
        if (s[i] != '<') {
            size_t j = i;
            while (j < n && s[j] != '<') j++;
            add_text(text, &tl, s + i, j - i);
            i = j;
            continue;
        }
        if (strncmp(s + i, "<?", 2) == 0) {
            char *e = strstr(s + i, "?>");
            ck_assert_msg(e, "%s: unterminated <?", path);
            i = (size_t)(e - s) + 2;
        } else if (strncmp(s + i, "<!--", 4) == 0) {
            char *e = strstr(s + i, "-->");
            ck_assert_msg(e, "%s: unterminated comment", path);
            i = (size_t)(e - s) + 3;
        } else if (strncmp(s + i, "<![CDATA[", 9) == 0) {
            char *e = strstr(s + i, "]]>");
            ck_assert_msg(e, "%s: unterminated CDATA", path);
            add_text(text, &tl, s + i + 9, (size_t)(e - s) - i - 9);
            i = (size_t)(e - s) + 3;
        } else if (strncmp(s + i, "<!", 2) == 0) { /* DOCTYPE, possibly with [ ... ] */
            int br = 0;
            for (i += 2; i < n && (s[i] != '>' || br > 0); i++) br += s[i] == '[' ? 1 : s[i] == ']' ? -1 : 0;
            i++;
        } else {
            bool closing = s[i + 1] == '/';
            size_t j = i + 1 + closing, k = j;
            while (k < n && !strchr(" \t\r\n/>", s[k])) k++;
            char name[32];
            ck_assert_msg(k > j && k - j < sizeof name, "%s: bad tag at byte %zu", path, i);
            memcpy(name, s + j, k - j);
            name[k - j] = '\0';
            char q = 0; /* find the tag's end outside quoted attribute values */
            while (k < n && (q || s[k] != '>')) {
                if (q && s[k] == q) q = 0;
                else if (!q && (s[k] == '"' || s[k] == '\'')) q = s[k];
                k++;
            }
            ck_assert_msg(k < n, "%s: unterminated tag <%s", path, name);
            bool self = s[k - 1] == '/';
            if (closing) {
                ck_assert_msg(depth > 0 && strcmp(stack[depth - 1], name) == 0, "%s: </%s> does not match <%s>", path,
                              name, depth ? stack[depth - 1] : "(none)");
                depth--;
            } else {
                if (depth == 0) {
                    roots++;
                    ck_assert_msg(strcmp(name, "svg") == 0, "%s: root element is <%s>", path, name);
                    char attr[64];
                    snprintf(attr, sizeof attr, "width=\"%d\"", w);
                    ck_assert_msg(memmem(s + i, k - i, attr, strlen(attr)), "%s: no %s", path, attr);
                    snprintf(attr, sizeof attr, "height=\"%d\"", h);
                    ck_assert_msg(memmem(s + i, k - i, attr, strlen(attr)), "%s: no %s", path, attr);
                }
                if (!self) {
                    ck_assert(depth < 256);
                    strcpy(stack[depth++], name);
                }
            }
            i = k + 1;
        }
    }
    ck_assert_msg(depth == 0, "%s: %d unclosed elements (<%s>)", path, depth, depth ? stack[depth - 1] : "");
    ck_assert_int_eq(roots, 1);
    ck_assert_msg(strstr(text, title), "%s: title \"%s\" not in the text", path, title);
    free(text);
    free(s);
}

/* No file in DIR has ".tmp" in its name. */
static void assert_no_temp_files(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert(d);
    struct dirent *e;
    while ((e = readdir(d))) ck_assert_msg(!strstr(e->d_name, ".tmp"), "leftover temporary file %s/%s", dir, e->d_name);
    closedir(d);
}

/* ---- every chart, through the CLI ------------------------------------------- */

typedef struct {
    const char *argv[16]; /* without --plot FILE */
    int w, h;
    const char *title;    /* expected title text */
} chart_case;

static const chart_case CASES[] = {
    {{"kcomp", "L0H0", "L1H0", NULL}, CC_CHART_CIRCUIT_W, CC_CHART_CIRCUIT_H,
     "kcomp prev=L0H0 ind=L1H0 — model induction-3l4h, baseline seed 0"},
    {{"qcomp", "L0H1", "L2H0", "--seed", "3", NULL}, CC_CHART_CIRCUIT_W, CC_CHART_CIRCUIT_H, ", baseline seed 3"},
    {{"vcomp", "L0H1", "L2H0", NULL}, CC_CHART_CIRCUIT_W, CC_CHART_CIRCUIT_H, "vcomp "},
    {{"ov", "L1H0", NULL}, CC_CHART_CIRCUIT_W, CC_CHART_CIRCUIT_H, "ov head=L1H0 — model induction-3l4h"},
    {{"qk", "L1H0", NULL}, CC_CHART_CIRCUIT_W, CC_CHART_CIRCUIT_H, "qk head=L1H0 — model induction-3l4h"},
    {{"compile", "kcomp", "--bind", "prev=L0H0", "--bind", "ind=L1H0", NULL}, CC_CHART_CIRCUIT_W, CC_CHART_CIRCUIT_H,
     "kcomp prev=L0H0 ind=L1H0 — model induction-3l4h"},
    {{"comp-scores", "--baseline-samples", "20", "--seed", "7", NULL}, CC_CHART_COMP_W, CC_CHART_COMP_H,
     "composition scores — model induction-3l4h, baseline seed 7 (20 random pairs)"},
    {{"comp-scores", "--mode", "k", "--baseline-samples", "0", NULL}, 520, CC_CHART_COMP_H,
     "composition scores — model induction-3l4h (no baseline)"},
    {{"heads", "--seq-len", "10", "--batch", "2", "--seed", "5", NULL}, CC_CHART_HEADS_W, CC_CHART_HEADS_H,
     "head scores — model induction-3l4h, seed 5, seq_len 10, batch 2"},
    {{"pattern", "L1H0", "--seq-len", "10", "--seed", "2", NULL}, CC_CHART_PATTERN_W, CC_CHART_PATTERN_H,
     "L1H0 attention pattern — model induction-3l4h, seed 2, seq_len 10"},
    {{"repeat", "--seq-len", "10", "--batch", "2", NULL}, CC_CHART_REPEAT_W, CC_CHART_REPEAT_H,
     "repeated random tokens [BOS, A, A] — model induction-3l4h, seed 0, seq_len 10, batch 2"},
    {{"patch", "mlp_out", "--seq-len", "8", "--seed", "1", NULL}, CC_CHART_PATCH_W, CC_CHART_PATCH_H,
     "patching mlp_out — model induction-3l4h, seed 1, seq_len 8"},
    {{"heads", "--tokens", "511,17,301,99,4,17,301,99", NULL}, CC_CHART_HEADS_W, CC_CHART_HEADS_H,
     "head scores — model induction-3l4h, 1 prompt of 8 tokens"},
    {{"ablate", "L0H0", "--seq-len", "10", "--batch", "2", NULL}, CC_CHART_HEATMAP_W, CC_CHART_HEATMAP_MIN_H,
     "ablation — model induction-3l4h, on repeated random tokens"},
    {{"ablate", "L0H0", "L0H1", "--tokens", "511,17,301,99,4,17,301,99", NULL}, CC_CHART_HEATMAP_W,
     CC_CHART_HEATMAP_MIN_H, "ablation — model induction-3l4h, on the prompt"},
    {{"kcomp-chart", "L0H0:L1H0", "0.1:1.0", "L0H0:L2H1", NULL}, CC_CHART_BARS_W, CC_CHART_BARS_H,
     "kcomp exact accuracy per prev:ind pair (rows) — model induction-3l4h"},
};
enum { N_CASES = sizeof CASES / sizeof CASES[0] };

/* Runs case C with --plot DIR/chart<i>.EXT (and --json when JSON); checks exit 0 and the analysis on stdout. */
static char *render_case(const char *dir, int i, const char *ext, bool json)
{
    const chart_case *c = &CASES[i];
    char *out = NULL;
    ck_assert(asprintf(&out, "%s/chart%d.%s", dir, i, ext) > 0);
    const char *argv[24];
    int n = 0;
    for (; c->argv[n]; n++) argv[n] = c->argv[n];
    argv[n++] = "--plot";
    argv[n++] = out;
    if (json) argv[n++] = "--json";
    argv[n] = NULL;
    tu_run_result r = tu_run(argv);
    ck_assert_msg(r.status == 0, "%s --plot %s: status %d, stderr: %s", c->argv[0], out, r.status, r.err);
    ck_assert_msg(strlen(r.out) > 0, "%s: no analysis printed", c->argv[0]);
    if (json) tu_assert_contains(r.out, "{");
    tu_run_free(&r);
    return out;
}

START_TEST(png_every_chart)
{
    char *dir = tu_tmpdir();
    for (int i = 0; i < N_CASES; i++) {
        char *out = render_case(dir, i, "png", i % 2 == 1);
        assert_png(out, CASES[i].w, CASES[i].h);
        free(out);
    }
    assert_no_temp_files(dir);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(svg_every_chart)
{
    char *dir = tu_tmpdir();
    for (int i = 0; i < N_CASES; i++) {
        char *out = render_case(dir, i, i == 0 ? "SVG" : "svg", false);
        assert_svg(out, CASES[i].w, CASES[i].h, CASES[i].title);
        free(out);
    }
    assert_no_temp_files(dir);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

/* ---- data files: golden text from fixed inputs ------------------------------- */

static void assert_file_text(const char *dir, const char *name, const char *want)
{
    char *path = NULL;
    ck_assert(asprintf(&path, "%s/golden-%s", dir, name) > 0);
    size_t n;
    char *got = (char *)tu_read_file(path, &n);
    ck_assert_msg(strcmp(got, want) == 0, "%s:\n--- got\n%s--- want\n%s", name, got, want);
    free(got);
    free(path);
}

START_TEST(data_files_golden)
{
    char *dir = tu_tmpdir(), *prefix = NULL, *out = NULL;
    ck_assert(asprintf(&prefix, "%s/golden-", dir) > 0);
    ck_assert(asprintf(&out, "%s/chart.svg", dir) > 0);
    cc_chart_opts o = {.out = out, .title = "golden 'quoted' \"title\" & <more>", .keep_data = prefix};
    cc_error err;

    double ra[2] = {0.5, 1}, ca[2] = {0.25, 0.75}, sv[3] = {4, 2, 1};
    ck_assert_msg(cc_chart_circuit(&o, 2, ra, ca, "query", "key", sv, 3, &err) == 0, "%s", err.msg);
    assert_svg(out, CC_CHART_CIRCUIT_W, CC_CHART_CIRCUIT_H, "golden 'quoted' \"title\" & <more>");
    assert_file_text(dir, "topk.dat",
                     "# top-k accuracy of the diagonal\n# k rows_accuracy cols_accuracy\n1 0.5 0.25\n2 1 0.75\n");
    assert_file_text(dir, "spectrum.dat", "# singular values, descending\n# i sigma\n1 4\n2 2\n3 1\n");

    double k[4] = {0, 0.5, 0, 0};
    const double *mats[1] = {k};
    const char *modes[1] = {"k"};
    ck_assert_msg(cc_chart_comp_scores(&o, 2, 1, 1, modes, mats, 0.125, 0.5, &err) == 0, "%s", err.msg);
    assert_file_text(dir, "comp_k.dat",
                     "# k-composition score: row = earlier head, col = later head\n# col row value\n"
                     "0 0 NaN\n1 0 0.5\n\n0 1 NaN\n1 1 NaN\n\n");

    double ind[2] = {0.25, 0.75}, prev[2] = {1, 0};
    ck_assert_msg(cc_chart_heads(&o, 1, 2, ind, prev, 1, &err) == 0, "%s", err.msg);
    assert_file_text(dir, "induction.dat",
                     "# induction score: row = layer, col = head\n# col row value\n0 0 0.25\n1 0 0.75\n\n");
    assert_file_text(dir, "previous_token.dat",
                     "# previous-token score: row = layer, col = head\n# col row value\n0 0 1\n1 0 0\n\n");
    assert_file_text(dir, "induction_top.dat", "# top heads\n# head layer index value\nL0H1 0 1 0.75\n");
    assert_file_text(dir, "previous_token_top.dat", "# top heads\n# head layer index value\nL0H0 0 0 1\n");

    float pat[9] = {1, 0, 0, 0.5f, 0.5f, 0, 0, 0.25f, 0.75f};
    ck_assert_msg(cc_chart_pattern(&o, 1, pat, &err) == 0, "%s", err.msg);
    assert_file_text(dir, "pattern.dat",
                     "# attention pattern: row = destination, col = source\n# col row value\n"
                     "0 0 1\n1 0 0\n2 0 0\n\n0 1 0.5\n1 1 0.5\n2 1 0\n\n0 2 0\n1 2 0.25\n2 2 0.75\n\n");

    double lp[4] = {-2, -1.5, -0.5, -0.25};
    ck_assert_msg(cc_chart_repeat(&o, 2, lp, -1.75, -0.375, &err) == 0, "%s", err.msg);
    assert_file_text(dir, "repeat.dat",
                     "# mean correct-token log-prob; position i predicts token i+1\n# position mean_logprob half\n"
                     "0 -2 1\n1 -1.5 1\n2 -0.5 2\n3 -0.25 2\n");

    double delta[4] = {0.5, -0.25, 0, 1};
    ck_assert_msg(cc_chart_patch(&o, 2, 1, delta, 3, &err) == 0, "%s", err.msg);
    assert_file_text(dir, "patch.dat",
                     "# loss(patched) - loss(clean): row = layer, col = position - n\n# col row value\n"
                     "0 0 0.5\n1 0 -0.25\n\n0 1 0\n1 1 1\n\n");

    const char *groups[2] = {"L0H0:L1H0", "L0H1:L1H0"}, *series[2] = {"top-1", "top-5"};
    double vals[4] = {1, 1, 0.25, 0.5};
    ck_assert_msg(cc_chart_bars(&o, "accuracy", 2, groups, 2, series, vals, &err) == 0, "%s", err.msg);
    assert_file_text(dir, "bars.dat", "# group top-1 top-5\nL0H0:L1H0 1 1\nL0H1:L1H0 0.25 0.5\n");
    assert_svg(out, CC_CHART_BARS_W, CC_CHART_BARS_H, "golden 'quoted' \"title\" & <more>");
    assert_no_temp_files(dir);
    free(prefix), free(out);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

/* ---- failures ------------------------------------------------------------------ */

START_TEST(missing_gnuplot_fails_with_nothing_on_stdout)
{
    char *dir = tu_tmpdir(), *out = NULL, *empty = NULL;
    ck_assert(asprintf(&out, "%s/r.png", dir) > 0);
    ck_assert(asprintf(&empty, "%s/emptybin", dir) > 0);
    ck_assert(mkdir(empty, 0755) == 0);
    setenv("PATH", empty, 1); /* this test runs in its own process (Check's fork mode) */
    for (int i = 0; i < N_CASES; i++) {
        const char *argv[24];
        int n = 0;
        for (; CASES[i].argv[n]; n++) argv[n] = CASES[i].argv[n];
        argv[n++] = "--plot";
        argv[n++] = out;
        if (i % 2) argv[n++] = "--json";
        argv[n] = NULL;
        tu_run_result r = tu_run(argv);
        ck_assert_msg(r.status == 1, "%s: exit %d: %s", argv[0], r.status, r.err);
        ck_assert_msg(r.out[0] == '\0', "%s printed its analysis although the chart failed: %s", argv[0], r.out);
        tu_assert_contains(r.err, "gnuplot is not installed");
        tu_assert_contains(r.err, "apt-get install gnuplot-nox");
        ck_assert_msg(!exists(out), "a chart was left at %s", out);
        tu_run_free(&r);
    }
    assert_no_temp_files(dir);
    free(out), free(empty);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(gnuplot_error_is_reported_without_partial_file)
{
    char *dir = tu_tmpdir(), *plots = NULL, *tpl = NULL, *out = NULL;
    ck_assert(asprintf(&plots, "%s/plots", dir) > 0 && asprintf(&tpl, "%s/plots/repeat.gp", dir) > 0);
    ck_assert(asprintf(&out, "%s/r.svg", dir) > 0);
    ck_assert(mkdir(plots, 0755) == 0);
    const char *bad = "set title title\nplot no_such_function(x)\n";
    tu_write_file(tpl, bad, strlen(bad));
    setenv("CIRCUITC_PLOTS", plots, 1);
    tu_run_result r = tu_run((const char *[]){"repeat", "--seq-len", "4", "--batch", "1", "--plot", out, NULL});
    ck_assert_int_eq(r.status, 1);
    ck_assert_str_eq(r.out, ""); /* the analysis is held back until the chart is drawn */
    tu_assert_contains(r.err, "gnuplot failed (exit status");
    tu_assert_contains(r.err, "no_such_function");
    ck_assert(!exists(out));
    assert_no_temp_files(dir);
    tu_run_free(&r);
    /* a template that does not exist */
    r = tu_run((const char *[]){"heads", "--seq-len", "4", "--batch", "1", "--plot", out, NULL});
    ck_assert_int_eq(r.status, 1);
    tu_assert_contains(r.err, "chart template");
    tu_assert_contains(r.err, "heads.gp");
    ck_assert(!exists(out));
    tu_run_free(&r);
    free(plots), free(tpl), free(out);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(bad_output_paths)
{
    char *dir = tu_tmpdir(), *file = NULL, *under_file = NULL, *missing = NULL;
    ck_assert(asprintf(&file, "%s/regular", dir) > 0 && asprintf(&under_file, "%s/regular/x.png", dir) > 0);
    ck_assert(asprintf(&missing, "%s/no/such/dir/x.png", dir) > 0);
    tu_write_file(file, "x", 1);
    /* unwritable: the parent is missing or a regular file -> exit 1 before any analysis */
    const char *paths[2] = {missing, under_file};
    for (int i = 0; i < 2; i++) {
        tu_run_result r = tu_run((const char *[]){"kcomp", "L0H0", "L1H0", "--plot", paths[i], NULL});
        ck_assert_int_eq(r.status, 1);
        ck_assert_str_eq(r.out, "");
        tu_assert_contains(r.err, "cannot write ");
        tu_assert_contains(r.err, paths[i]);
        tu_run_free(&r);
        r = tu_run((const char *[]){"pattern", "L1H0", "--seq-len", "4", "--plot", paths[i], NULL});
        ck_assert_int_eq(r.status, 1);
        ck_assert_str_eq(r.out, "");
        tu_run_free(&r);
    }
    ck_assert(!exists(under_file) && !exists(missing));
    /* not .png/.svg: usage error */
    tu_run_result r = tu_run((const char *[]){"comp-scores", "--plot", "chart.pdf", NULL});
    ck_assert_int_eq(r.status, 2);
    tu_assert_contains(r.err, ".png or .svg");
    ck_assert_str_eq(r.out, "");
    tu_run_free(&r);
    /* commands without a chart reject --plot */
    r = tu_run((const char *[]){"validate", "L0H0", "L1H0", "--plot", "x.png", NULL});
    ck_assert_int_eq(r.status, 2);
    tu_run_free(&r);
    free(file), free(under_file), free(missing);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(kcomp_chart_table_and_json)
{
    tu_run_result r = tu_run((const char *[]){"kcomp-chart", "L0H0:L1H0", "L0H1:L1H0", "--json", NULL});
    ck_assert_msg(r.status == 0, "%s", r.err);
    tu_assert_contains(r.out, "\"pair\": \"L0H0:L1H0\"");
    tu_assert_contains(r.out, "\"top1_accuracy\"");
    tu_run_free(&r);
    r = tu_run((const char *[]){"kcomp-chart", "L0H0-L1H0", NULL});
    ck_assert_int_eq(r.status, 2);
    tu_assert_contains(r.err, "PREV:IND");
    tu_run_free(&r);
}
END_TEST

START_TEST(report_writes_page)
{
    char *dir = tu_tmpdir(), *out = NULL;
    ck_assert(asprintf(&out, "%s/report", dir) > 0);
    tu_run_result r = tu_run((const char *[]){"report", "--out", out, "--seq-len", "10", NULL});
    ck_assert_msg(r.status == 0, "status %d: %s", r.status, r.err);
    tu_assert_contains(r.out, "index.html");
    tu_run_free(&r);
    static const char *steps[] = {"comp-scores", "heads", "kcomp", "pattern", "repeat", "patch"};
    static const int sizes[][2] = {{CC_CHART_COMP_W, CC_CHART_COMP_H},       {CC_CHART_HEADS_W, CC_CHART_HEADS_H},
                                   {CC_CHART_CIRCUIT_W, CC_CHART_CIRCUIT_H}, {CC_CHART_PATTERN_W, CC_CHART_PATTERN_H},
                                   {CC_CHART_REPEAT_W, CC_CHART_REPEAT_H},   {CC_CHART_PATCH_W, CC_CHART_PATCH_H}};
    char *html_path = NULL;
    ck_assert(asprintf(&html_path, "%s/index.html", out) > 0);
    size_t n;
    char *html = (char *)tu_read_file(html_path, &n);
    for (int i = 0; i < 6; i++) {
        char *p = NULL, link[128];
        ck_assert(asprintf(&p, "%s/%s.png", out, steps[i]) > 0);
        assert_png(p, sizes[i][0], sizes[i][1]);
        free(p);
        ck_assert(asprintf(&p, "%s/%s.json", out, steps[i]) > 0);
        size_t jn;
        char *j = (char *)tu_read_file(p, &jn);
        ck_assert_msg(jn > 2 && j[0] == '{', "%s is not JSON", p);
        free(j), free(p);
        snprintf(link, sizeof link, "<a href=\"%s.json\"><img src=\"%s.png\"", steps[i], steps[i]);
        tu_assert_contains(html, link);
        /* the interactive pages (docs/html.md): every step but repeat and patch has one */
        snprintf(link, sizeof link, "<a href=\"%s.html\">interactive page", steps[i]);
        ck_assert(asprintf(&p, "%s/%s.html", out, steps[i]) > 0);
        ck_assert_msg((strstr(html, link) != NULL) == (i < 4), "%s: link", steps[i]);
        ck_assert_msg((access(p, F_OK) == 0) == (i < 4), "%s: page", p);
        free(p);
    }
    /* the default kcomp pair: the top induction head (L1H0) and the earlier head composing most into it */
    tu_assert_contains(html, "kcomp L0H0 &rarr; L1H0");
    tu_assert_contains(html, "Key figures");
    assert_no_temp_files(out);
    free(html), free(html_path), free(out);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(report_failed_steps_are_shown)
{
    char *dir = tu_tmpdir(), *out = NULL, *plots = NULL, *html_path = NULL;
    ck_assert(asprintf(&out, "%s/report", dir) > 0 && asprintf(&plots, "%s/noplots", dir) > 0);
    ck_assert(asprintf(&html_path, "%s/index.html", out) > 0);
    ck_assert(mkdir(plots, 0755) == 0);
    setenv("CIRCUITC_PLOTS", plots, 1); /* no templates: every chart, so every step, fails */
    tu_run_result r = tu_run((const char *[]){"report", "--out", out, "--seq-len", "6", NULL});
    ck_assert_int_eq(r.status, 1);
    tu_assert_contains(r.err, "6 of 6 report steps failed");
    tu_assert_contains(r.err, "chart template");
    size_t n;
    char *html = (char *)tu_read_file(html_path, &n);
    tu_assert_contains(html, "This step failed");
    tu_assert_contains(html, "Key figures");
    /* a failed step leaves no JSON: the page has no figures from it */
    char pattern[4200];
    glob_t g;
    snprintf(pattern, sizeof pattern, "%s/*.json", out);
    ck_assert_msg(glob(pattern, 0, NULL, &g) == GLOB_NOMATCH, "a failed step's JSON is in %s", out);
    ck_assert_msg(strstr(html, "top induction heads</th><td>L1H0") == NULL, "figures of a failed step");
    ck_assert_msg(strstr(html, "interactive page") == NULL, "a link to a failed step's page");
    free(html);
    tu_run_free(&r);
    free(out), free(plots), free(html_path);
    tu_rmtree(dir);
    free(dir);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("plots");
    TCase *t = tcase_create("charts");
    tcase_set_timeout(t, 300);
    tcase_add_test(t, png_every_chart);
    tcase_add_test(t, svg_every_chart);
    tcase_add_test(t, data_files_golden);
    tcase_add_test(t, missing_gnuplot_fails_with_nothing_on_stdout);
    tcase_add_test(t, gnuplot_error_is_reported_without_partial_file);
    tcase_add_test(t, bad_output_paths);
    tcase_add_test(t, kcomp_chart_table_and_json);
    tcase_add_test(t, report_writes_page);
    tcase_add_test(t, report_failed_steps_are_shown);
    suite_add_tcase(s, t);
    return s;
}

int main(void) { return tu_run_suite(suite()); }
