/* circuit_report.c — kcomp, qcomp, vcomp, ov and qk as one call each
 * (include/circuitc/circuit_report.h): open the built-in circuit, load the
 * parts it reads, compile, score the composition, measure. */
#include "circuitc/circuit_report.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/args.h"
#include "core/clock.h"
#include "core/parallel.h"
#include "model/model_internal.h"

static const struct {
    const char *name;
    int n_heads;
    cc_comp_mode mode; /* compositions only */
} BUILTINS[CC_N_BUILTINS] = {
    [CC_BUILTIN_KCOMP] = {"kcomp", 2, CC_COMP_K}, [CC_BUILTIN_QCOMP] = {"qcomp", 2, CC_COMP_Q},
    [CC_BUILTIN_VCOMP] = {"vcomp", 2, CC_COMP_V}, [CC_BUILTIN_OV] = {"ov", 1, CC_COMP_K},
    [CC_BUILTIN_QK] = {"qk", 1, CC_COMP_K},
};

const char *cc_builtin_circuit_name(cc_builtin_circuit b)
{
    return (unsigned)b < CC_N_BUILTINS ? BUILTINS[b].name : "?";
}

int cc_builtin_circuit_heads(cc_builtin_circuit b) { return (unsigned)b < CC_N_BUILTINS ? BUILTINS[b].n_heads : -1; }

void cc_circuit_report_defaults(cc_circuit_report_options *o)
{
    if (!o) return;
    *o = (cc_circuit_report_options){.circuit = CC_BUILTIN_KCOMP, .heads = {{0, 0}, {1, 0}}, .process = true,
                                     .baseline_samples = 200, .seed = 0};
    cc_measure_defaults(&o->measure);
}

int cc_circuit_need(cc_model *m, const cc_circuit *c, const char *const *names, const cc_head *heads, int n_bind,
                    int n_sets, bool with_heads, bool process, cc_error *err)
{
    CC_ARG_NOT_NULL(m, err, -1);
    CC_ARG_NOT_NULL(c, err, -1);
    CC_ARG_NOT_NULL(names, err, -1);
    CC_ARG_NOT_NULL(heads, err, -1);
    enum { PER_SET = CC_CIRCUIT_MAX_TERMS + 4 * CC_CIRCUIT_MAX_PARAMS };
    cc_part *parts = malloc((size_t)(n_sets > 0 ? n_sets : 1) * PER_SET * sizeof *parts);
    if (!parts) return cc_fail_code(err, CC_E_NOMEM, "out of memory");
    int n = 0, rc = 0;
    for (int s = 0; s < n_sets && rc == 0; s++) {
        const cc_head *set = heads + (size_t)s * n_bind;
        int n_set = 0;
        rc = cc_circuit_parts(c, m, names, set, n_bind, parts + n, &n_set, err);
        n += n_set;
        for (int i = 0; rc == 0 && with_heads && i < n_bind; i++)
            for (cc_part_kind k = CC_PART_Q; k <= CC_PART_O; k++) parts[n++] = (cc_part){k, set[i].layer, set[i].head};
    }
    if (rc == 0) rc = cc_model_need(m, parts, n, process, err);
    free(parts);
    return rc;
}

/* The argument checks of the two calls that take the options (each names itself). */
#define CHECK_REPORT_ARGS(m, o, out, err)                         \
    do {                                                          \
        CC_ARG_NOT_NULL(m, err, -1);                              \
        CC_ARG_NOT_NULL(o, err, -1);                              \
        CC_ARG_ENUM(o->circuit, CC_N_BUILTINS, err, -1);          \
        CC_ARG_ENUM(o->measure.ranks, CC_RANKS_NEVER + 1, err, -1); \
        CC_ARG_ENUM(o->measure.method, CC_TOPK_BRUTE + 1, err, -1); \
        CC_ARG_NOT_NULL(out, err, -1);                            \
    } while (0)

int cc_circuit_report_compile(cc_model *m, const cc_circuit_report_options *o, cc_circuit_report *out,
                              cc_error *err)
{
    CC_PAR_CALL(o ? o->threads : 0);
    CHECK_REPORT_ARGS(m, o, out, err);
    memset(out, 0, sizeof *out);
    const char *name = BUILTINS[o->circuit].name;
    int want = BUILTINS[o->circuit].n_heads;
    if (cc_circuit_open(name, &out->circuit, err) != 0) return -1;
    if (cc_circuit_n_params(out->circuit) != want)
        return cc_fail(err, "circuit file for %s declares %d parameters; this command binds %d heads", name,
                       cc_circuit_n_params(out->circuit), want);
    out->n_heads = want;
    out->note = cc_circuit_model_note(out->circuit, &m->cfg);
    const char *names[2];
    for (int i = 0; i < want; i++) out->heads[i] = o->heads[i], names[i] = cc_circuit_param(out->circuit, i);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    bool composition = want == 2;
    if (cc_circuit_need(m, out->circuit, names, out->heads, want, 1, composition, o->process, err) != 0) return -1;
    out->load_seconds = cci_seconds_since(&t0);
    out->processed = o->process;
    if (cc_circuit_compile(out->circuit, m, names, out->heads, want, &out->factors, NULL, err) != 0) return -1;
    if (composition) {
        if (cc_head_composition_score(m, BUILTINS[o->circuit].mode, out->heads[0], out->heads[1],
                                      o->baseline_samples, o->seed, &out->composition, err) != 0)
            return -1;
        out->has_composition = true;
    }
    return 0;
}

int cc_circuit_report_measure(cc_circuit_report *r, const cc_measure_options *o, cc_error *err)
{
    CC_PAR_CALL(o ? o->threads : 0);
    CC_ARG_NOT_NULL(r, err, -1);
    CC_ARG_NOT_NULL(o, err, -1);
    CC_ARG_ENUM(o->ranks, CC_RANKS_NEVER + 1, err, -1);
    CC_ARG_ENUM(o->method, CC_TOPK_BRUTE + 1, err, -1);
    cc_circuit_measurement_free(&r->measurement);
    r->measured = false;
    if (cc_circuit_measure(r->circuit, &r->factors, o, &r->measurement, err) != 0) return -1;
    r->measured = true;
    return 0;
}

int cc_circuit_report_run(cc_model *m, const cc_circuit_report_options *o, cc_circuit_report *out, cc_error *err)
{
    CC_PAR_CALL(o ? o->threads : 0);
    CHECK_REPORT_ARGS(m, o, out, err);
    if (cc_circuit_report_compile(m, o, out, err) != 0) return -1;
    return cc_circuit_report_measure(out, &o->measure, err);
}

void cc_circuit_report_free(cc_circuit_report *r)
{
    if (!r) return;
    cc_circuit_free(r->circuit);
    cc_fm_free(&r->factors);
    cc_circuit_measurement_free(&r->measurement);
    memset(r, 0, sizeof *r);
}

const char *cc_compile_order_name(cc_compile_order o)
{
    return o == CC_COMPILE_OPTIMAL ? "optimal" : o == CC_COMPILE_TL ? "tl" : "?";
}

/* Copies the options' bindings into R (the names as strings of their own). */
static int copy_bindings(const cc_compile_options *o, cc_compile_result *r, cc_error *err)
{
    int n = o->n_bind;
    r->bind_names = calloc((size_t)(n > 0 ? n : 1), sizeof *r->bind_names);
    r->bind_heads = malloc((size_t)(n > 0 ? n : 1) * sizeof *r->bind_heads);
    if (!r->bind_names || !r->bind_heads) return cc_fail_code(err, CC_E_NOMEM, "out of memory");
    r->n_bind = n;
    for (int i = 0; i < n; i++) {
        r->bind_heads[i] = o->bind_heads[i];
        if (!(r->bind_names[i] = strdup(o->bind_names[i]))) return cc_fail_code(err, CC_E_NOMEM, "out of memory");
    }
    return 0;
}

int cc_compile_run(cc_model *m, const cc_compile_options *o, cc_compile_result *out, cc_error *err)
{
    CC_PAR_CALL(o ? o->threads : 0);
    CC_ARG_NOT_NULL(m, err, -1);
    CC_ARG_NOT_NULL(o, err, -1);
    CC_ARG_NOT_NULL(o->circuit, err, -1);
    CC_ARG_ENUM(o->order, CC_N_COMPILE_ORDERS, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    memset(out, 0, sizeof *out);
    if (o->n_bind > 0 && (!o->bind_names || !o->bind_heads))
        return cc_fail_code(err, CC_E_ARG, "%s: argument o->bind_names or o->bind_heads is NULL with %d bindings", __func__,
                       o->n_bind);
    out->order = o->order;
    if (cc_circuit_resolve(o->circuit, &out->path, err) != 0 || cc_circuit_load(out->path, &out->circuit, err) != 0 ||
        copy_bindings(o, out, err) != 0)
        return -1;
    const char *const *names = (const char *const *)out->bind_names;
    if (cc_circuit_need(m, out->circuit, names, out->bind_heads, out->n_bind, 1, false, o->process, err) != 0)
        return -1;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    bool tl = o->order == CC_COMPILE_TL;
    if (cc_circuit_compile_ex(out->circuit, m, names, out->bind_heads, out->n_bind,
                              tl ? CC_ORDER_LEFT : CC_ORDER_OPTIMAL, tl ? CC_ORDER_RIGHT : CC_ORDER_OPTIMAL,
                              &out->factors, &out->plan, o->explain ? &out->explain : NULL, err) != 0)
        return -1;
    out->seconds = cci_seconds_since(&t0);
    return 0;
}

void cc_compile_result_free(cc_compile_result *r)
{
    if (!r) return;
    for (int i = 0; r->bind_names && i < r->n_bind; i++) free(r->bind_names[i]);
    free(r->bind_names);
    free(r->bind_heads);
    free(r->path);
    free(r->explain);
    cc_circuit_free(r->circuit);
    cc_fm_free(&r->factors);
    memset(r, 0, sizeof *r);
}

/* Compiles and measures pair I of R into its accuracy row. */
static int chart_pair(const cc_model *m, cc_kcomp_chart *r, int i, const char *const *names, cc_error *err)
{
    cc_fm fm = {0};
    cc_measure_options opt = {.k_max = r->k, .ranks = CC_RANKS_NEVER, .method = CC_TOPK_FAST};
    cc_circuit_measurement mr = {0};
    int rc = cc_circuit_compile(r->circuit, m, names, r->pairs + 2 * i, 2, &fm, NULL, err);
    if (rc == 0) rc = cc_circuit_measure(r->circuit, &fm, &opt, &mr, err);
    if (rc != 0) {
        char a[32], b[32];
        cc_fail_prefix(err, "%s %s:%s", cc_circuit_name(r->circuit), cc_head_name(r->pairs[2 * i], a, sizeof a),
                       cc_head_name(r->pairs[2 * i + 1], b, sizeof b));
    } else {
        double *v = r->accuracy + 4 * i;
        v[0] = (double)mr.rows.correct[0] / (double)mr.n;
        v[1] = (double)mr.rows.correct[r->k - 1] / (double)mr.n;
        v[2] = (double)mr.cols.correct[0] / (double)mr.n;
        v[3] = (double)mr.cols.correct[r->k - 1] / (double)mr.n;
    }
    cc_fm_free(&fm);
    cc_circuit_measurement_free(&mr);
    return rc;
}

int cc_kcomp_chart_run(cc_model *m, const cc_kcomp_chart_options *o, cc_kcomp_chart *out, cc_error *err)
{
    CC_PAR_CALL(o ? o->threads : 0);
    CC_ARG_NOT_NULL(m, err, -1);
    CC_ARG_NOT_NULL(o, err, -1);
    CC_ARG_NOT_NULL(o->pairs, err, -1);
    CC_ARG_NOT_NULL(out, err, -1);
    memset(out, 0, sizeof *out);
    if (o->k < 1 || o->k > CC_TOPK_MAX_K) return cc_fail(err, "k = %d is not in 1..%d", o->k, CC_TOPK_MAX_K);
    if (cc_circuit_open(o->circuit ? o->circuit : "kcomp", &out->circuit, err) != 0) return -1;
    if (cc_circuit_n_params(out->circuit) != 2)
        return cc_fail(err, "circuit %s has %d parameters; kcomp-chart needs a two-head circuit",
                       cc_circuit_name(out->circuit), cc_circuit_n_params(out->circuit));
    int np = o->n_pairs;
    out->pairs = malloc((size_t)(np > 0 ? np : 1) * 2 * sizeof *out->pairs);
    out->accuracy = malloc((size_t)(np > 0 ? np : 1) * 4 * sizeof *out->accuracy);
    if (!out->pairs || !out->accuracy) return cc_fail_code(err, CC_E_NOMEM, "out of memory");
    memcpy(out->pairs, o->pairs, (size_t)np * 2 * sizeof *out->pairs);
    out->n_pairs = np, out->k = o->k;
    const char *names[2] = {cc_circuit_param(out->circuit, 0), cc_circuit_param(out->circuit, 1)};
    if (cc_circuit_need(m, out->circuit, names, out->pairs, 2, np, false, o->process, err) != 0)
        return cc_fail_prefix(err, "%s", cc_circuit_name(out->circuit));
    for (int i = 0; i < np; i++)
        if (chart_pair(m, out, i, names, err) != 0) return -1;
    return 0;
}

void cc_kcomp_chart_free(cc_kcomp_chart *r)
{
    if (!r) return;
    cc_circuit_free(r->circuit);
    free(r->pairs);
    free(r->accuracy);
    memset(r, 0, sizeof *r);
}
