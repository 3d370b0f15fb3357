/* launcher.h — what circuitc's launcher (launcher.c) finds in the modules it
 * loads: the tool in circuitc-cli.so (built from the rest of src/cli), the
 * BLAS kernel planner in circuitc-blas-plan.so (blas_plan.c, and of the
 * library only what that needs: loading it costs little more than OpenBLAS). */
#ifndef CIRCUITC_CLI_LAUNCHER_H
#define CIRCUITC_CLI_LAUNCHER_H

/* The tool: circuitc's ARGV, returns the exit status (main.c). */
#define CLI_MODULE_MAIN "circuitc_cli_main"
typedef int cli_module_main_fn(int argc, char **argv);

/* The planner (blas_plan.h): writes the variables to set to FD, returns the
 * exit status of the planning child. */
#define CLI_MODULE_PLAN "circuitc_cli_plan"
typedef int cli_module_plan_fn(int fd);

/* The variables the planner may set: OPENBLAS_CORETYPE and this record of
 * its decision (format: blas_kernel.c), which `circuitc info` reports. */
#define CLI_BLAS_MARKER_VAR "CIRCUITC_BLAS_SELECTED"

#endif
