/* eap_par.c — EAP's per-pair loops on the library's threads (eap_par.h). */
#include "runtime/eap_par.h"

#include <stdlib.h>

#include "core/parallel.h"
#include "core/progress_report.h"

typedef struct {
    cci_eap_pair_fn fn;
    void *ctx;
    int lo;
    cci_eap_progress *progress;
    int *failed;     /* [hi - lo]: pair lo + k failed */
    cc_error *errs;  /* [hi - lo] */
} pair_loop;

/* Whether the progress callback has asked to stop; with DONE, first reports one more pair done. */
static bool stopped(cci_eap_progress *pr, bool done)
{
    if (!pr || !pr->fn) return false;
    pthread_mutex_lock(&pr->lock);
    if (done) pr->done++;
    if (done && !pr->cancelled && pr->fn(pr->ctx, pr->done, pr->total) != 0) pr->cancelled = 1;
    bool stop = pr->cancelled;
    pthread_mutex_unlock(&pr->lock);
    return stop;
}

static void run_range(void *p, size_t a, size_t b)
{
    pair_loop *l = p;
    for (size_t k = a; k < b; k++) {
        cc_error *e = &l->errs[k];
        int rc = stopped(l->progress, false) ? cci_cancelled(e, "eap") : l->fn(l->ctx, l->lo + (int)k, e);
        if (rc == 0 && stopped(l->progress, true)) rc = cci_cancelled(e, "eap");
        if ((l->failed[k] = rc != 0)) return;
    }
}

int cci_eap_for_pairs(int lo, int hi, cci_eap_pair_fn fn, void *ctx, cci_eap_progress *progress, cc_error *err)
{
    size_t n = hi > lo ? (size_t)(hi - lo) : 0;
    pair_loop l = {fn, ctx, lo, progress, calloc(n ? n : 1, sizeof *l.failed), calloc(n ? n : 1, sizeof *l.errs)};
    if (!l.failed || !l.errs) {
        free(l.failed), free(l.errs);
        return cc_fail_code(err, CC_E_NOMEM, "out of memory for %zu pairs", n);
    }
    int held = cc_blas_threads_hold();
    cc_par_for(n, 1, run_range, &l);
    cc_blas_threads_restore(held);
    int rc = 0;
    for (size_t k = 0; k < n && rc == 0; k++)
        if (l.failed[k]) {
            if (err) *err = l.errs[k];
            rc = -1;
        }
    free(l.failed), free(l.errs);
    return rc;
}
