/* cmd_compile.c — `circuitc compile FILE --bind NAME=HEAD ...`: compiles a
 * circuit file (docs/circuit-format.md) for some heads into a FactoredMatrix
 * and describes it: shape, factor shapes, norm, and with --explain the plan
 * (chain shapes, split, multiplication order and FLOP counts).
 *
 * All output is assembled in compile_describe() as one JSON object, printed as
 * is with --json or as a table by print_human(): add figures there. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "circuit_summary.h"
#include "circuitc/circuit.h"
#include "cli.h"
#include "plot_cli.h"

static const char *HELP =
    "Usage: circuitc compile CIRCUIT --bind NAME=HEAD ... [--explain] [--order optimal|tl]\n"
    "                        [--model PATH] [--json]\n\n"
    "Compiles CIRCUIT (a .circuit file, or the name of a built-in one: kcomp, qcomp, vcomp,\n"
    "ov, qk; see docs/circuit-format.md) for the given heads into a factored matrix A B,\n"
    "split at the chain's smallest inner dimension, and describes it.\n\n"
    "Options:\n"
    "  --bind NAME=HEAD   bind parameter NAME to HEAD (L4H11 or 4.11); repeat for each parameter\n"
    "  --explain          print the plan: the chain with shapes, the split, each factor's\n"
    "                     multiplication order and FLOP counts\n"
    "  --order ORDER      optimal (default): each factor's sub-chain in the FLOP-optimal order;\n"
    "                     tl: A left to right and B right to left, TransformerLens' order for a\n"
    "                     chain written as Q K^T\n" CLI_PLOT_HELP
    "                     (square circuits: top-1..5 accuracy curve and 32 leading singular values)\n"
    CLI_COMMON_HELP;

/* Where SPEC's circuit file is (the same rule as cc_circuit_open). Caller frees. */
static int circuit_path(const char *spec, char **path, cc_error *err)
{
    struct stat st;
    size_t n = strlen(spec);
    if (strchr(spec, '/') || (n > 8 && strcmp(spec + n - 8, ".circuit") == 0) ||
        (stat(spec, &st) == 0 && S_ISREG(st.st_mode))) {
        *path = strdup(spec);
        return *path ? 0 : cc_fail(err, "out of memory");
    }
    return cc_circuit_find_builtin(spec, path, err);
}

static json_t *flops_json(double optimal, double left, double right)
{
    return json_pack("{s:f, s:f, s:f}", "chosen", optimal, "left_to_right", left, "right_to_left", right);
}

/* The whole result of `compile` as one JSON object (keys documented in the README). */
static json_t *compile_describe(const cc_model *m, const char *path, const cc_circuit *c, const char *const *names,
                                const cc_head *heads, int n_bind, const cc_circuit_plan *plan, const cc_fm *fm,
                                const char *order, const char *explain, double seconds)
{
    json_t *params = json_array(), *bind = json_object(), *cons = json_array(), *dims = json_array();
    for (int i = 0; i < cc_circuit_n_params(c); i++) json_array_append_new(params, json_string(cc_circuit_param(c, i)));
    for (int i = 0; i < n_bind; i++) {
        char hb[32];
        json_object_set_new(bind, names[i], json_string(cc_head_name(heads[i], hb, sizeof hb)));
    }
    for (int i = 0; i < cc_circuit_n_constraints(c); i++)
        json_array_append_new(cons, json_string(cc_circuit_constraint_text(c, i)));
    for (int i = 0; i <= plan->n_terms; i++) json_array_append_new(dims, json_integer(plan->dims[i]));
    json_t *j = json_pack(
        "{s:o, s:s, s:o, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:[i,i], s:{s:[i,i], s:[i,i]}, s:f, "
        "s:{s:s, s:o, s:i, s:i, s:s, s:s, s:o, s:o, s:f}, s:f}",
        "model", cli_json_path(m->model_path), "circuit", cc_circuit_name(c), "file", cli_json_path(path), "description",
        cc_circuit_description(c), "chain", cc_circuit_chain_text(c), "rows", cc_circuit_rows(c), "cols",
        cc_circuit_cols(c), "params", params, "bindings", bind, "constraints", cons, "shape", fm->l, fm->r,
        "factors", "A", fm->l, fm->m, "B", fm->m, fm->r, "norm", cc_fm_norm(fm), "plan", "order", order, "dims",
        dims, "split", plan->split, "inner_dim", (int)plan->dims[plan->split], "order_A", plan->order_text_a,
        "order_B", plan->order_text_b, "flops_A", flops_json(plan->flops_a, plan->flops_a_left, plan->flops_a_right),
        "flops_B", flops_json(plan->flops_b, plan->flops_b_left, plan->flops_b_right), "flops_total",
        plan->flops_a + plan->flops_b, "seconds", seconds);
    if (j && explain) json_object_set_new(j, "explain", json_string(explain));
    return j;
}

static const char *jstr(const json_t *j, const char *k) { return json_string_value(json_object_get(j, k)); }
static long long jint(const json_t *j, const char *k, size_t i)
{
    return (long long)json_integer_value(json_array_get(json_object_get(j, k), i));
}

static void print_human(const json_t *j)
{
    printf("circuit   %s  (%s)\n", jstr(j, "circuit"), jstr(j, "file"));
    if (*jstr(j, "description")) printf("          %s\n", jstr(j, "description"));
    printf("chain     %s\n", jstr(j, "chain"));
    json_t *bind = json_object_get(j, "bindings");
    const char *k;
    json_t *v;
    if (json_object_size(bind) > 0) {
        printf("bind     ");
        json_object_foreach(bind, k, v) printf(" %s=%s", k, json_string_value(v));
        printf("\n");
    }
    json_t *f = json_object_get(j, "factors");
    printf("shape     [%lld, %lld] = A [%lld, %lld] B [%lld, %lld]\n", jint(j, "shape", 0), jint(j, "shape", 1),
           jint(f, "A", 0), jint(f, "A", 1), jint(f, "B", 0), jint(f, "B", 1));
    if (*jstr(j, "rows")) printf("rows      %s\n", jstr(j, "rows"));
    if (*jstr(j, "cols")) printf("cols      %s\n", jstr(j, "cols"));
    printf("norm      %.7g (Frobenius)\n", json_real_value(json_object_get(j, "norm")));
    printf("model     %s\n", jstr(j, "model"));
    json_t *ex = json_object_get(j, "explain");
    if (ex) printf("\nplan (%s order)\n%s", jstr(json_object_get(j, "plan"), "order"), json_string_value(ex));
}

int cmd_compile(int argc, char **argv)
{
    enum { OPT_BIND = OPT_FIRST_COMMAND_SPECIFIC, OPT_EXPLAIN, OPT_ORDER };
    static const struct option opts[] = {CLI_COMMON_LONG_OPTIONS, CLI_PLOT_OPTION,
                                         {"bind", required_argument, NULL, OPT_BIND},
                                         {"explain", no_argument, NULL, OPT_EXPLAIN},
                                         {"order", required_argument, NULL, OPT_ORDER},
                                         {NULL, 0, NULL, 0}};
    enum { MAX_BIND = 32 };
    cli_common common = {0};
    bool help = false, explain = false, tl_order = false;
    const char *bind_specs[MAX_BIND];
    int n_bind = 0, c;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (cli_common_option(c, &common, &help)) continue;
        switch (c) {
        case OPT_BIND:
            if (n_bind == MAX_BIND) return cli_usage_error("compile", "too many --bind options (at most %d)", MAX_BIND);
            if (!strchr(optarg, '=') || optarg[0] == '=')
                return cli_usage_error("compile", "--bind takes NAME=HEAD (e.g. --bind prev=L4H11), got \"%s\"", optarg);
            bind_specs[n_bind++] = optarg;
            break;
        case OPT_EXPLAIN: explain = true; break;
        case OPT_ORDER:
            if (strcmp(optarg, "optimal") == 0) tl_order = false;
            else if (strcmp(optarg, "tl") == 0) tl_order = true;
            else return cli_usage_error("compile", "--order takes optimal or tl, got \"%s\"", optarg);
            break;
        case ':': return cli_usage_error("compile", "option %s needs a value", argv[optind - 1]);
        default: return cli_usage_error("compile", "unknown option %s", argv[optind - 1]);
        }
    }
    if (help) {
        fputs(HELP, stdout);
        return CLI_OK;
    }
    int prc = cli_plot_check("compile", &common);
    if (prc >= 0) return prc;
    if (optind >= argc) return cli_usage_error("compile", "give a circuit: a .circuit file or a built-in name (kcomp, ov, ...)");
    if (optind + 1 < argc) return cli_usage_error("compile", "unexpected argument \"%s\"", argv[optind + 1]);
    const char *spec = argv[optind];

    cc_error err;
    char *path = NULL;
    cc_circuit *circ = NULL;
    if (circuit_path(spec, &path, &err) != 0 || (common.json && cli_require_utf8("circuit file path", path, &err)) ||
        cc_circuit_load(path, &circ, &err) != 0) {
        free(path);
        return cli_fail(&err);
    }
    cc_model *m = NULL;
    if (cli_open_model(&common, &m, &err) != 0) {
        free(path), cc_circuit_free(circ);
        return cli_fail(&err);
    }
    char names_buf[MAX_BIND][64];
    const char *names[MAX_BIND];
    cc_head heads[MAX_BIND];
    int rc = CLI_OK;
    for (int i = 0; i < n_bind && rc == CLI_OK; i++) {
        const char *eq = strchr(bind_specs[i], '=');
        size_t n = (size_t)(eq - bind_specs[i]);
        if (n >= sizeof names_buf[i]) n = sizeof names_buf[i] - 1;
        memcpy(names_buf[i], bind_specs[i], n);
        names_buf[i][n] = '\0';
        names[i] = names_buf[i];
        if (cc_head_parse(eq + 1, &m->cfg, &heads[i], &err) != 0) {
            cc_fail_prefix(&err, "--bind %s", bind_specs[i]);
            rc = cli_fail(&err);
        }
    }
    if (rc == CLI_OK && circuit_load_parts(&common, m, circ, names, heads, n_bind, 1, false, &err) != 0)
        rc = cli_fail(&err);
    cc_fm fm = {0};
    cc_circuit_plan plan;
    char *text = NULL;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cc_chain_order oa = tl_order ? CC_ORDER_LEFT : CC_ORDER_OPTIMAL, ob = tl_order ? CC_ORDER_RIGHT : CC_ORDER_OPTIMAL;
    if (rc == CLI_OK &&
        cc_circuit_compile_ex(circ, m, names, heads, n_bind, oa, ob, &fm, &plan, explain ? &text : NULL, &err) != 0)
        rc = cli_fail(&err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (rc == CLI_OK) {
        double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
        json_t *j = compile_describe(m, path, circ, names, heads, n_bind, &plan, &fm, tl_order ? "tl" : "optimal",
                                     text, secs);
        if (!j) {
            fprintf(stderr, "circuitc: error: out of memory\n");
            rc = CLI_FAIL;
        } else if (common.json) {
            rc = cli_print_json(j);
        } else {
            print_human(j);
            json_decref(j);
        }
        if (rc == CLI_OK && common.plot) rc = cli_plot_compiled(common.plot, circ, &fm, m, names, heads, n_bind);
    }
    free(text);
    cc_fm_free(&fm);
    cc_model_free(m);
    cc_circuit_free(circ);
    free(path);
    return rc;
}
