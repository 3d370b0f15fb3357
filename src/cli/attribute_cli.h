/* attribute_cli.h — what the files of `circuitc attribute` share: the
 * prompt-pair command (cmd_attribute.c) and the repeated-token mlp_out sweep
 * (attribute_sweep.c). Private to src/cli/. */
#ifndef CIRCUITC_CLI_ATTRIBUTE_H
#define CIRCUITC_CLI_ATTRIBUTE_H

#include "options.h"

/* `attribute mlp_out` without a prompt pair; VERIFY: --verify K, or CC_ATTR_VERIFY_ALL (circuitc/prompt_pair.h). */
int attribute_sweep_run(const cli_args *a, int verify);

#endif
