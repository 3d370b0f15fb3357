/* blas_select.h — the CLI's side of BLAS kernel selection (docs/blas.md): it
 * reads the environment, runs self-checks in child processes and re-executes
 * circuitc with OPENBLAS_CORETYPE set before any command touches the BLAS. */
#ifndef CIRCUITC_CLI_BLAS_SELECT_H
#define CIRCUITC_CLI_BLAS_SELECT_H

#include "circuitc/blas_kernel.h"

/* argv[1] of the hidden mode that self-checks the kernel named by argv[2]. */
#define CLI_BLAS_SELF_CHECK_MODE "--internal-blas-self-check"

/* The hidden mode: prints one line ("pass: ...", "fail: ...", "absent: ...")
 * and exits 0 on pass, 1 on wrong results, 3 when the library runs another kernel. */
int cli_blas_self_check_main(int argc, char **argv);

/* Decides the kernel for this process. Either returns 0 (carry on), returns an
 * exit status after printing the error (bad CIRCUITC_BLAS_CORE), or never
 * returns because it re-executed circuitc with the same ARGV. */
int cli_blas_select(char **argv);

/* What cli_blas_select decided, for `circuitc info` (NULL before it ran). */
typedef struct {
    cc_blas_library lib;
    cc_cpu_features cpu;
    cc_blas_decision decision;
} cli_blas_state;

const cli_blas_state *cli_blas_selection(void);

#endif
