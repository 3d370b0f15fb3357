/* plot_cli.c — the commands' --plot charts (plot_cli.h). */
#include "plot_cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "circuit_summary.h"
#include "circuitc/charts.h"
#include "circuitc/plot.h"

int cli_plot_check(const char *cmd, const cli_common *common)
{
    if (!common->plot) return -1;
    const char *p = common->plot;
    size_t n = strlen(p);
    if (n < 5 || (strcasecmp(p + n - 4, ".png") != 0 && strcasecmp(p + n - 4, ".svg") != 0))
        return cli_usage_error(cmd, "--plot takes a file name ending in .png or .svg, got \"%s\"", p);
    cc_error err;
    if (cc_plot_check_output(p, &err) != 0) return cli_fail(&err);
    return -1;
}

char *cli_model_label(const char *path)
{
    if (!path) return strdup("?");
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    size_t b = n;
    while (b > 0 && path[b - 1] != '/') b--;
    return strndup(path + b, n - b);
}

static int done(int rc, const cc_error *err) { return rc == 0 ? CLI_OK : cli_fail(err); }

static double num(const json_t *j, const char *k) { return json_number_value(json_object_get(j, k)); }

int cli_plot_circuit(const char *out, const json_t *r, const char *title, const char *keep_data)
{
    cc_error err;
    const json_t *rows = json_object_get(r, "rows"), *cols = json_object_get(r, "cols");
    const json_t *ra = json_object_get(rows, "topk_accuracy"), *ca = json_object_get(cols, "topk_accuracy");
    const json_t *sv = json_object_get(r, "singular_values");
    int K = (int)json_array_size(ra), S = (int)json_array_size(sv);
    double *v = malloc((size_t)(2 * K + S + 1) * sizeof *v);
    if (!v) return cc_fail_code(&err, CC_E_NOMEM, "out of memory"), cli_fail(&err);
    for (int k = 0; k < K; k++) {
        v[k] = json_number_value(json_array_get(ra, (size_t)k));
        v[K + k] = json_number_value(json_array_get(ca, (size_t)k));
    }
    for (int i = 0; i < S; i++) v[2 * K + i] = json_number_value(json_array_get(sv, (size_t)i));
    /* legend: what a row / column means, without the parenthesised detail */
    char rl[64], cl[64];
    snprintf(rl, sizeof rl, "%s", json_string_value(json_object_get(rows, "meaning")) ? json_string_value(json_object_get(rows, "meaning")) : "");
    snprintf(cl, sizeof cl, "%s", json_string_value(json_object_get(cols, "meaning")) ? json_string_value(json_object_get(cols, "meaning")) : "");
    rl[strcspn(rl, "(")] = '\0', cl[strcspn(cl, "(")] = '\0';
    for (char *t = rl + strlen(rl); t > rl && t[-1] == ' ';) *--t = '\0';
    for (char *t = cl + strlen(cl); t > cl && t[-1] == ' ';) *--t = '\0';
    cc_chart_opts o = {.out = out, .title = title, .keep_data = keep_data};
    int rc = cc_chart_circuit(&o, K, v, v + K, rl, cl, v + 2 * K, S, &err);
    free(v);
    return done(rc, &err);
}

int cli_plot_comp_scores(const char *out, const json_t *j, const char *keep_data)
{
    cc_error err;
    int L = (int)json_integer_value(json_object_get(j, "n_layers")), H = (int)json_integer_value(json_object_get(j, "n_heads"));
    int n = L * H;
    const json_t *modes = json_object_get(j, "modes"), *scores = json_object_get(j, "scores"),
                 *bl = json_object_get(j, "baseline");
    int nm = (int)json_array_size(modes);
    double *s = malloc((size_t)(nm ? nm : 1) * n * n * sizeof *s + 1);
    if (!s) return cc_fail_code(&err, CC_E_NOMEM, "out of memory"), cli_fail(&err);
    const char *names[3];
    const double *mats[3];
    for (int m = 0; m < nm && m < 3; m++) {
        names[m] = json_string_value(json_array_get(modes, (size_t)m));
        const json_t *a = json_object_get(scores, names[m]);
        double *d = s + (size_t)m * n * n;
        for (int l1 = 0; l1 < L; l1++)
            for (int h1 = 0; h1 < H; h1++)
                for (int l2 = 0; l2 < L; l2++)
                    for (int h2 = 0; h2 < H; h2++)
                        d[(size_t)(l1 * H + h1) * n + l2 * H + h2] = json_number_value(json_array_get(
                            json_array_get(json_array_get(json_array_get(a, (size_t)l1), (size_t)h1), (size_t)l2),
                            (size_t)h2));
        mats[m] = d;
    }
    char *model = cli_model_label(cli_run()->model), *title = NULL;
    int tl = json_is_object(bl) ? asprintf(&title, "composition scores — model %s, baseline seed %lld (%lld random pairs)",
                                           model, (long long)json_integer_value(json_object_get(bl, "seed")),
                                           (long long)json_integer_value(json_object_get(bl, "samples")))
                                : asprintf(&title, "composition scores — model %s (no baseline)", model);
    if (tl < 0) title = NULL;
    cc_chart_opts o = {.out = out, .title = title ? title : "composition scores", .keep_data = keep_data};
    int rc = cc_chart_comp_scores(&o, L, H, nm > 3 ? 3 : nm, names, mats,
                                  json_is_object(bl) ? num(bl, "mean") : NAN, json_is_object(bl) ? num(bl, "std") : NAN,
                                  &err);
    free(s), free(model), free(title);
    return done(rc, &err);
}

int cli_plot_heads(const char *out, const json_t *j, int top, const char *keep_data)
{
    cc_error err;
    int L = (int)json_integer_value(json_object_get(j, "n_layers")), H = (int)json_integer_value(json_object_get(j, "n_heads"));
    double *v = calloc((size_t)2 * L * H + 1, sizeof *v);
    if (!v) return cc_fail_code(&err, CC_E_NOMEM, "out of memory"), cli_fail(&err);
    const json_t *heads = json_object_get(j, "heads"), *e;
    size_t i;
    json_array_foreach(heads, i, e)
    {
        int l = (int)json_integer_value(json_object_get(e, "layer")), h = (int)json_integer_value(json_object_get(e, "index"));
        if (l < 0 || l >= L || h < 0 || h >= H) continue;
        /* on prompts (no repeat length): detect_head's induction_head score */
        v[l * H + h] = json_object_get(e, "induction") ? num(e, "induction") : num(json_object_get(e, "detect"), "induction_head");
        v[L * H + l * H + h] = num(e, "previous_token");
    }
    char *model = cli_model_label(cli_run()->model), *title = NULL;
    long long batch = json_integer_value(json_object_get(j, "batch"));
    if ((json_object_get(j, "prompts")
             ? asprintf(&title, "head scores — model %s, %lld prompt%s of %lld tokens (induction: detect_head's)",
                        model, batch, batch == 1 ? "" : "s", (long long)json_integer_value(json_object_get(j, "positions")))
             : asprintf(&title, "head scores — model %s, seed %lld, seq_len %lld, batch %lld", model,
                        (long long)json_integer_value(json_object_get(j, "seed")),
                        (long long)json_integer_value(json_object_get(j, "seq_len")), batch)) < 0)
        title = NULL;
    cc_chart_opts o = {.out = out, .title = title ? title : "head scores", .keep_data = keep_data};
    int rc = cc_chart_heads(&o, L, H, v, v + L * H, top, &err);
    free(v), free(model), free(title);
    return done(rc, &err);
}

int cli_plot_repeat(const char *out, const json_t *j, const char *keep_data)
{
    cc_error err;
    const json_t *pp = json_object_get(j, "mean_logprob_per_position");
    int n = (int)json_integer_value(json_object_get(j, "seq_len"));
    if ((int)json_array_size(pp) != 2 * n) return cc_fail(&err, "internal error: repeat chart needs 2n values"), cli_fail(&err);
    double *v = malloc((size_t)(2 * n + 1) * sizeof *v);
    if (!v) return cc_fail_code(&err, CC_E_NOMEM, "out of memory"), cli_fail(&err);
    for (int k = 0; k < 2 * n; k++) v[k] = json_number_value(json_array_get(pp, (size_t)k));
    char *model = cli_model_label(cli_run()->model), *title = NULL;
    if (asprintf(&title, "repeated random tokens [BOS, A, A] — model %s, seed %lld, seq_len %d, batch %lld", model,
                 (long long)json_integer_value(json_object_get(j, "seed")), n,
                 (long long)json_integer_value(json_object_get(j, "batch"))) < 0)
        title = NULL;
    cc_chart_opts o = {.out = out, .title = title ? title : "repeated tokens", .keep_data = keep_data};
    int rc = cc_chart_repeat(&o, n, v, num(json_object_get(j, "first_half"), "mean_logprob"),
                             num(json_object_get(j, "second_half"), "mean_logprob"), &err);
    free(v), free(model), free(title);
    return done(rc, &err);
}

int cli_plot_pattern(const char *out, const char *model_path, const char *head, unsigned long long seed, int n,
                     const float *pattern, const char *keep_data)
{
    cc_error err;
    char *model = cli_model_label(model_path), *title = NULL;
    if (asprintf(&title, "%s attention pattern — model %s, seed %llu, seq_len %d", head, model, seed, n) < 0) title = NULL;
    cc_chart_opts o = {.out = out, .title = title ? title : head, .keep_data = keep_data};
    int rc = cc_chart_pattern(&o, n, pattern, &err);
    free(model), free(title);
    return done(rc, &err);
}

int cli_plot_patch(const char *out, const char *model_path, unsigned long long seed, int n, int L, const double *delta,
                   double clean_loss, const char *keep_data)
{
    cc_error err;
    char *model = cli_model_label(model_path), *title = NULL;
    if (asprintf(&title, "patching mlp_out — model %s, seed %llu, seq_len %d", model, seed, n) < 0) title = NULL;
    cc_chart_opts o = {.out = out, .title = title ? title : "patching", .keep_data = keep_data};
    int rc = cc_chart_patch(&o, L, n, delta, clean_loss, &err);
    free(model), free(title);
    return done(rc, &err);
}

void cli_circuit_title(char *buf, size_t size, const char *name, const char *const *names, const cc_head *heads,
                       int n, const cc_model *m, const unsigned long long *seed)
{
    char hn[32];
    char *ml = cli_model_label(cc_model_path(m));
    size_t len = 0;
    buf[0] = '\0';
#define ADD(...) (len < size ? (len += (size_t)snprintf(buf + len, size - len, __VA_ARGS__)) : len)
    ADD("%s", name);
    for (int i = 0; i < n; i++) ADD(" %s=%s", names[i], cc_head_name(heads[i], hn, sizeof hn));
    ADD(" — model %s%s", ml ? ml : "?", cc_model_processed(m) ? "" : " (no processing)");
    if (seed) ADD(", baseline seed %llu", *seed);
#undef ADD
    free(ml);
}

int cli_plot_compiled(const char *out, const cc_circuit *c, const cc_fm *fm, const cc_model *m,
                      const char *const *names, const cc_head *heads, int n_bind)
{
    cc_error err;
    cc_measure_options ro = {.k_max = 5, .ranks = CC_RANKS_NEVER, .method = CC_TOPK_FAST, .n_singular = 32};
    json_t *report = NULL;
    if (circuit_summary(c, fm, &ro, &report, &err) != 0) {
        cc_fail_prefix(&err, "--plot");
        return cli_fail(&err);
    }
    char title[256];
    cli_circuit_title(title, sizeof title, cc_circuit_name(c), names, heads, n_bind, m, NULL);
    int rc = cli_plot_circuit(out, report, title, NULL);
    json_decref(report);
    return rc;
}
