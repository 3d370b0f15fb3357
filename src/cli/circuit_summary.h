/* circuit_summary.h — the CLI side of a circuit's measurement (the library's
 * circuitc/circuit_report.h): its progress line, and the table kcomp, qcomp,
 * vcomp, ov and qk print from its JSON. */
#ifndef CIRCUITC_CLI_CIRCUIT_SUMMARY_H
#define CIRCUITC_CLI_CIRCUIT_SUMMARY_H

#include <jansson.h>

#include "circuitc/circuit.h"
#include "circuitc/circuit_report.h"
#include "circuitc/measure.h"
#include "cli.h"

/* Sets O's callbacks to the progress line. */
void circuit_summary_progress(cc_measure_options *o);

/* Measures the compiled circuit FM of circuit C (cc_circuit_measure, with the
 * progress line) and returns the figures as JSON (cc_circuit_measurement_json). */
int circuit_summary(const cc_circuit *c, const cc_fm *fm, const cc_measure_options *o, json_t **out, cc_error *err);

/* Prints the human table for a report object. */
void circuit_summary_print(const json_t *report);

#endif
