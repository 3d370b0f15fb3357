/* cmd_comp_scores.c — `circuitc comp-scores`: composition scores of every
 * earlier-layer head into every later-layer head (TransformerLens'
 * all_composition_scores), the random baseline, and the top pairs. */
#include <stdio.h>

#include "circuitc/comp_scores.h"
#include "cli.h"
#include "options.h"
#include "html_cli.h"
#include "plot_cli.h"
#include "progress.h"

static void print_human(const cc_comp_scores *r, const json_t *j)
{
    int n = r->n_layers * r->n_heads, L = r->n_layers, H = r->n_heads;
    printf("model     %s (%d layers x %d heads, d_model %d, d_head %d)\n", cli_run()->model, L, H, r->d_model,
           r->d_head);
    if (r->baseline_samples > 0)
        printf("baseline  mean %.6f, std %.6f over %d random rank-%d [%d,%d] pairs (seed %llu)\n", r->baseline_mean,
               r->baseline_std, r->baseline_samples, r->d_head, r->d_model, r->d_model, (unsigned long long)r->seed);
    else
        printf("baseline  skipped (--baseline-samples 0)\n");
    printf("time      scores %.3f s, baseline %.3f s\n", r->scores_seconds, r->baseline_seconds);
    const json_t *tops = json_object_get(j, "top");
    for (int mode = 0; mode < 3; mode++) {
        if (!r->modes[mode]) continue;
        const char *name = cc_comp_mode_name((cc_comp_mode)mode);
        json_t *t = json_object_get(tops, name);
        printf("\n%c-composition: top %zu of %d earlier -> later pairs\n", name[0] - 'a' + 'A', json_array_size(t),
               n * n - (H * H * L * (L + 1)) / 2);
        printf("  %4s  %-7s %-7s  %9s  %11s  %7s\n", "rank", "earlier", "later", "score", "x baseline", "z");
        for (size_t i = 0; i < json_array_size(t); i++) {
            json_t *row = json_array_get(t, i);
            printf("  %4zu  %-7s %-7s  %9.6f", i + 1, json_string_value(json_object_get(row, "earlier")),
                   json_string_value(json_object_get(row, "later")), json_real_value(json_object_get(row, "score")));
            json_t *ratio = json_object_get(row, "ratio_to_baseline"), *z = json_object_get(row, "z");
            if (json_is_real(ratio)) printf("  %11.3f", json_real_value(ratio));
            else printf("  %11s", "-");
            if (json_is_real(z)) printf("  %7.1f\n", cli_num(json_real_value(z), 1));
            else printf("  %7s\n", "-");
        }
    }
}

static int run(const cli_args *a)
{
    int mode = a->v[O_MODE].choice; /* q, k, v or all */
    cc_comp_scores_options o = {
        .modes = {mode == CC_COMP_Q || mode == 3, mode == CC_COMP_K || mode == 3, mode == CC_COMP_V || mode == 3},
        .top = a->v[O_TOP].i,
        .baseline_samples = a->v[O_BASELINE_SAMPLES].i,
        .seed = a->v[O_SEED].u,
        .process = !a->common.no_processing,
        .progress = cli_progress_update};
    cc_comp_scores r = {0};
    cc_error err;
    cc_model *m = NULL;
    json_t *j = NULL;
    cli_progress_begin("comp-scores"); /* steps: loading, each mode, the baseline */
    int rc = cli_open_model(&a->common, &m, &err);
    if (rc == 0 && (rc = cc_comp_scores_run(m, &o, &r, &err)) == 0) cli_parts_loaded(&a->common, m);
    cc_model_free(m);
    if (rc == 0 && !(j = cc_comp_scores_json(&r))) rc = cc_fail_code(&err, CC_E_NOMEM, "out of memory");
    if (rc != 0) {
        cc_comp_scores_free(&r);
        return cli_fail(&err);
    }
    json_incref(j); /* kept for --plot */
    if (a->common.json) rc = cli_print_result(j);
    else print_human(&r, j), json_decref(j);
    if (a->common.plot && cli_plot_comp_scores(a->common.plot, j, NULL) != CLI_OK) rc = CLI_FAIL;
    if (rc == CLI_OK && a->common.html)
        rc = cli_html_page(&a->common, CC_HTML_TABLES, "composition scores", json_incref(j));
    json_decref(j);
    cc_comp_scores_free(&r);
    return rc;
}

const cli_command cli_cmd_comp_scores = {
    .name = "comp-scores",
    .synopsis = "",
    .summary = "Q/K/V composition scores of all head pairs vs a random baseline",
    .description =
        "Composition scores ||W_A W_B||_F / (||W_A||_F ||W_B||_F) of every head pair with the left head\n"
        "in an earlier layer than the right one: W_A = W_V W_O of the left head (its OV circuit),\n"
        "W_B = W_Q W_K^T (q), (W_Q W_K^T)^T (k) or W_V W_O (v) of the right head; same-or-later layer\n"
        "pairs are 0 (TransformerLens' all_composition_scores). Each score is compared with a random\n"
        "baseline: the same score for --baseline-samples pairs of random rank-d_head [d_model, d_model]\n"
        "matrices (N(0,1) factors drawn from --seed). --top: rows of the ranked table per mode.\n"
        "--plot: one heatmap per mode, earlier head x later head, the baseline on the colour bar.\n",
    .examples = "comp-scores\ncomp-scores --mode k --top 5 --baseline-samples 50 --json\n",
    .options = (const opt_id[]){O_MODE, O_TOP, O_BASELINE_SAMPLES, O_SEED, O_PLOT, O_HTML, CLI_MODEL_OPTIONS, O_NONE},
    .run = run,
};
