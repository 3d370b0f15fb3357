/* plot_cli.h — `--plot FILE` for the commands: check the path up front, then
 * draw the chart from the figures the command already has (its JSON object or
 * arrays) through the library's charts (include/circuitc/charts.h).
 *
 * Contract shared by every command: the analysis is printed (table or --json)
 * and the chart drawn after it, but main() holds what is printed back until
 * the command succeeded (cli_stdout_hold); a chart that cannot be drawn
 * (gnuplot missing or failing) is an error on stderr and exit status 1 with
 * nothing on stdout. A bad --plot path fails before any work: exit 2 for a
 * name not ending in .png/.svg, 1 for a path the output-path rule refuses
 * (circuitc/fsio.h) or a directory that does not exist or cannot be written. */
#ifndef CIRCUITC_CLI_PLOT_H
#define CIRCUITC_CLI_PLOT_H

#include <jansson.h>

#include "circuitc/factored.h"
#include "circuitc/heads.h"
#include "cli.h"

/* -1 when COMMON->plot is unset or usable; else the exit status to return (message printed). */
int cli_plot_check(const char *cmd, const cli_common *common);

/* The model's short name for titles: the last path component of PATH. Caller frees. */
char *cli_model_label(const char *path);

/* The chart title of circuit NAME with its bindings: "kcomp prev=L0H0 ind=L1H0 —
 * model M[ (no processing)][, baseline seed S]" (SEED may be NULL) into BUF. */
void cli_circuit_title(char *buf, size_t size, const char *name, const char *const *names, const cc_head *heads,
                       int n, const cc_model *m, const unsigned long long *seed);

/* Each returns CLI_OK or CLI_FAIL (error printed). KEEP_DATA: see cc_chart_opts. */
int cli_plot_circuit(const char *out, const json_t *report, const char *title, const char *keep_data);
/* compile --plot: measures the compiled square circuit FM (top-1..5 accuracy, 32
 * leading singular values) and draws the circuit chart. */
struct cc_circuit;
int cli_plot_compiled(const char *out, const struct cc_circuit *c, const cc_fm *fm, const cc_model *m,
                      const char *const *names, const cc_head *heads, int n_bind);
int cli_plot_comp_scores(const char *out, const json_t *j, const char *keep_data);
int cli_plot_heads(const char *out, const json_t *j, int top, const char *keep_data);
int cli_plot_repeat(const char *out, const json_t *j, const char *keep_data);
int cli_plot_pattern(const char *out, const char *model, const char *head, unsigned long long seed, int n,
                     const float *pattern, const char *keep_data);
int cli_plot_patch(const char *out, const char *model, unsigned long long seed, int n, int L, const double *delta,
                   double clean_loss, const char *keep_data);

#endif
