/* circuit_summary.h — compile a circuit for some heads and measure it: exact
 * top-k accuracy in both directions, diagonal ranks, singular values, and
 * (for composition circuits) the composition score. Shared by kcomp, qcomp,
 * vcomp, ov, qk and compile. */
#ifndef CIRCUITC_CLI_CIRCUIT_SUMMARY_H
#define CIRCUITC_CLI_CIRCUIT_SUMMARY_H

#include <jansson.h>
#include <stdbool.h>
#include <time.h>

#include "circuitc/circuit.h"
#include "circuitc/topk.h"
#include "cli.h"

typedef struct {
    int k_max;                /* top-k accuracies for k = 1..k_max */
    int ranks;                /* 1 = always, 0 = never, -1 = when the vocabulary is small */
    cc_topk_method method;
    bool compare;             /* also run the other method and check both agree */
    int components;           /* fast path components, 0 = automatic */
    int n_singular;           /* leading singular values to report */
} report_options;

/* Measures the compiled circuit FM (of circuit C with the given bindings) and
 * returns the figures as a JSON object (keys in the README). */
int circuit_summary(const cc_circuit *c, const cc_fm *fm, const report_options *o, json_t **out, cc_error *err);

/* Loads into the opened model M only the weight parts circuit C reads for
 * each of N_SETS bindings (HEADS holds N_SETS x N_BIND heads, NAMES the
 * N_BIND parameter names), plus, when WITH_HEADS, every part (Q, K, V, O) of
 * the bound heads; processed unless COMMON says --no-processing. */
int circuit_load_parts(const cli_common *common, cc_model *m, const cc_circuit *c, const char *const *names,
                       const cc_head *heads, int n_bind, int n_sets, bool with_heads, cc_error *err);

/* Seconds of CLOCK_MONOTONIC since T0. */
double circuit_summary_elapsed(const struct timespec *t0);

/* Prints the human table for a report object. */
void circuit_summary_print(const json_t *report);

#endif
