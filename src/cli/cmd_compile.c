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
#include "options.h"
#include "plot_cli.h"

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
static json_t *compile_describe(const char *path, const cc_circuit *c, const char *const *names,
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
        "{s:s, s:o, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:[i,i], s:{s:[i,i], s:[i,i]}, s:f, "
        "s:{s:s, s:o, s:i, s:i, s:s, s:s, s:o, s:o, s:f}, s:{s:f}}",
        "circuit", cc_circuit_name(c), "file", cli_json_path(path), "description",
        cc_circuit_description(c), "chain", cc_circuit_chain_text(c), "rows", cc_circuit_rows(c), "cols",
        cc_circuit_cols(c), "params", params, "bindings", bind, "constraints", cons, "shape", fm->l, fm->r,
        "factors", "A", fm->l, fm->m, "B", fm->m, fm->r, "norm", cc_fm_norm(fm), "plan", "order", order, "dims",
        dims, "split", plan->split, "inner_dim", (int)plan->dims[plan->split], "order_A", plan->order_text_a,
        "order_B", plan->order_text_b, "flops_A", flops_json(plan->flops_a, plan->flops_a_left, plan->flops_a_right),
        "flops_B", flops_json(plan->flops_b, plan->flops_b_left, plan->flops_b_right), "flops_total",
        plan->flops_a + plan->flops_b, "phase_seconds", "compile", seconds);
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
    printf("model     %s\n", cli_run()->model);
    json_t *ex = json_object_get(j, "explain");
    if (ex) printf("\nplan (%s order)\n%s", jstr(json_object_get(j, "plan"), "order"), json_string_value(ex));
}

enum { MAX_BIND = 32 };

/* The --bind NAME=HEAD values of A: names into NAMES (backed by BUF), heads
 * parsed against M's config into HEADS. */
static int parse_bindings(const cli_args *a, const cc_model *m, char buf[][64], const char **names, cc_head *heads,
                          cc_error *err)
{
    for (int i = 0; i < a->v[O_BIND].n_items; i++) {
        const char *spec = a->v[O_BIND].items[i], *eq = strchr(spec, '=');
        size_t n = (size_t)(eq - spec);
        if (n >= sizeof buf[i]) n = sizeof buf[i] - 1;
        memcpy(buf[i], spec, n);
        buf[i][n] = '\0';
        names[i] = buf[i];
        if (cc_head_parse(eq + 1, &m->cfg, &heads[i], err) != 0) {
            cc_fail_prefix(err, "--bind %s", spec);
            return -1;
        }
    }
    return 0;
}

/* Compiles CIRC (from PATH) for A's bindings on M, prints it, draws --plot. */
static int compile_and_print(const cli_args *a, const char *path, const cc_circuit *circ, cc_model *m)
{
    char names_buf[MAX_BIND][64];
    const char *names[MAX_BIND];
    cc_head heads[MAX_BIND];
    int n_bind = a->v[O_BIND].n_items;
    bool explain = a->v[O_EXPLAIN].on, tl_order = a->v[O_ORDER].choice == 1;
    cc_error err;
    if (parse_bindings(a, m, names_buf, names, heads, &err) != 0 ||
        circuit_load_parts(&a->common, m, circ, names, heads, n_bind, 1, false, &err) != 0)
        return cli_fail(&err);
    cc_fm fm = {0};
    cc_circuit_plan plan;
    char *text = NULL;
    double t0 = cli_run_seconds();
    cc_chain_order oa = tl_order ? CC_ORDER_LEFT : CC_ORDER_OPTIMAL, ob = tl_order ? CC_ORDER_RIGHT : CC_ORDER_OPTIMAL;
    if (cc_circuit_compile_ex(circ, m, names, heads, n_bind, oa, ob, &fm, &plan, explain ? &text : NULL, &err) != 0) {
        cc_fm_free(&fm);
        return cli_fail(&err);
    }
    json_t *j = compile_describe(path, circ, names, heads, n_bind, &plan, &fm, a->v[O_ORDER].s, text,
                                 cli_run_seconds() - t0);
    int rc = CLI_OK;
    if (!j) {
        cc_fail(&err, "out of memory");
        rc = cli_fail(&err);
    } else if (a->common.json) rc = cli_print_result(j);
    else {
        print_human(j);
        json_decref(j);
    }
    if (rc == CLI_OK && a->common.plot) rc = cli_plot_compiled(a->common.plot, circ, &fm, m, names, heads, n_bind);
    free(text);
    cc_fm_free(&fm);
    return rc;
}

static int run(const cli_args *a)
{
    const opt_value *bind = &a->v[O_BIND];
    if (bind->n_items > MAX_BIND) return cli_usage_error("compile", "too many --bind options (at most %d)", MAX_BIND);
    for (int i = 0; i < bind->n_items; i++)
        if (!strchr(bind->items[i], '=') || bind->items[i][0] == '=')
            return cli_usage_error("compile", "--bind takes NAME=HEAD (e.g. --bind prev=L4H11), got \"%s\"",
                                   bind->items[i]);
    cc_error err;
    char *path = NULL;
    cc_circuit *circ = NULL;
    cc_model *m = NULL;
    int rc;
    if (circuit_path(a->pos[0], &path, &err) != 0 ||
        (a->common.json && cli_require_utf8("circuit file path", path, &err)) ||
        cc_circuit_load(path, &circ, &err) != 0 || cli_open_model(&a->common, &m, &err) != 0)
        rc = cli_fail(&err);
    else
        rc = compile_and_print(a, path, circ, m);
    cc_model_free(m);
    cc_circuit_free(circ);
    free(path);
    return rc;
}

const cli_command cli_cmd_compile = {
    .name = "compile",
    .synopsis = "CIRCUIT",
    .arg_noun = "circuit",
    .min_args = 1,
    .max_args = 1,
    .summary = "compile a circuit file for some heads: shapes, split, plan (--explain)",
    .description =
        "Compiles CIRCUIT (a .circuit file, or the name of a built-in one: kcomp, qcomp, vcomp, ov,\n"
        "qk; see docs/circuit-format.md) for the heads bound by --bind into a factored matrix A B,\n"
        "split at the chain's smallest inner dimension, and describes it: shape, factor shapes,\n"
        "Frobenius norm; --explain adds the plan. --plot (square circuits): top-1..5 accuracy curve\n"
        "and 32 leading singular values.\n",
    .examples = "compile kcomp --bind prev=L0H0 --bind ind=L1H0\n"
                "compile circuits/ov.circuit --bind head=L1H0 --explain --order tl\n",
    .options = (const opt_id[]){O_BIND, O_EXPLAIN, O_ORDER, O_PLOT, CLI_MODEL_OPTIONS, O_NONE},
    .run = run,
};
