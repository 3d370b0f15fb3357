/* circuit_summary.h — the CLI side of a circuit's measurement (the library's
 * circuitc/circuit_report.h): its progress line, the weight parts with the
 * command's options, and the table kcomp, qcomp, vcomp, ov, qk and compile
 * --plot print from its JSON. */
#ifndef CIRCUITC_CLI_CIRCUIT_SUMMARY_H
#define CIRCUITC_CLI_CIRCUIT_SUMMARY_H

#include <jansson.h>
#include <stdbool.h>

#include "circuitc/circuit.h"
#include "circuitc/circuit_report.h"
#include "circuitc/measure.h"
#include "cli.h"

/* Sets O's callbacks to the progress line. */
void circuit_summary_progress(cc_measure_options *o);

/* Measures the compiled circuit FM of circuit C (cc_circuit_measure, with the
 * progress line) and returns the figures as JSON (cc_circuit_measurement_json). */
int circuit_summary(const cc_circuit *c, const cc_fm *fm, const cc_measure_options *o, json_t **out, cc_error *err);

/* cc_circuit_need, processed unless COMMON says --no-processing, and what the
 * CLI does after loading parts (cli_parts_loaded). */
int circuit_load_parts(const cli_common *common, cc_model *m, const cc_circuit *c, const char *const *names,
                       const cc_head *heads, int n_bind, int n_sets, bool with_heads, cc_error *err);

/* Prints the human table for a report object. */
void circuit_summary_print(const json_t *report);

#endif
