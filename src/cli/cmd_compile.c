/* cmd_compile.c — `circuitc compile FILE --bind NAME=HEAD ...`: compiles a
 * circuit file (docs/circuit-format.md) for some heads into a FactoredMatrix
 * and describes it: shape, factor shapes, norm, and with --explain the plan
 * (chain shapes, split, multiplication order and FLOP counts).
 *
 * The library's cc_compile_run compiles and cc_compile_result_json describes
 * it as one JSON object, printed as is with --json or as a table by
 * print_human(). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "circuitc/circuit_report.h"
#include "cli.h"
#include "options.h"
#include "plot_cli.h"

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
        if (cc_head_parse(eq + 1, cc_model_config(m), &heads[i], err) != 0) {
            cc_fail_prefix(err, "--bind %s", spec);
            return -1;
        }
    }
    return 0;
}

/* Compiles A's circuit for its bindings on M, prints it, draws --plot. */
static int compile_and_print(const cli_args *a, cc_model *m)
{
    char names_buf[MAX_BIND][64];
    const char *names[MAX_BIND];
    cc_head heads[MAX_BIND];
    cc_compile_options o = {.circuit = a->pos[0], .n_bind = a->v[O_BIND].n_items, .bind_names = names,
                            .bind_heads = heads, .order = a->v[O_ORDER].choice == 1 ? CC_COMPILE_TL : CC_COMPILE_OPTIMAL,
                            .explain = a->v[O_EXPLAIN].on, .process = !a->common.no_processing};
    cc_compile_result r;
    cc_error err;
    if (parse_bindings(a, m, names_buf, names, heads, &err) != 0) return cli_fail(&err);
    if (cc_compile_run(m, &o, &r, &err) != 0) {
        cc_compile_result_free(&r);
        return cli_fail(&err);
    }
    cli_parts_loaded(&a->common, m);
    json_t *j = cc_compile_result_json(&r);
    int rc = CLI_OK;
    if (!j) {
        cc_fail_code(&err, CC_E_NOMEM, "out of memory");
        rc = cli_fail(&err);
    } else if (a->common.json) rc = cli_print_result(j);
    else {
        print_human(j);
        json_decref(j);
    }
    if (rc == CLI_OK && a->common.plot)
        rc = cli_plot_compiled(a->common.plot, r.circuit, &r.factors, m, names, heads, r.n_bind);
    cc_compile_result_free(&r);
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
    cc_model *m = NULL;
    int rc;
    /* the file's path is in the JSON: --json refuses one that is not UTF-8 before any work */
    if (cc_circuit_resolve(a->pos[0], &path, &err) != 0 ||
        (a->common.json && cli_require_utf8("circuit file path", path, &err)) ||
        cli_open_model(&a->common, &m, &err) != 0)
        rc = cli_fail(&err);
    else
        rc = compile_and_print(a, m);
    cc_model_free(m);
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
