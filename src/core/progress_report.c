/* progress_report.c — progress callbacks and cancellation (core/progress_report.h). */
#include "core/progress_report.h"

int cci_cancelled(cc_error *err, const char *what)
{
    return cc_fail_code(err, CC_E_CANCELLED, "%s: cancelled by the progress callback (it returned non-zero)", what);
}

int cci_progress(cc_progress_fn fn, void *ctx, long done, long total, const char *what, cc_error *err)
{
    return fn && fn(ctx, done, total) != 0 ? cci_cancelled(err, what) : 0;
}
