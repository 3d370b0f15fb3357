/* circuit_report.c — kcomp, qcomp, vcomp, ov and qk as one call each
 * (include/circuitc/circuit_report.h): open the built-in circuit, load the
 * parts it reads, compile, score the composition, measure. */
#include "circuitc/circuit_report.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/args.h"

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

static double seconds_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0->tv_nsec);
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
    if (!parts) return cc_fail(err, "out of memory");
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
    CHECK_REPORT_ARGS(m, o, out, err);
    memset(out, 0, sizeof *out);
    const char *name = BUILTINS[o->circuit].name;
    int want = BUILTINS[o->circuit].n_heads;
    if (cc_circuit_open(name, &out->circuit, err) != 0) return -1;
    if (cc_circuit_n_params(out->circuit) != want)
        return cc_fail(err, "circuit file for %s declares %d parameters; this command binds %d heads", name,
                       cc_circuit_n_params(out->circuit), want);
    out->n_heads = want;
    const char *names[2];
    for (int i = 0; i < want; i++) out->heads[i] = o->heads[i], names[i] = cc_circuit_param(out->circuit, i);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    bool composition = want == 2;
    if (cc_circuit_need(m, out->circuit, names, out->heads, want, 1, composition, o->process, err) != 0) return -1;
    out->load_seconds = seconds_since(&t0);
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
