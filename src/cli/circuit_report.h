/* circuit_report.h — compile a circuit for some heads and measure it: exact
 * top-k accuracy in both directions, diagonal ranks, singular values, and
 * (for composition circuits) the composition score. Shared by kcomp, qcomp,
 * vcomp, ov, qk and compile. */
#ifndef CIRCUITC_CLI_CIRCUIT_REPORT_H
#define CIRCUITC_CLI_CIRCUIT_REPORT_H

#include <jansson.h>
#include <stdbool.h>
#include <time.h>

#include "circuitc/circuit.h"
#include "circuitc/topk.h"

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
int circuit_report(const cc_circuit *c, const cc_fm *fm, const report_options *o, json_t **out, cc_error *err);

/* Seconds of CLOCK_MONOTONIC since T0. */
double circuit_report_elapsed(const struct timespec *t0);

/* Prints the human table for a report object. */
void circuit_report_print(const json_t *report);

#endif
