/* eap_par.h — the per-pair loops of EAP's scores and circuit evaluation on the
 * library's threads (internal). Pairs are split in contiguous ranges with
 * OpenBLAS held to one thread, so each pair is computed exactly as on one
 * thread; callers keep one result per pair and combine them in pair order,
 * so nothing depends on the thread count. */
#ifndef CIRCUITC_RUNTIME_EAP_PAR_H
#define CIRCUITC_RUNTIME_EAP_PAR_H

#include "circuitc/error.h"

/* Work on pair I; 0, or -1 with ERR filled. */
typedef int (*cci_eap_pair_fn)(void *ctx, int i, cc_error *err);

/* Calls FN(CTX, i) for every i in [LO, HI). 0, or -1 with ERR from the
 * lowest pair that failed (each thread stops at its first failure). */
int cci_eap_for_pairs(int lo, int hi, cci_eap_pair_fn fn, void *ctx, cc_error *err);

#endif
