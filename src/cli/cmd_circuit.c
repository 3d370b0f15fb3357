/* cmd_circuit.c — the built-in circuit commands: kcomp, qcomp, vcomp (two
 * heads), ov and qk (one head). Each compiles circuits/<name>.circuit for the
 * heads given, in the order of the circuit's parameters, and reports its
 * exact accuracy, spectrum and (for compositions) the composition score. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "circuit_summary.h"
#include "circuitc/measure.h"
#include "cli.h"
#include "plot_cli.h"

typedef struct {
    const char *name;
    const char *usage_heads;   /* e.g. "PREV IND" */
    char comp_mode;            /* 'k', 'q', 'v', or 0 for single-head circuits */
    const char *summary;
} builtin;

static const builtin BUILTINS[] = {
    {"kcomp", "PREV IND", 'k', "K-composition full circuit of a previous-token head and an induction head"},
    {"qcomp", "EARLY LATE", 'q', "Q-composition full circuit of two heads"},
    {"vcomp", "EARLY LATE", 'v', "V-composition full circuit of two heads"},
    {"ov", "HEAD", 0, "full OV circuit W_E W_V W_O W_U of one head"},
    {"qk", "HEAD", 0, "full QK circuit W_E W_Q W_K^T W_E^T of one head"},
};

static void print_help(const builtin *b)
{
    printf("Usage: circuitc %s %s [--k K] [--ranks|--no-ranks] [--exact|--brute-force|--compare]\n"
           "                [--components C] [--model PATH] [--json]\n\n"
           "%s, compiled from circuits/%s.circuit and measured without forming the vocab x vocab\n"
           "matrix: exact top-1..top-K accuracy of the diagonal in both directions (rows and columns),\n"
           "diagonal-rank statistics, leading singular values%s.\n\n"
           "Options:\n"
           "  --k K              report top-1 .. top-K (default 5, at most 64)\n"
           "  --ranks            always compute exact diagonal ranks (one brute-force pass per direction)\n"
           "  --no-ranks         never compute them (default: only when the vocabulary is <= 16384)\n"
           "  --exact            the SVD-bounded fast path, exact (default)\n"
           "  --brute-force      the reference path: every entry through streamed GEMM tiles\n"
           "  --compare          run both paths and fail if they ever disagree\n"
           "  --components C     leading components the fast path scores with (default: automatic)\n"
           "  --singular N       leading singular values to print (default 8)\n"
           "  --baseline-samples N  random pairs for the composition baseline (default 200)\n"
           "  --seed S           seed of the baseline's random matrices (default 0)\n" CLI_PLOT_HELP
           "                     (two panels: top-k accuracy for k = 1..K, the reported singular values)\n"
           CLI_COMMON_HELP,
           b->name, b->usage_heads, b->summary, b->name, b->comp_mode ? ", and the composition score" : "");
}

/* The composition score of the two heads (TransformerLens' all_composition_scores)
 * against the random baseline of SAMPLES seeded draws, as JSON. */
static int composition(const cc_model *m, char mode_letter, cc_head early, cc_head late, int samples,
                       unsigned long long seed, json_t **out, cc_error *err)
{
    cc_comp_mode mode = mode_letter == 'q' ? CC_COMP_Q : mode_letter == 'k' ? CC_COMP_K : CC_COMP_V;
    cc_head_composition hc;
    if (cc_head_composition_score(m, mode, early, late, samples, seed, &hc, err) != 0) return -1;
    *out = json_pack("{s:s, s:f, s:f, s:f, s:f, s:i, s:I}", "mode", cc_comp_mode_name(mode), "score", hc.score,
                     "baseline_mean", hc.baseline_mean, "baseline_std", hc.baseline_std, "ratio_to_baseline",
                     hc.ratio_to_baseline, "baseline_samples", samples, "seed", (json_int_t)seed);
    return 0;
}

static int run_builtin(const builtin *b, int argc, char **argv)
{
    enum { OPT_K = OPT_FIRST_COMMAND_SPECIFIC, OPT_RANKS, OPT_NO_RANKS, OPT_EXACT, OPT_BRUTE, OPT_COMPARE,
           OPT_COMPONENTS, OPT_SINGULAR, OPT_SAMPLES, OPT_SEED };
    static const struct option opts[] = {CLI_COMMON_LONG_OPTIONS, CLI_PLOT_OPTION,
                                         {"k", required_argument, NULL, OPT_K},
                                         {"ranks", no_argument, NULL, OPT_RANKS},
                                         {"no-ranks", no_argument, NULL, OPT_NO_RANKS},
                                         {"exact", no_argument, NULL, OPT_EXACT},
                                         {"brute-force", no_argument, NULL, OPT_BRUTE},
                                         {"compare", no_argument, NULL, OPT_COMPARE},
                                         {"components", required_argument, NULL, OPT_COMPONENTS},
                                         {"singular", required_argument, NULL, OPT_SINGULAR},
                                         {"baseline-samples", required_argument, NULL, OPT_SAMPLES},
                                         {"seed", required_argument, NULL, OPT_SEED},
                                         {NULL, 0, NULL, 0}};
    struct timespec start; /* the command's wall time includes loading */
    clock_gettime(CLOCK_MONOTONIC, &start);
    cli_common common = {0};
    cc_measure_options ro;
    cc_measure_defaults(&ro);
    bool help = false;
    unsigned long long v, seed = 0;
    int samples = 200;
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (cli_common_option(c, &common, &help)) continue;
        switch (c) {
        case OPT_K:
            if (cli_parse_u64(b->name, "--k", optarg, &v) != 0) return CLI_USAGE;
            if (v < 1 || v > CC_TOPK_MAX_K) return cli_usage_error(b->name, "--k must be between 1 and %d", CC_TOPK_MAX_K);
            ro.k_max = (int)v;
            break;
        case OPT_RANKS: ro.ranks = CC_RANKS_ALWAYS; break;
        case OPT_NO_RANKS: ro.ranks = CC_RANKS_NEVER; break;
        case OPT_EXACT: ro.method = CC_TOPK_FAST; break;
        case OPT_BRUTE: ro.method = CC_TOPK_BRUTE; break;
        case OPT_COMPARE: ro.compare = true; break;
        case OPT_COMPONENTS:
            if (cli_parse_int(b->name, "--components", optarg, 0, 100000, &ro.components) != 0) return CLI_USAGE;
            break;
        case OPT_SINGULAR:
            if (cli_parse_int(b->name, "--singular", optarg, 0, 100000, &ro.n_singular) != 0) return CLI_USAGE;
            break;
        case OPT_SAMPLES:
            if (cli_parse_u64(b->name, "--baseline-samples", optarg, &v) != 0) return CLI_USAGE;
            if (v < 1 || v > 100000) return cli_usage_error(b->name, "--baseline-samples must be between 1 and 100000");
            samples = (int)v;
            break;
        case OPT_SEED:
            if (cli_parse_u64(b->name, "--seed", optarg, &seed) != 0) return CLI_USAGE;
            break;
        case ':': return cli_usage_error(b->name, "option %s needs a value", argv[optind - 1]);
        default: return cli_usage_error(b->name, "unknown option %s", argv[optind - 1]);
        }
    }
    if (help) {
        print_help(b);
        return CLI_OK;
    }
    int want = b->comp_mode ? 2 : 1, prc = cli_plot_check(b->name, &common);
    if (prc >= 0) return prc;
    if (argc - optind != want)
        return cli_usage_error(b->name, "expected %d head%s (%s), got %d", want, want > 1 ? "s" : "", b->usage_heads,
                               argc - optind);
    cc_error err;
    cc_circuit *circ = NULL;
    if (cc_circuit_open(b->name, &circ, &err) != 0) return cli_fail(&err);
    if (cc_circuit_n_params(circ) != want) {
        cc_circuit_free(circ);
        cc_fail(&err, "circuit file for %s declares %d parameters; this command binds %d heads", b->name,
                cc_circuit_n_params(circ), want);
        return cli_fail(&err);
    }
    cc_head heads[2];
    for (int i = 0; i < want; i++)
        if (cc_head_parse(argv[optind + i], NULL, &heads[i], &err) != 0) {
            cc_circuit_free(circ);
            return cli_usage_error(b->name, "%s", err.msg);
        }
    const char *names[2];
    for (int i = 0; i < want; i++) names[i] = cc_circuit_param(circ, i);
    cc_model *m = NULL;
    if (cli_open_model(&common, &m, &err) != 0 ||
        circuit_load_parts(&common, m, circ, names, heads, want, 1, b->comp_mode != 0, &err) != 0) {
        cc_model_free(m);
        cc_circuit_free(circ);
        return cli_fail(&err);
    }
    double load_seconds = circuit_summary_elapsed(&start);
    cc_fm fm = {0};
    json_t *report = NULL, *comp = NULL;
    int rc = cc_circuit_compile(circ, m, names, heads, want, &fm, NULL, &err);
    if (rc == 0 && b->comp_mode) rc = composition(m, b->comp_mode, heads[0], heads[1], samples, seed, &comp, &err);
    char title[256];
    cli_circuit_title(title, sizeof title, b->name, names, heads, want, m, b->comp_mode ? &seed : NULL);
    json_t *model_path = json_string(m->model_path);
    cc_model_free(m); /* the factors are all the accuracy pass needs: free the weights before it */
    if (rc == 0) rc = circuit_summary(circ, &fm, &ro, &report, &err);
    cc_fm_free(&fm);
    if (rc != 0 || !model_path) {
        if (rc == 0) cc_fail(&err, "out of memory");
        json_decref(report);
        json_decref(comp);
        json_decref(model_path);
        cc_circuit_free(circ);
        return cli_fail(&err);
    }
    json_t *bind = json_object();
    char hn[32];
    for (int i = 0; i < want; i++) json_object_set_new(bind, names[i], json_string(cc_head_name(heads[i], hn, sizeof hn)));
    json_object_set_new(report, "bindings", bind);
    json_object_set_new(report, "model", model_path);
    json_object_set_new(report, "processing", json_boolean(!common.no_processing));
    if (comp) json_object_set_new(report, "composition", comp);
    json_object_set_new(report, "load_seconds", json_real(load_seconds));
    json_object_set_new(report, "wall_seconds", json_real(circuit_summary_elapsed(&start)));
    if (!common.json) {
        printf("circuit   %s", b->name);
        for (int i = 0; i < want; i++) printf(" %s=%s", names[i], cc_head_name(heads[i], hn, sizeof hn));
        printf("\n          %s\nmodel     %s%s\n", cc_circuit_description(circ), json_string_value(model_path),
               common.no_processing ? " (no processing)" : "");
    }
    cc_circuit_free(circ);
    if (common.json) {
        json_incref(report);
        int jrc = cli_print_json(report);
        if (common.plot && cli_plot_circuit(common.plot, report, title, NULL) != CLI_OK) jrc = CLI_FAIL;
        json_decref(report);
        return jrc;
    }
    circuit_summary_print(report);
    if (comp)
        printf("composition  %c-composition score %.6f = %.2f x the random baseline %.6f (std %.6f; %d samples, "
               "seed %llu)\n",
               b->comp_mode, json_real_value(json_object_get(comp, "score")),
               json_real_value(json_object_get(comp, "ratio_to_baseline")),
               json_real_value(json_object_get(comp, "baseline_mean")),
               json_real_value(json_object_get(comp, "baseline_std")), samples, seed);
    printf("wall time    %.3f s (the whole command; loading the model %.3f s, top-k and spectrum %.3f s)\n",
           circuit_summary_elapsed(&start), load_seconds, json_real_value(json_object_get(report, "seconds")));
    int prc2 = common.plot ? cli_plot_circuit(common.plot, report, title, NULL) : CLI_OK;
    json_decref(report);
    return prc2;
}

int cmd_kcomp(int argc, char **argv) { return run_builtin(&BUILTINS[0], argc, argv); }
int cmd_qcomp(int argc, char **argv) { return run_builtin(&BUILTINS[1], argc, argv); }
int cmd_vcomp(int argc, char **argv) { return run_builtin(&BUILTINS[2], argc, argv); }
int cmd_ov(int argc, char **argv) { return run_builtin(&BUILTINS[3], argc, argv); }
int cmd_qk(int argc, char **argv) { return run_builtin(&BUILTINS[4], argc, argv); }
