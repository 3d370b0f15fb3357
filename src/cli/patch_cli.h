/* patch_cli.h — what the files of `circuitc patch` share: the prompt-pair
 * command (cmd_patch.c), its output (patch_output.c) and the repeated-token
 * sweep (patch_sweep.c). Private to src/cli/. */
#ifndef CIRCUITC_CLI_PATCH_H
#define CIRCUITC_CLI_PATCH_H

#include "patch_pair.h"

/* The repeated-token mlp_out sweep: `patch mlp_out` without a prompt pair. */
int patch_sweep_run(const cli_args *a);

/* Text output of R: the layer x position (or x head) table, or per head and
 * position the TOP strongest entries. */
void patch_pair_print_result(const cc_model *m, const cc_prompt_pair *pp, const cc_patch_opts *po,
                             const cc_patch_result *r, int top);

/* The table of patch_pair_print_result alone (attribute prints its own header). */
void patch_pair_print_table(const cc_prompt_pair *pp, const cc_patch_result *r, int top);

/* The --plot heatmap of R into OUT, titled WHAT ("patching") and the hook;
 * CLI_OK or CLI_FAIL after printing the error. */
int patch_pair_plot(const char *out, const char *what, const cc_model *m, const cc_prompt_pair *pp,
                    const cc_patch_opts *po, const cc_patch_result *r);

#endif
