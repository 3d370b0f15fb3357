/* blas_select.c — the kernel this process runs on and how it was chosen, for
 * `circuitc info` (docs/blas.md). The choice itself was made before OpenBLAS
 * was loaded, by the launcher (launcher.c, blas_plan.h); here the same
 * decision is taken again with the environment the launcher set, which the
 * marker it left makes a report of its choice. */
#include "blas_select.h"

#include <stdlib.h>

#include "blas_plan.h"
#include "cli.h"

static cli_blas_state state;
static bool selected;

const cli_blas_state *cli_blas_selection(void) { return selected ? &state : NULL; }

int cli_blas_select(void)
{
    cli_blas_query(&state.lib, &state.cpu);
    selected = true;
    cc_blas_inputs in = {.request = getenv("CIRCUITC_BLAS_CORE"),
                         .coretype = getenv("OPENBLAS_CORETYPE"),
                         .marker = getenv(CLI_BLAS_MARKER_VAR),
                         .lib = &state.lib,
                         .cpu = &state.cpu};
    cc_blas_decision *d = &state.decision;
    cli_blas_plan_decide(&in, false, d);
    if (d->action == CC_BLAS_REFUSE) return cli_report_error(CLI_FAIL, cli_run()->command, "%s", d->reason);
    if (d->action == CC_BLAS_KEEP) return CLI_OK;
    /* A switch (or a check) the launcher did not make: OpenBLAS is loaded, too late to change. */
    if (d->chosen_by == CC_CHOSEN_BY_REQUEST) {
        return cli_report_error(CLI_FAIL, cli_run()->command,
                                "CIRCUITC_BLAS_CORE=%s: circuitc's launcher did not switch kernels before OpenBLAS "
                                "loaded; run circuitc itself, not its module", d->core);
    }
    char reason[sizeof d->reason];
    snprintf(reason, sizeof reason, "auto: kept %s because circuitc's launcher did not switch to %s before OpenBLAS "
             "loaded", state.lib.core, d->core);
    snprintf(d->reason, sizeof d->reason, "%s", reason);
    d->action = CC_BLAS_KEEP;
    d->chosen_by = CC_CHOSEN_BY_LIBRARY;
    d->core = state.lib.core;
    d->verified = NULL;
    return CLI_OK;
}
