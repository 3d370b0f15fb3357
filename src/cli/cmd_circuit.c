/* cmd_circuit.c — the built-in circuit commands: kcomp, qcomp, vcomp (two
 * heads), ov and qk (one head). Each compiles circuits/<name>.circuit for the
 * heads given, in the order of the circuit's parameters, and reports its
 * exact accuracy, spectrum and (for compositions) the composition score. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "circuit_summary.h"
#include "circuitc/composition.h"
#include "circuitc/head_circuits.h"
#include "cli.h"
#include "options.h"
#include "plot_cli.h"

typedef struct {
    const char *name;
    char comp_mode;            /* 'k', 'q', 'v', or 0 for single-head circuits */
} builtin;

static const builtin BUILTINS[] = {{"kcomp", 'k'}, {"qcomp", 'q'}, {"vcomp", 'v'}, {"ov", 0}, {"qk", 0}};

/* The composition score of the two heads in MODE (TransformerLens' all_composition_scores),
 * against the random baseline of SAMPLES seeded draws. */
static int composition(const cc_model *m, char mode, cc_head early, cc_head late, int samples, unsigned long long seed,
                       json_t **out, cc_error *err)
{
    cc_fm left, right, t;
    if (cc_head_ov(m, early, &left, err) != 0) return -1;
    int rc = mode == 'v' ? cc_head_ov(m, late, &right, err) : cc_head_qk(m, late, &right, err);
    if (rc == 0 && mode == 'k') {
        rc = cc_fm_transpose(&right, &t, err);
        cc_fm_free(&right);
        right = t;
    }
    double score = 0;
    if (rc == 0) rc = cc_fm_composition_score(&left, &right, &score, err);
    cc_fm_free(&left);
    if (rc == 0) cc_fm_free(&right);
    if (rc != 0) return -1;
    double mean = 0, std = 0; /* --baseline-samples 0: no baseline, its figures null */
    if (samples > 0 && cc_composition_baseline(m->cfg.d_model, m->cfg.d_head, samples, seed, NULL, &mean, &std, err) != 0)
        return -1;
    char mode_s[2] = {mode, 0};
    *out = json_pack("{s:s, s:f, s:o, s:o, s:o, s:i, s:I}", "mode", mode_s, "score", score, "baseline_mean",
                     samples ? json_real(mean) : json_null(), "baseline_std", samples ? json_real(std) : json_null(),
                     "ratio_to_baseline", samples && mean > 0 ? json_real(score / mean) : json_null(),
                     "baseline_samples", samples, "seed", (json_int_t)seed);
    return 0;
}

/* The measurement options of A; a usage error when two of a kind are given. */
static int measure_options(const cli_args *a, report_options *ro)
{
    if (a->v[O_RANKS].on && a->v[O_NO_RANKS].on)
        return cli_usage_error(a->cmd->name, "give one of --ranks and --no-ranks");
    if (a->v[O_EXACT].on + a->v[O_BRUTE_FORCE].on + a->v[O_COMPARE].on > 1)
        return cli_usage_error(a->cmd->name, "give one of --exact, --brute-force and --compare");
    *ro = (report_options){.k_max = a->v[O_K].i,
                           .ranks = a->v[O_RANKS].on ? 1 : a->v[O_NO_RANKS].on ? 0 : -1,
                           .method = a->v[O_BRUTE_FORCE].on ? CC_TOPK_BRUTE : CC_TOPK_FAST,
                           .compare = a->v[O_COMPARE].on,
                           .components = a->v[O_COMPONENTS].i,
                           .n_singular = a->v[O_SINGULAR].i};
    return -1;
}

static int run_builtin(const builtin *b, const cli_args *a)
{
    cli_common common = a->common;
    report_options ro;
    int usage = measure_options(a, &ro);
    if (usage >= 0) return usage;
    unsigned long long seed = a->v[O_SEED].u;
    int samples = a->v[O_BASELINE_SAMPLES].i;
    int want = b->comp_mode ? 2 : 1;
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
        if (cc_head_parse(a->pos[i], NULL, &heads[i], &err) != 0) {
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
    double load_seconds = cli_run_seconds();
    cc_fm fm = {0};
    json_t *report = NULL, *comp = NULL;
    int rc = cc_circuit_compile(circ, m, names, heads, want, &fm, NULL, &err);
    if (rc == 0 && b->comp_mode) rc = composition(m, b->comp_mode, heads[0], heads[1], samples, seed, &comp, &err);
    char title[256];
    cli_circuit_title(title, sizeof title, b->name, names, heads, want, m, b->comp_mode ? &seed : NULL);
    json_t *model_path = json_string(m->model_path); /* for the human output */
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
    if (comp) json_object_set_new(report, "composition", comp);
    if (!common.json) {
        printf("circuit   %s", b->name);
        for (int i = 0; i < want; i++) printf(" %s=%s", names[i], cc_head_name(heads[i], hn, sizeof hn));
        printf("\n          %s\nmodel     %s%s\n", cc_circuit_description(circ), json_string_value(model_path),
               common.no_processing ? " (no processing)" : "");
    }
    cc_circuit_free(circ);
    if (common.json) {
        json_t *body = json_deep_copy(report);
        json_object_set_new(body, "phase_seconds", json_pack("{s:f, s:O}", "load", load_seconds, "topk_spectrum",
                                                             json_object_get(report, "seconds")));
        json_object_del(body, "seconds"); /* the envelope's: the whole command */
        int jrc = cli_print_result(body);
        if (common.plot && cli_plot_circuit(common.plot, report, title, NULL) != CLI_OK) jrc = CLI_FAIL;
        json_decref(report);
        json_decref(model_path);
        return jrc;
    }
    circuit_summary_print(report);
    if (comp && samples == 0)
        printf("composition  %c-composition score %.6f (no random baseline: --baseline-samples 0)\n", b->comp_mode,
               json_real_value(json_object_get(comp, "score")));
    else if (comp)
        printf("composition  %c-composition score %.6f = %.2f x the random baseline %.6f (std %.6f; %d samples, "
               "seed %llu)\n",
               b->comp_mode, json_real_value(json_object_get(comp, "score")),
               json_real_value(json_object_get(comp, "ratio_to_baseline")),
               json_real_value(json_object_get(comp, "baseline_mean")),
               json_real_value(json_object_get(comp, "baseline_std")), samples, seed);
    printf("wall time    %.3f s (the whole command; loading the model %.3f s, top-k and spectrum %.3f s)\n",
           cli_run_seconds(), load_seconds, json_real_value(json_object_get(report, "seconds")));
    int prc2 = common.plot ? cli_plot_circuit(common.plot, report, title, NULL) : CLI_OK;
    json_decref(report);
    json_decref(model_path);
    return prc2;
}

static int run_kcomp(const cli_args *a) { return run_builtin(&BUILTINS[0], a); }
static int run_qcomp(const cli_args *a) { return run_builtin(&BUILTINS[1], a); }
static int run_vcomp(const cli_args *a) { return run_builtin(&BUILTINS[2], a); }
static int run_ov(const cli_args *a) { return run_builtin(&BUILTINS[3], a); }
static int run_qk(const cli_args *a) { return run_builtin(&BUILTINS[4], a); }

#define MEASURED                                                                                        \
    "\nand measured without forming the vocab x vocab matrix: exact top-1..top-K accuracy of the\n"     \
    "diagonal in both directions (rows and columns), diagonal-rank statistics and leading singular\n"   \
    "values. --plot: two panels, top-k accuracy for k = 1..K and the reported singular values.\n"
#define COMPOSITION                                                                                     \
    "Also the composition score of the two heads against the random baseline (--baseline-samples\n"    \
    "pairs of random matrices drawn from --seed).\n"
#define CIRCUIT_OPTIONS O_K, O_RANKS, O_NO_RANKS, O_EXACT, O_BRUTE_FORCE, O_COMPARE, O_COMPONENTS, O_SINGULAR, O_PLOT
#define TWO_HEADS(heads) .synopsis = heads, .arg_noun = "head", .min_args = 2, .max_args = 2
#define ONE_HEAD .synopsis = "HEAD", .arg_noun = "head", .min_args = 1, .max_args = 1

const cli_command cli_cmd_kcomp = {
    .name = "kcomp", TWO_HEADS("PREV IND"),
    .summary = "K-composition circuit of PREV and IND: exact accuracy, spectrum, score",
    .description = "The K-composition full circuit W_E W_Q[IND] (W_E W_V[PREV] W_O[PREV] W_K[IND])^T of a\n"
                   "previous-token head PREV and an induction head IND, compiled from circuits/kcomp.circuit" MEASURED
                   COMPOSITION,
    .examples = "kcomp L0H0 L1H0\nkcomp L0H0 L1H0 --k 10 --singular 16 --json\n",
    .options = (const opt_id[]){CIRCUIT_OPTIONS, O_BASELINE_SAMPLES, O_SEED, CLI_MODEL_OPTIONS, O_NONE},
    .run = run_kcomp,
};
const cli_command cli_cmd_qcomp = {
    .name = "qcomp", TWO_HEADS("EARLY LATE"),
    .summary = "Q-composition circuit of two heads",
    .description = "The Q-composition full circuit of an earlier head EARLY into a later head LATE, compiled from\n"
                   "circuits/qcomp.circuit" MEASURED COMPOSITION,
    .examples = "qcomp L0H1 L2H0\n",
    .options = (const opt_id[]){CIRCUIT_OPTIONS, O_BASELINE_SAMPLES, O_SEED, CLI_MODEL_OPTIONS, O_NONE},
    .run = run_qcomp,
};
const cli_command cli_cmd_vcomp = {
    .name = "vcomp", TWO_HEADS("EARLY LATE"),
    .summary = "V-composition circuit of two heads",
    .description = "The V-composition full circuit of an earlier head EARLY into a later head LATE, compiled from\n"
                   "circuits/vcomp.circuit" MEASURED COMPOSITION,
    .examples = "vcomp L0H1 L2H0 --baseline-samples 50 --seed 3\n",
    .options = (const opt_id[]){CIRCUIT_OPTIONS, O_BASELINE_SAMPLES, O_SEED, CLI_MODEL_OPTIONS, O_NONE},
    .run = run_vcomp,
};
const cli_command cli_cmd_ov = {
    .name = "ov", ONE_HEAD,
    .summary = "full OV circuit of a head: exact copying accuracy",
    .description = "The full OV circuit W_E W_V W_O W_U of one head, compiled from circuits/ov.circuit" MEASURED,
    .examples = "ov L1H0\nov 1.0 --k 3 --json\n",
    .options = (const opt_id[]){CIRCUIT_OPTIONS, CLI_MODEL_OPTIONS, O_NONE},
    .run = run_ov,
};
const cli_command cli_cmd_qk = {
    .name = "qk", ONE_HEAD,
    .summary = "full QK circuit of a head",
    .description = "The full QK circuit W_E W_Q W_K^T W_E^T of one head, compiled from circuits/qk.circuit" MEASURED,
    .examples = "qk L1H0\n",
    .options = (const opt_id[]){CIRCUIT_OPTIONS, CLI_MODEL_OPTIONS, O_NONE},
    .run = run_qk,
};
