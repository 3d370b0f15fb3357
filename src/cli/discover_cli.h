/* discover_cli.h — what the files of `circuitc discover` share: the command
 * and its runtime check (cmd_discover.c) and its output (discover_output.c).
 * Private to src/cli/. */
#ifndef CIRCUITC_CLI_DISCOVER_H
#define CIRCUITC_CLI_DISCOVER_H

#include "circuitc/discover.h"
#include "runtime.h"

/* The ranking scored against the runtime head detectors (unless --no-runtime). */
typedef struct {
    bool ran;
    double prev_threshold, induction_threshold; /* the true heads score at least this */
    double *prev, *induction; /* [L*H] runtime scores */
    double *p_prev, *r_prev, *p_ind, *r_ind; /* [K] each, one allocation starting at p_prev */
    int n_prev, n_ind, K;
} runtime_check;

/* The ranking's first TOP pairs, the baseline and the runtime check as JSON. */
json_t *discover_result_json(const cc_model *m, const char *circuit, const cc_discover_result *d, int top,
                             const runtime_check *rt, const rt_opts *o, int samples);

/* The same as a text table, with precision and recall at k = 1..K. */
void discover_print_result(const cc_model *m, const char *circuit, const cc_discover_result *d, int top,
                           const runtime_check *rt, const rt_opts *o, int samples);

/* The --plot bar chart of the top pairs' evidence; CLI_OK or CLI_FAIL after printing the error. */
int discover_plot(const char *out, const cc_model *m, const char *circuit, const cc_discover_result *d,
                  const runtime_check *rt);

#endif
