/* discover_cli.h — what the files of `circuitc discover` share: the command
 * (cmd_discover.c) and its output (discover_output.c).
 * Private to src/cli/. */
#ifndef CIRCUITC_CLI_DISCOVER_H
#define CIRCUITC_CLI_DISCOVER_H

#include "circuitc/discover.h"
#include "runtime.h"

/* The ranking and the runtime check as a text table, with precision and
 * recall at k = 1..top (M: the model it ran on). */
void discover_print_result(const cc_model *m, const cc_discover_report *r);

/* The --plot bar chart of the top pairs' evidence; CLI_OK or CLI_FAIL after printing the error. */
int discover_plot(const char *out, const cc_model *m, const cc_discover_report *r);

#endif
