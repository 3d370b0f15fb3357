/* eap_par.c — EAP's per-pair loops on the library's threads (eap_par.h). */
#include "runtime/eap_par.h"

#include <stdlib.h>

#include "core/parallel.h"

typedef struct {
    cci_eap_pair_fn fn;
    void *ctx;
    int lo;
    int *failed;     /* [hi - lo]: pair lo + k failed */
    cc_error *errs;  /* [hi - lo] */
} pair_loop;

static void run_range(void *p, size_t a, size_t b)
{
    pair_loop *l = p;
    for (size_t k = a; k < b; k++)
        if ((l->failed[k] = l->fn(l->ctx, l->lo + (int)k, &l->errs[k]) != 0)) return;
}

int cci_eap_for_pairs(int lo, int hi, cci_eap_pair_fn fn, void *ctx, cc_error *err)
{
    size_t n = hi > lo ? (size_t)(hi - lo) : 0;
    pair_loop l = {fn, ctx, lo, calloc(n ? n : 1, sizeof *l.failed), calloc(n ? n : 1, sizeof *l.errs)};
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
