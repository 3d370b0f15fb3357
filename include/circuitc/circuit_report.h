/* circuitc/circuit_report.h — the analyzer's circuit commands as one call
 * each, with the JSON the CLI prints: kcomp, qcomp, vcomp (two heads), ov and
 * qk (one head) compile circuits/<name>.circuit for the heads given (in the
 * order of the circuit's parameters), measure its exact accuracy and spectrum
 * (measure.h) and, for the compositions, the composition score against its
 * random baseline.
 *
 * The model is opened by the caller (cc_model_open); the call loads only the
 * weight parts the circuit and its heads read (cc_model_need), processed when
 * asked. The JSON serialisers return a new object (keys in README.md, "JSON
 * output"; the CLI wraps it in its envelope), NULL when out of memory. */
#ifndef CIRCUITC_CIRCUIT_REPORT_H
#define CIRCUITC_CIRCUIT_REPORT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "circuitc/circuit.h"
#include "circuitc/error.h"
#include "circuitc/factored.h"
#include "circuitc/heads.h"
#include "circuitc/measure.h"
#include "circuitc/model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The built-in circuits the commands of the same names compile. */
typedef enum {
    CC_BUILTIN_KCOMP = 0, /* heads: PREV, IND */
    CC_BUILTIN_QCOMP,     /* heads: EARLY, LATE */
    CC_BUILTIN_VCOMP,     /* heads: EARLY, LATE */
    CC_BUILTIN_OV,        /* one head */
    CC_BUILTIN_QK,        /* one head */
    CC_N_BUILTINS
} cc_builtin_circuit;

/* "kcomp", "qcomp", "vcomp", "ov", "qk" ("?" when out of range). */
const char *cc_builtin_circuit_name(cc_builtin_circuit b);

/* How many heads the built-in binds: 2 for the compositions, 1 for ov and qk
 * (-1 when out of range). */
int cc_builtin_circuit_heads(cc_builtin_circuit b);

typedef struct {
    cc_builtin_circuit circuit;
    cc_head heads[2];            /* in the circuit's parameter order; ov, qk read heads[0] */
    bool process;                /* TransformerLens' default processing of the parts read */
    cc_measure_options measure;  /* the accuracy and spectrum (its callbacks report progress) */
    int baseline_samples;        /* compositions: random pairs for the baseline (0: none) */
    uint64_t seed;               /* the baseline's seed */
    int threads;                /* threads for the call, 0: the default (docs/library.md, "Threads per call") */
} cc_circuit_report_options;

/* kcomp of L0H0 -> L1H0, processed, cc_measure_defaults, 200 baseline samples, seed 0. */
void cc_circuit_report_defaults(cc_circuit_report_options *o);

typedef struct {
    cc_circuit *circuit;         /* the circuit file read (owned) */
    const char *note;            /* cc_circuit_model_note for the model, or NULL */
    int n_heads;
    cc_head heads[2];
    bool processed;              /* the parts were processed */
    cc_fm factors;               /* the compiled circuit A B (circuit.h) */
    double load_seconds;         /* reading (and processing) the parts */
    bool measured;               /* measurement below is filled */
    cc_circuit_measurement measurement;
    bool has_composition;        /* a two-head composition: composition below is filled */
    cc_head_composition composition;
} cc_circuit_report;

/* The whole command: cc_circuit_report_compile then cc_circuit_report_measure
 * with o->measure. M opened (cc_model_open) or loaded. Free OUT with
 * cc_circuit_report_free, also after a failure. */
int cc_circuit_report_run(cc_model *m, const cc_circuit_report_options *o, cc_circuit_report *out, cc_error *err);

/* Its first half: reads the circuit file, loads the parts it and (for the
 * compositions) the bound heads' Q, K, V, O need, compiles the factors and
 * computes the composition score. The second half reads only OUT->factors,
 * so a caller short of memory may free the model between the two. */
int cc_circuit_report_compile(cc_model *m, const cc_circuit_report_options *o, cc_circuit_report *out,
                              cc_error *err);

/* Its second half: measures R's factors (exact top-k both ways, spectrum). */
int cc_circuit_report_measure(cc_circuit_report *r, const cc_measure_options *o, cc_error *err);

void cc_circuit_report_free(cc_circuit_report *r);

/* A measured report as the CLI's --json body: circuit, shape, inner_dim, rank,
 * frobenius_norm, singular_values, rows, cols, [ranks_note], bindings,
 * [composition], phase_seconds {load, topk_spectrum}. */
json_t *cc_circuit_report_json(const cc_circuit_report *r);

/* A measurement of circuit C as JSON: circuit, shape, inner_dim, rank,
 * frobenius_norm, singular_values, rows, cols (per direction: top-k counts
 * and accuracy, ties, near-ties, ranks, method, seconds), seconds and, when
 * ranks were skipped, ranks_note. */
json_t *cc_circuit_measurement_json(const cc_circuit *c, const cc_circuit_measurement *r);

/* compile: any circuit file for any bindings, described without measuring. */
typedef enum {
    CC_COMPILE_OPTIMAL = 0, /* each side's sub-chain in the FLOP-optimal order */
    CC_COMPILE_TL,          /* A left to right, B right to left: TransformerLens' order for Q K^T */
    CC_N_COMPILE_ORDERS
} cc_compile_order;

/* "optimal", "tl" ("?" when out of range). */
const char *cc_compile_order_name(cc_compile_order o);

typedef struct {
    const char *circuit;           /* a circuit file or a built-in's name (cc_circuit_resolve) */
    int n_bind;                    /* bindings: parameter BIND_NAMES[i] is head BIND_HEADS[i] */
    const char *const *bind_names;
    const cc_head *bind_heads;
    cc_compile_order order;
    bool explain;                  /* also the plan's explanation */
    bool process;                  /* TransformerLens' default processing of the parts read */
    int threads;                /* threads for the call, 0: the default (docs/library.md, "Threads per call") */
} cc_compile_options;

typedef struct {
    char *path;                    /* the circuit file read */
    cc_circuit *circuit;
    int n_bind;
    char **bind_names;             /* copies of the options' */
    cc_head *bind_heads;
    cc_compile_order order;
    cc_circuit_plan plan;          /* shapes, split, orders, FLOP counts */
    cc_fm factors;                 /* the compiled circuit A B */
    char *explain;                 /* the plan's explanation when asked for, else NULL */
    double seconds;                /* compiling (after the parts were loaded) */
} cc_compile_result;

/* Reads the circuit file, checks the bindings against it and M, loads the
 * parts it reads and compiles it. Free OUT with cc_compile_result_free, also
 * after a failure. */
int cc_compile_run(cc_model *m, const cc_compile_options *o, cc_compile_result *out, cc_error *err);
void cc_compile_result_free(cc_compile_result *r);

/* The CLI's --json body of compile: circuit, file, description, chain, rows,
 * cols, params, bindings, constraints, shape, factors, norm, plan,
 * phase_seconds, [explain]. */
json_t *cc_compile_result_json(const cc_compile_result *r);

/* kcomp-chart: one two-head circuit's exact top-1 and top-K accuracy (rows
 * and columns, fast method, no ranks) for several head pairs. */
typedef struct {
    const char *circuit;           /* a two-head circuit file or built-in (NULL: "kcomp") */
    int n_pairs;
    const cc_head *pairs;          /* [n_pairs][2]: the circuit's first and second parameter */
    int k;                         /* K of top-K, 1..CC_TOPK_MAX_K */
    bool process;                  /* TransformerLens' default processing of the parts read */
    int threads;                /* threads for the call, 0: the default (docs/library.md, "Threads per call") */
} cc_kcomp_chart_options;

typedef struct {
    cc_circuit *circuit;
    int n_pairs, k;
    cc_head *pairs;                /* [n_pairs][2] */
    double *accuracy;              /* [n_pairs][4]: rows top-1, rows top-K, columns top-1, columns top-K */
} cc_kcomp_chart;

/* Loads the parts of every pair, then compiles and measures each. Free OUT
 * with cc_kcomp_chart_free, also after a failure. */
int cc_kcomp_chart_run(cc_model *m, const cc_kcomp_chart_options *o, cc_kcomp_chart *out, cc_error *err);
void cc_kcomp_chart_free(cc_kcomp_chart *r);

/* The CLI's --json body of kcomp-chart: circuit, k, pairs [{pair "L0H0:L1H0",
 * <param 1>: head, <param 2>: head, rows {top1_accuracy, topk_accuracy}, cols {...}}]. */
json_t *cc_kcomp_chart_json(const cc_kcomp_chart *r);

/* Loads into M only the weight parts circuit C reads for each of N_SETS
 * bindings (HEADS holds N_SETS x N_BIND heads, NAMES the N_BIND parameter
 * names) plus, when WITH_HEADS, every part (Q, K, V, O) of the bound heads;
 * processed when PROCESS (cc_model_need). */
int cc_circuit_need(cc_model *m, const cc_circuit *c, const char *const *names, const cc_head *heads, int n_bind,
                    int n_sets, bool with_heads, bool process, cc_error *err);

#ifdef __cplusplus
}
#endif

#endif
