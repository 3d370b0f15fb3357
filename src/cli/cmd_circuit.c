/* cmd_circuit.c — the built-in circuit commands: kcomp, qcomp, vcomp (two
 * heads), ov and qk (one head). Each compiles circuits/<name>.circuit for the
 * heads given, in the order of the circuit's parameters, and reports its
 * exact accuracy, spectrum and (for compositions) the composition score. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuit_summary.h"
#include "circuitc/circuit_report.h"
#include "cli.h"
#include "options.h"
#include "html_cli.h"
#include "plot_cli.h"

/* The measurement options of A; a usage error when two of a kind are given. */
static int measure_options(const cli_args *a, cc_measure_options *ro)
{
    if (a->v[O_RANKS].on && a->v[O_NO_RANKS].on)
        return cli_usage_error(a->cmd->name, "give one of --ranks and --no-ranks");
    if (a->v[O_EXACT].on + a->v[O_BRUTE_FORCE].on + a->v[O_COMPARE].on > 1)
        return cli_usage_error(a->cmd->name, "give one of --exact, --brute-force and --compare");
    *ro = (cc_measure_options){.k_max = a->v[O_K].i,
                           .ranks = a->v[O_RANKS].on ? CC_RANKS_ALWAYS : a->v[O_NO_RANKS].on ? CC_RANKS_NEVER : CC_RANKS_AUTO,
                           .method = a->v[O_BRUTE_FORCE].on ? CC_TOPK_BRUTE : CC_TOPK_FAST,
                           .compare = a->v[O_COMPARE].on,
                           .components = a->v[O_COMPONENTS].i,
                           .n_singular = a->v[O_SINGULAR].i};
    circuit_summary_progress(ro);
    return -1;
}

/* The options of command A for built-in circuit B; -1, or the exit status after a usage error. */
static int report_options(cc_builtin_circuit b, const cli_args *a, cc_circuit_report_options *o)
{
    cc_circuit_report_defaults(o);
    int usage = measure_options(a, &o->measure);
    if (usage >= 0) return usage;
    o->circuit = b;
    o->process = !a->common.no_processing;
    o->seed = a->v[O_SEED].u;
    o->baseline_samples = a->v[O_BASELINE_SAMPLES].i;
    cc_error err;
    for (int i = 0; i < cc_builtin_circuit_heads(b); i++)
        if (cc_head_parse(a->pos[i], NULL, &o->heads[i], &err) != 0) return cli_usage_error(a->cmd->name, "%s", err.msg);
    return -1;
}

/* The human output's first lines: the circuit, its bindings, the model. */
static void print_heading(const cc_circuit_report *r, const char *model_path, bool no_processing)
{
    char hn[32];
    printf("circuit   %s", cc_circuit_name(r->circuit));
    for (int i = 0; i < r->n_heads; i++)
        printf(" %s=%s", cc_circuit_param(r->circuit, i), cc_head_name(r->heads[i], hn, sizeof hn));
    printf("\n          %s\nmodel     %s%s\n", cc_circuit_description(r->circuit), model_path,
           no_processing ? " (no processing)" : "");
    if (r->note) printf("note      %s\n", r->note);
}

/* The human output's composition line (none for one head). */
static void print_composition(const cc_circuit_report *r)
{
    if (!r->has_composition) return;
    const cc_head_composition *c = &r->composition;
    char mode = cc_comp_mode_name(c->mode)[0];
    if (c->baseline_samples == 0)
        printf("composition  %c-composition score %.6f (no random baseline: --baseline-samples 0)\n", mode, c->score);
    else
        printf("composition  %c-composition score %.6f = %.2f x the random baseline %.6f (std %.6f; %d samples, "
               "seed %llu)\n",
               mode, c->score, c->baseline_mean > 0 ? c->ratio_to_baseline : 0.0, c->baseline_mean, c->baseline_std,
               c->baseline_samples, (unsigned long long)c->seed);
}

/* Prints measured report R (JSON J: --json, else the table) and draws --plot. */
static int print_report(const cli_common *common, const cc_circuit_report *r, json_t *j, const char *model_path,
                        const char *title)
{
    int rc = CLI_OK;
    if (common->json) {
        rc = cli_print_result(json_incref(j));
    } else {
        print_heading(r, model_path, common->no_processing);
        circuit_summary_print(j);
        print_composition(r);
        printf("wall time    %.3f s (the whole command; loading the model %.3f s, top-k and spectrum %.3f s)\n",
               cli_run_seconds(), r->load_seconds, r->measurement.seconds);
    }
    if (common->plot && cli_plot_circuit(common->plot, j, title, NULL) != CLI_OK) rc = CLI_FAIL;
    if (rc == CLI_OK && common->html) rc = cli_html_page(common, CC_HTML_TABLES, title, json_incref(j));
    return rc;
}

static int run_builtin(cc_builtin_circuit b, const cli_args *a)
{
    cc_circuit_report_options o;
    int usage = report_options(b, a, &o);
    if (usage >= 0) return usage;
    cc_error err;
    cc_model *m = NULL;
    cc_circuit_report r = {0};
    if (cli_open_model(&a->common, &m, &err) != 0) return cli_fail(&err);
    double open_seconds = cli_run_seconds();
    if (cc_circuit_report_compile(m, &o, &r, &err) != 0) {
        cc_model_free(m);
        cc_circuit_report_free(&r);
        return cli_fail(&err);
    }
    cli_parts_loaded(&a->common, m);
    r.load_seconds += open_seconds; /* loading the model: from the command's start */
    const char *names[2] = {cc_circuit_param(r.circuit, 0), r.n_heads > 1 ? cc_circuit_param(r.circuit, 1) : NULL};
    char title[256];
    cli_circuit_title(title, sizeof title, cc_builtin_circuit_name(b), names, r.heads, r.n_heads, m,
                      r.has_composition ? &(unsigned long long){o.seed} : NULL);
    char *model_path = strdup(cc_model_path(m)); /* for the human output */
    cc_model_free(m); /* the factors are all the measurement needs: free the weights before it */
    json_t *j = NULL;
    int rc = model_path ? cc_circuit_report_measure(&r, &o.measure, &err) : cc_fail_code(&err, CC_E_NOMEM, "out of memory");
    if (rc == 0 && !(j = cc_circuit_report_json(&r))) rc = cc_fail_code(&err, CC_E_NOMEM, "out of memory");
    rc = rc == 0 ? print_report(&a->common, &r, j, model_path, title) : cli_fail(&err);
    json_decref(j);
    free(model_path);
    cc_circuit_report_free(&r);
    return rc;
}

static int run_kcomp(const cli_args *a) { return run_builtin(CC_BUILTIN_KCOMP, a); }
static int run_qcomp(const cli_args *a) { return run_builtin(CC_BUILTIN_QCOMP, a); }
static int run_vcomp(const cli_args *a) { return run_builtin(CC_BUILTIN_VCOMP, a); }
static int run_ov(const cli_args *a) { return run_builtin(CC_BUILTIN_OV, a); }
static int run_qk(const cli_args *a) { return run_builtin(CC_BUILTIN_QK, a); }

#define MEASURED                                                                                        \
    "\nand measured without forming the vocab x vocab matrix: exact top-1..top-K accuracy of the\n"     \
    "diagonal in both directions (rows and columns), diagonal-rank statistics and leading singular\n"   \
    "values. --plot: two panels, top-k accuracy for k = 1..K and the reported singular values.\n"
#define COMPOSITION                                                                                     \
    "Also the composition score of the two heads against the random baseline (--baseline-samples\n"    \
    "pairs of random matrices drawn from --seed).\n"
#define CIRCUIT_OPTIONS O_K, O_RANKS, O_NO_RANKS, O_EXACT, O_BRUTE_FORCE, O_COMPARE, O_COMPONENTS, O_SINGULAR, O_PLOT, O_HTML
#define TWO_HEADS(heads) .synopsis = heads, .arg_noun = "head", .min_args = 2, .max_args = 2
#define ONE_HEAD .synopsis = "HEAD", .arg_noun = "head", .min_args = 1, .max_args = 1

/* kcomp, qcomp and vcomp: two heads, the measurement and the composition score. */
#define COMPOSITION_COMMAND(cmd, heads, summary_text, description_text, examples_text, run_fn)                    \
    {.name = cmd, TWO_HEADS(heads), .summary = summary_text, .description = description_text MEASURED COMPOSITION, \
     .examples = examples_text, .run = run_fn,                                                                  \
     .options = (const opt_id[]){CIRCUIT_OPTIONS, O_BASELINE_SAMPLES, O_SEED, CLI_MODEL_OPTIONS, O_NONE}}

const cli_command cli_cmd_kcomp = COMPOSITION_COMMAND(
    "kcomp", "PREV IND", "K-composition circuit of PREV and IND: exact accuracy, spectrum, score",
    "The K-composition full circuit W_E W_Q[IND] (W_E W_V[PREV] W_O[PREV] W_K[IND])^T of a\n"
    "previous-token head PREV and an induction head IND, compiled from circuits/kcomp.circuit",
    "kcomp L0H0 L1H0\nkcomp L0H0 L1H0 --k 10 --singular 16 --json\n", run_kcomp);
const cli_command cli_cmd_qcomp = COMPOSITION_COMMAND(
    "qcomp", "EARLY LATE", "Q-composition circuit of two heads",
    "The Q-composition full circuit of an earlier head EARLY into a later head LATE, compiled from\n"
    "circuits/qcomp.circuit",
    "qcomp L0H1 L2H0\n", run_qcomp);
const cli_command cli_cmd_vcomp = COMPOSITION_COMMAND(
    "vcomp", "EARLY LATE", "V-composition circuit of two heads",
    "The V-composition full circuit of an earlier head EARLY into a later head LATE, compiled from\n"
    "circuits/vcomp.circuit",
    "vcomp L0H1 L2H0 --baseline-samples 50 --seed 3\n", run_vcomp);
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
