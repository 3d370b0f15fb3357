/* blas_planner.c — circuitc-blas-plan: the BLAS kernel planner (blas_plan.h)
 * as a program, for the Python package, which runs it before it imports its
 * extension module (python/circuitc/_blas.py). It prints the variables to set,
 * one "NAME=value" line each; run with the hidden self-check mode, it is also
 * the child that checks a candidate. */
#include <string.h>

#include "blas_plan.h"

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], CLI_BLAS_SELF_CHECK_MODE) == 0) return cli_blas_self_check_main(argc, argv);
    return cli_blas_plan(stdout);
}
