/* blas_plan.h — choosing the OpenBLAS kernel before the process that runs
 * circuitc's GEMMs loads OpenBLAS (docs/blas.md). A planner, a process that
 * loaded OpenBLAS with its own choice, decides (self-checking candidates in
 * child processes, with cached verdicts) and names the variables to set; the
 * process that will compute sets them before it loads OpenBLAS: circuitc's
 * launcher (launcher.c) runs the planner in a forked child, the Python
 * package runs the circuitc-blas-plan program before it imports its module. */
#ifndef CIRCUITC_CLI_BLAS_PLAN_H
#define CIRCUITC_CLI_BLAS_PLAN_H

#include <stdio.h>

#include "circuitc/blas_kernel.h"
#include "launcher.h"

/* argv[1] of the hidden mode that self-checks the kernel named by argv[2]. */
#define CLI_BLAS_SELF_CHECK_MODE "--internal-blas-self-check"

/* The hidden mode: prints one line ("pass: ...", "fail: ...", "absent: ...")
 * and exits 0 on pass, 1 on wrong results, 3 when the library runs another kernel. */
int cli_blas_self_check_main(int argc, char **argv);

/* The library and CPU of this process, with the test hook that pretends the
 * library chose another kernel (docs/blas.md, "Test hooks"). */
void cli_blas_query(cc_blas_library *lib, cc_cpu_features *cpu);

/* Decides IN into OUT with the verdicts the decision needs: from the cache,
 * else, with SELF_CHECK, from a self-check in a child process (the program at
 * /proc/self/exe in the hidden mode above). Without SELF_CHECK an uncached
 * verdict leaves OUT at CC_BLAS_VERIFY. */
void cli_blas_plan_decide(cc_blas_inputs *in, bool self_check, cc_blas_decision *out);

/* The planner: decides for this process's environment and writes to OUT the
 * variables the computing process must set, one "NAME=value" line each
 * (nothing when the library's kernel stays). A refused CIRCUITC_BLAS_CORE is
 * the line CLI_BLAS_REFUSED=reason, for the Python package to warn with (the
 * tool decides again in its own process and reports the error there).
 * Returns 0, or 1 when OUT could not be written. */
#define CLI_BLAS_REFUSED "refused"
int cli_blas_plan(FILE *out);

#endif
