/* circuit_summary.h — compile a circuit for some heads and measure it: exact
 * top-k accuracy in both directions, diagonal ranks, singular values
 * (cc_circuit_measure), as the JSON object and table kcomp, qcomp, vcomp, ov,
 * qk and compile --plot report. */
#ifndef CIRCUITC_CLI_CIRCUIT_SUMMARY_H
#define CIRCUITC_CLI_CIRCUIT_SUMMARY_H

#include <jansson.h>
#include <stdbool.h>
#include <time.h>

#include "circuitc/circuit.h"
#include "circuitc/measure.h"
#include "cli.h"

/* Measures the compiled circuit FM of circuit C (cc_circuit_measure, with the
 * progress line) and returns the figures as a JSON object (keys in the README). */
int circuit_summary(const cc_circuit *c, const cc_fm *fm, const cc_measure_options *o, json_t **out, cc_error *err);

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
