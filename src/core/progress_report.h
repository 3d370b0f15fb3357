/* core/progress_report.h — calling a caller's progress callback and honouring
 * its answer (internal; include/circuitc/progress.h has the rule). */
#ifndef CIRCUITC_CORE_PROGRESS_REPORT_H
#define CIRCUITC_CORE_PROGRESS_REPORT_H

#include "circuitc/error.h"
#include "circuitc/progress.h"

/* Reports DONE of TOTAL to FN (nothing when FN is NULL). Returns 0 to go on,
 * or -1 with cci_cancelled's failure in ERR when FN asks to stop. */
int cci_progress(cc_progress_fn fn, void *ctx, long done, long total, const char *what, cc_error *err);

/* "WHAT: cancelled by the progress callback", code CC_E_CANCELLED; returns -1. */
int cci_cancelled(cc_error *err, const char *what);

#endif
