/* patch_internal.h — what activation patching (patching.c) shares with
 * attribution patching (attribution.c): one check of a cc_patch_opts, so that
 * both accept exactly the same requests, and one way to measure the metric of
 * a run (internal to the library). */
#ifndef CC_RUNTIME_PATCH_INTERNAL_H
#define CC_RUNTIME_PATCH_INTERNAL_H

#include "circuitc/patching.h"

/* Checks O's hook (patchable, present in the model), per_head, the patched
 * positions with their source shift and the metric for a T-token prompt pair;
 * on success [*PLO, *PHI) are the patched positions. */
int cci_patch_opts_check(const cc_model *m, int T, const cc_patch_opts *o, int *plo, int *phi, cc_error *err);

/* A full pass over TOKENS [T] with O (hooks, cache) plus what the metric MT
 * reads, never the full logits (logit difference: two columns of the last
 * row; loss: the fused log-probs); *VALUE the metric. R holds the result (free
 * it also after a failure). */
int cci_patch_run_metric(const cc_model *m, const int *tokens, int T, cc_fwd_opts *o, const cc_metric *mt,
                         cc_fwd_result *r, double *value, cc_error *err);

#endif
