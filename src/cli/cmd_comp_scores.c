/* cmd_comp_scores.c — `circuitc comp-scores`: composition scores of every
 * earlier-layer head into every later-layer head (TransformerLens'
 * all_composition_scores), the random baseline, and the top pairs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "circuitc/composition.h"
#include "circuitc/heads.h"
#include "cli.h"
#include "plot_cli.h"
#include "progress.h"

static const char *HELP =
    "Usage: circuitc comp-scores [--mode q|k|v|all] [--top N] [--baseline-samples N] [--seed S]\n"
    "                            [--model PATH] [--json]\n\n"
    "Composition scores ||W_A W_B||_F / (||W_A||_F ||W_B||_F) of every head pair with the left\n"
    "head in an earlier layer than the right one: W_A = W_V W_O of the left head (its OV circuit),\n"
    "W_B = W_Q W_K^T (q), (W_Q W_K^T)^T (k) or W_V W_O (v) of the right head; same-or-later\n"
    "layer pairs are 0 (TransformerLens' all_composition_scores). Each score is compared with a\n"
    "random baseline: the same score for pairs of random rank-d_head [d_model, d_model] matrices\n"
    "(N(0,1) factors, seeded).\n\n"
    "Options:\n"
    "  --mode M           q, k, v or all (default all)\n"
    "  --top N            rows in the ranked table per mode (default 10)\n"
    "  --baseline-samples N\n"
    "                     random pairs for the baseline (default 200; 0 to skip it)\n"
    "  --seed S           seed of the baseline's generator (default 0)\n" CLI_PLOT_HELP
    "                     (one heatmap per mode, earlier head x later head; baseline on the colour bar)\n"
    CLI_COMMON_HELP;

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

static double secs_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + 1e-9 * (double)(t.tv_nsec - t0->tv_nsec);
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

int cmd_comp_scores(int argc, char **argv)
{
    enum { OPT_MODE = OPT_FIRST_COMMAND_SPECIFIC, OPT_TOP, OPT_SAMPLES, OPT_SEED };
    static const struct option opts[] = {CLI_COMMON_LONG_OPTIONS, CLI_PLOT_OPTION,
                                         {"mode", required_argument, NULL, OPT_MODE},
                                         {"top", required_argument, NULL, OPT_TOP},
                                         {"baseline-samples", required_argument, NULL, OPT_SAMPLES},
                                         {"seed", required_argument, NULL, OPT_SEED},
                                         {NULL, 0, NULL, 0}};
    cli_common common = {0};
    bool help = false, want[3] = {true, true, true};
    int top = 10;
    unsigned long long samples = 200, seed = 0;
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (cli_common_option(c, &common, &help)) continue;
        switch (c) {
        case OPT_MODE:
            if (strcmp(optarg, "all") == 0) want[0] = want[1] = want[2] = true;
            else if (!strcmp(optarg, "q") || !strcmp(optarg, "k") || !strcmp(optarg, "v"))
                want[0] = optarg[0] == 'q', want[1] = optarg[0] == 'k', want[2] = optarg[0] == 'v';
            else return cli_usage_error("comp-scores", "--mode takes q, k, v or all, got \"%s\"", optarg);
            break;
        case OPT_TOP:
            if (cli_parse_int("comp-scores", "--top", optarg, 1, 1000000, &top) != 0) return CLI_USAGE;
            break;
        case OPT_SAMPLES:
            if (cli_parse_u64("comp-scores", "--baseline-samples", optarg, &samples) != 0) return CLI_USAGE;
            if (samples > 1000000) return cli_usage_error("comp-scores", "--baseline-samples is at most 1000000");
            break;
        case OPT_SEED:
            if (cli_parse_u64("comp-scores", "--seed", optarg, &seed) != 0) return CLI_USAGE;
            break;
        case ':': return cli_usage_error("comp-scores", "option %s needs a value", argv[optind - 1]);
        default: return cli_usage_error("comp-scores", "unknown option %s", argv[optind - 1]);
        }
    }
    if (help) {
        fputs(HELP, stdout);
        return CLI_OK;
    }
    if (optind < argc) return cli_usage_error("comp-scores", "unexpected argument \"%s\"", argv[optind]);
    int prc = cli_plot_check("comp-scores", &common);
    if (prc >= 0) return prc;

    /* Progress by steps: loading, each mode's scores, the baseline. */
    long steps = 1 + want[0] + want[1] + want[2] + (samples > 0), done = 0;
    cli_progress_begin("comp-scores");
    cli_progress_update(NULL, done, steps);
    cc_error err;
    cc_model *m = NULL;
    /* every head's Q, K, V and O; not the embeddings or the MLPs */
    const cc_part heads[] = {{CC_PART_Q, -1, -1}, {CC_PART_K, -1, -1}, {CC_PART_V, -1, -1}, {CC_PART_O, -1, -1}};
    if (cli_load_parts(&common, heads, 4, &m, &err) != 0) return cli_fail(&err);
    cli_progress_update(NULL, ++done, steps);
    const cc_config *g = &m->cfg;
    int L = g->n_layers, H = g->n_heads, n = L * H;
    double *s = malloc((size_t)3 * n * n * sizeof *s), *base = malloc((size_t)(samples ? samples : 1) * sizeof *base);
    pair *pairs = malloc((size_t)(n > 0 ? n * n : 1) * sizeof *pairs);
    if (!s || !base || !pairs) {
        free(s), free(base), free(pairs), cc_model_free(m);
        fprintf(stderr, "circuitc: error: out of memory\n");
        return CLI_FAIL;
    }
    struct timespec t0;
    double t_scores = 0, t_base = 0, mean = NAN, std = NAN;
    int rc = CLI_OK;
    for (int mode = 0; mode < 3 && rc == CLI_OK; mode++) {
        if (!want[mode]) continue;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (cc_composition_scores(m, (cc_comp_mode)mode, s + (size_t)mode * n * n, &err) != 0) rc = cli_fail(&err);
        t_scores += secs_since(&t0);
        cli_progress_update(NULL, ++done, steps);
    }
    if (rc == CLI_OK && samples > 0) {
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (cc_composition_baseline(g->d_model, g->d_head, (int)samples, seed, base, &mean, &std, &err) != 0)
            rc = cli_fail(&err);
        t_base = secs_since(&t0);
        cli_progress_update(NULL, ++done, steps);
    }
    if (rc != CLI_OK) {
        free(s), free(base), free(pairs), cc_model_free(m);
        return rc;
    }

    /* one JSON object holds everything; the table is printed from the same figures */
    json_t *modes = json_array(), *scores = json_object(), *tops = json_object();
    for (int mode = 0; mode < 3; mode++) {
        if (!want[mode]) continue;
        const double *ms = s + (size_t)mode * n * n;
        const char *name = cc_comp_mode_name((cc_comp_mode)mode);
        json_array_append_new(modes, json_string(name));
        json_object_set_new(scores, name, nested(ms, L, H));
        int np = 0;
        for (int a = 0; a < n; a++)
            for (int b = 0; b < n; b++)
                if (a / H < b / H) pairs[np++] = (pair){a, b, ms[(size_t)a * n + b]};
        qsort(pairs, (size_t)np, sizeof *pairs, by_score_desc);
        json_t *t = json_array();
        for (int i = 0; i < np && i < top; i++) {
            char l[32], r[32];
            cc_head_name((cc_head){pairs[i].left / H, pairs[i].left % H}, l, sizeof l);
            cc_head_name((cc_head){pairs[i].right / H, pairs[i].right % H}, r, sizeof r);
            json_t *row = json_pack("{s:s, s:s, s:f}", "left", l, "right", r, "score", pairs[i].score);
            json_object_set_new(row, "ratio", samples > 0 ? json_real(pairs[i].score / mean) : json_null());
            json_object_set_new(row, "z", samples > 0 && std > 0 ? json_real((pairs[i].score - mean) / std) : json_null());
            json_array_append_new(t, row);
        }
        json_object_set_new(tops, name, t);
    }
    json_t *bl = samples > 0 ? json_pack("{s:I, s:I, s:f, s:f, s:i, s:i}", "samples", (json_int_t)samples, "seed",
                                         (json_int_t)seed, "mean", mean, "std", std, "d_model", g->d_model,
                                         "d_head", g->d_head)
                             : json_null();
    json_t *j = json_pack("{s:s, s:i, s:i, s:i, s:i, s:I, s:o, s:o, s:o, s:o, s:{s:f, s:f}}", "model",
                          m->model_path, "n_layers", L, "n_heads", H, "d_model", g->d_model, "d_head", g->d_head,
                          "seed", (json_int_t)seed, "modes", modes, "baseline", bl, "top", tops, "scores", scores,
                          "seconds", "scores", t_scores, "baseline", t_base);
    json_incref(j); /* kept for --plot */
    if (common.json) {
        rc = cli_print_json(j);
    } else {
        printf("model     %s (%d layers x %d heads, d_model %d, d_head %d)\n", m->model_path, L, H, g->d_model,
               g->d_head);
        if (samples > 0)
            printf("baseline  mean %.6f, std %.6f over %llu random rank-%d [%d,%d] pairs (seed %llu)\n", mean, std,
                   samples, g->d_head, g->d_model, g->d_model, seed);
        else
            printf("baseline  skipped (--baseline-samples 0)\n");
        printf("time      scores %.3f s, baseline %.3f s\n", t_scores, t_base);
        for (int mode = 0; mode < 3; mode++) {
            if (!want[mode]) continue;
            const char *name = cc_comp_mode_name((cc_comp_mode)mode);
            json_t *t = json_object_get(tops, name);
            printf("\n%c-composition: top %zu of %d earlier -> later pairs\n", name[0] - 'a' + 'A', json_array_size(t),
                   n * n - (H * H * L * (L + 1)) / 2);
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
        json_decref(j);
    }
    if (common.plot && cli_plot_comp_scores(common.plot, j, NULL) != CLI_OK) rc = CLI_FAIL;
    json_decref(j);
    free(s), free(base), free(pairs);
    cc_model_free(m);
    return rc;
}
