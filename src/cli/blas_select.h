/* blas_select.h — the CLI's record of the BLAS kernel it runs on (docs/blas.md):
 * chosen before OpenBLAS loaded by the launcher (blas_plan.h), reported by
 * `circuitc info`. */
#ifndef CIRCUITC_CLI_BLAS_SELECT_H
#define CIRCUITC_CLI_BLAS_SELECT_H

#include "circuitc/blas_kernel.h"

/* Decides, from the environment the launcher set, how the kernel in use was
 * chosen. Returns 0, or an exit status after printing the error (a bad
 * CIRCUITC_BLAS_CORE, a requested kernel the library does not have). */
int cli_blas_select(void);

/* What cli_blas_select decided, for `circuitc info` (NULL before it ran). */
typedef struct {
    cc_blas_library lib;
    cc_cpu_features cpu;
    cc_blas_decision decision;
} cli_blas_state;

const cli_blas_state *cli_blas_selection(void);

#endif
