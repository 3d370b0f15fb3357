/* cmd_comp_scores.c — `circuitc comp-scores`: composition scores of every
 * earlier-layer head into every later-layer head (TransformerLens'
 * all_composition_scores), the random baseline, and the top pairs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "circuitc/composition.h"
#include "circuitc/heads.h"
#include "cli.h"
#include "options.h"
#include "plot_cli.h"
#include "progress.h"

typedef struct {
    int left, right; /* flat head indices layer * H + head */
    double score;
} pair;

static int by_score_desc(const void *a, const void *b)
{
    const pair *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    if (x->left != y->left) return x->left - y->left;
    return x->right - y->right;
}

/* SCORES [L,H,L,H] as nested JSON arrays. */
static json_t *nested(const double *s, int L, int H)
{
    json_t *a = json_array();
    for (int l1 = 0; l1 < L; l1++) {
        json_t *b = json_array();
        for (int h1 = 0; h1 < H; h1++) {
            json_t *c = json_array();
            for (int l2 = 0; l2 < L; l2++) {
                json_t *d = json_array();
                for (int h2 = 0; h2 < H; h2++)
                    json_array_append_new(d, json_real(s[(((size_t)l1 * H + h1) * L + l2) * H + h2]));
                json_array_append_new(c, d);
            }
            json_array_append_new(b, c);
        }
        json_array_append_new(a, b);
    }
    return a;
}

/* Every figure of one run; the JSON and the table are made from it. */
typedef struct {
    bool want[3];                 /* q, k, v */
    int top, samples;
    unsigned long long seed;
    int L, H, d_model, d_head;
    double *scores;               /* [3][L*H][L*H] */
    double mean, std;             /* the baseline; NAN without one */
    double t_scores, t_base;      /* seconds */
} comp_run;

/* Scores of the wanted modes and the baseline, with a progress line by steps
 * (loading, each mode, the baseline). */
static int compute(const cli_common *common, comp_run *r, cc_error *err)
{
    long steps = 1 + r->want[0] + r->want[1] + r->want[2] + (r->samples > 0), done = 0;
    cli_progress_begin("comp-scores");
    cli_progress_update(NULL, done, steps);
    cc_model *m = NULL;
    /* every head's Q, K, V and O; not the embeddings or the MLPs */
    const cc_part heads[] = {{CC_PART_Q, -1, -1}, {CC_PART_K, -1, -1}, {CC_PART_V, -1, -1}, {CC_PART_O, -1, -1}};
    if (cli_load_parts(common, heads, 4, &m, err) != 0) return -1;
    cli_progress_update(NULL, ++done, steps);
    r->L = m->cfg.n_layers, r->H = m->cfg.n_heads, r->d_model = m->cfg.d_model, r->d_head = m->cfg.d_head;
    size_t n = (size_t)r->L * r->H;
    r->scores = malloc(3 * n * n * sizeof *r->scores);
    int rc = r->scores ? 0 : cc_fail(err, "out of memory");
    for (int mode = 0; mode < 3 && rc == 0; mode++) {
        if (!r->want[mode]) continue;
        double t0 = cli_run_seconds();
        rc = cc_composition_scores(m, (cc_comp_mode)mode, r->scores + mode * n * n, err);
        r->t_scores += cli_run_seconds() - t0;
        cli_progress_update(NULL, ++done, steps);
    }
    cc_model_free(m);
    r->mean = r->std = NAN;
    if (rc == 0 && r->samples > 0) {
        double t0 = cli_run_seconds();
        rc = cc_composition_baseline(r->d_model, r->d_head, r->samples, r->seed, NULL, &r->mean, &r->std, err);
        r->t_base = cli_run_seconds() - t0;
        cli_progress_update(NULL, ++done, steps);
    }
    return rc;
}

/* The top pairs of one mode's scores MS: [{left, right, score, ratio, z}]. */
static json_t *top_pairs(const comp_run *r, const double *ms, pair *pairs)
{
    int n = r->L * r->H, H = r->H, np = 0;
    for (int a = 0; a < n; a++)
        for (int b = 0; b < n; b++)
            if (a / H < b / H) pairs[np++] = (pair){a, b, ms[(size_t)a * n + b]};
    qsort(pairs, (size_t)np, sizeof *pairs, by_score_desc);
    json_t *t = json_array();
    for (int i = 0; i < np && i < r->top; i++) {
        char l[32], rh[32];
        cc_head_name((cc_head){pairs[i].left / H, pairs[i].left % H}, l, sizeof l);
        cc_head_name((cc_head){pairs[i].right / H, pairs[i].right % H}, rh, sizeof rh);
        json_t *row = json_pack("{s:s, s:s, s:f}", "left", l, "right", rh, "score", pairs[i].score);
        bool base = r->samples > 0;
        json_object_set_new(row, "ratio", base ? json_real(pairs[i].score / r->mean) : json_null());
        json_object_set_new(row, "z", base && r->std > 0 ? json_real((pairs[i].score - r->mean) / r->std) : json_null());
        json_array_append_new(t, row);
    }
    return t;
}

/* The whole result as one JSON object (keys in the README). */
static json_t *describe(const comp_run *r)
{
    int n = r->L * r->H;
    pair *pairs = malloc((size_t)(n > 0 ? n * n : 1) * sizeof *pairs);
    if (!pairs) return NULL;
    json_t *modes = json_array(), *scores = json_object(), *tops = json_object();
    for (int mode = 0; mode < 3; mode++) {
        if (!r->want[mode]) continue;
        const double *ms = r->scores + (size_t)mode * n * n;
        const char *name = cc_comp_mode_name((cc_comp_mode)mode);
        json_array_append_new(modes, json_string(name));
        json_object_set_new(scores, name, nested(ms, r->L, r->H));
        json_object_set_new(tops, name, top_pairs(r, ms, pairs));
    }
    free(pairs);
    json_t *bl = r->samples > 0 ? json_pack("{s:i, s:I, s:f, s:f, s:i, s:i}", "samples", r->samples, "seed",
                                            (json_int_t)r->seed, "mean", r->mean, "std", r->std, "d_model",
                                            r->d_model, "d_head", r->d_head)
                                : json_null();
    return json_pack("{s:i, s:i, s:i, s:i, s:I, s:o, s:o, s:o, s:o, s:{s:f, s:f}}", "n_layers", r->L, "n_heads", r->H,
                     "d_model", r->d_model, "d_head", r->d_head, "seed", (json_int_t)r->seed, "modes", modes,
                     "baseline", bl, "top", tops, "scores", scores, "phase_seconds", "scores", r->t_scores,
                     "baseline", r->t_base);
}

static void print_human(const comp_run *r, const json_t *j)
{
    int n = r->L * r->H;
    printf("model     %s (%d layers x %d heads, d_model %d, d_head %d)\n", cli_run()->model, r->L, r->H, r->d_model,
           r->d_head);
    if (r->samples > 0)
        printf("baseline  mean %.6f, std %.6f over %d random rank-%d [%d,%d] pairs (seed %llu)\n", r->mean, r->std,
               r->samples, r->d_head, r->d_model, r->d_model, r->seed);
    else
        printf("baseline  skipped (--baseline-samples 0)\n");
    printf("time      scores %.3f s, baseline %.3f s\n", r->t_scores, r->t_base);
    const json_t *tops = json_object_get(j, "top");
    for (int mode = 0; mode < 3; mode++) {
        if (!r->want[mode]) continue;
        const char *name = cc_comp_mode_name((cc_comp_mode)mode);
        json_t *t = json_object_get(tops, name);
        printf("\n%c-composition: top %zu of %d earlier -> later pairs\n", name[0] - 'a' + 'A', json_array_size(t),
               n * n - (r->H * r->H * r->L * (r->L + 1)) / 2);
        printf("  rank  left   right      score   x baseline        z\n");
        for (size_t i = 0; i < json_array_size(t); i++) {
            json_t *row = json_array_get(t, i);
            printf("  %4zu  %-6s %-6s  %9.6f", i + 1, json_string_value(json_object_get(row, "left")),
                   json_string_value(json_object_get(row, "right")), json_real_value(json_object_get(row, "score")));
            json_t *ratio = json_object_get(row, "ratio"), *z = json_object_get(row, "z");
            if (json_is_real(ratio)) printf("  %11.3f", json_real_value(ratio));
            else printf("  %11s", "-");
            if (json_is_real(z)) printf("  %7.1f\n", json_real_value(z));
            else printf("  %7s\n", "-");
        }
    }
}

static int run(const cli_args *a)
{
    int mode = a->v[O_MODE].choice; /* q, k, v or all */
    comp_run r = {.want = {mode == CC_COMP_Q || mode == 3, mode == CC_COMP_K || mode == 3, mode == CC_COMP_V || mode == 3},
                  .top = a->v[O_TOP].i,
                  .samples = a->v[O_BASELINE_SAMPLES].i,
                  .seed = a->v[O_SEED].u};
    cc_error err;
    json_t *j = NULL;
    int rc = compute(&a->common, &r, &err);
    if (rc == 0 && !(j = describe(&r))) rc = cc_fail(&err, "out of memory");
    if (rc != 0) {
        free(r.scores);
        return cli_fail(&err);
    }
    json_incref(j); /* kept for --plot */
    if (a->common.json) rc = cli_print_result(j);
    else print_human(&r, j), json_decref(j);
    if (a->common.plot && cli_plot_comp_scores(a->common.plot, j, NULL) != CLI_OK) rc = CLI_FAIL;
    json_decref(j);
    free(r.scores);
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
    .options = (const opt_id[]){O_MODE, O_TOP, O_BASELINE_SAMPLES, O_SEED, O_PLOT, CLI_MODEL_OPTIONS, O_NONE},
    .run = run,
};
